package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/otp"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Customers of the activation tests (testdata/seed.yaml, with the app
// logins appSeed adds): david's new card, his phone bound; bob's new
// card, bob in the app but his phone not bound; frank's new card, no app.
const (
	davidCard = "david-new"
	bobCard   = "bob-new"
	frankCard = "frank-new"
	// frank's phone on file and birth date, as keyed at the ATM.
	frankLocal = "0966000606"
	frankIntl  = "886966000606"
	frankBirth = "19900517"
	// New PINs the customers choose: digits 6–9 only, like the seed's,
	// and none of them a seed PIN.
	newPIN1 = "6987"
	newPIN2 = "7986"
	newPIN3 = "8679"
)

// appSeed writes a copy of the test seed in which david (phone bound)
// and bob (phone not bound) are app users, and returns its path. The
// plain test seed has no app users: hashing their passwords would slow
// every other fixture down.
func appSeed(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, r := range [][2]string{
		{"  - id: david\n", "  - id: david\n    app: {login: david, password: david-app-pass, bound: true}\n"},
		{"  - id: bob\n", "  - id: bob\n    app: {login: bob, password: bob-app-pass}\n"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("test seed has no %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	p := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// actFixture is a host with app users, its mobile service and the app's
// HTTP API.
type actFixture struct {
	*fixture
	ms  *mobile.Service
	api http.Handler
}

func newActFixture(t *testing.T) *actFixture {
	t.Helper()
	cfg := testConfig(t)
	cfg.Seed = appSeed(t)
	cfg.Mobile = &mobile.Config{}
	f := newFixtureConfig(t, cfg)
	ms, err := f.h.Mobile()
	if err != nil {
		t.Fatal(err)
	}
	return &actFixture{fixture: f, ms: ms, api: ms.Handler()}
}

// login logs user's app in on its phone and returns the bearer token.
func (f *actFixture) login(user string) string {
	f.t.Helper()
	tok, _, err := f.ms.Login(context.Background(), user, []byte(user+"-app-pass"), user+"-phone")
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// post calls the app's HTTP API as the app does.
func (f *actFixture) post(path, token string, body any) (int, string) {
	f.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	f.api.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// intend chooses card activation in the app for the card ending last4.
func (f *actFixture) intend(token, cardID string) {
	f.t.Helper()
	pan := f.card(cardID).PAN
	if code, body := f.post("/v1/activation/intent", token, map[string]string{"card_last4": pan[len(pan)-4:]}); code != 200 {
		f.t.Fatalf("intent: %d %s", code, body)
	}
}

// readyApp logs david in and chooses activation of his new card.
func (f *actFixture) readyApp() string {
	tok := f.login("david")
	f.intend(tok, davidCard)
	return tok
}

var secretInText = regexp.MustCompile(` is ([0-9]+)\.`)

// secret returns the code or PIN in the last message of kind about a
// card, and the message.
func (f *actFixture) secret(cardID string, kind notify.Kind) (string, notify.Message) {
	f.t.Helper()
	m, ok := f.h.Outbox().Last(notify.Filter{Subject: cardID, Kind: kind})
	if !ok {
		f.t.Fatalf("no %s message about %s", kind, cardID)
	}
	sm := secretInText.FindStringSubmatch(m.Text)
	if sm == nil {
		f.t.Fatalf("no digits in the %s message", kind)
	}
	return sm[1], m
}

// act builds an activation step for pan at tid: field 48 is tags (tag,
// value pairs) and field 52 pin.
func (f *fixture) act(pan, tid string, pin []byte, tags ...string) *hostlink.Message {
	f.t.Helper()
	var tlv hostlink.TLV
	for i := 0; i+1 < len(tags); i += 2 {
		tlv = append(tlv, hostlink.Element{Tag: tags[i], Value: tags[i+1]})
	}
	f48, err := tlv.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	stan, tt := f.next()
	return &hostlink.Message{MTI: hostlink.MTIAuthRequest, PAN: pan, ProcCode: hostlink.ProcActivation, TransmitTime: tt,
		STAN: stan, LocalTime: "093000", LocalDate: "0314", TerminalID: tid, AcceptorID: "ATMD-BANK-0001",
		PINBlock: pin, Private: f48}
}

// dialogue is one card's activation as an ATM runs it.
type dialogue struct {
	f    *actFixture
	card seed.Card
	tid  string
	id   string // AI, from the start reply
}

func (f *actFixture) dialogue(cardID string) *dialogue {
	return &dialogue{f: f, card: f.card(cardID), tid: terminal}
}

// step sends step (with AI once known, and the extra tags) and checks the
// response code; it returns the reply's field 48.
func (d *dialogue) step(rc, step string, pin []byte, tags ...string) hostlink.TLV {
	d.f.t.Helper()
	all := []string{hostlink.TagActStep, step}
	if step != hostlink.StepStart {
		all = append(all, hostlink.TagActID, d.id)
	}
	req := d.f.act(d.card.PAN, d.tid, pin, append(all, tags...)...)
	resp := d.f.expectRC(req, rc)
	if resp.MTI != hostlink.MTIAuthResponse || resp.STAN != req.STAN || resp.PAN != req.PAN ||
		resp.ProcCode != hostlink.ProcActivation || resp.TerminalID != req.TerminalID || resp.TransmitTime != req.TransmitTime {
		d.f.t.Fatalf("response %s does not answer %s", hostlink.Describe(resp), hostlink.Describe(req))
	}
	if resp.PINBlock != nil {
		d.f.t.Fatal("response carries a PIN block")
	}
	tlv, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		d.f.t.Fatalf("reply field 48: %v", err)
	}
	if step == hostlink.StepStart && rc == hostlink.RCApproved {
		d.id, _ = tlv.Get(hostlink.TagActID)
		if len(d.id) != 16 || !isHex(d.id) {
			d.f.t.Fatalf("activation id %q", d.id)
		}
	}
	return tlv
}

// block is the card's PIN block of digits under the terminal's TPK.
func (d *dialogue) block(digits string) []byte { return d.f.block(digits, d.card.PAN) }

// want checks tags of a reply: "" means the tag must be absent.
func want(t *testing.T, tlv hostlink.TLV, pairs ...string) {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		got, ok := tlv.Get(pairs[i])
		if pairs[i+1] == "" {
			if ok {
				t.Errorf("reply has %s", pairs[i])
			}
			continue
		}
		if got != pairs[i+1] {
			t.Errorf("reply %s = %q, want %q", pairs[i], got, pairs[i+1])
		}
	}
}

// setPIN runs DP with the default PIN and NP with pin, then checks
// that the card is active.
func (d *dialogue) setPIN(defaultPIN, pin string) {
	d.f.t.Helper()
	d.step(hostlink.RCApproved, hostlink.StepDefaultPIN, d.block(defaultPIN))
	d.step(hostlink.RCApproved, hostlink.StepNewPIN, d.block(pin), hostlink.TagActPIN2, hex.EncodeToString(d.block(pin)))
	if st := d.f.status(d.card.ID); st != seed.StatusActive {
		d.f.t.Fatalf("%s is %s after activation", d.card.ID, st)
	}
}

// journey is what one activation used, for the secret scan.
type journey struct {
	codes, payloads, pins []string
}

// boundAppJourney runs the bound-app path for david and returns the
// secrets it used.
func boundAppJourney(t *testing.T, f *actFixture, newPIN string) journey {
	t.Helper()
	var j journey
	tok := f.login("david")
	d := f.dialogue(davidCard)
	want(t, d.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeLogin, hostlink.TagActQR, "")
	f.intend(tok, davidCard)
	r := d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	want(t, r, hostlink.TagActMode, hostlink.ModeReady)
	payload, _ := r.Get(hostlink.TagActQR)
	if _, err := otp.ParsePayload(payload); err != nil {
		t.Fatalf("QR payload: %v", err)
	}
	j.payloads = append(j.payloads, payload)
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRPending)
	if code, body := f.post("/v1/qr", tok, map[string]string{"payload": payload}); code != 200 {
		t.Fatalf("app submits the QR: %d %s", code, body)
	}
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil),
		hostlink.TagActQRState, hostlink.QRVerified, hostlink.TagActChannel, hostlink.ChannelPush)
	pin, m := f.secret(davidCard, notify.KindDefaultPIN)
	if m.Channel != notify.Push || m.To != "david" || pin != string(d.card.PIN) {
		t.Fatalf("default PIN went %s to %s", m.Channel, m.To)
	}
	d.setPIN(pin, newPIN)
	j.pins = append(j.pins, newPIN)
	return j
}

// pushCodeJourney runs the push-code fallback for david.
func pushCodeJourney(t *testing.T, f *actFixture, newPIN string) journey {
	t.Helper()
	var j journey
	f.readyApp()
	d := f.dialogue(davidCard)
	r := d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	payload, _ := r.Get(hostlink.TagActQR)
	j.payloads = append(j.payloads, payload)
	// The customer cannot scan: "enter verification code" instead.
	want(t, d.step(hostlink.RCApproved, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelPush),
		hostlink.TagActChannel, hostlink.ChannelPush, hostlink.TagActPhone, "")
	code, m := f.secret(davidCard, notify.KindCode)
	if m.Channel != notify.Push || m.To != "david" {
		t.Fatalf("code went %s to %s", m.Channel, m.To)
	}
	j.codes = append(j.codes, code)
	want(t, d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(code)), hostlink.TagActChannel, hostlink.ChannelPush)
	pin, m := f.secret(davidCard, notify.KindDefaultPIN)
	if m.Channel != notify.Push || m.To != "david" {
		t.Fatalf("default PIN went %s to %s", m.Channel, m.To)
	}
	// The QR of this activation no longer counts.
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonOrder)
	d.setPIN(pin, newPIN)
	j.pins = append(j.pins, newPIN)
	return j
}

