package webapp

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"

	"github.com/atmd/atmd/sim/host/seed"
)

//go:embed assets
var assetFS embed.FS

// assets is the page's files at the root.
var assets = func() fs.FS {
	s, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return s
}()

// DefaultFrameAncestors are the pages that may frame the app: its own
// origin and loopback pages on any port (the virtual front panel).
var DefaultFrameAncestors = []string{"'self'", "http://127.0.0.1:*", "http://localhost:*"}

// Options configure the page.
type Options struct {
	// Demo is offered as quick picks (simulation only: it carries the
	// demo passwords, which the seed publishes anyway).
	Demo Demo
	// FrameAncestors are the CSP frame-ancestors sources. Default
	// DefaultFrameAncestors.
	FrameAncestors []string
}

// Demo is the demo data the page offers, as demo.json.
type Demo struct {
	Users  []DemoUser  `json:"users"`
	Phones []DemoPhone `json:"phones"`
}

// DemoUser is an app login of the seed.
type DemoUser struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Device   string `json:"device"`
	Name     string `json:"name"`
	Phone    string `json:"phone"` // the customer's phone on file, E.164
}

// DemoPhone is a customer's phone number, for the Messages app.
type DemoPhone struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
	App   bool   `json:"app"` // the customer uses the banking app
}

// DemoFromSeed lists the seed's app logins and phone numbers.
func DemoFromSeed(sd *seed.Seed) Demo {
	d := Demo{Users: []DemoUser{}, Phones: []DemoPhone{}}
	for _, cu := range sd.Customers {
		if a := cu.App; a != nil {
			d.Users = append(d.Users, DemoUser{User: a.Login, Password: string(a.Password), Device: a.DeviceID(), Name: cu.Name, Phone: cu.Phone})
		}
		if cu.Phone != "" {
			d.Phones = append(d.Phones, DemoPhone{Name: cu.Name, Phone: cu.Phone, App: cu.App != nil})
		}
	}
	return d
}

// Handler serves the page at "/" (index.html), its assets and
// /demo.json. Mount it under a prefix with http.StripPrefix (the mobile
// API does: /app/). Only GET and HEAD.
func Handler(o Options) http.Handler {
	if o.Demo.Users == nil {
		o.Demo.Users = []DemoUser{}
	}
	if o.Demo.Phones == nil {
		o.Demo.Phones = []DemoPhone{}
	}
	anc := o.FrameAncestors
	if len(anc) == 0 {
		anc = DefaultFrameAncestors
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"frame-ancestors " + strings.Join(anc, " ") + "; base-uri 'none'; form-action 'none'"
	demo, _ := json.Marshal(o.Demo) // strings only: cannot fail
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// A restarted host may serve a newer app: never run an old script.
		h.Set("Cache-Control", "no-cache")
		switch r.URL.Path {
		case "/demo.json":
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			w.Write(demo)
		case "/index.html":
			// The file server would redirect it to "./": the page is "/".
			http.NotFound(w, r)
		default:
			files.ServeHTTP(w, r)
		}
	})
}
