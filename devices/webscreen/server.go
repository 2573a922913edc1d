package webscreen

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/atmd/atmd/hal"
)

//go:embed assets
var assetFS embed.FS

var (
	assets   = mustSub(assetFS, "assets")
	pageTmpl = template.Must(template.ParseFS(assetFS, "assets/index.html"))
)

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return s
}

// handler routes the page's requests. Every request passes the host
// check; every POST also the origin check.
func (d *Dev) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.page)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", noCache(http.FileServerFS(assets))))
	mux.HandleFunc("GET /events", d.events)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /api/touch", d.touch)
	mux.HandleFunc("POST /api/panel/{action}", d.panelAction)
	return d.guard(mux)
}

// guard refuses requests for a host name the server does not answer to
// (DNS rebinding) and POSTs from another origin or not in JSON (a page
// on another site posting a touch), and sets the security headers.
func (d *Dev) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.hostAllowed(r.Host) {
			d.fail(w, r, "request", fmt.Errorf("%w: host %q", ErrForbidden, r.Host))
			return
		}
		if r.Method == http.MethodPost {
			ct := r.Header.Get("Content-Type")
			if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != "application/json" {
				d.fail(w, r, "request", fmt.Errorf("%w: content type %q", ErrForbidden, ct))
				return
			}
			if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
				d.fail(w, r, "request", fmt.Errorf("%w: origin %q", ErrForbidden, o))
				return
			}
			if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
				d.fail(w, r, "request", fmt.Errorf("%w: fetch site %q", ErrForbidden, s))
				return
			}
		}
		h := w.Header()
		frame := "'none'"
		if d.opts.Phone != "" {
			frame = phoneOrigin(d.opts.Phone)
		}
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self'; frame-src "+frame+"; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// hostAllowed accepts the listener's own address, loopback names and
// addresses, and the host named in Options.Addr.
func (d *Dev) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	own, _, _ := net.SplitHostPort(d.ln.Addr().String())
	cfg, _, _ := net.SplitHostPort(d.opts.Addr)
	return host != "" && (host == own || host == cfg)
}