// smsJourney runs the non-app path for frank, with one wrong identity
// and one wrong code on the way.
func smsJourney(t *testing.T, f *actFixture, newPIN string) journey {
	t.Helper()
	var j journey
	d := f.dialogue(frankCard)
	want(t, d.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeNoApp, hostlink.TagActQR, "")
	want(t, d.step(hostlink.RCDoNotHonour, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, "19900518"),
		hostlink.TagActReason, hostlink.ReasonMismatch, hostlink.TagActTries, "2")
	want(t, d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth),
		hostlink.TagActChannel, hostlink.ChannelSMS, hostlink.TagActPhone, "0606")
	code, m := f.secret(frankCard, notify.KindCode)
	if m.Channel != notify.SMS || m.To != "+886966000606" {
		t.Fatalf("code went %s to another number", m.Channel)
	}
	j.codes = append(j.codes, code)
	want(t, d.step(hostlink.RCWrongPIN, hostlink.StepVerifyCode, d.block(otherCode(code))), hostlink.TagActTries, "2")
	want(t, d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(code)),
		hostlink.TagActChannel, hostlink.ChannelSMS, hostlink.TagActPhone, "0606")
	pin, m := f.secret(frankCard, notify.KindDefaultPIN)
	if m.Channel != notify.SMS || m.To != "+886966000606" {
		t.Fatalf("default PIN went %s to another number", m.Channel)
	}
	d.setPIN(pin, newPIN)
	j.pins = append(j.pins, newPIN)
	return j
}

// otherCode returns a code of the same length that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestActivationBoundApp(t *testing.T) {
	f := newActFixture(t)
	boundAppJourney(t, f, newPIN1)
	// The new PIN works at once; the default PIN no longer does.
	pan := f.card(davidCard).PAN
	f.expectRC(f.withdrawal(pan, newPIN1, 100_000), hostlink.RCApproved)
	f.expectRC(f.withdrawal(pan, string(f.card(davidCard).PIN), 100_000), hostlink.RCWrongPIN)
	if got := f.balance("david-twd"); got != 4_900_000 {
		t.Errorf("balance = %d, want 4900000", got)
	}
	// An active card cannot be activated again.
	d := f.dialogue(davidCard)
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepStart, nil), hostlink.TagActReason, hostlink.ReasonActive, hostlink.TagActID, "")
}

func TestActivationPushCode(t *testing.T) {
	f := newActFixture(t)
	pushCodeJourney(t, f, newPIN2)
	f.expectRC(f.withdrawal(f.card(davidCard).PAN, newPIN2, 100_000), hostlink.RCApproved)
}

func TestActivationSMS(t *testing.T) {
	f := newActFixture(t)
	smsJourney(t, f, newPIN3)
	f.expectRC(f.withdrawal(f.card(frankCard).PAN, newPIN3, 100_000), hostlink.RCApproved)
}

