package mobile

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// newDelegateFixture is newFixture with a book of delegate codes (its
// MAC key a test key, as the HSM's would be).
func newDelegateFixture(t *testing.T) *fixture {
	t.Helper()
	sd, err := seed.Load("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash := func(pw []byte) ([]byte, error) { return hashPassword(pw, testIter) }
	pvv := func(pan string, pin []byte) ([]byte, error) { return []byte("pvv-" + pan[len(pan)-4:]), nil }
	db, err := store.Create(ctx, filepath.Join(t.TempDir(), "host.db"), sd, pvv, []byte{1, 2, 3}, store.WithPasswordHasher(hash))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{clk: clock.NewFake(t0), logs: &syncBuf{}, sd: sd}
	mac := func(parts ...[]byte) []byte {
		m := hmac.New(sha256.New, []byte("test code key"))
		for _, p := range parts {
			m.Write([]byte{byte(len(p))})
			m.Write(p)
		}
		return m.Sum(nil)
	}
	book, err := delegate.New(db, delegate.Config{}, mac, f.clk, zerolog.New(f.logs))
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = New(db, Config{}, WithClock(f.clk), WithLogger(zerolog.New(f.logs)), WithDelegates(book),
		WithNotifier(notify.New(notify.NewOutbox(16, f.clk))))
	if err != nil {
		t.Fatal(err)
	}
	f.svc.iter = testIter
	return f
}

func TestDelegateAPI(t *testing.T) {
	f := newDelegateFixture(t)
	runCases(t, f, "POST", "/v1/delegates", []apiCase{
		{name: "no token", ctype: js, body: `{"amount":3000}`, status: 401, code: "unauthenticated"},
		{name: "not json", token: "alice", ctype: "text/plain", body: `{}`, status: 415, code: "unsupported_media_type"},
		{name: "unknown field", token: "alice", ctype: js, body: `{"amount":3000,"code":"123456"}`, status: 400, code: "bad_request", contains: "code"},
		{name: "no amount", token: "alice", ctype: js, body: `{}`, status: 400, code: "bad_request", contains: "amount"},
		{name: "fraction", token: "alice", ctype: js, body: `{"amount":30.5}`, status: 400, code: "bad_request", contains: "amount"},
		{name: "over the bank's cap", token: "alice", ctype: js, body: `{"amount":20001}`, status: 400, code: "bad_request"},
		{name: "bad expiry", token: "alice", ctype: js, body: `{"amount":3000,"expires_in":"soon"}`, status: 400, code: "bad_request", contains: "expires_in"},
		{name: "too long", token: "alice", ctype: js, body: `{"amount":3000,"expires_in":"100h"}`, status: 400, code: "bad_request"},
		{name: "not my card", token: "alice", ctype: js, body: `{"amount":3000,"card_last4":"2033"}`, status: 404, code: "no_such_card"},
		{name: "new card", token: "david", ctype: js, body: `{"amount":3000,"card_last4":"4054"}`, status: 409, code: "card_not_usable"},
		{name: "created", token: "alice", ctype: js, body: `{"amount":3000,"expires_in":"2h"}`, status: 201, contains: `"code":"`},
	})
}

func TestDelegateCreateListCancel(t *testing.T) {
	f := newDelegateFixture(t)
	h := f.svc.Handler()
	alice := f.login(t, "alice", "alice-app-pass", "alice-phone")
	bob := f.login(t, "bob", "bob-app-pass", "bob-phone")

	r := do(t, h, "POST", "/v1/delegates", alice, js, `{"card_last4":"1019","amount":3000,"expires_in":"2h"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c DelegateJSON
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Code) != 6 || strings.Trim(c.Code, "0123456789") != "" || !validDelegateID(c.ID) || c.CardLast4 != "1019" ||
		c.Amount != 3000 || c.Currency != "TWD" || c.State != "live" || !c.Expires.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("created %+v", c)
	}
	// The code is shown once: the list has no code, and nothing logged it.
	r = do(t, h, "GET", "/v1/delegates", alice, "", "")
	var l DelegatesResponse
	if err := json.Unmarshal([]byte(r.body), &l); err != nil || r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if len(l.Delegates) != 1 || l.Delegates[0].ID != c.ID || l.Delegates[0].Code != "" || strings.Contains(r.body, c.Code) {
		t.Fatalf("list %s", r.body)
	}
	if strings.Contains(f.logs.String(), c.Code) {
		t.Fatal("the code was logged")
	}
	if r = do(t, h, "GET", "/v1/delegates", bob, "", ""); !strings.Contains(r.body, `"delegates":[]`) {
		t.Fatalf("bob sees alice's codes: %s", r.body)
	}
	if r = do(t, h, "DELETE", "/v1/delegates/"+c.ID, bob, "", ""); r.status != 404 || r.errCode() != "no_such_code" {
		t.Fatalf("bob cancels alice's code: %d %s", r.status, r.body)
	}
	if r = do(t, h, "DELETE", "/v1/delegates/"+c.ID, alice, "", ""); r.status != 200 || !strings.Contains(r.body, `"state":"cancelled"`) {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r = do(t, h, "DELETE", "/v1/delegates/"+c.ID, alice, "", ""); r.status != 409 || r.errCode() != "not_live" {
		t.Fatalf("cancel again: %d %s", r.status, r.body)
	}
	for _, bad := range []string{"/v1/delegates/nonsense", "/v1/delegates/D0000000000"} {
		if r = do(t, h, "DELETE", bad, alice, "", ""); r.status != 404 {
			t.Fatalf("DELETE %s: %d %s", bad, r.status, r.body)
		}
	}
	if r = do(t, h, "PUT", "/v1/delegates", alice, js, `{}`); r.status != 405 {
		t.Fatalf("PUT: %d", r.status)
	}
	if r = do(t, h, "GET", "/v1/delegates?all=1", alice, "", ""); r.status != 400 {
		t.Fatalf("query: %d", r.status)
	}
	// Expired codes list as expired.
	do(t, h, "POST", "/v1/delegates", alice, js, `{"amount":1000,"expires_in":"1m"}`)
	f.clk.Advance(time.Minute)
	r = do(t, h, "GET", "/v1/delegates", alice, "", "")
	if !strings.Contains(r.body, `"state":"expired"`) {
		t.Fatalf("list after expiry: %s", r.body)
	}
}

// Without a book, the endpoints do not exist.
func TestDelegateAPIOff(t *testing.T) {
	f := newFixture(t, Config{})
	tok := f.login(t, "alice", "alice-app-pass", "alice-phone")
	if r := do(t, f.svc.Handler(), "GET", "/v1/delegates", tok, "", ""); r.status != 404 {
		t.Fatalf("GET /v1/delegates without a book: %d", r.status)
	}
}

func TestNotifyOwner(t *testing.T) {
	f := newDelegateFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		card string
		ch   notify.Channel
		to   string
	}{{"alice-debit", notify.Push, "alice"}, {"erin-new", notify.SMS, "+886988000505"}} {
		ch, err := f.svc.Notify.Owner(ctx, tc.card, notify.KindAlert, "test alert")
		if err != nil || ch != tc.ch {
			t.Fatalf("%s: %s %v", tc.card, ch, err)
		}
		m, ok := f.svc.Outbox().Last(notify.Filter{Subject: tc.card})
		if !ok || m.To != tc.to || m.Kind != notify.KindAlert {
			t.Fatalf("%s: %+v", tc.card, m)
		}
	}
}

func FuzzDecodeDelegate(f *testing.F) {
	fuzzDecoder[DelegateRequest](f, `{"card_last4":"1019","amount":3000,"expires_in":"24h"}`, `{"amount":-1}`,
		`{"amount":1e30}`, `{"expires_in":"-5m","amount":1}`)
}
