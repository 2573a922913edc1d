package webscreen_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/display/displaytest"
	"github.com/atmd/atmd/sim/devsim"
)

const wait = 5 * time.Second // bounds every step expected to finish

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// start serves a Dev on a free loopback port until the test ends.
func start(t *testing.T, o webscreen.Options) *webscreen.Dev {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	d, err := webscreen.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return d
}

// post posts body as JSON the way the page does and returns the status
// and the body of the answer.
func post(ctx context.Context, d *webscreen.Dev, path, body string, hdr ...string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(d.URL(), "/")+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// touchVia touches key on the current screen over HTTP, as the page does.
func touchVia(d *webscreen.Dev) func(ctx context.Context, key string) error {
	return func(ctx context.Context, key string) error {
		code, body, err := post(ctx, d, "/api/touch", `{"key":"`+key+`"}`)
		if err != nil {
			return err
		}
		if code != http.StatusNoContent {
			return fmt.Errorf("touch %s: HTTP %d: %s", key, code, body)
		}
		return nil
	}
}

func TestConformance(t *testing.T) {
	displaytest.Run(t, func(t *testing.T) displaytest.Harness {
		d := start(t, webscreen.Options{})
		return displaytest.Harness{Dev: d, Current: d.Current, Touch: touchVia(d)}
	})
}

// event is one server-sent event.
type event struct {
	name string
	data string
}

// stream reads the page's event stream.
type stream struct {
	body io.Closer
	ch   chan event
}

func openStream(t *testing.T, d *webscreen.Dev) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL()+"events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		cancel()
		t.Fatalf("events: HTTP %d, %s", resp.StatusCode, ct)
	}
	s := &stream{body: resp.Body, ch: make(chan event, 64)}
	go func() {
		defer close(s.ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					s.ch <- ev
				}
				ev = event{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return s
}

// next returns the next event called name, skipping others.
func (s *stream) next(t *testing.T, name string) map[string]any {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				t.Fatalf("stream ended waiting for %q", name)
			}
			if ev.name != name {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatalf("event %s: %v: %s", name, err, ev.data)
			}
			return m
		case <-deadline:
			t.Fatalf("no %q event", name)
		}
	}
}

var (
	welcome = display.Screen{ID: "welcome", Lang: "en", Tone: display.Info, Title: "Welcome", Lines: []string{"Please insert your card"},
		Menu: []display.MenuItem{{Key: "F8", ID: "lang", Label: "中文"}}}
	mainMenu = display.Screen{ID: "main-menu", Lang: "zh-TW", Title: "請選擇服務項目", Menu: []display.MenuItem{
		{Key: "F1", ID: "withdrawal", Label: "提款"}, {Key: "F2", ID: "balance", Label: "餘額查詢"}, {Key: "F8", ID: "cancel", Label: "取消"}}}
	pinEntry = display.Screen{ID: "enter-pin", Lang: "en", Title: "Enter your PIN",
		Input: &display.Input{Kind: display.Secret, Label: "PIN", Value: "****"}}
	qrPayload = "atmd:act:v1:ATM00001:S20261122T090000-0001:Zm9vYmFy"
	qrScreen  = display.Screen{ID: "activate-scan", Lang: "en", Title: "Scan to activate your card",
		Lines: []string{"Open your banking app and scan this code."},
		Menu:  []display.MenuItem{{Key: "F1", ID: "code", Label: "Enter verification code"}, {Key: "F4", ID: "cancel", Label: "Cancel"}},
		QR:    qrPayload}
)

func show(t *testing.T, d *webscreen.Dev, s display.Screen) {
	t.Helper()
	if err := d.Show(timeout(t, wait), s); err != nil {
		t.Fatalf("Show(%s): %v", s.ID, err)
	}
}

