package mobile

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/sim/host/notify"
)

type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) errCode() string {
	var e ErrorBody
	_ = json.Unmarshal([]byte(r.body), &e)
	return e.Error
}

func do(t *testing.T, h http.Handler, method, path, token, ctype, body string) resp {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return resp{w.Code, w.Header(), w.Body.String()}
}

const js = "application/json"

type apiCase struct {
	name     string
	token    string // "alice", "bob", "david", "bad" or ""
	ctype    string
	body     string
	status   int
	code     string // ErrorBody.Error, or "" for success
	contains string // in the body
}

// runCases runs cases against method path with fresh fixtures' tokens.
func runCases(t *testing.T, f *fixture, method, path string, cases []apiCase) {
	t.Helper()
	toks := map[string]string{
		"alice": f.login(t, "alice", "alice-app-pass", "alice-phone"),
		"bob":   f.login(t, "bob", "bob-app-pass", "bob-phone"),
		"david": f.login(t, "david", "david-app-pass", "david-phone"),
		"bad":   "not-a-token",
	}
	h := f.svc.Handler()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, h, method, path, toks[c.token], c.ctype, c.body)
			if r.status != c.status || r.errCode() != c.code || !strings.Contains(r.body, c.contains) {
				t.Fatalf("got %d %s, want %d %q containing %q", r.status, r.body, c.status, c.code, c.contains)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			if r.status == http.StatusUnauthorized && c.code == "unauthenticated" && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

var big = `{"user":"` + strings.Repeat("a", MaxBody) + `"}`

// common are the malformed/oversized/unauthenticated cases of an
// authenticated POST endpoint.
func common(goodBody string) []apiCase {
	return []apiCase{
		{"unauthenticated", "", js, goodBody, 401, "unauthenticated", "log in"},
		{"bad token", "bad", js, goodBody, 401, "unauthenticated", ""},
		{"not json", "alice", "text/plain", goodBody, 415, "unsupported_media_type", ""},
		{"no content type", "alice", "", goodBody, 415, "unsupported_media_type", ""},
		{"other charset", "alice", "application/json; charset=latin1", goodBody, 415, "unsupported_media_type", ""},
		{"oversized", "alice", js, big, 413, "too_large", "8192"},
		{"malformed", "alice", js, `{"x":`, 400, "bad_request", ""},
		{"empty", "alice", js, ``, 400, "bad_request", "empty"},
		{"not an object", "alice", js, `"x"`, 400, "bad_request", "JSON object"},
		{"unknown field", "alice", js, `{"evil":1}`, 400, "bad_request", `\"evil\"`},
		{"trailing data", "alice", js, goodBody + `{}`, 400, "bad_request", "after"},
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t, Config{MaxLoginTries: 3})
	good := `{"user":"alice","password":"alice-app-pass","device_id":"alice-phone"}`
	runCases(t, f, "POST", "/v1/login", []apiCase{
		{"not json", "", "text/plain", good, 415, "unsupported_media_type", ""},
		{"oversized", "", js, big, 413, "too_large", ""},
		{"malformed", "", js, `{`, 400, "bad_request", ""},
		{"unknown field", "", js, `{"user":"alice","admin":true}`, 400, "bad_request", `\"admin\"`},
		{"wrong type", "", js, `{"user":1}`, 400, "bad_request", `\"user\"`},
		{"bad user", "", js, `{"user":"A!","password":"x","device_id":"dev"}`, 400, "bad_request", `\"user\"`},
		{"no password", "", js, `{"user":"alice","device_id":"dev"}`, 400, "bad_request", `\"password\"`},
		{"bad device", "", js, `{"user":"alice","password":"x","device_id":""}`, 400, "bad_request", `\"device_id\"`},
		{"unknown user", "", js, `{"user":"mallory","password":"alice-app-pass","device_id":"dev"}`, 401, "wrong_credentials", ""},
		{"wrong user's password", "", js, `{"user":"bob","password":"alice-app-pass","device_id":"dev"}`, 401, "wrong_credentials", ""},
		{"happy", "", js, good, 200, "", `"token"`},
	})
	// bob had one wrong password above; two more lock him.
	h := f.svc.Handler()
	bad := `{"user":"bob","password":"guess-guess","device_id":"dev"}`
	if r := do(t, h, "POST", "/v1/login", "", js, bad); r.status != 401 {
		t.Fatalf("2nd wrong: %d %s", r.status, r.body)
	}
	r := do(t, h, "POST", "/v1/login", "", js, bad)
	if r.status != 429 || r.errCode() != "locked" || r.header.Get("Retry-After") == "" {
		t.Fatalf("3rd wrong: %d %s", r.status, r.body)
	}
	right := `{"user":"bob","password":"bob-app-pass","device_id":"dev"}`
	if r := do(t, h, "POST", "/v1/login", "", js, right); r.status != 429 {
		t.Fatalf("right password while locked: %d %s", r.status, r.body)
	}
	f.clk.Advance(DefaultLoginLockout)
	if r := do(t, h, "POST", "/v1/login", "", js, right); r.status != 200 {
		t.Fatalf("after lockout: %d %s", r.status, r.body)
	}
	if strings.Contains(f.logs.String(), "app-pass") || strings.Contains(f.logs.String(), "guess") {
		t.Fatal("a password reached the log")
	}
}

func TestSessionExpires(t *testing.T) {
	f := newFixture(t, Config{SessionTTL: time.Minute})
	tok := f.login(t, "alice", "alice-app-pass", "alice-phone")
	h := f.svc.Handler()
	if r := do(t, h, "GET", "/v1/devices", tok, "", ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	f.clk.Advance(time.Minute)
	if r := do(t, h, "GET", "/v1/devices", tok, "", ""); r.status != 401 {
		t.Fatalf("expired session: %d %s", r.status, r.body)
	}
	tok = f.login(t, "alice", "alice-app-pass", "alice-phone")
	if r := do(t, h, "POST", "/v1/logout", tok, "", ""); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	if r := do(t, h, "GET", "/v1/devices", tok, "", ""); r.status != 401 {
		t.Fatalf("after logout: %d", r.status)
	}
}

func TestBind(t *testing.T) {
	f := newFixture(t, Config{})
	good := `{"account_id":"bob-twd","phone":"+886922000202"}`
	cases := common(good)
	for i := range cases {
		if cases[i].token == "alice" {
			cases[i].token = "bob"
		}
	}
	cases = append(cases,
		apiCase{"bad phone", "bob", js, `{"account_id":"bob-twd","phone":"0912"}`, 400, "bad_request", `\"phone\"`},
		apiCase{"no account", "bob", js, `{"phone":"+886922000202"}`, 400, "bad_request", `\"account_id\"`},
		apiCase{"wrong user", "bob", js, `{"account_id":"alice-twd","phone":"+886912000101"}`, 403, "forbidden", ""},
		apiCase{"unknown account", "bob", js, `{"account_id":"nope","phone":"+886922000202"}`, 403, "forbidden", ""},
		apiCase{"other phone", "bob", js, `{"account_id":"bob-twd","phone":"+886912000101"}`, 403, "phone_mismatch", ""},
		apiCase{"happy", "bob", js, good, 200, "", `"device_id":"bob-phone"`},
	)
	runCases(t, f, "POST", "/v1/devices/bind", cases)
}

func TestDevices(t *testing.T) {
	f := newFixture(t, Config{})
	runCases(t, f, "GET", "/v1/devices", []apiCase{
		{"unauthenticated", "", "", "", 401, "unauthenticated", ""},
		{"bound", "alice", "", "", 200, "", `"account_id":"alice-twd"`},
		{"not bound", "bob", "", "", 200, "", `"devices":[]`},
	})
	tok := f.login(t, "alice", "alice-app-pass", "alice-phone")
	if r := do(t, f.svc.Handler(), "GET", "/v1/devices?x=1", tok, "", ""); r.status != 400 || !strings.Contains(r.body, `\"x\"`) {
		t.Fatalf("unknown query: %d %s", r.status, r.body)
	}
	if r := do(t, f.svc.Handler(), "DELETE", "/v1/devices", tok, "", ""); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Fatalf("wrong method: %d %s", r.status, r.body)
	}
	if r := do(t, f.svc.Handler(), "GET", "/v2/nothing", tok, "", ""); r.status != 404 || r.errCode() != "not_found" {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
}

func TestCards(t *testing.T) {
	f := newFixture(t, Config{})
	runCases(t, f, "GET", "/v1/cards", []apiCase{
		{"unauthenticated", "", "", "", 401, "unauthenticated", ""},
		{"new card", "david", "", "", 200, "", `{"last4":"4054","name":"DAVID","expiry":"3011","account_id":"david-twd","status":"new"}`},
		{"only their own", "alice", "", "", 200, "", `"account_id":"alice-twd"`},
	})
	tok := f.login(t, "alice", "alice-app-pass", "alice-phone")
	h := f.svc.Handler()
	r := do(t, h, "GET", "/v1/cards", tok, "", "")
	if strings.Contains(r.body, "david") || strings.Contains(r.body, "4761") {
		t.Fatalf("cards show another's card or a full PAN: %s", r.body)
	}
	if r := do(t, h, "GET", "/v1/cards?all=1", tok, "", ""); r.status != 400 {
		t.Fatalf("unknown query: %d %s", r.status, r.body)
	}
}

// TestApp: WithApp serves a page under /app/ beside the API; without it
// /app/ is an unknown path like any other.
func TestApp(t *testing.T) {
	f := newFixture(t, Config{})
	if r := do(t, f.svc.Handler(), "GET", "/app/", "", "", ""); r.status != 404 || r.errCode() != "not_found" {
		t.Fatalf("no app: %d %s", r.status, r.body)
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "app at "+r.URL.Path)
	})
	f.svc.app = page
	h := f.svc.Handler()
	if r := do(t, h, "GET", "/app/app.js", "", "", ""); r.status != 200 || r.body != "app at /app.js" {
		t.Fatalf("app asset: %d %s", r.status, r.body)
	}
	if r := do(t, h, "GET", "/app", "", "", ""); r.status != 301 || r.header.Get("Location") != "/app/" {
		t.Fatalf("/app: %d %v", r.status, r.header)
	}
	if r := do(t, h, "POST", "/app/", "", js, "{}"); r.status != 405 || r.errCode() != "method_not_allowed" {
		t.Fatalf("POST /app/: %d %s", r.status, r.body)
	}
	if r := do(t, h, "GET", "/v1/devices", "", "", ""); r.status != 401 {
		t.Fatalf("the API still needs a token: %d", r.status)
	}
}

