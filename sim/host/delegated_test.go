package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/face"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/store"
)

// delFixture is a host with app users (bob in the app, alice not: her
// messages go by SMS), enrolled faces, and both terminals' keys.
type delFixture struct {
	*actFixture
	keys2 keyexchange.Keys
	codes []string // every code digits created, for the secret scans
}

var stanField = regexp.MustCompile(`"(orig_)?stan":"[0-9]{6}"`)

func newDelFixture(t *testing.T) *delFixture {
	t.Helper()
	cfg := testConfig(t)
	cfg.Seed = faceSeed(t, appSeed(t))
	cfg.Mobile = &mobile.Config{}
	f := newFixtureConfig(t, cfg)
	ms, err := f.h.Mobile()
	if err != nil {
		t.Fatal(err)
	}
	d := &delFixture{actFixture: &actFixture{fixture: f, ms: ms, api: ms.Handler()}}
	d.keys2 = f.exchange(terminal2, tmk2)
	return d
}

// faceSeed copies the seed at path with faces enrolled for alice and bob.
func faceSeed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, who := range []string{"alice", "bob"} {
		from := "  - id: " + who + "\n"
		if !strings.Contains(s, from) {
			t.Fatalf("seed has no %q", from)
		}
		s = strings.Replace(s, from, from+"    face: "+who+"\n", 1)
	}
	p := filepath.Join(t.TempDir(), "face-seed.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// create makes a delegate code for a card of customer; amount is in
// major units.
func (d *delFixture) create(customer, cardID string, amount int64, ttl time.Duration) (store.DelegateCode, string) {
	d.t.Helper()
	b, err := d.h.Delegates()
	if err != nil {
		d.t.Fatal(err)
	}
	c, digits, err := b.Create(context.Background(), customer, cardID, amount*100, ttl)
	if err != nil {
		d.t.Fatal(err)
	}
	d.codes = append(d.codes, string(digits))
	return c, string(digits)
}

// blockFor makes the PIN block of code for pan under a terminal's TPK.
func (d *delFixture) blockFor(tid, code, pan string) []byte {
	d.t.Helper()
	tpk := d.keys.TPK
	if tid == terminal2 {
		tpk = d.keys2.TPK
	}
	b, err := pinblock.EncryptFormat0(tpk, []byte(code), []byte(pan))
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

// check builds a delegate check (0100, 940000) of code with card at tid.
func (d *delFixture) check(tid, cardID, code string) *hostlink.Message {
	c := d.card(cardID)
	stan, tt := d.next()
	return &hostlink.Message{MTI: hostlink.MTIAuthRequest, PAN: c.PAN, ProcCode: hostlink.ProcDelegateCheck, TransmitTime: tt,
		STAN: stan, LocalTime: "093000", LocalDate: "0314", TerminalID: tid, AcceptorID: "ATMD-BANK-0001",
		PINBlock: d.blockFor(tid, code, c.PAN)}
}

// delegated builds a delegated 0200 of amount major units: code keyed
// with card at tid, naming delegation.
func (d *delFixture) delegated(tid, cardID, code, delegation string, amount int64) *hostlink.Message {
	c := d.card(cardID)
	stan, tt := d.next()
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	f48, err := hostlink.TLV{{Tag: hostlink.TagNonce, Value: hex.EncodeToString(nonce)}, {Tag: hostlink.TagDelegation, Value: delegation}}.Encode()
	if err != nil {
		d.t.Fatal(err)
	}
	return &hostlink.Message{MTI: hostlink.MTIFinRequest, PAN: c.PAN, ProcCode: hostlink.ProcWithdrawal, Amount: amount * 100,
		TransmitTime: tt, STAN: stan, EntryMode: "051", TerminalID: tid, Currency: twd, PINBlock: d.blockFor(tid, code, c.PAN),
		Private: f48}
}

func tags(t *testing.T, m *hostlink.Message) hostlink.TLV {
	t.Helper()
	tlv, err := hostlink.ParseTLV(m.Private)
	if err != nil {
		t.Fatalf("field 48: %v", err)
	}
	return tlv
}

func (d *delFixture) wantTag(m *hostlink.Message, tag, want string) {
	d.t.Helper()
	if got, _ := tags(d.t, m).Get(tag); got != want {
		d.t.Fatalf("%s: tag %s is %q, want %q", hostlink.Describe(m), tag, got, want)
	}
}

// state returns a code's state now.
func (d *delFixture) state(id string) store.DelegateState {
	d.t.Helper()
	cs, err := d.h.DelegateCodes(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c.StateAt(d.clk.Now())
		}
	}
	d.t.Fatalf("no code %s", id)
	return ""
}

// messages returns the messages about a card of kind.
func (d *delFixture) messages(cardID string, kind notify.Kind) []notify.Message {
	return d.h.Outbox().Messages(notify.Filter{Subject: cardID, Kind: kind})
}

// noSecrets checks that no code's digits reached the log or the outbox.
func (d *delFixture) noSecrets() {
	d.t.Helper()
	// STANs are six digits too: a code may look like one by chance.
	logs := stanField.ReplaceAll(d.logs.Bytes(), nil)
	var texts []string
	for _, m := range d.h.Outbox().Messages(notify.Filter{}) {
		texts = append(texts, m.Text)
	}
	all := string(logs) + strings.Join(texts, "\n")
	for _, c := range d.codes {
		if strings.Contains(all, c) {
			d.t.Errorf("delegate code %s appears in the log or a message", c)
		}
	}
}

func TestDelegatedWithdrawal(t *testing.T) {
	d := newDelFixture(t)
	c, code := d.create("bob", "bob-debit", 3000, time.Hour)
	before := d.balance("bob-twd")

	resp := d.expectRC(d.check(terminal, "bob-debit", code), hostlink.RCApproved)
	d.wantTag(resp, hostlink.TagDelegation, c.ID)
	d.wantTag(resp, hostlink.TagDelCap, "300000")
	d.wantTag(resp, hostlink.TagDelExpires, c.Expires.UTC().Format("20060102150405"))
	if resp.Currency != twd || resp.ProcCode != hostlink.ProcDelegateCheck || resp.PINBlock != nil || resp.AddAmounts != "" {
		t.Fatalf("check reply %s", hostlink.Describe(resp))
	}
	if d.state(c.ID) != store.DelegateLive || d.balance("bob-twd") != before {
		t.Fatal("the check spent something")
	}

	resp = d.expectRC(d.delegated(terminal, "bob-debit", code, c.ID, 2000), hostlink.RCApproved)
	if tok, _ := tags(t, resp).Get(hostlink.TagToken); tok == "" {
		t.Fatal("approval without a dispense token")
	}
	if resp.AddAmounts != "" {
		t.Fatal("a delegated withdrawal's reply carries the owner's balance")
	}
	if got := d.balance("bob-twd"); got != before-200000 {
		t.Fatalf("balance %d, want %d", got, before-200000)
	}
	if d.state(c.ID) != store.DelegateUsed {
		t.Fatalf("code %s after the withdrawal", d.state(c.ID))
	}
	cs, _ := d.h.DelegateCodes(context.Background())
	l := d.ledger()
	if last := l[len(l)-1]; cs[0].LedgerID != last.ID || cs[0].TerminalID != terminal || last.RespCode != "00" {
		t.Fatalf("code not linked to its ledger entry: %+v / %+v", cs[0], last)
	}
	if n := d.messages("bob-debit", notify.KindNotice); len(n) != 1 || n[0].Channel != notify.Push || !strings.Contains(n[0].Text, "NT$2,000") {
		t.Fatalf("owner notice %v", n)
	}
	if a := d.messages("bob-debit", notify.KindAlert); len(a) != 0 {
		t.Fatalf("alerts for a good withdrawal: %v", a)
	}
	d.noSecrets()
}

// A wrong code alerts the owner at once (push for an app user, SMS
// otherwise) and counts; max_tries of them kill the code, which then
// refuses even the right code.
func TestDelegatedWrongCodesAlertAndKill(t *testing.T) {
	d := newDelFixture(t)
	for _, tc := range []struct {
		customer, card string
		ch             notify.Channel
	}{{"bob", "bob-debit", notify.Push}, {"alice", "alice-debit", notify.SMS}} {
		c, code := d.create(tc.customer, tc.card, 1000, time.Hour)
		wrong := wrongCode(code, 0)
		for left := 2; left >= 1; left-- {
			resp := d.expectRC(d.check(terminal, tc.card, wrong), hostlink.RCWrongPIN)
			d.wantTag(resp, hostlink.TagDelReason, hostlink.DelWrong)
			d.wantTag(resp, hostlink.TagDelTries, strconv.Itoa(left))
			a := d.messages(tc.card, notify.KindAlert)
			if len(a) != 3-left || a[len(a)-1].Channel != tc.ch || !strings.Contains(a[len(a)-1].Text, "wrong delegate code") {
				t.Fatalf("%s: alerts after a wrong code: %v", tc.card, a)
			}
		}
		resp := d.expectRC(d.delegated(terminal, tc.card, wrong, c.ID, 1000), hostlink.RCPINTriesExceeded)
		d.wantTag(resp, hostlink.TagDelReason, hostlink.DelLocked)
		if d.state(c.ID) != store.DelegateLocked {
			t.Fatalf("code %s after 3 wrong codes", d.state(c.ID))
		}
		resp = d.expectRC(d.check(terminal, tc.card, code), hostlink.RCPINTriesExceeded)
		d.wantTag(resp, hostlink.TagDelReason, hostlink.DelLocked)
		d.expectRC(d.delegated(terminal, tc.card, code, c.ID, 1000), hostlink.RCPINTriesExceeded)
		if n := len(d.messages(tc.card, notify.KindAlert)); n != 5 {
			t.Fatalf("%s: %d alerts, want 5 (2 wrong, 1 locked, 2 dead)", tc.card, n)
		}
	}
	// Wrong codes never touch the card's PIN tries.
	if d.status("bob-debit") != "active" {
		t.Fatal("card blocked by wrong delegate codes")
	}
	d.expectRC(d.withdraw("bob-debit", 100), hostlink.RCApproved)
	d.noSecrets()
}

// wrongCode returns a code of the same length as code that is not it:
// code+k+1 modulo 10^len.
func wrongCode(code string, k int) string {
	n, _ := strconv.Atoi(code)
	m := 1
	for range code {
		m *= 10
	}
	return fmt.Sprintf("%0*d", len(code), (n+k+1)%m)
}

// Brute force within the attempt limit: against each of many fresh
// codes, max_tries guesses (from a random start, sequentially) never
// succeed, and afterwards the code is dead — the right code is refused.
// A guess that happens to be the right code is skipped: the test
// measures the lock, not luck (the chance of a hit is max_tries in
// 10^digits per code).
func TestDelegatedBruteForceWithinLimit(t *testing.T) {
	d := newDelFixture(t)
	b, _ := d.h.Delegates()
	cfg := b.Config()
	if cfg.MaxTries != delegate.DefaultMaxTries || cfg.Digits != delegate.DefaultDigits {
		t.Fatalf("config %+v", cfg)
	}
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	space := big.NewInt(1_000_000)
	approved := 0
	for r := range rounds {
		c, code := d.create("bob", "bob-debit", 1000, time.Hour)
		start, _ := rand.Int(rand.Reader, space)
		guess := int(start.Int64())
		for tries := 0; tries < cfg.MaxTries; guess++ {
			g := fmt.Sprintf("%06d", guess%1_000_000)
			if g == code {
				continue
			}
			tries++
			var resp *hostlink.Message
			if r%2 == 0 {
				resp = d.send(d.check(terminal, "bob-debit", g))
			} else {
				resp = d.send(d.delegated(terminal, "bob-debit", g, c.ID, 1000))
			}
			if resp.RespCode == hostlink.RCApproved {
				approved++
			}
		}
		if st := d.state(c.ID); st != store.DelegateLocked {
			t.Fatalf("round %d: code %s after %d wrong guesses", r, st, cfg.MaxTries)
		}
		if resp := d.send(d.check(terminal, "bob-debit", code)); resp.RespCode == hostlink.RCApproved {
			t.Fatalf("round %d: the right code works after the lock", r)
		}
	}
	if approved != 0 {
		t.Fatalf("%d guesses approved", approved)
	}
	d.noSecrets()
}

// Refusals of a right code: used, expired, cancelled, over the cap,
// bound to another card.
func TestDelegatedRefusals(t *testing.T) {
	d := newDelFixture(t)
	ctx := context.Background()

	c, code := d.create("bob", "bob-debit", 3000, time.Hour)
	resp := d.expectRC(d.delegated(terminal, "bob-debit", code, c.ID, 3500), hostlink.RCExceedsLimit)
	d.wantTag(resp, hostlink.TagDelReason, hostlink.DelOverCap)
	if d.state(c.ID) != store.DelegateLive {
		t.Fatal("an over-cap refusal spent the code")
	}
	// Bound to its card: keyed with alice's card it is just wrong.
	d.expectRC(d.check(terminal, "alice-debit", code), hostlink.RCWrongPIN)
	d.expectRC(d.delegated(terminal, "bob-debit", code, c.ID, 3000), hostlink.RCApproved)
	// Used: refused at the check and at a new 0200, and the owner told.
	resp = d.expectRC(d.check(terminal, "bob-debit", code), hostlink.RCDoNotHonour)
	d.wantTag(resp, hostlink.TagDelReason, hostlink.DelUsed)
	resp = d.expectRC(d.delegated(terminal2, "bob-debit", code, c.ID, 1000), hostlink.RCDoNotHonour)
	d.wantTag(resp, hostlink.TagDelReason, hostlink.DelUsed)
	if a := d.messages("bob-debit", notify.KindAlert); len(a) != 2 || !strings.Contains(a[0].Text, "used") {
		t.Fatalf("alerts for a used code %v", a)
	}

	c2, code2 := d.create("bob", "bob-debit", 1000, 2*time.Minute)
	d.clk.Advance(2 * time.Minute)
	resp = d.expectRC(d.check(terminal, "bob-debit", code2), hostlink.RCDoNotHonour)
	d.wantTag(resp, hostlink.TagDelReason, hostlink.DelExpired)
	d.expectRC(d.delegated(terminal, "bob-debit", code2, c2.ID, 1000), hostlink.RCDoNotHonour)

	c3, code3 := d.create("bob", "bob-debit", 1000, time.Hour)
	b, _ := d.h.Delegates()
	if _, err := b.Cancel(ctx, "alice", c3.ID); !errors.Is(err, delegate.ErrNotYours) {
		t.Fatalf("alice cancelled bob's code: %v", err)
	}
	if _, err := b.Cancel(ctx, "bob", c3.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cancel(ctx, "bob", c3.ID); !errors.Is(err, delegate.ErrNotLive) {
		t.Fatalf("second cancel: %v", err)
	}
	resp = d.expectRC(d.check(terminal, "bob-debit", code3), hostlink.RCDoNotHonour)
	d.wantTag(resp, hostlink.TagDelReason, hostlink.DelCancelled)
	if _, err := b.Cancel(ctx, "bob", c.ID); !errors.Is(err, delegate.ErrNotLive) {
		t.Fatalf("cancel of a used code: %v", err)
	}

	// A delegated 0200 naming another code than the one keyed.
	c4, _ := d.create("bob", "bob-debit", 1000, time.Hour)
	_, code5 := d.create("bob", "bob-debit", 1000, time.Hour)
	resp = d.expectRC(d.delegated(terminal, "bob-debit", code5, c4.ID, 1000), hostlink.RCWrongPIN)
	d.wantTag(resp, hostlink.TagDelReason, hostlink.DelMismatch)
	// Limits of creation.
	for _, bad := range []struct {
		amount int64
		ttl    time.Duration
	}{{0, time.Hour}, {20001, time.Hour}, {100, 73 * time.Hour}, {100, time.Second}} {
		if _, _, err := b.Create(ctx, "bob", "bob-debit", bad.amount*100, bad.ttl); !errors.Is(err, delegate.ErrInvalid) {
			t.Errorf("create %+v: %v", bad, err)
		}
	}
	for _, card := range []string{"bob-old", "bob-new", "alice-debit"} {
		if _, _, err := b.Create(ctx, "bob", card, 100000, time.Hour); err == nil {
			t.Errorf("created a code for %s", card)
		}
	}
	d.noSecrets()
}

// The same code at two terminals at once (and several times at each):
// exactly one withdrawal is approved, the account is debited once, and
// every other request is refused as used.
func TestDelegatedRaceExactlyOneWins(t *testing.T) {
	d := newDelFixture(t)
	for round := range 5 {
		c, code := d.create("bob", "bob-debit", 1000, time.Hour)
		before := d.balance("bob-twd")
		var reqs []*hostlink.Message
		for i := range 8 {
			tid := terminal
			if i%2 == 1 {
				tid = terminal2
			}
			reqs = append(reqs, d.delegated(tid, "bob-debit", code, c.ID, 1000))
		}
		rcs := make([]string, len(reqs))
		var wg sync.WaitGroup
		for i, m := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cp := *m
				rcs[i] = d.h.Handle(context.Background(), &cp).RespCode
			}()
		}
		wg.Wait()
		won := 0
		for _, rc := range rcs {
			switch rc {
			case hostlink.RCApproved:
				won++
			case hostlink.RCDoNotHonour:
			default:
				t.Fatalf("round %d: rc %s", round, rc)
			}
		}
		if won != 1 || d.balance("bob-twd") != before-100000 || d.state(c.ID) != store.DelegateUsed {
			t.Fatalf("round %d: %d approvals (%v), balance moved %d", round, won, rcs, before-d.balance("bob-twd"))
		}
	}
}