// TestActivationOverTheWire runs the start of an activation through
// hostlink's client over TCP with MACs on: the 0100 is signed, the 0110
// too, and an unsigned 0100 never reaches the dialogue.
func TestActivationOverTheWire(t *testing.T) {
	f := newActFixture(t)
	addr := serve(t, f.fixture)
	m := &atmMAC{}
	cl, _ := startClient(t, hostlink.Config{Addr: addr, TerminalID: terminal, Timeout: 10 * time.Second, MAC: m})
	clientExchange(t, f.fixture, cl, m)
	ctx := context.Background()
	pan := f.card(frankCard).PAN
	req := f.act(pan, terminal, nil, hostlink.TagActStep, hostlink.StepStart)
	req.STAN, req.TransmitTime = "", ""
	resp, err := cl.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	tlv, _ := hostlink.ParseTLV(resp.Private)
	id, _ := tlv.Get(hostlink.TagActID)
	if resp.MTI != hostlink.MTIAuthResponse || resp.RespCode != hostlink.RCApproved || len(resp.MAC) != hostlink.MACLen || len(id) != 16 {
		t.Fatalf("start answered with %s", hostlink.Describe(resp))
	}
	unsigned, err := hostlink.Pack(f.act(pan, terminal, nil, hostlink.TagActStep, hostlink.StepCancel, hostlink.TagActID, id))
	if err != nil {
		t.Fatal(err)
	}
	if _, r := dialRaw(t, addr).exchange(unsigned); r.RespCode != hostlink.RCSecurityViolation {
		t.Fatalf("unsigned 0100 answered with %s", hostlink.Describe(r))
	}
	req = f.act(pan, terminal, nil, hostlink.TagActStep, hostlink.StepQRStatus, hostlink.TagActID, id)
	req.STAN, req.TransmitTime = "", ""
	if resp, err = cl.Send(ctx, req); err != nil {
		t.Fatal(err)
	}
	tlv, _ = hostlink.ParseTLV(resp.Private)
	want(t, tlv, hostlink.TagActReason, hostlink.ReasonOrder) // still live: the unsigned cancel did nothing
}

func TestActivationModes(t *testing.T) {
	f := newActFixture(t)
	bob := f.dialogue(bobCard)
	want(t, bob.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeLogin)
	tok := f.login("bob")
	want(t, bob.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeLogin)
	f.intend(tok, bobCard)
	want(t, bob.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeUnbound, hostlink.TagActQR, "")
	// Not bound: no push code either; the SMS path is still open.
	want(t, bob.step(hostlink.RCInvalidTxn, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelPush),
		hostlink.TagActReason, hostlink.ReasonNoApp)
	want(t, bob.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, "886922000202", hostlink.TagActBirth, "19791103"),
		hostlink.TagActChannel, hostlink.ChannelSMS, hostlink.TagActPhone, "0202")

	frank := f.dialogue(frankCard)
	want(t, frank.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeNoApp)
	want(t, frank.step(hostlink.RCInvalidTxn, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelPush),
		hostlink.TagActReason, hostlink.ReasonNoApp)

	// Ready in the app, then the intent lapses: push is refused now.
	david := f.dialogue(davidCard)
	f.readyApp()
	want(t, david.step(hostlink.RCApproved, hostlink.StepStart, nil), hostlink.TagActMode, hostlink.ModeReady)
	f.clk.Advance(mobile.DefaultIntentTTL)
	want(t, david.step(hostlink.RCInvalidTxn, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelPush),
		hostlink.TagActReason, hostlink.ReasonNoApp)
}

func TestActivationStartRefusals(t *testing.T) {
	f := newActFixture(t)
	tests := []struct {
		name, pan, rc, reason string
	}{
		{"unknown card", unknownPAN, hostlink.RCNoSuchCard, hostlink.ReasonUnknownCard},
		{"blocked", f.card("erin-blocked").PAN, hostlink.RCRestrictedCard, hostlink.ReasonBlocked},
		{"expired status", f.card("bob-expired").PAN, hostlink.RCExpiredCard, hostlink.ReasonCardExpired},
		{"expired by date", f.card("bob-old").PAN, hostlink.RCExpiredCard, hostlink.ReasonCardExpired},
		{"active", f.card("alice-debit").PAN, hostlink.RCInvalidTxn, hostlink.ReasonActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.expectRC(f.act(tt.pan, terminal, nil, hostlink.TagActStep, hostlink.StepStart), tt.rc)
			tlv, err := hostlink.ParseTLV(resp.Private)
			if err != nil {
				t.Fatal(err)
			}
			want(t, tlv, hostlink.TagActReason, tt.reason, hostlink.TagActID, "", hostlink.TagActMode, "")
		})
	}
	t.Run("no working keys", func(t *testing.T) {
		f.expectRC(f.act(f.card(davidCard).PAN, terminal2, nil, hostlink.TagActStep, hostlink.StepStart), hostlink.RCSecurityViolation)
	})
	t.Run("new card past its expiry", func(t *testing.T) {
		g := newActFixture(t)
		g.clk.Advance(time.Date(2030, 12, 1, 0, 0, 0, 0, taipei).Sub(start)) // david-new expires 3011
		d := g.dialogue(davidCard)
		want(t, d.step(hostlink.RCExpiredCard, hostlink.StepStart, nil), hostlink.TagActReason, hostlink.ReasonCardExpired)
	})
}

