package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

const (
	seedPath   = "testdata/seed.yaml"
	terminal   = "ATM00001"
	terminal2  = "ATM00002"
	twd        = "901"
	unknownPAN = "4761730000009996"
)

var (
	tmk    = Key{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10} // KCV 08D7B4
	tmk2   = Key{0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x76, 0x54, 0x32, 0x10, 0xFE, 0xDC, 0xBA, 0x98}
	pvk    = Key(bytes.Repeat([]byte{0x5A}, 16))
	lmk    = Key(bytes.Repeat([]byte{0x4C}, 32))
	taipei = time.FixedZone("CST", 8*3600)
	start  = time.Date(2026, 3, 14, 9, 30, 0, 0, taipei)
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

type fixture struct {
	t    *testing.T
	h    *Host
	cfg  Config
	clk  *clock.Fake
	seed *seed.Seed
	logs *syncBuffer

	mu   sync.Mutex
	stan int
	keys keyexchange.Keys // terminal's current working keys, as its PIN pad and dispenser hold them
}

func testConfig(t *testing.T) Config {
	return Config{DB: filepath.Join(t.TempDir(), "host.db"), Seed: seedPath, PVK: pvk, LMK: lmk,
		Terminals: []Terminal{{ID: terminal, TMK: tmk}, {ID: terminal2, TMK: tmk2}}}
}

// newFixture starts a fresh host and exchanges keys for terminal.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureConfig(t, testConfig(t))
}

// newFixtureConfig starts a fresh host with cfg and exchanges keys for
// terminal.
func newFixtureConfig(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{t: t, cfg: cfg, clk: clock.NewFake(start), logs: &syncBuffer{}}
	var err error
	if f.seed, err = seed.Load(seedPath); err != nil {
		t.Fatal(err)
	}
	f.h, err = New(f.cfg, WithReset(), WithClock(f.clk), WithLogger(zerolog.New(f.logs)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.h.Close(); err != nil {
			t.Error(err)
		}
	})
	f.keys = f.exchange(terminal, tmk)
	return f
}

// keyRequest builds an 0800/101 for tid with the check value of tmk.
func (f *fixture) keyRequest(tid string, tmk []byte) *hostlink.Message {
	kcv, err := keyexchange.TDESCheck(tmk)
	if err != nil {
		f.t.Fatal(err)
	}
	f48, err := keyexchange.Request{TMKCheck: kcv}.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	stan, tt := f.next()
	return &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: keyexchange.NetCode, STAN: stan, TransmitTime: tt,
		TerminalID: tid, Private: f48}
}

// exchange runs a key exchange for tid, whose TMK is tmk, and opens the
// keys as the terminal would.
func (f *fixture) exchange(tid string, tmk []byte) keyexchange.Keys {
	f.t.Helper()
	resp := f.expectRC(f.keyRequest(tid, tmk), hostlink.RCApproved)
	kx, err := keyexchange.ParseResponse(resp.Private)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := keyexchange.Unwrap(tmk, kx)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) card(id string) seed.Card {
	c, ok := f.seed.Card(id)
	if !ok {
		f.t.Fatalf("no card %s in the test seed", id)
	}
	return c
}

// next returns a fresh STAN and the transmission time of now.
func (f *fixture) next() (stan, transmit string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stan++
	return fmt.Sprintf("%06d", f.stan), f.clk.Now().UTC().Format("0102150405")
}

