package webapp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/phone/webapp"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w.Result()
}

func TestHandler(t *testing.T) {
	sd, err := seed.Load("../../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := webapp.Handler(webapp.Options{Demo: webapp.DemoFromSeed(sd)})
	for _, tc := range []struct {
		path, ctype, body string
	}{
		{"/", "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{"/app.js", "text/javascript; charset=utf-8", "inboxLoop"},
		{"/app.css", "text/css; charset=utf-8", ".phone"},
		{"/demo.json", "application/json", `"user":"david"`},
	} {
		r := get(t, h, "GET", tc.path)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != tc.ctype || !strings.Contains(string(b), tc.body) {
			t.Errorf("GET %s: %d %q, %.80q", tc.path, r.StatusCode, r.Header.Get("Content-Type"), b)
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", tc.path, r.Header)
		}
	}
	if r := get(t, h, "POST", "/"); r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d %v", r.StatusCode, r.Header)
	}
	for _, p := range []string{"/index.html", "/nope.js", "/../webapp.go"} {
		if r := get(t, h, "GET", p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
	}
}

// TestDemoFromSeed: the quick picks are the seed's app logins and every
// customer's phone, nothing else of the seed (no PIN, no card number).
func TestDemoFromSeed(t *testing.T) {
	sd, err := seed.Load("../../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := webapp.DemoFromSeed(sd)
	var users []string
	for _, u := range d.Users {
		users = append(users, u.User)
		if u.Password == "" || u.Device != u.User+"-phone" || !seed.IsE164(u.Phone) {
			t.Errorf("demo user %+v", u)
		}
	}
	if got := strings.Join(users, ","); got != "alice,bob,david" {
		t.Errorf("demo users %s, want alice,bob,david", got)
	}
	noApp := 0
	for _, p := range d.Phones {
		if !p.App {
			noApp++
		}
	}
	if len(d.Phones) != len(sd.Customers) || noApp != 3 {
		t.Errorf("demo phones %+v", d.Phones)
	}
	b, _ := json.Marshal(d)
	for _, cu := range sd.Customers {
		for _, c := range cu.Cards {
			if strings.Contains(string(b), c.PAN) || strings.Contains(string(b), `"`+string(c.PIN)+`"`) {
				t.Fatalf("demo data carries card %s's number or PIN", c.ID)
			}
		}
	}
}

// TestFrameAncestors: the page may be framed only by the pages named.
func TestFrameAncestors(t *testing.T) {
	h := webapp.Handler(webapp.Options{FrameAncestors: []string{"https://atm.example"}})
	r := get(t, h, "GET", "/")
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://atm.example;") {
		t.Fatalf("CSP %q", csp)
	}
	b, _ := io.ReadAll(get(t, h, "GET", "/demo.json").Body)
	if string(b) != `{"users":[],"phones":[]}` {
		t.Fatalf("no demo: %s", b)
	}
}