func TestActivationFormat(t *testing.T) {
	f := newActFixture(t)
	d := f.dialogue(frankCard)
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	pan := d.card.PAN
	good := d.block("123456")
	step := func(s string, pin []byte, tags ...string) func() *hostlink.Message {
		return func() *hostlink.Message {
			return f.act(pan, terminal, pin, append([]string{hostlink.TagActStep, s, hostlink.TagActID, d.id}, tags...)...)
		}
	}
	edit := func(m func() *hostlink.Message, e func(*hostlink.Message)) func() *hostlink.Message {
		return func() *hostlink.Message { r := m(); e(r); return r }
	}
	id := func(s string, tags ...string) func() *hostlink.Message {
		return func() *hostlink.Message {
			return f.act(pan, terminal, nil, append([]string{hostlink.TagActStep, hostlink.StepQRStatus, hostlink.TagActID, s}, tags...)...)
		}
	}
	ident := func(mp, bd string) func() *hostlink.Message {
		return step(hostlink.StepIdentity, nil, hostlink.TagActMobile, mp, hostlink.TagActBirth, bd)
	}
	tests := []struct {
		name string
		req  func() *hostlink.Message
		rc   string
	}{
		{"no PAN", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.PAN = "" }), hostlink.RCFormatError},
		{"PAN with letters", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.PAN = "47617300000060x3" }), hostlink.RCFormatError},
		{"no STAN", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.STAN = "" }), hostlink.RCFormatError},
		{"no transmission time", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.TransmitTime = "" }), hostlink.RCFormatError},
		{"no terminal", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.TerminalID = "" }), hostlink.RCFormatError},
		{"no processing code", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.ProcCode = "" }), hostlink.RCFormatError},
		{"other processing code", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.ProcCode = hostlink.ProcPINChange }), hostlink.RCInvalidTxn},
		{"malformed field 48", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.Private = "AS9" }), hostlink.RCFormatError},
		{"no field 48", edit(step(hostlink.StepQRStatus, nil), func(m *hostlink.Message) { m.Private = "" }), hostlink.RCFormatError},
		{"no step", func() *hostlink.Message { return f.act(pan, terminal, nil, hostlink.TagActID, d.id) }, hostlink.RCFormatError},
		{"unknown step", step("ZZ", nil), hostlink.RCFormatError},
		{"no activation id", func() *hostlink.Message {
			return f.act(pan, terminal, nil, hostlink.TagActStep, hostlink.StepQRStatus)
		}, hostlink.RCFormatError},
		{"short activation id", id(d.id[:15]), hostlink.RCFormatError},
		{"activation id not hex", id("zz" + d.id[2:]), hostlink.RCFormatError},
		{"send code without channel", step(hostlink.StepSendCode, nil), hostlink.RCFormatError},
		{"send code by fax", step(hostlink.StepSendCode, nil, hostlink.TagActChannel, "fax"), hostlink.RCFormatError},
		{"code without PIN block", step(hostlink.StepVerifyCode, nil), hostlink.RCFormatError},
		{"code with a short PIN block", step(hostlink.StepVerifyCode, good[:7]), hostlink.RCFormatError},
		{"default PIN without PIN block", step(hostlink.StepDefaultPIN, nil), hostlink.RCFormatError},
		{"new PIN without PIN block", step(hostlink.StepNewPIN, nil, hostlink.TagActPIN2, hex.EncodeToString(good)), hostlink.RCFormatError},
		{"new PIN without P2", step(hostlink.StepNewPIN, good), hostlink.RCFormatError},
		{"P2 short", step(hostlink.StepNewPIN, good, hostlink.TagActPIN2, hex.EncodeToString(good)[:14]), hostlink.RCFormatError},
		{"P2 not hex", step(hostlink.StepNewPIN, good, hostlink.TagActPIN2, "zz"+hex.EncodeToString(good)[2:]), hostlink.RCFormatError},
		{"identity without mobile", step(hostlink.StepIdentity, nil, hostlink.TagActBirth, frankBirth), hostlink.RCFormatError},
		{"identity without birth date", step(hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal), hostlink.RCFormatError},
		{"mobile with letters", ident("09660006O6", frankBirth), hostlink.RCFormatError},
		{"mobile with +", ident("+886966000606", frankBirth), hostlink.RCFormatError},
		{"mobile too short", ident("0966", frankBirth), hostlink.RCFormatError},
		{"mobile local, not 09", ident("0266000606", frankBirth), hostlink.RCFormatError},
		{"birth date no such day", ident(frankLocal, "19900532"), hostlink.RCFormatError},
		{"birth date with dashes", ident(frankLocal, "1990-05-17"), hostlink.RCFormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.expectRC(tt.req(), tt.rc)
			if resp.MTI != hostlink.MTIAuthResponse {
				t.Errorf("answered with %s", resp.MTI)
			}
		})
	}
	// None of that counted against frank's identity, and the dialogue
	// goes on.
	want(t, d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankIntl, hostlink.TagActBirth, frankBirth),
		hostlink.TagActPhone, "0606")
	logs := string(f.logs.Bytes())
	for _, s := range []string{"field 48 MP", "field 48 BD", "field 48 P2", "field 52", "field 48 AI", "field 48 AS", "field 48 CH"} {
		if !strings.Contains(logs, s) {
			t.Errorf("log does not name %q", s)
		}
	}
	for _, s := range []string{"09660006O6", "19900532", frankBirth, frankLocal, frankIntl} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains the value %q", s)
		}
	}
}