func TestEventsCarryScreens(t *testing.T) {
	d := start(t, webscreen.Options{Currency: "TWD"})
	show(t, d, welcome)
	s := openStream(t, d)
	if h := s.next(t, "hello"); h["panel"] != false || h["instance"] == "" {
		t.Fatalf("hello = %v", h)
	}
	// The current screen at once.
	v := s.next(t, "screen")
	if v["id"] != "welcome" || v["title"] != "Welcome" || v["lang"] != "en" {
		t.Fatalf("first screen = %v", v)
	}
	seq := v["seq"].(float64)

	show(t, d, mainMenu)
	v = s.next(t, "screen")
	if v["id"] != "main-menu" || v["seq"].(float64) != seq+1 || len(v["menu"].([]any)) != 3 {
		t.Fatalf("second screen = %v", v)
	}

	// A secret field travels as dots and a count.
	show(t, d, pinEntry)
	v = s.next(t, "screen")
	in := v["input"].(map[string]any)
	if in["kind"] != "secret" || in["count"].(float64) != 4 || in["text"] != "••••" {
		t.Fatalf("secret input = %v", in)
	}

	// An amount is shown as money.
	amount := display.Screen{ID: "other-amount", Lang: "en", Title: "Enter the amount", Input: &display.Input{Kind: display.Amount, Label: "Amount", Value: "1500"}}
	show(t, d, amount)
	if in := s.next(t, "screen")["input"].(map[string]any); in["text"] != "NT$1,500" {
		t.Fatalf("amount input = %v", in)
	}

	// The QR code travels as an image, never as its payload.
	show(t, d, qrScreen)
	v = s.next(t, "screen")
	raw, _ := json.Marshal(v)
	qr, _ := v["qr"].(map[string]any)
	if qr == nil || !strings.HasPrefix(qr["src"].(string), "data:image/png;base64,") || strings.Contains(string(raw), qrPayload) {
		t.Fatalf("QR screen = %s", raw)
	}
	if got := decodePNG(t, dataURLPNG(t, qr["src"].(string))); got != qrPayload {
		t.Fatalf("QR on the page decodes to %q, want %q", got, qrPayload)
	}

	// A second page gets the current screen at once too.
	s2 := openStream(t, d)
	if v := s2.next(t, "screen"); v["id"] != "activate-scan" {
		t.Fatalf("second page's first screen = %v", v["id"])
	}
}

func TestTouchRules(t *testing.T) {
	d := start(t, webscreen.Options{})
	show(t, d, welcome)
	show(t, d, mainMenu)
	ctx := timeout(t, wait)
	s := openStream(t, d)
	seq := int(s.next(t, "screen")["seq"].(float64))

	got := make(chan string, 4)
	go func() {
		for {
			select {
			case k := <-d.Touches():
				got <- k
			case <-ctx.Done():
				return
			}
		}
	}()
	tests := []struct {
		name string
		body string
		code int
	}{
		{"unbound key", `{"key":"F5","seq":` + fmt.Sprint(seq) + `}`, http.StatusConflict},
		{"old screen", `{"key":"F1","seq":` + fmt.Sprint(seq-1) + `}`, http.StatusConflict},
		{"not a function key", `{"key":"7"}`, http.StatusBadRequest},
		{"unknown field", `{"key":"F1","pin":"1234"}`, http.StatusBadRequest},
		{"future screen", `{"key":"F1","seq":` + fmt.Sprint(seq+5) + `}`, http.StatusConflict},
		{"bound key", `{"key":"F2","seq":` + fmt.Sprint(seq) + `}`, http.StatusNoContent},
	}
	for _, tc := range tests {
		code, body, err := post(ctx, d, "/api/touch", tc.body)
		if err != nil || code != tc.code {
			t.Errorf("%s: HTTP %d %s (%v), want %d", tc.name, code, body, err, tc.code)
		}
	}
	select {
	case k := <-got:
		if k != "F2" {
			t.Fatalf("Touches yielded %q, want F2", k)
		}
	case <-ctx.Done():
		t.Fatal("touch not delivered")
	}
	select {
	case k := <-got:
		t.Fatalf("refused touch %q was delivered", k)
	default:
	}
	// The same screen shown again: a touch made on the earlier showing
	// still counts; once the menu changes it does not.
	show(t, d, mainMenu)
	if code, body, err := post(ctx, d, "/api/touch", `{"key":"F1","seq":`+fmt.Sprint(seq)+`}`); err != nil || code != http.StatusNoContent {
		t.Fatalf("touch on the same menu shown again: HTTP %d %s (%v)", code, body, err)
	}
	if k := <-got; k != "F1" {
		t.Fatalf("Touches yielded %q, want F1", k)
	}
	show(t, d, welcome)
	show(t, d, mainMenu)
	if code, _, _ := post(ctx, d, "/api/touch", `{"key":"F1","seq":`+fmt.Sprint(seq)+`}`); code != http.StatusConflict {
		t.Fatalf("touch on a menu since replaced: HTTP %d, want 409", code)
	}
}