// A repeated 0200 is answered from the ledger, and a reversal credits
// the account back; the code stays spent (a reversed withdrawal does not
// revive a one-time code: the owner makes a new one).
func TestDelegatedDuplicateAndReversal(t *testing.T) {
	d := newDelFixture(t)
	c, code := d.create("bob", "bob-debit", 2000, time.Hour)
	before := d.balance("bob-twd")
	m := d.delegated(terminal, "bob-debit", code, c.ID, 2000)
	r1 := d.expectRC(m, hostlink.RCApproved)
	r2 := d.expectRC(m, hostlink.RCApproved)
	if r1.AuthCode != r2.AuthCode || r2.AddAmounts != "" || d.balance("bob-twd") != before-200000 {
		t.Fatal("duplicate not answered from the ledger")
	}
	d.expectRC(d.reversal(hostlink.MTIReversal, m, ""), hostlink.RCApproved)
	if d.balance("bob-twd") != before || d.state(c.ID) != store.DelegateUsed {
		t.Fatalf("after the reversal: balance %d, code %s", d.balance("bob-twd"), d.state(c.ID))
	}
	if tok, _ := tags(t, d.expectRC(m, hostlink.RCApproved)).Get(hostlink.TagToken); tok != "" {
		t.Fatal("a reversed delegated withdrawal answered with its token")
	}
}