func TestActivationOrder(t *testing.T) {
	f := newActFixture(t)
	order := func(d *dialogue, step string, pin []byte, tags ...string) {
		t.Helper()
		want(t, d.step(hostlink.RCInvalidTxn, step, pin, tags...), hostlink.TagActReason, hostlink.ReasonOrder, hostlink.TagActID, d.id)
	}
	frank := f.dialogue(frankCard)
	frank.step(hostlink.RCApproved, hostlink.StepStart, nil)
	p2 := hostlink.TagActPIN2
	order(frank, hostlink.StepQRStatus, nil) // no QR was issued
	order(frank, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelSMS)
	order(frank, hostlink.StepVerifyCode, frank.block("123456"))
	order(frank, hostlink.StepDefaultPIN, frank.block(string(frank.card.PIN)))
	order(frank, hostlink.StepNewPIN, frank.block(newPIN1), p2, hex.EncodeToString(frank.block(newPIN1)))
	frank.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
	order(frank, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
	order(frank, hostlink.StepDefaultPIN, frank.block(string(frank.card.PIN)))
	code, _ := f.secret(frankCard, notify.KindCode)
	frank.step(hostlink.RCApproved, hostlink.StepVerifyCode, frank.block(code))
	order(frank, hostlink.StepVerifyCode, frank.block(code))
	order(frank, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelSMS)
	order(frank, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
	order(frank, hostlink.StepNewPIN, frank.block(newPIN1), p2, hex.EncodeToString(frank.block(newPIN1)))
	frank.step(hostlink.RCApproved, hostlink.StepDefaultPIN, frank.block(string(frank.card.PIN)))
	order(frank, hostlink.StepDefaultPIN, frank.block(string(frank.card.PIN)))
	if st := f.status(frankCard); st != seed.StatusNew {
		t.Errorf("frank-new is %s before the new PIN", st)
	}
	frank.step(hostlink.RCApproved, hostlink.StepNewPIN, frank.block(newPIN1), p2, hex.EncodeToString(frank.block(newPIN1)))
	// The dialogue is over.
	want(t, frank.step(hostlink.RCInvalidTxn, hostlink.StepNewPIN, frank.block(newPIN2), p2, hex.EncodeToString(frank.block(newPIN2))),
		hostlink.TagActReason, hostlink.ReasonSession)

	// A code sent for the app path stops a second QR status.
	david := f.dialogue(davidCard)
	f.readyApp()
	david.step(hostlink.RCApproved, hostlink.StepStart, nil)
	order(david, hostlink.StepVerifyCode, david.block("123456"))
	david.step(hostlink.RCApproved, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelPush)
	order(david, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelSMS) // no identity keyed
}

func TestActivationSession(t *testing.T) {
	f := newActFixture(t)
	f.exchange(terminal2, tmk2)
	f.readyApp()
	d := f.dialogue(davidCard)
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	session := func(pan, tid, id string) {
		t.Helper()
		resp := f.expectRC(f.act(pan, tid, nil, hostlink.TagActStep, hostlink.StepQRStatus, hostlink.TagActID, id), hostlink.RCInvalidTxn)
		tlv, _ := hostlink.ParseTLV(resp.Private)
		want(t, tlv, hostlink.TagActReason, hostlink.ReasonSession)
	}
	session(d.card.PAN, terminal2, d.id)              // another terminal
	session(f.card(frankCard).PAN, terminal, d.id)    // another card
	session(d.card.PAN, terminal, "0123456789abcdef") // no such activation
	// None of that hurt david's dialogue; the id is hex in either case.
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRPending)
	resp := f.expectRC(f.act(d.card.PAN, terminal, nil, hostlink.TagActStep, hostlink.StepQRStatus,
		hostlink.TagActID, strings.ToUpper(d.id)), hostlink.RCApproved)
	if tlv, _ := hostlink.ParseTLV(resp.Private); len(tlv) == 0 || tlv[0] != (hostlink.Element{Tag: hostlink.TagActID, Value: d.id}) {
		t.Errorf("reply to an upper-case id = %q", resp.Private)
	}

	// Cancel: only the right card and terminal end it, and it is idempotent.
	cx := func(pan, tid, id string) {
		t.Helper()
		f.expectRC(f.act(pan, tid, nil, hostlink.TagActStep, hostlink.StepCancel, hostlink.TagActID, id), hostlink.RCApproved)
	}
	cx(d.card.PAN, terminal2, d.id)
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRPending)
	want(t, d.step(hostlink.RCApproved, hostlink.StepCancel, nil), hostlink.TagActID, d.id)
	want(t, d.step(hostlink.RCApproved, hostlink.StepCancel, nil), hostlink.TagActID, d.id)
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonSession)

	// A new start replaces the card's earlier dialogue, also at another
	// terminal.
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	first := d.id
	d2 := f.dialogue(davidCard)
	d2.tid = terminal2
	d2.step(hostlink.RCApproved, hostlink.StepStart, nil)
	if d2.id == first {
		t.Fatal("two starts got the same activation id")
	}
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonSession)
	want(t, d2.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRPending)

	// The dialogue expires activation_ttl after its start.
	f.clk.Advance(DefaultActivationTTL - time.Second)
	want(t, d2.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRExpired)
	f.clk.Advance(time.Second)
	want(t, d2.step(hostlink.RCInvalidTxn, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonSession)

	// The card must stay new: blocked meanwhile, the dialogue ends.
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	if err := f.h.update(context.Background(), func(tx *store.Tx) error {
		return tx.SetCard(context.Background(), davidCard, seed.StatusBlocked, 0)
	}); err != nil {
		t.Fatal(err)
	}
	want(t, d.step(hostlink.RCRestrictedCard, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonBlocked)
	if err := f.h.update(context.Background(), func(tx *store.Tx) error {
		return tx.SetCard(context.Background(), davidCard, seed.StatusNew, 0)
	}); err != nil {
		t.Fatal(err)
	}
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonSession)

	// A host that is not open answers 96.
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	f.h.Close()
	f.expectRC(f.act(d.card.PAN, terminal, nil, hostlink.TagActStep, hostlink.StepQRStatus, hostlink.TagActID, d.id), hostlink.RCSystemError)
	f.expectRC(f.act(d.card.PAN, terminal, nil, hostlink.TagActStep, hostlink.StepStart), hostlink.RCSystemError)
}

func TestActivationQRReplay(t *testing.T) {
	f := newActFixture(t)
	tok := f.readyApp()
	d := f.dialogue(davidCard)
	r := d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	old, _ := r.Get(hostlink.TagActQR)
	// A second start: the first QR belongs to a dialogue that is gone.
	r = d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	payload, _ := r.Get(hostlink.TagActQR)
	if old == payload {
		t.Fatal("a new start showed the same QR")
	}
	if code, body := f.post("/v1/qr", tok, map[string]string{"payload": old}); code != 200 {
		t.Fatalf("old payload: %d %s", code, body)
	}
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRPending)
	if _, ok := f.h.Outbox().Last(notify.Filter{Subject: davidCard, Kind: notify.KindDefaultPIN}); ok {
		t.Fatal("the old QR sent the default PIN")
	}
	if code, body := f.post("/v1/qr", tok, map[string]string{"payload": payload}); code != 200 {
		t.Fatalf("payload: %d %s", code, body)
	}
	// The app cannot submit it twice.
	if code, _ := f.post("/v1/qr", tok, map[string]string{"payload": payload}); code != http.StatusConflict {
		t.Fatalf("second submission: %d, want 409", code)
	}
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRVerified)
	if n := len(f.h.Outbox().Messages(notify.Filter{Subject: davidCard, Kind: notify.KindDefaultPIN})); n != 1 {
		t.Fatalf("%d default PIN messages, want 1", n)
	}
	// Asking again is a replay of a spent challenge: the dialogue ends.
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepQRStatus, nil), hostlink.TagActReason, hostlink.ReasonSession)
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepDefaultPIN, d.block(string(d.card.PIN))), hostlink.TagActReason, hostlink.ReasonSession)
	if n := len(f.h.Outbox().Messages(notify.Filter{Subject: davidCard, Kind: notify.KindDefaultPIN})); n != 1 {
		t.Fatalf("%d default PIN messages after the replay, want 1", n)
	}

	// A QR that expires while pending.
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	f.clk.Advance(otp.DefaultChallengeTTL)
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRExpired)
	// Long after, the book has forgotten it (the next issue sweeps it
	// away): still expired.
	f.clk.Advance(3 * otp.DefaultChallengeTTL)
	if _, _, err := f.ms.Challenges.Issue(context.Background(), actPurpose, davidCard, terminal); err != nil {
		t.Fatal(err)
	}
	want(t, d.step(hostlink.RCApproved, hostlink.StepQRStatus, nil), hostlink.TagActQRState, hostlink.QRExpired)
}