func TestTouchNobodyTakes(t *testing.T) {
	d := start(t, webscreen.Options{TouchWait: 20 * time.Millisecond})
	show(t, d, mainMenu)
	code, body, err := post(timeout(t, wait), d, "/api/touch", `{"key":"F1"}`)
	if err != nil || code != http.StatusGatewayTimeout || !strings.Contains(body, webscreen.ErrNoReader.Error()) {
		t.Fatalf("touch nobody takes: HTTP %d %s (%v), want 504 ErrNoReader", code, body, err)
	}
	// The answer has gone out, so the touch is dropped: it must not
	// arrive later, when it may mean something else.
	select {
	case k := <-d.Touches():
		t.Fatalf("abandoned touch %q delivered", k)
	default:
	}
}

func TestGuard(t *testing.T) {
	d := start(t, webscreen.Options{})
	show(t, d, mainMenu)
	ctx := timeout(t, wait)
	go func() {
		for {
			select {
			case <-d.Touches():
			case <-ctx.Done():
				return
			}
		}
	}()
	ok := `{"key":"F1"}`
	tests := []struct {
		name string
		hdr  []string
		code int
	}{
		{"foreign host (DNS rebinding)", []string{"Host", "evil.example:8080"}, http.StatusForbidden},
		{"not JSON (a plain form post)", []string{"Content-Type", "text/plain"}, http.StatusForbidden},
		{"foreign origin", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"localhost", []string{"Host", "localhost"}, http.StatusNoContent},
		{"own origin", []string{"Origin", strings.TrimSuffix(d.URL(), "/"), "Sec-Fetch-Site", "same-origin"}, http.StatusNoContent},
	}
	for _, tc := range tests {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.URL()+"api/touch", strings.NewReader(ok))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			if tc.hdr[i] == "Host" {
				req.Host = tc.hdr[i+1]
			} else {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.code)
		}
	}
}