// evidenceParts builds the 0620 advices of a still for the 0200 orig.
func (d *delFixture) evidenceParts(orig *hostlink.Message, kind string, img []byte) []*hostlink.Message {
	sum := sha256.Sum256(img)
	n := (len(img) + hostlink.EvidencePartSize - 1) / hostlink.EvidencePartSize
	var out []*hostlink.Message
	for i := range n {
		part := img[i*hostlink.EvidencePartSize : min(len(img), (i+1)*hostlink.EvidencePartSize)]
		f48, err := hostlink.TLV{
			{Tag: hostlink.TagEvKind, Value: kind}, {Tag: hostlink.TagEvFormat, Value: "image/png"},
			{Tag: hostlink.TagEvHash, Value: hex.EncodeToString(sum[:])}, {Tag: hostlink.TagEvSize, Value: strconv.Itoa(len(img))},
			{Tag: hostlink.TagEvTaken, Value: "20260314013000"}, {Tag: hostlink.TagEvPart, Value: fmt.Sprintf("%d/%d", i+1, n)},
			{Tag: hostlink.TagEvData, Value: base64.StdEncoding.EncodeToString(part)},
		}.Encode()
		if err != nil {
			d.t.Fatal(err)
		}
		stan, tt := d.next()
		out = append(out, &hostlink.Message{MTI: hostlink.MTIAdminAdvice, STAN: stan, TransmitTime: tt, TerminalID: orig.TerminalID,
			Original: hostlink.OriginalData(orig), Private: f48})
	}
	return out
}

