package mobile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/otp"
)

// TestActivationFlow plays the bound-app path of document 000 through
// the Go API and the HTTP API together.
func TestActivationFlow(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	act := f.svc.Activation
	if ready, _, err := act.AppReady(ctx, "david-new"); err != nil || ready {
		t.Fatalf("before login: %v %v", ready, err)
	}
	tok := f.login(t, "david", "david-app-pass", "david-phone")
	st, err := act.Check(ctx, "david-new")
	if err != nil || !st.LoggedIn || st.Intent || !st.Bound || st.Ready() {
		t.Fatalf("logged in, no intent: %+v %v", st, err)
	}
	h := f.svc.Handler()
	if r := do(t, h, "POST", "/v1/activation/intent", tok, js, `{"card_last4":"4054"}`); r.status != 200 {
		t.Fatalf("intent: %d %s", r.status, r.body)
	}
	ready, phone, err := act.AppReady(ctx, "david-new")
	if err != nil || !ready || phone != "+886955000404" {
		t.Fatalf("ready = %v %q %v", ready, phone, err)
	}
	// The intent expires.
	f.clk.Advance(f.svc.cfg.IntentTTL)
	if ready, _, _ := act.AppReady(ctx, "david-new"); ready {
		t.Fatal("intent did not expire")
	}
	do(t, h, "POST", "/v1/activation/intent", tok, js, `{"card_last4":"4054"}`)

	ch, payload, err := f.svc.Challenges.Issue(ctx, "activate", "david-new", "ATM00001")
	if err != nil || !strings.HasPrefix(payload, "atmd://activate?c=") {
		t.Fatalf("issue: %q %v", payload, err)
	}
	if err := f.svc.Challenges.Redeem(ctx, ch.ID, "activate", "david-new", "ATM00001"); !errors.Is(err, otp.ErrPending) {
		t.Fatalf("redeem before scan: %v", err)
	}
	if r := do(t, h, "POST", "/v1/qr", tok, js, `{"payload":"`+payload+`"}`); r.status != 200 {
		t.Fatalf("qr: %d %s", r.status, r.body)
	}
	if got, err := f.svc.Challenges.Status(ctx, ch.ID); err != nil || got.State != otp.StateVerified || got.By != "david" {
		t.Fatalf("status %+v %v", got, err)
	}
	if err := f.svc.Challenges.Redeem(ctx, ch.ID, "activate", "david-new", "ATM00002"); !errors.Is(err, otp.ErrMismatch) {
		t.Fatalf("redeem at another ATM: %v", err)
	}
	if err := f.svc.Challenges.Redeem(ctx, ch.ID, "activate", "david-new", "ATM00001"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Challenges.Redeem(ctx, ch.ID, "activate", "david-new", "ATM00001"); !errors.Is(err, otp.ErrUsed) {
		t.Fatalf("second redeem: %v", err)
	}
	if err := f.svc.Notify.DefaultPIN(ctx, "david-new", notify.Push); err != nil {
		t.Fatal(err)
	}
	m, ok := f.svc.Outbox().Last(notify.Filter{Kind: notify.KindDefaultPIN})
	if !ok || m.To != "david" || !strings.Contains(m.Text, "6879") || strings.Contains(m.String(), "6879") {
		t.Fatalf("default PIN message %q", m.Text)
	}
	if strings.Contains(f.logs.String(), "6879") || strings.Contains(f.logs.String(), payload) {
		t.Fatal("a PIN or payload reached the log")
	}
}

func TestAppStates(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	// erin: no app.
	if st, err := f.svc.Activation.Check(ctx, "erin-new"); err != nil || st.User != "" || st.Ready() {
		t.Fatalf("erin: %+v %v", st, err)
	}
	// bob: logged in, not bound.
	f.login(t, "bob", "bob-app-pass", "bob-phone")
	if st, err := f.svc.Activation.Check(ctx, "bob-debit"); err != nil || !st.LoggedIn || st.Bound {
		t.Fatalf("bob: %+v %v", st, err)
	}
	if _, err := f.svc.Activation.Check(ctx, "nope"); !errors.Is(err, ErrUnknownCard) {
		t.Fatalf("unknown card: %v", err)
	}
}

func TestCodes(t *testing.T) {
	f := newFixture(t, Config{MaxCodeTries: 3})
	ctx := context.Background()
	codeOf := func(to string) []byte {
		m, ok := f.svc.Outbox().Last(notify.Filter{To: to, Kind: notify.KindCode})
		if !ok {
			t.Fatal("no code sent")
		}
		i := strings.Index(m.Text, " is ")
		return []byte(m.Text[i+4 : i+10])
	}
	if err := f.svc.Codes.Send(ctx, "erin-new", notify.Push, "activation"); !errors.Is(err, ErrNoApp) {
		t.Fatalf("push to a non-app user: %v", err)
	}
	if err := f.svc.Codes.Send(ctx, "erin-new", "fax", "activation"); !errors.Is(err, ErrChannel) {
		t.Fatalf("fax: %v", err)
	}
	if err := f.svc.Codes.Send(ctx, "erin-new", notify.SMS, "activation"); err != nil {
		t.Fatal(err)
	}
	code := codeOf("+886988000505")
	wrong := []byte("000000")
	if string(code) == "000000" {
		wrong = []byte("000001")
	}
	var we *otp.WrongCodeError
	if err := f.svc.Codes.Verify(ctx, "erin-new", "activation", wrong); !errors.As(err, &we) || we.TriesLeft != 2 {
		t.Fatalf("wrong code: %v", err)
	}
	if err := f.svc.Codes.Verify(ctx, "erin-new", "other", code); !errors.Is(err, otp.ErrNotFound) {
		t.Fatalf("other purpose: %v", err)
	}
	if err := f.svc.Codes.Verify(ctx, "erin-new", "activation", code); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Codes.Verify(ctx, "erin-new", "activation", code); !errors.Is(err, otp.ErrUsed) {
		t.Fatalf("second use: %v", err)
	}
	// Locking.
	if err := f.svc.Codes.Send(ctx, "alice-debit", notify.Push, "activation"); err != nil {
		t.Fatal(err)
	}
	code = codeOf("alice")
	for i := 0; i < 3; i++ {
		_ = f.svc.Codes.Verify(ctx, "alice-debit", "activation", wrong)
	}
	if err := f.svc.Codes.Verify(ctx, "alice-debit", "activation", code); !errors.Is(err, otp.ErrLocked) {
		t.Fatalf("after 3 wrong: %v", err)
	}
	if strings.Contains(f.logs.String(), string(code)) {
		t.Fatal("a code reached the log")
	}
}

func TestDefaultPINRules(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	if err := f.svc.Notify.DefaultPIN(ctx, "alice-debit", notify.Push); !errors.Is(err, ErrNotNew) {
		t.Fatalf("active card: %v", err)
	}
	if err := f.svc.Notify.DefaultPIN(ctx, "erin-new", notify.SMS); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.svc.Outbox().Last(notify.Filter{Channel: notify.SMS}); m.To != "+886988000505" || !strings.Contains(m.Text, "8796") {
		t.Fatalf("sms %v", m)
	}
	f.svc.pins = nil
	if err := f.svc.Notify.DefaultPIN(ctx, "erin-new", notify.SMS); !errors.Is(err, ErrNoPINSource) {
		t.Fatalf("no source: %v", err)
	}
	if err := f.svc.Notify.Alert(ctx, "alice-debit", notify.Push, "wrong delegate code"); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword([]byte("secret-pass"), testIter)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(h), "secret") {
		t.Fatal("clear password in hash")
	}
	if err := CheckPassword(h, []byte("secret-pass")); err != nil {
		t.Fatal(err)
	}
	if err := CheckPassword(h, []byte("secret-pasS")); err == nil {
		t.Fatal("wrong password accepted")
	}
	for _, bad := range []string{"", "x$1$a$b", "pbkdf2-sha256$0$AAAAAAAAAAA$AAAA", "pbkdf2-sha256$10$!!$!!"} {
		if err := CheckPassword([]byte(bad), []byte("x")); !errors.Is(err, ErrBadHash) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{}
	if err := c.Validate(); err != nil || c.SessionTTL != DefaultSessionTTL || c.MaxCodeTries != otp.DefaultMaxTries {
		t.Fatalf("%+v %v", c, err)
	}
	c = Config{Listen: "nope", CodeTTL: -1, MaxLoginTries: 99}
	err := c.Validate()
	for _, want := range []string{"mobile.listen", "mobile.code_ttl", "mobile.max_login_tries"} {
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrConfig) {
			t.Fatalf("missing %s in %v", want, err)
		}
	}
}