func get(t *testing.T, d *webscreen.Dev, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(timeout(t, wait), http.MethodGet, d.URL()+strings.TrimPrefix(path, "/"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPageAndAssets(t *testing.T) {
	kiosk := start(t, webscreen.Options{})
	resp, body := get(t, kiosk, "/")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(body, `class="kiosk"`) || strings.Contains(body, "panel.js") ||
		!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-src 'none'") {
		t.Fatalf("kiosk page: %d, CSP %q\n%s", resp.StatusCode, csp, body)
	}
	for path, ct := range map[string]string{
		"/assets/screen.js": "text/javascript", "/assets/screen.css": "text/css",
		"/assets/panel.js": "text/javascript", "/assets/panel.css": "text/css", "/healthz": "text/plain",
	} {
		resp, body := get(t, kiosk, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || body == "" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get(t, kiosk, "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
	// Without a panel there are no panel actions.
	if code, _, _ := post(timeout(t, wait), kiosk, "/api/panel/take-cash", `{}`); code != http.StatusNotFound {
		t.Errorf("panel action without a panel: HTTP %d", code)
	}

	withPanel := start(t, webscreen.Options{Panel: newFakePanel(), Phone: "http://127.0.0.1:9/app"})
	resp, body = get(t, withPanel, "/")
	if !strings.Contains(body, `class="with-panel"`) || !strings.Contains(body, "/assets/panel.js") ||
		!strings.Contains(body, `data-key="F8"`) || !strings.Contains(body, `data-extension="phone"`) ||
		!strings.Contains(body, `src="http://127.0.0.1:9/app"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-src http://127.0.0.1:9;") {
		t.Fatalf("panel page:\n%s", body)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakePanel records the actions it is asked for.
type fakePanel struct {
	mu    sync.Mutex
	calls []string
	err   error
	state webscreen.PanelState
}

func newFakePanel() *fakePanel {
	return &fakePanel{state: webscreen.PanelState{Service: "in-service", Card: "empty", Accepting: true}}
}

func (f *fakePanel) record(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err
}

func (f *fakePanel) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakePanel) setState(s webscreen.PanelState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = s
}

func (f *fakePanel) Cards() []webscreen.CardInfo {
	return []webscreen.CardInfo{{ID: "alice-debit", Label: "•••• 1019", Holder: "LIN YA TING"}}
}
func (f *fakePanel) Insert(ctx context.Context, id string) error { return f.record("insert " + id) }
func (f *fakePanel) TakeCard(ctx context.Context) error          { return f.record("take-card") }
func (f *fakePanel) Press(ctx context.Context, key string) error { return f.record("press " + key) }
func (f *fakePanel) TakeCash(ctx context.Context) error          { return f.record("take-cash") }
func (f *fakePanel) Tap(ctx context.Context) (string, error) {
	return "https://bank.example/t", f.record("tap")
}
func (f *fakePanel) State() webscreen.PanelState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}
func (f *fakePanel) Faults() []webscreen.FaultSet {
	return []webscreen.FaultSet{{Device: "dispenser", Codes: []string{"DSP-JAM"}}}
}
func (f *fakePanel) Inject(ctx context.Context, device, code string) error {
	return f.record("inject " + device + " " + code)
}
func (f *fakePanel) Clear(ctx context.Context, device string) error {
	return f.record("clear " + device)
}
func (f *fakePanel) Supervisor(ctx context.Context, on bool) error {
	return f.record(fmt.Sprint("supervisor ", on))
}

func TestPanelActions(t *testing.T) {
	logs := &syncBuffer{}
	p := newFakePanel()
	d := start(t, webscreen.Options{Panel: p, Log: zerolog.New(logs)})
	ctx := timeout(t, wait)
	tests := []struct {
		action, body string
		code         int
		call         string
	}{
		{"insert", `{"card":"alice-debit"}`, 204, "insert alice-debit"},
		{"press", `{"key":"7"}`, 204, "press 7"},
		{"press", `{"key":"ENTER"}`, 204, "press ENTER"},
		{"press", `{"key":"F3"}`, 204, "press F3"},
		{"take-card", `{}`, 204, "take-card"},
		{"take-cash", ``, 204, "take-cash"},
		{"tap", `{}`, 200, "tap"},
		{"inject", `{"device":"dispenser","code":"DSP-JAM"}`, 204, "inject dispenser DSP-JAM"},
		{"clear", `{"device":"dispenser"}`, 204, "clear dispenser"},
		{"supervisor", `{"on":true}`, 204, "supervisor true"},
		{"press", `{"key":"*"}`, 400, ""},
		{"press", `{"key":"7","card":"x"}`, 400, ""},
		{"insert", `{"card":"../etc"}`, 400, ""},
		{"inject", `{"device":"dispenser"}`, 400, ""},
		{"supervisor", `{}`, 400, ""},
		{"format-disk", `{}`, 400, ""},
	}
	for _, tc := range tests {
		before := p.last()
		code, body, err := post(ctx, d, "/api/panel/"+tc.action, tc.body)
		if err != nil || code != tc.code {
			t.Errorf("%s %s: HTTP %d %s (%v), want %d", tc.action, tc.body, code, body, err, tc.code)
			continue
		}
		if tc.call != "" && p.last() != tc.call {
			t.Errorf("%s %s: panel got %q, want %q", tc.action, tc.body, p.last(), tc.call)
		}
		if tc.call == "" && p.last() != before {
			t.Errorf("%s %s: refused request reached the panel as %q", tc.action, tc.body, p.last())
		}
		if tc.action == "tap" && !strings.Contains(body, `"read":"https://bank.example/t"`) {
			t.Errorf("tap answered %s", body)
		}
	}
	// The panel's errors come back with a status that says whose fault.
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("devsim: slot closed: %w", hal.ErrBusy), http.StatusConflict},
		{fmt.Errorf("devsim: no entry: %w", hal.ErrInvalid), http.StatusConflict},
		{fmt.Errorf("devsim: %w", hal.ErrOffline), http.StatusServiceUnavailable},
		{fmt.Errorf("devsim: press: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{errors.New("devsim: broken"), http.StatusInternalServerError},
	} {
		p.mu.Lock()
		p.err = tc.err
		p.mu.Unlock()
		code, body, _ := post(ctx, d, "/api/panel/take-cash", `{}`)
		if code != tc.code || !strings.Contains(body, tc.err.Error()) {
			t.Errorf("panel error %v: HTTP %d %s, want %d", tc.err, code, body, tc.code)
		}
	}
	// A key pressed on the panel may be a PIN digit: never logged.
	if strings.Contains(logs.String(), `"key"`) || !strings.Contains(logs.String(), "panel action") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestPanelScan: the phone pane's camera reads the QR payload of the
// screen shown — through the panel's scan action only, never in a
// screen event, never in the log — and nothing without the panel.
func TestPanelScan(t *testing.T) {
	logs := &syncBuffer{}
	d := start(t, webscreen.Options{Panel: newFakePanel(), Log: zerolog.New(logs)})
	ctx := timeout(t, wait)
	show(t, d, welcome)
	if code, body, _ := post(ctx, d, "/api/panel/scan", `{}`); code != http.StatusConflict || !strings.Contains(body, "no QR code") {
		t.Fatalf("scan with no QR code: HTTP %d %s", code, body)
	}
	s := openStream(t, d)
	s.next(t, "hello")
	s.next(t, "screen")
	show(t, d, qrScreen)
	if v := s.next(t, "screen"); strings.Contains(fmt.Sprint(v), qrPayload) {
		t.Fatalf("the screen event carries the payload: %v", v)
	}
	code, body, err := post(ctx, d, "/api/panel/scan", ``)
	var got struct{ Payload string }
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Payload != qrPayload {
		t.Fatalf("scan: HTTP %d %s (%v), want the payload", code, body, err)
	}
	if strings.Contains(logs.String(), qrPayload) || !strings.Contains(logs.String(), `"action":"scan"`) {
		t.Fatalf("log:\n%s", logs.String())
	}
	kiosk := start(t, webscreen.Options{})
	show(t, kiosk, qrScreen)
	if code, _, _ := post(ctx, kiosk, "/api/panel/scan", `{}`); code != http.StatusNotFound {
		t.Fatalf("scan without the panel: HTTP %d", code)
	}
}

func TestPanelStateStreamed(t *testing.T) {
	p := newFakePanel()
	d := start(t, webscreen.Options{Panel: p, PanelPoll: 5 * time.Millisecond})
	s := openStream(t, d)
	h := s.next(t, "hello")
	if h["panel"] != true || len(h["cards"].([]any)) != 1 || len(h["faults"].([]any)) != 1 {
		t.Fatalf("hello = %v", h)
	}
	if st := s.next(t, "panel"); st["card"] != "empty" || st["service"] != "in-service" {
		t.Fatalf("first panel state = %v", st)
	}
	p.setState(webscreen.PanelState{Service: "in-service", Card: "presented",
		Cash: []webscreen.NoteCount{{Label: "NT$1,000", Count: 2}}, Receipts: 1, Receipt: []string{"ATM ATM00001"}})
	st := s.next(t, "panel")
	if st["card"] != "presented" || len(st["cash"].([]any)) != 1 || st["receipts"].(float64) != 1 {
		t.Fatalf("changed panel state = %v", st)
	}
}

func TestMirror(t *testing.T) {
	sim := devsim.NewDisplay(devsim.DisplayOptions{})
	d := start(t, webscreen.Options{Mirror: sim})
	ctx := timeout(t, wait)
	s := openStream(t, d)
	if err := sim.Show(ctx, welcome); err != nil {
		t.Fatal(err)
	}
	if v := s.next(t, "screen"); v["id"] != "welcome" {
		t.Fatalf("mirrored screen = %v", v["id"])
	}
	got := make(chan string, 1)
	go func() {
		select {
		case k := <-sim.Touches():
			got <- k
		case <-ctx.Done():
		}
	}()
	// A touch on the page reaches the mirrored display.
	if err := touchVia(d)(ctx, "F8"); err != nil {
		t.Fatal(err)
	}
	if k := <-got; k != "F8" {
		t.Fatalf("mirrored display got touch %q", k)
	}
}

func TestStatus(t *testing.T) {
	d := start(t, webscreen.Options{RequireViewer: true, ViewerGrace: time.Nanosecond})
	if st := d.Status(); st.State != hal.Offline || st.Fault != webscreen.FaultNoViewer {
		t.Fatalf("Status with no page = %v, want offline %s", st, webscreen.FaultNoViewer)
	}
	s := openStream(t, d)
	s.next(t, "hello")
	if st := d.Status(); !st.OK() || st.Extra["viewers"] != "1" || st.Extra["url"] != d.URL() {
		t.Fatalf("Status with a page = %+v", st)
	}
	if c := d.Capabilities(); !c.QR || !c.Touch || strings.Join(c.Langs, ",") != "en,zh-TW" {
		t.Fatalf("Capabilities = %+v", c)
	}
	if !strings.HasPrefix(d.String(), "display:web:") {
		t.Fatalf("String = %q", d.String())
	}
}

func TestLifecycle(t *testing.T) {
	d, err := webscreen.New(webscreen.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(d.URL(), "http://"), "/")
	if _, err := webscreen.New(webscreen.Options{Addr: addr}); err == nil {
		t.Fatal("second New on a port in use succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Serve(t.Context()); !errors.Is(err, webscreen.ErrServed) {
		t.Fatalf("Serve after Close = %v, want ErrServed", err)
	}
	// The port is free again.
	d2, err := webscreen.New(webscreen.Options{Addr: addr})
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d2.Serve(ctx) }()
	if resp, body := get(t, d2, "/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	if err := d2.Serve(t.Context()); !errors.Is(err, webscreen.ErrServed) {
		t.Fatalf("second Serve = %v, want ErrServed", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel = %v", err)
	}

	for _, o := range []webscreen.Options{{Addr: "no-port"}, {Addr: "127.0.0.1:0", Currency: "XXX"}, {Addr: "127.0.0.1:0", Phone: "javascript:alert(1)"}} {
		if d, err := webscreen.New(o); err == nil {
			d.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestShowRefuses(t *testing.T) {
	d := start(t, webscreen.Options{})
	show(t, d, welcome)
	big := qrScreen
	big.QR = strings.Repeat("x", 5000)
	if err := d.Show(timeout(t, wait), big); !errors.Is(err, hal.ErrInvalid) || strings.Contains(err.Error(), "xxxx") {
		t.Fatalf("Show(huge QR) = %v, want hal.ErrInvalid without the payload", err)
	}
	if d.Current().ID != "welcome" {
		t.Fatalf("refused Show changed the screen to %q", d.Current().ID)
	}
}