func (d *delFixture) evidence() []store.Evidence {
	d.t.Helper()
	ev, err := d.h.Evidence(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return ev
}

// The helper's face arrives in parts after the withdrawal and is stored
// with its ledger entry, once, whatever the order and repeats.
func TestDelegatedEvidenceStored(t *testing.T) {
	d := newDelFixture(t)
	c, code := d.create("bob", "bob-debit", 2000, time.Hour)
	m := d.delegated(terminal, "bob-debit", code, c.ID, 1000)
	d.expectRC(m, hostlink.RCApproved)
	img, err := face.Encode(320, 240, "helper")
	if err != nil {
		t.Fatal(err)
	}
	parts := d.evidenceParts(m, hostlink.EvidenceDelegateFace, img)
	if len(parts) < 2 {
		t.Fatalf("only %d parts: the test would not reorder", len(parts))
	}
	// Last part first, one part twice.
	order := append([]*hostlink.Message{parts[len(parts)-1], parts[0]}, parts[:len(parts)-1]...)
	for _, p := range order {
		resp := d.expectRC(p, hostlink.RCApproved)
		if resp.MTI != hostlink.MTIAdminAdviceResponse || resp.Original != p.Original || resp.STAN != p.STAN {
			t.Fatalf("response %s", hostlink.Describe(resp))
		}
	}
	ev := d.evidence()
	l := d.ledger()
	if len(ev) != 1 || ev[0].LedgerID != l[len(l)-1].ID || ev[0].Kind != hostlink.EvidenceDelegateFace || !bytes.Equal(ev[0].Image, img) ||
		ev[0].FaceMatch != nil || ev[0].TerminalID != terminal {
		t.Fatalf("evidence %+v", ev)
	}
	if s := sha256.Sum256(img); !bytes.Equal(ev[0].SHA256, s[:]) {
		t.Fatal("SHA-256 not stored")
	}
	d.expectRC(parts[0], hostlink.RCApproved) // a repeat after the still is stored
	if len(d.evidence()) != 1 {
		t.Fatal("stored twice")
	}

	// Refusals: an ordinary withdrawal is no delegated one; an unknown
	// original; a part that does not fit; a still whose parts do not add
	// up.
	w := d.withdraw("bob-debit", 100)
	d.expectRC(w, hostlink.RCApproved)
	d.expectRC(d.evidenceParts(w, hostlink.EvidenceDelegateFace, img)[0], hostlink.RCInvalidTxn)
	unknown := *m
	unknown.STAN = "999999"
	d.expectRC(d.evidenceParts(&unknown, hostlink.EvidenceDelegateFace, img)[0], hostlink.RCInvalidTxn)
	bad := d.evidenceParts(w, hostlink.EvidenceOwnerFace, img)
	bad[0].Private = strings.Replace(bad[0].Private, "EP003", "EP004", 1)
	d.expectRC(bad[0], hostlink.RCFormatError)
	other := d.evidenceParts(w, hostlink.EvidenceOwnerFace, append(img[:len(img):len(img)], 0))
	good := d.evidenceParts(w, hostlink.EvidenceOwnerFace, img)
	d.expectRC(good[0], hostlink.RCApproved)
	for _, p := range other[1:] {
		d.send(p)
	}
	if n := len(d.evidence()); n != 1 {
		t.Fatalf("%d stills after parts of different stills", n)
	}
}

// The face check on the owner's own withdrawals: a still that does not
// show the enrolled face alerts the owner; one that does, does not.
func TestOwnerFaceCheck(t *testing.T) {
	d := newDelFixture(t)
	for _, tc := range []struct {
		who   string
		match bool
	}{{"alice", true}, {"stranger", false}} {
		w := d.withdraw("alice-debit", 100)
		d.expectRC(w, hostlink.RCApproved)
		img, err := face.Encode(320, 240, tc.who)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range d.evidenceParts(w, hostlink.EvidenceOwnerFace, img) {
			d.expectRC(p, hostlink.RCApproved)
		}
		ev := d.evidence()
		last := ev[len(ev)-1]
		if last.FaceMatch == nil || *last.FaceMatch != tc.match {
			t.Fatalf("%s: face match %v", tc.who, last.FaceMatch)
		}
	}
	a := d.messages("alice-debit", notify.KindAlert)
	if len(a) != 1 || a[0].Channel != notify.SMS || !strings.Contains(a[0].Text, "does not match") {
		t.Fatalf("alerts %v", a)
	}
	// A customer without an enrolled face is not compared.
	w := d.withdraw("carol-debit", 100)
	d.expectRC(w, hostlink.RCApproved)
	img, _ := face.Encode(320, 240, "stranger")
	for _, p := range d.evidenceParts(w, hostlink.EvidenceOwnerFace, img) {
		d.expectRC(p, hostlink.RCApproved)
	}
	if ev := d.evidence(); ev[len(ev)-1].FaceMatch != nil || len(d.messages("carol-debit", notify.KindAlert)) != 0 {
		t.Fatal("carol compared with no face enrolled")
	}
}

func TestDelegateCheckFormat(t *testing.T) {
	d := newDelFixture(t)
	_, code := d.create("bob", "bob-debit", 1000, time.Hour)
	for name, mod := range map[string]func(m *hostlink.Message){
		"no PIN block": func(m *hostlink.Message) { m.PINBlock = nil },
		"bad PAN":      func(m *hostlink.Message) { m.PAN = "12" },
		"no terminal":  func(m *hostlink.Message) { m.TerminalID = "" },
		"bad 48":       func(m *hostlink.Message) { m.Private = "XX" },
	} {
		m := d.check(terminal, "bob-debit", code)
		mod(m)
		if rc := d.send(m).RespCode; rc != hostlink.RCFormatError {
			t.Errorf("%s: rc %s", name, rc)
		}
	}
	m := d.delegated(terminal, "bob-debit", code, "D123", 1000)
	d.expectRC(m, hostlink.RCFormatError)
	// A block under another terminal's key is a security matter, not a
	// wrong code.
	m = d.check(terminal, "bob-debit", code)
	m.TerminalID = terminal2
	d.expectRC(m, hostlink.RCSecurityViolation)
	d.expectRC(d.check(terminal, "erin-blocked", code), hostlink.RCRestrictedCard)
	m = d.check(terminal, "bob-debit", code)
	m.PAN = unknownPAN
	m.PINBlock = d.blockFor(terminal, code, unknownPAN)
	d.expectRC(m, hostlink.RCNoSuchCard)
}