func (f *fixture) block(pin, pan string) []byte {
	b, err := pinblock.EncryptFormat0(f.keys.TPK, []byte(pin), []byte(pan))
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func nonceField(t *testing.T) (string, []byte) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	s, err := hostlink.TLV{{Tag: hostlink.TagNonce, Value: hex.EncodeToString(nonce)}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s, nonce
}

// withdrawal builds a 0200 cash withdrawal of amount minor units with
// card's PAN and the given PIN.
func (f *fixture) withdrawal(pan, pin string, amount int64) *hostlink.Message {
	stan, tt := f.next()
	f48, _ := nonceField(f.t)
	return &hostlink.Message{MTI: hostlink.MTIFinRequest, PAN: pan, ProcCode: hostlink.ProcWithdrawal, Amount: amount,
		TransmitTime: tt, STAN: stan, EntryMode: "051", TerminalID: terminal, Currency: twd,
		PINBlock: f.block(pin, pan), Private: f48}
}

func (f *fixture) withdraw(cardID string, amount int64) *hostlink.Message {
	c := f.card(cardID)
	return f.withdrawal(c.PAN, string(c.PIN), amount)
}

func (f *fixture) inquiry(cardID string) *hostlink.Message {
	c := f.card(cardID)
	stan, tt := f.next()
	return &hostlink.Message{MTI: hostlink.MTIFinRequest, PAN: c.PAN, ProcCode: hostlink.ProcBalance,
		TransmitTime: tt, STAN: stan, TerminalID: terminal, PINBlock: f.block(string(c.PIN), c.PAN)}
}

// reversal builds a reversal (mti 0420 or 0421) of orig; replacement is
// field 95 as sent.
func (f *fixture) reversal(mti string, orig *hostlink.Message, replacement string) *hostlink.Message {
	stan, tt := f.next()
	return &hostlink.Message{MTI: mti, PAN: orig.PAN, ProcCode: orig.ProcCode, Amount: orig.Amount,
		TransmitTime: tt, STAN: stan, TerminalID: orig.TerminalID, Currency: orig.Currency,
		Original: hostlink.OriginalData(orig), Replacement: replacement}
}

func (f *fixture) send(m *hostlink.Message) *hostlink.Message {
	f.t.Helper()
	cp := *m
	resp := f.h.Handle(context.Background(), &cp)
	if resp == nil {
		f.t.Fatalf("no response to %s", hostlink.Describe(m))
	}
	return resp
}

func (f *fixture) expectRC(m *hostlink.Message, rc string) *hostlink.Message {
	f.t.Helper()
	resp := f.send(m)
	if resp.RespCode != rc {
		f.t.Fatalf("%s: rc %s, want %s", hostlink.Describe(m), resp.RespCode, rc)
	}
	return resp
}

func (f *fixture) balance(acct string) int64 {
	f.t.Helper()
	b, err := f.h.Balance(context.Background(), acct)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) status(cardID string) seed.Status {
	f.t.Helper()
	st, err := f.h.CardStatus(context.Background(), cardID)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func (f *fixture) ledger() []LedgerEntry {
	f.t.Helper()
	l, err := f.h.Ledger(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func TestWithdrawalApproved(t *testing.T) {
	f := newFixture(t)
	req := f.withdraw("alice-debit", 300_000) // NT$3,000
	resp := f.expectRC(req, hostlink.RCApproved)

	if resp.MTI != hostlink.MTIFinResponse || resp.PAN != req.PAN || resp.ProcCode != req.ProcCode ||
		resp.Amount != req.Amount || resp.STAN != req.STAN || resp.TerminalID != req.TerminalID ||
		resp.Currency != twd || resp.TransmitTime != req.TransmitTime {
		t.Errorf("response does not echo the request: %s", hostlink.Describe(resp))
	}
	if len(resp.AuthCode) != 6 {
		t.Errorf("auth code %q, want 6 characters", resp.AuthCode)
	}
	if len(resp.RRN) != 12 || !isDigits(resp.RRN) {
		t.Errorf("RRN %q, want 12 digits", resp.RRN)
	}
	if resp.PINBlock != nil {
		t.Error("response carries a PIN block")
	}
	bals, err := hostlink.ParseAmounts(resp.AddAmounts)
	if err != nil {
		t.Fatal(err)
	}
	want := []hostlink.Balance{
		{AccountType: "00", AmountType: hostlink.AmountLedger, Currency: twd, Amount: 2_200_000},
		{AccountType: "00", AmountType: hostlink.AmountAvailable, Currency: twd, Amount: 2_200_000},
	}
	if !reflect.DeepEqual(bals, want) {
		t.Errorf("field 54 = %+v, want %+v", bals, want)
	}

	tlv, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	dt, _ := tlv.Get(hostlink.TagToken)
	tok, err := hex.DecodeString(dt)
	if err != nil || len(tok) == 0 {
		t.Fatalf("field 48 DT = %q", dt)
	}
	reqTLV, _ := hostlink.ParseTLV(req.Private)
	nc, _ := reqTLV.Get(hostlink.TagNonce)
	nonce, _ := hex.DecodeString(nc)
	td := dispenser.TokenData{ATM: terminal, Txn: req.STAN, Amount: 300_000, Currency: "TWD", Nonce: nonce}
	if !dispenser.VerifyToken(f.keys.TDK, td, tok) {
		t.Error("the dispenser would refuse the token")
	}
	td.Nonce = append([]byte{0}, nonce...)
	if dispenser.VerifyToken(f.keys.TDK, td, tok) {
		t.Error("the token verifies with another nonce")
	}

	if got := f.balance("alice-twd"); got != 2_200_000 {
		t.Errorf("balance = %d, want 2200000", got)
	}
	l := f.ledger()
	if len(l) != 1 {
		t.Fatalf("ledger has %d entries, want 1", len(l))
	}
	e := l[0]
	if e.CardID != "alice-debit" || e.Account != "alice-twd" || e.Kind != store.KindWithdrawal || e.Amount != 300_000 ||
		e.RespCode != "00" || e.RRN != resp.RRN || e.AuthCode != resp.AuthCode || e.Day != "2026-03-14" ||
		e.STAN != req.STAN || e.TerminalID != terminal || !e.Time.Equal(start) {
		t.Errorf("ledger entry = %+v", e)
	}
}

func TestBalanceInquiry(t *testing.T) {
	f := newFixture(t)
	resp := f.expectRC(f.inquiry("bob-debit"), hostlink.RCApproved)
	bals, err := hostlink.ParseAmounts(resp.AddAmounts)
	if err != nil {
		t.Fatal(err)
	}
	if len(bals) != 2 || bals[0].Amount != 12_000_000 || bals[0].AmountType != hostlink.AmountLedger ||
		bals[1].Amount != 12_000_000 || bals[1].AmountType != hostlink.AmountAvailable || bals[0].Currency != twd {
		t.Errorf("field 54 = %+v", bals)
	}
	if resp.Currency != twd || resp.Private != "" {
		t.Errorf("response = %s", hostlink.Describe(resp))
	}
	if got := f.balance("bob-twd"); got != 12_000_000 {
		t.Errorf("balance = %d after an inquiry", got)
	}
}

func TestResponseCodes(t *testing.T) {
	type build func(f *fixture) *hostlink.Message
	with := func(card string, amount int64, edit func(*hostlink.Message)) build {
		return func(f *fixture) *hostlink.Message {
			m := f.withdraw(card, amount)
			if edit != nil {
				edit(m)
			}
			return m
		}
	}
	tests := []struct {
		name     string
		req      build
		rc       string
		recorded bool // a ledger entry is written
	}{
		{"approved", with("bob-debit", 100_000, nil), hostlink.RCApproved, true},
		{"unknown card", func(f *fixture) *hostlink.Message { return f.withdrawal(unknownPAN, "7968", 100_000) }, hostlink.RCNoSuchCard, true},
		{"blocked card", with("erin-blocked", 100_000, nil), hostlink.RCRestrictedCard, true},
		{"expired status", with("bob-expired", 100_000, nil), hostlink.RCExpiredCard, true},
		{"expired by date", with("bob-old", 100_000, nil), hostlink.RCExpiredCard, true},
		{"not activated", with("david-new", 100_000, nil), hostlink.RCNotPermitted, true},
		{"wrong PIN", func(f *fixture) *hostlink.Message {
			return f.withdrawal(f.card("bob-debit").PAN, "6666", 100_000)
		}, hostlink.RCWrongPIN, true},
		{"PIN block under another key", with("bob-debit", 100_000, func(m *hostlink.Message) {
			m.PINBlock, _ = pinblock.EncryptFormat0(bytes.Repeat([]byte{7}, 16), []byte("9867"), []byte(m.PAN))
		}), hostlink.RCSecurityViolation, true},
		{"zero amount", with("bob-debit", 0, nil), hostlink.RCInvalidAmount, true},
		{"amount with cents", with("bob-debit", 100_050, nil), hostlink.RCInvalidAmount, true},
		{"currency not the account's", with("bob-debit", 100_000, func(m *hostlink.Message) { m.Currency = "840" }), hostlink.RCInvalidAmount, true},
		{"insufficient funds", with("carol-debit", 100_000, nil), hostlink.RCInsufficientFunds, true},
		{"over the daily limit", with("alice-debit", 2_000_100, nil), hostlink.RCExceedsLimit, true},
		{"no nonce", with("bob-debit", 100_000, func(m *hostlink.Message) { m.Private = "" }), hostlink.RCFormatError, false},
		{"nonce not hex", with("bob-debit", 100_000, func(m *hostlink.Message) { m.Private = "NC004zzzz" }), hostlink.RCFormatError, false},
		{"malformed field 48", with("bob-debit", 100_000, func(m *hostlink.Message) { m.Private = "NC9" }), hostlink.RCFormatError, false},
		{"no PIN block", with("bob-debit", 100_000, func(m *hostlink.Message) { m.PINBlock = nil }), hostlink.RCFormatError, false},
		{"bad PAN", with("bob-debit", 100_000, func(m *hostlink.Message) { m.PAN = "47617300" }), hostlink.RCFormatError, false},
		{"no currency", with("bob-debit", 100_000, func(m *hostlink.Message) { m.Currency = "" }), hostlink.RCFormatError, false},
		{"unknown currency", with("bob-debit", 100_000, func(m *hostlink.Message) { m.Currency = "999" }), hostlink.RCFormatError, false},
		{"no STAN", with("bob-debit", 100_000, func(m *hostlink.Message) { m.STAN = "" }), hostlink.RCFormatError, false},
		{"no transmission time", with("bob-debit", 100_000, func(m *hostlink.Message) { m.TransmitTime = "" }), hostlink.RCFormatError, false},
		{"no terminal", with("bob-debit", 100_000, func(m *hostlink.Message) { m.TerminalID = "" }), hostlink.RCFormatError, false},
		{"short processing code", with("bob-debit", 100_000, func(m *hostlink.Message) { m.ProcCode = "01" }), hostlink.RCFormatError, false},
		{"unknown processing code", with("bob-debit", 100_000, func(m *hostlink.Message) { m.ProcCode = "400000" }), hostlink.RCInvalidTxn, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := map[string]int64{}
			for _, a := range []string{"alice-twd", "bob-twd", "carol-twd", "david-twd", "erin-twd"} {
				before[a] = f.balance(a)
			}
			req := tt.req(f)
			resp := f.expectRC(req, tt.rc)
			if resp.MTI != hostlink.MTIFinResponse || resp.STAN != req.STAN {
				t.Errorf("response %s does not answer the request", hostlink.Describe(resp))
			}
			for a, b := range before {
				want := b
				if tt.rc == hostlink.RCApproved && a == "bob-twd" {
					want -= req.Amount
				}
				if got := f.balance(a); got != want {
					t.Errorf("%s balance = %d, want %d", a, got, want)
				}
			}
			if tt.rc != hostlink.RCApproved && (resp.AuthCode != "" || resp.Private != "" || resp.AddAmounts != "") {
				t.Errorf("decline carries approval data: %s", hostlink.Describe(resp))
			}
			if n := len(f.ledger()); (n == 1) != tt.recorded || n > 1 {
				t.Errorf("ledger has %d entries, recorded=%v", n, tt.recorded)
			}
		})
	}
}

func TestPINTries(t *testing.T) {
	f := newFixture(t)
	c := f.card("alice-debit")
	wrong := func() *hostlink.Message { return f.withdrawal(c.PAN, "6666", 100_000) }
	right := func() *hostlink.Message { return f.withdraw("alice-debit", 100_000) }

	f.expectRC(wrong(), hostlink.RCWrongPIN)
	f.expectRC(wrong(), hostlink.RCWrongPIN)
	f.expectRC(right(), hostlink.RCApproved) // resets the count
	f.expectRC(wrong(), hostlink.RCWrongPIN)
	f.expectRC(wrong(), hostlink.RCWrongPIN)
	if st := f.status("alice-debit"); st != seed.StatusActive {
		t.Fatalf("status after two wrong PINs = %s, want active", st)
	}
	f.expectRC(wrong(), hostlink.RCPINTriesExceeded)
	if st := f.status("alice-debit"); st != seed.StatusBlocked {
		t.Fatalf("status after three wrong PINs = %s, want blocked", st)
	}
	f.expectRC(right(), hostlink.RCPINTriesExceeded) // the right PIN no longer helps
	f.expectRC(f.inquiry("alice-debit"), hostlink.RCPINTriesExceeded)
	if got := f.balance("alice-twd"); got != 2_400_000 {
		t.Errorf("balance = %d, want 2400000 (one approval)", got)
	}
}

func TestMaxPINTriesConfigured(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPINTries = 1
	h, err := New(cfg, WithReset(), WithClock(clock.NewFake(start)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f := &fixture{t: t, h: h, clk: clock.NewFake(start)}
	f.seed, _ = seed.Load(seedPath)
	f.keys = f.exchange(terminal, tmk)
	f.expectRC(f.withdrawal(f.card("bob-debit").PAN, "6666", 100_000), hostlink.RCPINTriesExceeded)
	if st := f.status("bob-debit"); st != seed.StatusBlocked {
		t.Errorf("status = %s, want blocked", st)
	}
}

func TestDailyLimit(t *testing.T) {
	f := newFixture(t) // alice: NT$25,000 balance, NT$20,000 a day
	f.expectRC(f.withdraw("alice-debit", 800_000), hostlink.RCApproved)
	f.expectRC(f.withdraw("alice-debit", 800_000), hostlink.RCApproved)
	f.expectRC(f.withdraw("alice-debit", 800_000), hostlink.RCExceedsLimit) // 24,000 > 20,000
	last := f.withdraw("alice-debit", 400_000)
	f.expectRC(last, hostlink.RCApproved) // exactly 20,000
	f.expectRC(f.withdraw("alice-debit", 10_000), hostlink.RCExceedsLimit)
	f.expectRC(f.reversal(hostlink.MTIReversal, last, ""), hostlink.RCApproved)
	f.expectRC(f.withdraw("alice-debit", 400_000), hostlink.RCApproved) // the reversal freed 4,000
	f.expectRC(f.withdraw("alice-debit", 10_000), hostlink.RCExceedsLimit)

	f.clk.Advance(15 * time.Hour) // 00:30 the next day, Taipei time
	f.expectRC(f.withdraw("alice-debit", 500_000), hostlink.RCApproved)
	if got := f.balance("alice-twd"); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
	f.expectRC(f.withdraw("alice-debit", 10_000), hostlink.RCInsufficientFunds)
}

func TestReversalIdempotent(t *testing.T) {
	f := newFixture(t)
	orig := f.withdraw("bob-debit", 300_000)
	f.expectRC(orig, hostlink.RCApproved)
	if got := f.balance("bob-twd"); got != 11_700_000 {
		t.Fatalf("balance = %d after the withdrawal", got)
	}
	for i, mti := range []string{hostlink.MTIReversal, hostlink.MTIReversalRepeat, hostlink.MTIReversalRepeat} {
		resp := f.expectRC(f.reversal(mti, orig, ""), hostlink.RCApproved)
		if resp.MTI != hostlink.MTIReversalResponse {
			t.Errorf("reversal %d answered with %s", i, resp.MTI)
		}
		if got := f.balance("bob-twd"); got != 12_000_000 {
			t.Errorf("after reversal %d: balance = %d, want 12000000", i, got)
		}
	}
	l := f.ledger()
	if len(l) != 1 || !l[0].Reversed || l[0].ReversedAmount != 300_000 || !l[0].ReversalTime.Equal(start) {
		t.Errorf("ledger = %+v", l)
	}
}

func TestPartialReversal(t *testing.T) {
	f := newFixture(t)
	orig := f.withdraw("alice-debit", 500_000)
	f.expectRC(orig, hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversal, orig, hostlink.ReplacementAmounts(200_000)), hostlink.RCApproved)
	if got := f.balance("alice-twd"); got != 2_300_000 {
		t.Errorf("balance = %d, want 2300000 (NT$2,000 dispensed)", got)
	}
	f.expectRC(f.reversal(hostlink.MTIReversalRepeat, orig, hostlink.ReplacementAmounts(0)), hostlink.RCApproved)
	if got := f.balance("alice-twd"); got != 2_300_000 {
		t.Errorf("balance = %d after a repeat, want 2300000", got)
	}
	// 2,000 counts against the limit of 20,000.
	f.expectRC(f.withdraw("alice-debit", 1_800_100), hostlink.RCExceedsLimit)
	f.expectRC(f.withdraw("alice-debit", 1_800_000), hostlink.RCApproved)
}

func TestReversalNothingToReverse(t *testing.T) {
	f := newFixture(t)
	declined := f.withdraw("carol-debit", 100_000)
	f.expectRC(declined, hostlink.RCInsufficientFunds)
	inquiry := f.inquiry("bob-debit")
	f.expectRC(inquiry, hostlink.RCApproved)
	approved := f.withdraw("bob-debit", 100_000)
	f.expectRC(approved, hostlink.RCApproved)
	never := f.withdraw("bob-debit", 100_000) // never sent

	notFin := f.reversal(hostlink.MTIReversal, approved, "")
	notFin.Original = "0100" + notFin.Original[4:]
	otherTerminal := f.reversal(hostlink.MTIReversal, approved, "")
	otherTerminal.TerminalID = "ATM00002"

	tests := []struct {
		name string
		req  *hostlink.Message
		rc   string
	}{
		{"declined original", f.reversal(hostlink.MTIReversal, declined, ""), hostlink.RCApproved},
		{"balance inquiry", f.reversal(hostlink.MTIReversal, inquiry, ""), hostlink.RCApproved},
		{"unknown original", f.reversal(hostlink.MTIReversal, never, ""), hostlink.RCApproved},
		{"original not a 0200", notFin, hostlink.RCApproved},
		{"another terminal's STAN", otherTerminal, hostlink.RCApproved},
		{"dispensed more than approved", f.reversal(hostlink.MTIReversal, approved, hostlink.ReplacementAmounts(100_100)), hostlink.RCFormatError},
		{"field 90 malformed", func() *hostlink.Message {
			m := f.reversal(hostlink.MTIReversal, approved, "")
			m.Original = m.Original[:41]
			return m
		}(), hostlink.RCFormatError},
		{"field 95 malformed", f.reversal(hostlink.MTIReversal, approved, "12"), hostlink.RCFormatError},
		{"no terminal", func() *hostlink.Message {
			m := f.reversal(hostlink.MTIReversal, approved, "")
			m.TerminalID = ""
			return m
		}(), hostlink.RCFormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.expectRC(tt.req, tt.rc)
			if resp.MTI != hostlink.MTIReversalResponse || resp.STAN != tt.req.STAN {
				t.Errorf("response %s does not answer the reversal", hostlink.Describe(resp))
			}
			if got := f.balance("bob-twd"); got != 11_900_000 {
				t.Errorf("bob balance = %d, want 11900000", got)
			}
			if got := f.balance("carol-twd"); got != 30_000 {
				t.Errorf("carol balance = %d, want 30000", got)
			}
		})
	}
	for _, e := range f.ledger() {
		if e.Reversed {
			t.Errorf("entry %d marked reversed", e.ID)
		}
	}
}

func TestDuplicateRequest(t *testing.T) {
	f := newFixture(t)
	req := f.withdraw("bob-debit", 200_000)
	first := f.expectRC(req, hostlink.RCApproved)
	f.clk.Advance(time.Minute)
	again := f.send(req)
	if !reflect.DeepEqual(first, again) {
		t.Errorf("duplicate answered differently:\n first %s\n again %s", hostlink.Describe(first), hostlink.Describe(again))
	}
	if first.Private != again.Private {
		t.Error("duplicate carries another token")
	}
	if got := f.balance("bob-twd"); got != 11_800_000 {
		t.Errorf("balance = %d, want 11800000 (one debit)", got)
	}
	if n := len(f.ledger()); n != 1 {
		t.Errorf("ledger has %d entries, want 1", n)
	}

	wrong := f.withdrawal(f.card("bob-debit").PAN, "6666", 100_000)
	r1 := f.expectRC(wrong, hostlink.RCWrongPIN)
	r2 := f.expectRC(wrong, hostlink.RCWrongPIN)
	if r1.RRN != r2.RRN {
		t.Error("duplicate decline answered with another RRN")
	}
	if c, _ := f.h.db.Card(context.Background(), "bob-debit"); c.PINTries != 1 {
		t.Errorf("PIN tries = %d, want 1: a duplicate counted again", c.PINTries)
	}

	tests := []struct {
		name string
		edit func(*hostlink.Message)
	}{
		{"other amount", func(m *hostlink.Message) { m.Amount = 300_000 }},
		{"other card", func(m *hostlink.Message) {
			c := f.card("alice-debit")
			m.PAN, m.PINBlock = c.PAN, f.block(string(c.PIN), c.PAN)
		}},
		{"other kind", func(m *hostlink.Message) { m.ProcCode, m.Amount, m.Currency = hostlink.ProcBalance, 0, "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := *req
			tt.edit(&m)
			resp := f.expectRC(&m, hostlink.RCDuplicate)
			if resp.AuthCode != "" || resp.Private != "" {
				t.Errorf("94 carries approval data: %s", hostlink.Describe(resp))
			}
		})
	}
	if got := f.balance("bob-twd"); got != 11_800_000 {
		t.Errorf("balance = %d, want 11800000", got)
	}
}

func TestConcurrentWithdrawals(t *testing.T) {
	f := newFixture(t) // frank: NT$20,000, limit NT$100,000
	const n = 50
	reqs := make([]*hostlink.Message, n)
	for i := range reqs {
		reqs[i] = f.withdraw("frank-debit", 100_000)
	}
	rcs := make([]string, n)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rcs[i] = f.h.Handle(context.Background(), reqs[i]).RespCode
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, rc := range rcs {
		count[rc]++
	}
	if count["00"] != 20 || count["51"] != 30 {
		t.Errorf("response codes = %v, want 20 × 00 and 30 × 51", count)
	}
	if got := f.balance("frank-twd"); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
}

func TestNetworkManagement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	net := func(code, tid string) *hostlink.Message {
		stan, tt := f.next()
		return &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: code, STAN: stan, TransmitTime: tt, TerminalID: tid}
	}
	signedOn := func() bool {
		on, err := f.h.SignedOn(ctx, terminal)
		if err != nil {
			t.Fatal(err)
		}
		return on
	}
	if signedOn() {
		t.Fatal("terminal signed on before any sign-on")
	}
	resp := f.expectRC(net(hostlink.NetSignOn, terminal), hostlink.RCApproved)
	if resp.MTI != hostlink.MTINetResponse || resp.NetCode != hostlink.NetSignOn || resp.TerminalID != terminal {
		t.Errorf("sign-on response %s", hostlink.Describe(resp))
	}
	if !signedOn() {
		t.Error("terminal not signed on after sign-on")
	}
	f.expectRC(net(hostlink.NetEcho, terminal), hostlink.RCApproved)
	f.expectRC(net("999", terminal), hostlink.RCInvalidTxn)
	f.expectRC(net(hostlink.NetSignOn, ""), hostlink.RCFormatError)
	f.expectRC(net(hostlink.NetSignOff, terminal), hostlink.RCApproved)
	if signedOn() {
		t.Error("terminal signed on after sign-off")
	}
}

func TestOtherMessages(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ mti, proc, rc string }{
		{hostlink.MTIAuthRequest, hostlink.ProcPINChange, hostlink.RCInvalidTxn}, // only activation is a 0100
		{hostlink.MTIAuthRequest, "", hostlink.RCFormatError},
		{"0220", hostlink.ProcWithdrawal, hostlink.RCInvalidTxn},
	} {
		resp := f.send(&hostlink.Message{MTI: tt.mti, ProcCode: tt.proc, STAN: "000001", TerminalID: terminal})
		if resp.MTI != hostlink.ResponseMTI(tt.mti) || resp.RespCode != tt.rc || resp.STAN != "000001" {
			t.Errorf("%s %s answered with %s", tt.mti, tt.proc, hostlink.Describe(resp))
		}
	}
	if resp := f.h.Handle(context.Background(), &hostlink.Message{MTI: hostlink.MTIFinResponse}); resp != nil {
		t.Errorf("a 0210 was answered with %s", hostlink.Describe(resp))
	}
}