func TestActivationCodes(t *testing.T) {
	identified := func(t *testing.T) (*actFixture, *dialogue) {
		f := newActFixture(t)
		d := f.dialogue(frankCard)
		d.step(hostlink.RCApproved, hostlink.StepStart, nil)
		d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
		return f, d
	}
	t.Run("wrong until locked", func(t *testing.T) {
		f, d := identified(t)
		code, _ := f.secret(frankCard, notify.KindCode)
		wrong := d.block(otherCode(code))
		want(t, d.step(hostlink.RCWrongPIN, hostlink.StepVerifyCode, wrong), hostlink.TagActTries, "2")
		want(t, d.step(hostlink.RCWrongPIN, hostlink.StepVerifyCode, wrong), hostlink.TagActTries, "1")
		want(t, d.step(hostlink.RCPINTriesExceeded, hostlink.StepVerifyCode, wrong), hostlink.TagActReason, hostlink.ReasonLocked)
		want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepVerifyCode, d.block(code)), hostlink.TagActReason, hostlink.ReasonSession)
		if _, ok := f.h.Outbox().Last(notify.Filter{Subject: frankCard, Kind: notify.KindDefaultPIN}); ok {
			t.Fatal("default PIN sent")
		}
		if st := f.status(frankCard); st != seed.StatusNew {
			t.Errorf("card is %s", st)
		}
	})
	t.Run("expired, then a new one", func(t *testing.T) {
		f, d := identified(t)
		code, _ := f.secret(frankCard, notify.KindCode)
		f.clk.Advance(otp.DefaultCodeTTL)
		want(t, d.step(hostlink.RCDoNotHonour, hostlink.StepVerifyCode, d.block(code)), hostlink.TagActReason, hostlink.ReasonCodeExpired)
		want(t, d.step(hostlink.RCApproved, hostlink.StepSendCode, nil, hostlink.TagActChannel, hostlink.ChannelSMS),
			hostlink.TagActChannel, hostlink.ChannelSMS, hostlink.TagActPhone, "0606")
		fresh, _ := f.secret(frankCard, notify.KindCode)
		if fresh != code { // the old code is dead even if the digits repeat
			want(t, d.step(hostlink.RCWrongPIN, hostlink.StepVerifyCode, d.block(code)), hostlink.TagActTries, "2")
		}
		d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(fresh))
	})
	t.Run("spent elsewhere", func(t *testing.T) {
		f, d := identified(t)
		code, _ := f.secret(frankCard, notify.KindCode)
		if err := f.ms.Codes.Verify(context.Background(), frankCard, actPurpose, []byte(code)); err != nil {
			t.Fatal(err)
		}
		want(t, d.step(hostlink.RCDoNotHonour, hostlink.StepVerifyCode, d.block(code)), hostlink.TagActReason, hostlink.ReasonNoCode)
	})
	t.Run("block under another key", func(t *testing.T) {
		f, d := identified(t)
		code, _ := f.secret(frankCard, notify.KindCode)
		foreign, _ := pinblock.EncryptFormat0(bytes.Repeat([]byte{7}, 16), []byte(code), []byte(d.card.PAN))
		d.step(hostlink.RCSecurityViolation, hostlink.StepVerifyCode, foreign)
		d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(code)) // not counted, still live
	})
}

func TestActivationIdentityLock(t *testing.T) {
	f := newActFixture(t)
	d := f.dialogue(frankCard)
	wrong := func(tries string) {
		t.Helper()
		want(t, d.step(hostlink.RCDoNotHonour, hostlink.StepIdentity, nil, hostlink.TagActMobile, "0966000607", hostlink.TagActBirth, frankBirth),
			hostlink.TagActReason, hostlink.ReasonMismatch, hostlink.TagActTries, tries)
	}
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	wrong("2")
	// The count is the card's, not the dialogue's.
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	wrong("1")
	want(t, d.step(hostlink.RCPINTriesExceeded, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, "19900101"),
		hostlink.TagActReason, hostlink.ReasonLocked)
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth),
		hostlink.TagActReason, hostlink.ReasonSession)
	// Locked for login_lockout, even with the right identity.
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	want(t, d.step(hostlink.RCPINTriesExceeded, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth),
		hostlink.TagActReason, hostlink.ReasonLocked)
	if _, ok := f.h.Outbox().Last(notify.Filter{Subject: frankCard}); ok {
		t.Fatal("a message was sent for a locked identity")
	}
	f.clk.Advance(mobile.DefaultLoginLockout)
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankIntl, hostlink.TagActBirth, frankBirth)
	logs := string(f.logs.Bytes())
	if !strings.Contains(logs, `"identity mismatch"`) {
		t.Error("no identity mismatch in the log")
	}
	for _, s := range []string{"0966000607", "19900101", "mobile number", "birth date"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q", s)
		}
	}
}