func TestIntent(t *testing.T) {
	f := newFixture(t, Config{})
	cases := common(`{"card_last4":"4054"}`)
	for i := range cases {
		if cases[i].token == "alice" {
			cases[i].token = "david"
		}
	}
	cases = append(cases,
		apiCase{"bad last4", "david", js, `{"card_last4":"40a4"}`, 400, "bad_request", `\"card_last4\"`},
		apiCase{"wrong user", "alice", js, `{"card_last4":"4054"}`, 404, "no_such_card", ""},
		apiCase{"active card", "alice", js, `{"card_last4":"1019"}`, 404, "no_such_card", ""},
		apiCase{"happy", "david", js, `{"card_last4":"4054"}`, 200, "", `"expires"`},
	)
	runCases(t, f, "POST", "/v1/activation/intent", cases)
}

// issue makes an activation challenge for card at ATM00001.
func issue(t *testing.T, f *fixture, card string) (string, string) {
	t.Helper()
	ch, payload, err := f.svc.Challenges.Issue(context.Background(), "activate", card, "ATM00001")
	if err != nil {
		t.Fatal(err)
	}
	return ch.ID, payload
}

func TestQR(t *testing.T) {
	f := newFixture(t, Config{MaxCodeTries: 9})
	_, payload := issue(t, f, "david-new")
	_, other := issue(t, f, "david-new")
	good := `{"payload":"` + payload + `"}`
	cases := common(good)
	for i := range cases {
		if cases[i].token == "alice" {
			cases[i].token = "david"
		}
	}
	unknown := `{"payload":"atmd://activate?c=` + strings.Repeat("A", 43) + `"}`
	cases = append(cases,
		apiCase{"bad payload", "david", js, `{"payload":"https://evil.example/"}`, 400, "bad_request", `\"payload\"`},
		apiCase{"unknown challenge", "david", js, unknown, 404, "unknown_challenge", ""},
		apiCase{"wrong user", "alice", js, good, 403, "forbidden", ""},
		apiCase{"happy", "david", js, good, 200, "", `"status":"verified"`},
		apiCase{"used", "david", js, good, 409, "used", ""},
	)
	runCases(t, f, "POST", "/v1/qr", cases)
	f.clk.Advance(f.svc.cfg.ChallengeTTL)
	tok := f.login(t, "david", "david-app-pass", "david-phone")
	if r := do(t, f.svc.Handler(), "POST", "/v1/qr", tok, js, `{"payload":"`+other+`"}`); r.status != 410 {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
}

func TestQRNotBoundAndTooManyTries(t *testing.T) {
	f := newFixture(t, Config{MaxCodeTries: 2})
	_, payload := issue(t, f, "david-new")
	// david on an unbound device
	tok := f.login(t, "david", "david-app-pass", "spare-phone")
	h := f.svc.Handler()
	if r := do(t, h, "POST", "/v1/qr", tok, js, `{"payload":"`+payload+`"}`); r.status != 403 || r.errCode() != "not_bound" {
		t.Fatalf("unbound device: %d %s", r.status, r.body)
	}
	if r := do(t, h, "POST", "/v1/qr", tok, js, `{"payload":"x"}`); r.status != 400 {
		t.Fatalf("bad: %d %s", r.status, r.body)
	}
	if r := do(t, h, "POST", "/v1/qr", tok, js, `{"payload":"`+payload+`"}`); r.status != 429 || r.errCode() != "too_many_tries" {
		t.Fatalf("third try: %d %s", r.status, r.body)
	}
	if r := do(t, h, "GET", "/v1/devices", tok, "", ""); r.status != 401 {
		t.Fatalf("session should have ended: %d", r.status)
	}
	// A fresh login on the bound device may answer it: the challenge
	// stayed pending.
	tok = f.login(t, "david", "david-app-pass", "david-phone")
	if r := do(t, h, "POST", "/v1/qr", tok, js, `{"payload":"`+payload+`"}`); r.status != 200 {
		t.Fatalf("bound device: %d %s", r.status, r.body)
	}
	if strings.Contains(f.logs.String(), payload) {
		t.Fatal("a payload reached the log")
	}
}

func TestInboxAndSMS(t *testing.T) {
	f := newFixture(t, Config{Simulator: true})
	ctx := context.Background()
	if err := f.svc.Codes.Send(ctx, "alice-debit", notify.Push, "activation"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Codes.Send(ctx, "erin-new", notify.SMS, "activation"); err != nil {
		t.Fatal(err)
	}
	runCases(t, f, "GET", "/v1/inbox", []apiCase{
		{"unauthenticated", "", "", "", 401, "unauthenticated", ""},
		{"own pushes", "alice", "", "", 200, "", "verification code"},
		{"wrong user sees nothing", "bob", "", "", 200, "", `"messages":[]`},
	})
	tok := f.login(t, "alice", "alice-app-pass", "alice-phone")
	h := f.svc.Handler()
	for _, q := range []string{"?after=-1", "?wait=1h", "?after=x", "?foo=1", "?after=1&after=2"} {
		if r := do(t, h, "GET", "/v1/inbox"+q, tok, "", ""); r.status != 400 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
	if r := do(t, h, "GET", "/v1/inbox?after=1", tok, "", ""); r.status != 200 || !strings.Contains(r.body, `"messages":[]`) {
		t.Fatalf("after: %d %s", r.status, r.body)
	}
	// SMS: simulator only, no token, phone required.
	for q, want := range map[string]int{"": 400, "?phone=123": 400, "?phone=%2B886988000505": 200, "?phone=%2B886912000101": 200} {
		if r := do(t, h, "GET", "/v1/sim/sms"+q, "", "", ""); r.status != want {
			t.Fatalf("sms%s: %d %s", q, r.status, r.body)
		}
	}
	if r := do(t, h, "GET", "/v1/sim/sms?phone=%2B886988000505", "", "", ""); !strings.Contains(r.body, "verification code") {
		t.Fatalf("sms: %s", r.body)
	}
	off := newFixture(t, Config{})
	if r := do(t, off.svc.Handler(), "GET", "/v1/sim/sms?phone=%2B886988000505", "", "", ""); r.status != 404 {
		t.Fatalf("sms without simulator: %d", r.status)
	}
}

func TestLongPollWaits(t *testing.T) {
	f := newFixture(t, Config{Simulator: true})
	srv := httptest.NewServer(f.svc.Handler())
	defer srv.Close()
	got := make(chan string, 1)
	go func() {
		r, err := http.Get(srv.URL + "/v1/sim/sms?phone=%2B886988000505&wait=10s")
		if err != nil {
			got <- err.Error()
			return
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}()
	if err := f.svc.Codes.Send(context.Background(), "erin-new", notify.SMS, "activation"); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !strings.Contains(b, "verification code") {
			t.Fatalf("long poll: %s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not answer")
	}
}

func TestEvents(t *testing.T) {
	f := newFixture(t, Config{})
	srv := httptest.NewServer(f.svc.Handler())
	defer srv.Close()
	tok := f.login(t, "david", "david-app-pass", "david-phone")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := do(t, f.svc.Handler(), "GET", "/v1/inbox/events", "", "", ""); r.status != 401 {
		t.Fatalf("unauthenticated: %d", r.status)
	}
	if r := do(t, f.svc.Handler(), "GET", "/v1/inbox/events?after=x", tok, "", ""); r.status != 400 {
		t.Fatalf("bad after: %d", r.status)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/inbox/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", r.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(r.Body)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, ":") { // the opening comment: subscribed
		t.Fatalf("first line %q", line)
	}
	// Another user's push must not appear; david's must, at once.
	if err := f.svc.Codes.Send(ctx, "alice-debit", notify.Push, "activation"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Notify.DefaultPIN(ctx, "david-new", notify.Push); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v (%q)", err, lines)
		}
		line = strings.TrimRight(line, "\n")
		if line == "" && len(lines) > 0 {
			break
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) != 3 || lines[0] != "id: 2" || lines[1] != "event: push" || !strings.Contains(lines[2], `"kind":"default-pin"`) ||
		!strings.Contains(lines[2], "6879") {
		t.Fatalf("event %q", lines)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	f := newFixture(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Serve(ctx, ln) }()
	r, err := http.Post("http://"+ln.Addr().String()+"/v1/login", js, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Fatalf("status %d", r.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}