// TestNoSecretsAtRest runs a mixed workload and then searches the database
// files and the log for the seed's PINs and the log for clear PANs.
func TestNoSecretsAtRest(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"alice-debit", "bob-debit", "carol-debit", "david-new", "erin-blocked", "frank-debit"} {
		f.send(f.inquiry(id))
		w := f.withdraw(id, 100_000)
		f.send(w)
		f.send(f.reversal(hostlink.MTIReversal, w, hostlink.ReplacementAmounts(50_000)))
		f.send(f.withdrawal(f.card(id).PAN, "6666", 100_000))
	}
	f.send(f.withdrawal(unknownPAN, "7968", 100_000))

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
	for _, cu := range f.seed.Customers {
		for _, c := range cu.Cards {
			for name, b := range files {
				if i := bytes.Index(b, []byte(c.PIN)); i >= 0 {
					t.Errorf("%s contains the PIN of %s: %q", name, c.ID, b[max(0, i-40):min(len(b), i+40)])
				}
			}
			if bytes.Contains(files["log"], []byte(c.PAN)) {
				t.Errorf("log contains the PAN of %s", c.ID)
			}
		}
	}
	if bytes.Contains(files["log"], []byte(unknownPAN)) {
		t.Error("log contains an unknown PAN")
	}
	if !bytes.Contains(files["log"], []byte("476173******1019")) {
		t.Error("log does not name the card by its masked PAN; is the scan looking at the right log?")
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)

	h, err := New(cfg) // no reset, no database yet
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(ctx); !errors.Is(err, store.ErrNoDatabase) {
		t.Fatalf("Open without a database: err = %v, want store.ErrNoDatabase", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close after a failed Open: %v", err)
	}
	if _, err := h.Balance(ctx, "bob-twd"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Balance before Open: err = %v, want ErrNotOpen", err)
	}
	f := &fixture{t: t, h: h, clk: clock.NewFake(start), keys: keyexchange.Keys{TPK: bytes.Repeat([]byte{1, 2}, 8)}}
	f.seed, _ = seed.Load(seedPath)
	f.expectRC(f.withdraw("bob-debit", 100_000), hostlink.RCSystemError)

	h1, err := New(cfg, WithReset(), WithClock(f.clk))
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h1.Open(ctx); err == nil {
		t.Error("a second Open succeeded")
	}
	f.h = h1
	f.keys = f.exchange(terminal, tmk)
	f.expectRC(f.withdraw("bob-debit", 100_000), hostlink.RCApproved)
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	h2, err := New(cfg, WithClock(f.clk)) // reopen: the debit is still there
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	f.h = h2
	if got := f.balance("bob-twd"); got != 11_900_000 {
		t.Errorf("balance after reopening = %d, want 11900000", got)
	}
	if _, err := h2.CardStatus(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CardStatus(nope): err = %v, want store.ErrNotFound", err)
	}

	bad := cfg
	bad.Seed = ""
	if _, err := New(bad, WithReset()); !errors.Is(err, ErrConfig) {
		t.Errorf("reset without a seed: err = %v, want ErrConfig", err)
	}
	bad = cfg
	bad.Seed = "testdata/missing.yaml"
	h3, err := New(bad, WithReset())
	if err != nil {
		t.Fatal(err)
	}
	if err := h3.Open(ctx); err == nil {
		t.Error("Open with a missing seed succeeded")
	}
	if err := h3.Close(); err != nil {
		t.Errorf("Close after a failed Open: %v", err)
	}
}

func TestExpired(t *testing.T) {
	tests := []struct {
		expiry string
		now    time.Time
		want   bool
	}{
		{"2603", time.Date(2026, 3, 31, 23, 59, 59, 0, taipei), false},
		{"2603", time.Date(2026, 4, 1, 0, 0, 0, 0, taipei), true},
		{"2612", time.Date(2026, 12, 31, 23, 0, 0, 0, taipei), false},
		{"2612", time.Date(2027, 1, 1, 0, 0, 0, 0, taipei), true},
		{"2602", time.Date(2026, 3, 14, 0, 0, 0, 0, taipei), true},
		{"abcd", start, true},
		{"", start, true},
	}
	for _, tt := range tests {
		if got := expired(tt.expiry, tt.now); got != tt.want {
			t.Errorf("expired(%q, %v) = %v, want %v", tt.expiry, tt.now, got, tt.want)
		}
	}
}