func TestActivationDefaultPIN(t *testing.T) {
	f := newActFixture(t)
	d := f.dialogue(frankCard)
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
	code, _ := f.secret(frankCard, notify.KindCode)
	d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(code))
	want(t, d.step(hostlink.RCWrongPIN, hostlink.StepDefaultPIN, d.block("6666")), hostlink.TagActTries, "2")
	foreign, _ := pinblock.EncryptFormat0(bytes.Repeat([]byte{7}, 16), []byte(d.card.PIN), []byte(d.card.PAN))
	d.step(hostlink.RCSecurityViolation, hostlink.StepDefaultPIN, foreign) // not counted
	want(t, d.step(hostlink.RCWrongPIN, hostlink.StepDefaultPIN, d.block("6666")), hostlink.TagActTries, "1")
	want(t, d.step(hostlink.RCPINTriesExceeded, hostlink.StepDefaultPIN, d.block("6666")), hostlink.TagActReason, hostlink.ReasonPINTries)
	if st := f.status(frankCard); st != seed.StatusBlocked {
		t.Fatalf("card is %s after the default PIN tries, want blocked", st)
	}
	want(t, d.step(hostlink.RCInvalidTxn, hostlink.StepDefaultPIN, d.block(string(d.card.PIN))), hostlink.TagActReason, hostlink.ReasonSession)
	want(t, d.step(hostlink.RCRestrictedCard, hostlink.StepStart, nil), hostlink.TagActReason, hostlink.ReasonBlocked)

	// A right default PIN clears earlier wrong ones.
	g := newActFixture(t)
	e := g.dialogue(frankCard)
	e.step(hostlink.RCApproved, hostlink.StepStart, nil)
	e.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
	code, _ = g.secret(frankCard, notify.KindCode)
	e.step(hostlink.RCApproved, hostlink.StepVerifyCode, e.block(code))
	e.step(hostlink.RCWrongPIN, hostlink.StepDefaultPIN, e.block("6666"))
	e.step(hostlink.RCApproved, hostlink.StepDefaultPIN, e.block(string(e.card.PIN)))
	if c, _ := g.h.db.Card(context.Background(), frankCard); c.PINTries != 0 {
		t.Errorf("PIN tries = %d after the right default PIN", c.PINTries)
	}
}

func TestActivationNewPIN(t *testing.T) {
	f := newActFixture(t)
	d := f.dialogue(frankCard)
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, frankLocal, hostlink.TagActBirth, frankBirth)
	code, _ := f.secret(frankCard, notify.KindCode)
	d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(code))
	d.step(hostlink.RCApproved, hostlink.StepDefaultPIN, d.block(string(d.card.PIN)))
	np := func(rc, reason, first, second string) {
		t.Helper()
		want(t, d.step(rc, hostlink.StepNewPIN, d.block(first), hostlink.TagActPIN2, hex.EncodeToString(d.block(second))),
			hostlink.TagActReason, reason)
	}
	np(hostlink.RCDoNotHonour, hostlink.ReasonPINMismatch, newPIN1, newPIN2)
	np(hostlink.RCDoNotHonour, hostlink.ReasonPINMismatch, newPIN1, newPIN1+"6")
	for _, weak := range []string{"1234", "9876", "0000", "7777", "456789", "3210", string(d.card.PIN)} {
		np(hostlink.RCDoNotHonour, hostlink.ReasonWeakPIN, weak, weak)
	}
	foreign, _ := pinblock.EncryptFormat0(bytes.Repeat([]byte{7}, 16), []byte(newPIN1), []byte(d.card.PAN))
	d.step(hostlink.RCSecurityViolation, hostlink.StepNewPIN, d.block(newPIN1), hostlink.TagActPIN2, hex.EncodeToString(foreign))
	if st := f.status(frankCard); st != seed.StatusNew {
		t.Fatalf("card is %s after refused new PINs", st)
	}
	// P2 in upper-case hex is as good.
	d.step(hostlink.RCApproved, hostlink.StepNewPIN, d.block(newPIN1), hostlink.TagActPIN2, strings.ToUpper(hex.EncodeToString(d.block(newPIN1))))
	c, err := f.h.db.Card(context.Background(), frankCard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != seed.StatusActive || c.PINTries != 0 {
		t.Errorf("card = %s/%d", c.Status, c.PINTries)
	}
	f.expectRC(f.withdrawal(d.card.PAN, newPIN1, 100_000), hostlink.RCApproved)
	f.expectRC(f.withdrawal(d.card.PAN, string(d.card.PIN), 100_000), hostlink.RCWrongPIN)
}

func TestWeakPIN(t *testing.T) {
	for pin, weak := range map[string]bool{
		"1234": true, "6789": true, "9876": true, "3210": true, "0123456789": true, "1111": true, "999999": true,
		"1235": false, "8901": false, "6987": false, "1212": false, "9768": false, "0987654": false, "0098": false, "210": true,
	} {
		if got := weakPIN([]byte(pin)); got != weak {
			t.Errorf("weakPIN(%s) = %v, want %v", pin, got, weak)
		}
	}
}