// phoneOrigin is the scheme://host[:port] of the phone page's URL.
func phoneOrigin(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A restarted atmd may be a newer one: never run yesterday's script.
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// pageData fills assets/index.html.
type pageData struct {
	Panel bool
	Phone string
}

func (d *Dev) page(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, pageData{Panel: d.opts.Panel != nil, Phone: d.opts.Phone}); err != nil {
		d.fail(w, r, "page", fmt.Errorf("webscreen: page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b.Bytes())
}

// hello is the first event on every stream: who is serving, and what the
// panel offers.
type hello struct {
	Instance string     `json:"instance"` // changes when atmd restarts
	Panel    bool       `json:"panel"`
	Cards    []CardInfo `json:"cards,omitempty"`
	Faults   []FaultSet `json:"faults,omitempty"`
}

// events streams server-sent events: "hello" once, then "screen" with the
// current screen at once and whenever it changes, and "panel" with the
// panel state whenever it changes. A comment line every pingEvery lets
// both sides notice a dead connection. The stream ends when Serve stops;
// the page then reconnects with backoff by itself.
func (d *Dev) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// Counted before the first byte goes out: a viewer that has read
	// "hello" is already in Status.
	d.mu.Lock()
	d.clients++
	n := d.clients
	d.mu.Unlock()
	d.pokePanel()
	d.opts.Log.Info().Int("viewers", n).Msg("page connected")
	defer func() {
		d.mu.Lock()
		d.clients--
		n := d.clients
		if n == 0 {
			d.lostAt = time.Now()
		}
		d.mu.Unlock()
		d.opts.Log.Info().Int("viewers", n).Msg("page disconnected")
	}()

	hi := hello{Instance: d.instance, Panel: d.opts.Panel != nil}
	if p := d.opts.Panel; p != nil {
		hi.Cards, hi.Faults = p.Cards(), p.Faults()
	}
	hb, _ := json.Marshal(hi)
	if err := writeEvent(w, "hello", hb); err != nil || rc.Flush() != nil {
		return
	}

	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	var sentSeq uint64
	var sentPanel []byte
	for {
		d.mu.Lock()
		changed, seq, v, p := d.changed, d.seq, d.view, d.panel
		d.mu.Unlock()
		if seq != sentSeq {
			if writeEvent(w, "screen", v) != nil {
				return
			}
			sentSeq = seq
		}
		if p != nil && !bytes.Equal(p, sentPanel) {
			if writeEvent(w, "panel", p) != nil {
				return
			}
			sentPanel = p
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-changed:
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		}
	}
}

// writeEvent writes one server-sent event. data is JSON: one line.
func writeEvent(w io.Writer, event string, data []byte) error {
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
	return err
}

// touch takes a touch on a menu item: {"key":"F1","seq":12}. The key
// must be bound on the screen shown, and seq (when given) must be that
// screen's — or that of an earlier showing of the same screen and menu:
// a touch meant for a screen already replaced is refused.
func (d *Dev) touch(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(r, actTouch)
	if err != nil {
		d.fail(w, r, actTouch, err)
		return
	}
	d.mu.Lock()
	cur, seq, since := d.screen, d.seq, d.menuSeq
	d.mu.Unlock()
	switch {
	case req.Seq != 0 && (req.Seq < since || req.Seq > seq):
		d.fail(w, r, actTouch, ErrStale)
		return
	case !bound(cur, req.Key):
		d.fail(w, r, actTouch, ErrNotBound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.opts.TouchWait)
	defer cancel()
	if m := d.opts.Mirror; m != nil {
		err = m.Touch(ctx, req.Key)
	} else {
		select {
		case d.touches <- req.Key:
		case <-ctx.Done():
			err = ErrNoReader
		case <-d.done:
			err = ErrNoReader
		}
	}
	if err != nil {
		d.fail(w, r, actTouch, err)
		return
	}
	d.opts.Log.Info().Str("screen", cur.ID).Str("key", req.Key).Msg("menu item touched")
	w.WriteHeader(http.StatusNoContent)
}

// panelAction carries out a virtual front panel action.
func (d *Dev) panelAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	p := d.opts.Panel
	if p == nil {
		d.fail(w, r, action, ErrNoPanel)
		return
	}
	req, err := readRequest(r, action)
	if err != nil {
		d.fail(w, r, action, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionWait)
	defer cancel()
	var read string
	switch action {
	case actInsert:
		err = p.Insert(ctx, req.Card)
	case actTakeCard:
		err = p.TakeCard(ctx)
	case actPress:
		err = p.Press(ctx, req.Key)
	case actTakeCash:
		err = p.TakeCash(ctx)
	case actTap:
		read, err = p.Tap(ctx)
	case actScan:
		read, err = d.scan()
	case actInject:
		err = p.Inject(ctx, req.Device, req.Code)
	case actClear:
		err = p.Clear(ctx, req.Device)
	case actSupervisor:
		err = p.Supervisor(ctx, *req.On)
	}
	d.pokePanel()
	if err != nil {
		d.fail(w, r, action, err)
		return
	}
	ev := d.opts.Log.Info().Str("action", action)
	switch action {
	case actInsert:
		ev = ev.Str("card", req.Card)
	case actInject, actClear:
		ev = ev.Str("device", req.Device).Str("code", req.Code)
	case actSupervisor:
		ev = ev.Bool("on", *req.On)
	}
	ev.Msg("panel action") // never the key (a PIN digit) nor a scanned payload
	switch action {
	case actTap:
		writeJSON(w, http.StatusOK, map[string]string{"read": read})
		return
	case actScan:
		writeJSON(w, http.StatusOK, map[string]string{"payload": read})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// scan is the phone's camera pointed at the screen (simulation only):
// the payload of the QR code shown now. It goes to the phone pane in the
// answer to the panel's scan action, never into the screen's page.
func (d *Dev) scan() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.screen.QR == "" {
		return "", ErrNoQR
	}
	return d.screen.QR, nil
}

// readRequest reads and decodes the body of a POST for action.
func readRequest(r *http.Request, action string) (request, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return request{}, &RequestError{Action: action, Msg: "body unreadable", Err: err}
	}
	return decodeRequest(action, body)
}

// fail answers with an error as JSON: {"error": "..."}, and a status that
// says whose fault it is.
func (d *Dev) fail(w http.ResponseWriter, r *http.Request, action string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, ErrNoPanel):
		code = http.StatusNotFound
	case errors.Is(err, ErrStale), errors.Is(err, ErrNotBound), errors.Is(err, hal.ErrBusy):
		code = http.StatusConflict
	case errors.Is(err, hal.ErrInvalid), errors.Is(err, hal.ErrUnsupported):
		var re *RequestError
		if errors.As(err, &re) {
			code = http.StatusBadRequest
		} else {
			code = http.StatusConflict // a well-formed request the machine refuses now
		}
	case errors.Is(err, hal.ErrOffline):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, hal.ErrTimeout):
		code = http.StatusGatewayTimeout
	}
	d.opts.Log.Warn().Err(err).Str("action", action).Int("status", code).Msg("page request refused")
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