func TestNormaliseIdentity(t *testing.T) {
	for in, want := range map[string]string{
		"0966000606": "+886966000606", "886966000606": "+886966000606", "14155550100": "+14155550100",
		"0266000606": "", "096600060": "", "09660006061": "", "": "", "+886966000606": "", "0966-00060": "",
		"1234567": "", "1234567890123456": "",
	} {
		got, ok := normaliseMobile(in)
		if got != want || ok != (want != "") {
			t.Errorf("normaliseMobile(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for in, want := range map[string]string{
		"19900517": "1990-05-17", "20000229": "2000-02-29", "19000229": "", "19901317": "", "1990517": "", "1990051a": "",
	} {
		got, ok := birthDate(in)
		if got != want || ok != (want != "") {
			t.Errorf("birthDate(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestActivationNoSecretsAtRest runs the three activation paths (and
// their refusals) on one host, then searches the database files and the
// log for every secret they used: the default PINs, the new PINs, the
// verification codes, the QR payloads; and the log for the keyed mobile
// numbers and birth dates and for clear PANs.
func TestActivationNoSecretsAtRest(t *testing.T) {
	f := newActFixture(t)
	var used journey
	add := func(j journey) {
		used.codes = append(used.codes, j.codes...)
		used.payloads = append(used.payloads, j.payloads...)
		used.pins = append(used.pins, j.pins...)
	}
	add(boundAppJourney(t, f, newPIN1))
	add(smsJourney(t, f, newPIN3))
	// bob: unbound app, the SMS path, a new PIN refused as weak first.
	tok := f.login("bob")
	f.intend(tok, bobCard)
	d := f.dialogue(bobCard)
	d.step(hostlink.RCApproved, hostlink.StepStart, nil)
	d.step(hostlink.RCApproved, hostlink.StepIdentity, nil, hostlink.TagActMobile, "0922000202", hostlink.TagActBirth, "19791103")
	code, _ := f.secret(bobCard, notify.KindCode)
	used.codes = append(used.codes, code)
	d.step(hostlink.RCApproved, hostlink.StepVerifyCode, d.block(code))
	d.step(hostlink.RCApproved, hostlink.StepDefaultPIN, d.block(string(d.card.PIN)))
	d.step(hostlink.RCDoNotHonour, hostlink.StepNewPIN, d.block(newPIN2), hostlink.TagActPIN2, hex.EncodeToString(d.block(newPIN3)))
	d.step(hostlink.RCApproved, hostlink.StepNewPIN, d.block(newPIN2), hostlink.TagActPIN2, hex.EncodeToString(d.block(newPIN2)))
	used.pins = append(used.pins, newPIN2)
	for _, id := range []string{davidCard, frankCard, bobCard} {
		f.expectRC(f.withdrawal(f.card(id).PAN, used.pins[0], 100_000), map[string]string{
			davidCard: hostlink.RCApproved, frankCard: hostlink.RCWrongPIN, bobCard: hostlink.RCWrongPIN}[id])
	}
	if len(used.codes) < 2 || len(used.payloads) < 1 {
		t.Fatalf("the workload used %d codes and %d payloads", len(used.codes), len(used.payloads))
	}

	files := map[string][]byte{"log": scannableLog(f.logs.Bytes())}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(f.cfg.DB + suffix)
		if err != nil {
			t.Fatal(err)
		}
		files["db"+suffix] = b
	}
	if len(files["db-wal"]) == 0 {
		t.Fatal("the WAL is empty: the scan would miss recent writes")
	}
	found := func(what, s string, match func([]byte, string) bool) {
		t.Helper()
		for name, b := range files {
			if match(b, s) {
				t.Errorf("%s contains %s", name, what)
			}
		}
	}
	contains := func(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
	for _, cu := range f.seed.Customers {
		for _, c := range cu.Cards {
			found("the default PIN of "+c.ID, string(c.PIN), contains)
			if bytes.Contains(files["log"], []byte(c.PAN)) {
				t.Errorf("log contains the PAN of %s", c.ID)
			}
		}
	}
	for _, p := range used.pins {
		found("a new PIN", p, contains)
	}
	for _, p := range used.payloads {
		found("a QR payload", p, contains)
		found("a QR nonce", p[strings.Index(p, "?c=")+3:], contains)
	}
	// A six-digit code could be part of a longer number by chance (a PAN,
	// an RRN): it counts only where it stands alone.
	for _, c := range used.codes {
		found("a verification code", c, standalone)
	}
	for _, s := range []string{"0966000606", "886966000606", "0922000202", "19900517", "19791103", "1990-05-17", "1979-11-03"} {
		if bytes.Contains(files["log"], []byte(s)) {
			t.Errorf("log contains the keyed identity %q", s)
		}
	}
	if !bytes.Contains(files["log"], []byte(`"card":"frank-new"`)) || !bytes.Contains(files["log"], []byte(`"step":"NP"`)) {
		t.Error("the log does not name cards and steps; is the scan looking at the right log?")
	}
}

// scannableLog returns the JSON lines of a host log without the fields
// that hold random values which can contain any run of digits by chance
// and cannot carry a secret: temporary paths (db, seed), random ids
// (activation, challenge) and key check values. A line that is not JSON
// is kept whole.
func scannableLog(raw []byte) []byte {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			out.Write(line)
			out.WriteByte('\n')
			continue
		}
		for k := range m {
			if k == "db" || k == "seed" || k == "activation" || k == "challenge" || strings.HasSuffix(k, "kcv") {
				delete(m, k)
			}
		}
		_ = enc.Encode(m)
	}
	return out.Bytes()
}

// standalone reports whether digits occur in b not preceded or followed
// by another digit.
func standalone(b []byte, digits string) bool {
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(digits))
		if i < 0 {
			return false
		}
		i += off
		end := i + len(digits)
		if (i == 0 || b[i-1] < '0' || b[i-1] > '9') && (end == len(b) || b[end] < '0' || b[end] > '9') {
			return true
		}
		off = i + 1
	}
}

// FuzzParseActivation feeds arbitrary field 48 text and PIN blocks to
// the activation request checks: they never panic, and what they accept
// is safe for the steps to use.
func FuzzParseActivation(f *testing.F) {
	f.Add("AS002ST", []byte(nil))
	f.Add("AS002QSAI0160123456789abcdef", []byte(nil))
	f.Add("AS002SCAI0160123456789ABCDEFCH003sms", []byte(nil))
	f.Add("AS002VCAI0160123456789abcdef", []byte("12345678"))
	f.Add("AS002IDAI0160123456789abcdefMP0100966000606BD00819900517", []byte(nil))
	f.Add("AS002NPAI0160123456789abcdefP20160011223344556677", []byte("12345678"))
	f.Add("AS002CXAI016zzzzzzzzzzzzzzzz", []byte{})
	f.Add("AS9", []byte{1})
	f.Fuzz(func(t *testing.T, f48 string, pin []byte) {
		m := &hostlink.Message{MTI: hostlink.MTIAuthRequest, PAN: "4761730000006083", ProcCode: hostlink.ProcActivation,
			TransmitTime: "0314013000", STAN: "000001", TerminalID: terminal, Private: f48, PINBlock: pin}
		r, err := parseActivation(m)
		if err != nil {
			if r != nil {
				t.Fatal("a request and an error")
			}
			return
		}
		if r.step != hostlink.StepStart && (len(r.id) != actIDLen || !isHex(r.id) || r.id != strings.ToLower(r.id)) {
			t.Fatalf("step %s with activation id %q", r.step, r.id)
		}
		switch r.step {
		case hostlink.StepVerifyCode, hostlink.StepDefaultPIN, hostlink.StepNewPIN:
			if len(r.PINBlock) != 8 {
				t.Fatalf("step %s with a PIN block of %d bytes", r.step, len(r.PINBlock))
			}
		case hostlink.StepSendCode:
			if !r.channel.Valid() {
				t.Fatalf("channel %q", r.channel)
			}
		case hostlink.StepIdentity:
			if !seed.IsE164(r.mobile) {
				t.Fatalf("mobile %q is not E.164", r.mobile)
			}
			if _, err := time.Parse(time.DateOnly, r.birth); err != nil {
				t.Fatalf("birth date %q", r.birth)
			}
		}
		if r.step == hostlink.StepNewPIN && len(r.pin2) != 8 {
			t.Fatalf("second PIN block of %d bytes", len(r.pin2))
		}
	})
}
