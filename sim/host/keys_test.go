package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/mac"
)

func TestKeyExchange(t *testing.T) {
	f := newFixture(t) // has exchanged once
	ctx := context.Background()
	info, err := f.h.TerminalKeys(ctx, terminal)
	if err != nil {
		t.Fatal(err)
	}
	if info.Generation != 1 || info.Terminal != terminal || !info.Exchanged.Equal(start) {
		t.Errorf("key info = %+v", info)
	}
	if got := f.keys.String(); got != "TPK "+info.TPKCheck+" TAK "+info.TAKCheck+" TDK "+info.TDKCheck {
		t.Errorf("terminal holds %s, host stored %+v", got, info)
	}

	req := f.keyRequest(terminal, tmk)
	resp := f.expectRC(req, hostlink.RCApproved)
	if resp.MTI != hostlink.MTINetResponse || resp.NetCode != keyexchange.NetCode || resp.STAN != req.STAN ||
		resp.TerminalID != terminal || len(resp.MAC) != 0 {
		t.Errorf("0810 = %s", hostlink.Describe(resp))
	}
	tlv, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, e := range tlv {
		tags = append(tags, e.Tag)
	}
	if got := strings.Join(tags, ","); got != "KP,CP,KM,CM,KD,CD" {
		t.Errorf("field 48 tags %s", got)
	}
	kx, err := keyexchange.ParseResponse(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := keyexchange.Unwrap(tmk, kx)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k2.TPK, f.keys.TPK) || bytes.Equal(k2.TAK, f.keys.TAK) || bytes.Equal(k2.TDK, f.keys.TDK) {
		t.Error("a new exchange repeated a key")
	}
	info2, _ := f.h.TerminalKeys(ctx, terminal)
	if info2.Generation != 2 || info2.TPKCheck == info.TPKCheck {
		t.Errorf("after the second exchange: %+v", info2)
	}
	if _, err := f.h.TerminalKeys(ctx, terminal2); !errors.Is(err, ErrNoWorkingKeys) {
		t.Errorf("terminal2 keys before any exchange: err = %v", err)
	}
}

func TestKeyExchangeRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	before, _ := f.h.TerminalKeys(ctx, terminal)
	malformed := f.keyRequest(terminal, tmk)
	malformed.Private = "CT00308D"
	noField := f.keyRequest(terminal, tmk)
	noField.Private = ""
	tests := []struct {
		name string
		req  *hostlink.Message
		rc   string
		log  string
	}{
		{"unknown terminal", f.keyRequest("ATM00099", tmk), hostlink.RCSecurityViolation, "no TMK is configured"},
		{"another terminal's TMK", f.keyRequest(terminal, tmk2), hostlink.RCSecurityViolation, "TMK is not the host's"},
		{"TMK of terminal2 sent by terminal2 with terminal's KCV", f.keyRequest(terminal2, tmk), hostlink.RCSecurityViolation, "TMK is not the host's"},
		{"malformed field 48", malformed, hostlink.RCFormatError, "key exchange refused"},
		{"no field 48", noField, hostlink.RCFormatError, "key exchange refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.expectRC(tt.req, tt.rc)
			if resp.Private != "" || resp.MTI != hostlink.MTINetResponse {
				t.Errorf("refusal = %s", hostlink.Describe(resp))
			}
			if !bytes.Contains(f.logs.Bytes(), []byte(tt.log)) {
				t.Errorf("no log line %q", tt.log)
			}
		})
	}
	if after, _ := f.h.TerminalKeys(ctx, terminal); after != before {
		t.Errorf("a refused exchange changed the keys: %+v → %+v", before, after)
	}
	if _, err := f.h.TerminalKeys(ctx, terminal2); !errors.Is(err, ErrNoWorkingKeys) {
		t.Errorf("terminal2 has keys after refused exchanges: %v", err)
	}
	// The working keys still work.
	f.expectRC(f.withdraw("bob-debit", 100_000), hostlink.RCApproved)
}

func TestNoWorkingKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// terminal2 has no working keys: whatever it sends is refused.
	w := f.withdraw("bob-debit", 100_000)
	w.TerminalID = terminal2
	inq := f.inquiry("bob-debit")
	inq.TerminalID = terminal2
	f.expectRC(w, hostlink.RCSecurityViolation)
	f.expectRC(inq, hostlink.RCSecurityViolation)
	if n := len(f.ledger()); n != 0 {
		t.Errorf("ledger has %d entries", n)
	}
	if got := f.balance("bob-twd"); got != 12_000_000 {
		t.Errorf("balance = %d", got)
	}
	if !bytes.Contains(f.logs.Bytes(), []byte("no working keys")) {
		t.Error("no log line for the refusal")
	}
	if m := f.h.MAC(terminal2); m == nil {
		t.Error("MAC(terminal2) is nil")
	} else if _, err := m.Sign(ctx, []byte("x")); !errors.Is(err, ErrNoWorkingKeys) {
		t.Errorf("MAC of terminal2 signs: %v", err)
	}
	if m := f.h.MAC("ATM00099"); m != nil {
		t.Error("MAC of an unknown terminal is not nil")
	}

	f.keys = f.exchange(terminal2, tmk2)
	w2 := f.withdraw("bob-debit", 100_000)
	w2.TerminalID = terminal2
	f.expectRC(w2, hostlink.RCApproved)
}

func TestStalePINKey(t *testing.T) {
	f := newFixture(t)
	staleReq := f.withdraw("alice-debit", 100_000) // under the first TPK, not sent yet
	f.keys = f.exchange(terminal, tmk)

	resp := f.send(staleReq)
	if resp.RespCode == hostlink.RCApproved || resp.Private != "" {
		t.Fatalf("a PIN block under the previous TPK was approved: %s", hostlink.Describe(resp))
	}
	if resp.RespCode != hostlink.RCSecurityViolation {
		t.Logf("stale block answered %s (it happened to open as a format 0 block)", resp.RespCode)
	}
	if got := f.balance("alice-twd"); got != 2_500_000 {
		t.Errorf("balance = %d", got)
	}
	if c, _ := f.h.db.Card(context.Background(), "alice-debit"); resp.RespCode == hostlink.RCSecurityViolation && c.PINTries != 0 {
		t.Errorf("a stale-key block counted as a wrong PIN: tries %d", c.PINTries)
	}
	// Terminal 2's TPK does not work for terminal 1 either.
	f.keys = f.exchange(terminal2, tmk2)
	other := f.withdraw("alice-debit", 100_000) // terminal's id, terminal2's TPK
	if resp := f.send(other); resp.RespCode == hostlink.RCApproved {
		t.Error("a PIN block under another terminal's TPK was approved")
	}
}

func TestTokenSignedWithTDK(t *testing.T) {
	f := newFixture(t)
	first := f.keys
	f.keys = f.exchange(terminal, tmk)
	req := f.withdraw("bob-debit", 200_000)
	resp := f.expectRC(req, hostlink.RCApproved)
	td := tokenData(t, req)
	tok := token(t, resp)
	if !dispenser.VerifyToken(f.keys.TDK, td, tok) {
		t.Error("token does not verify under the current TDK")
	}
	if dispenser.VerifyToken(first.TDK, td, tok) {
		t.Error("token verifies under the previous TDK")
	}
	k2 := f.exchange(terminal2, tmk2)
	if dispenser.VerifyToken(k2.TDK, td, tok) {
		t.Error("token verifies under another terminal's TDK")
	}
}

func tokenData(t *testing.T, req *hostlink.Message) dispenser.TokenData {
	t.Helper()
	tlv, err := hostlink.ParseTLV(req.Private)
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := tlv.Get(hostlink.TagNonce)
	nonce, _ := hex.DecodeString(nc)
	return dispenser.TokenData{ATM: req.TerminalID, Txn: req.STAN, Amount: req.Amount, Currency: "TWD", Nonce: nonce}
}

func token(t *testing.T, resp *hostlink.Message) []byte {
	t.Helper()
	tlv, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	dt, ok := tlv.Get(hostlink.TagToken)
	if !ok {
		t.Fatalf("no token in %s", hostlink.Describe(resp))
	}
	tok, err := hex.DecodeString(dt)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestKeysSurviveRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, _ := f.h.TerminalKeys(ctx, terminal)
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	h2, err := New(f.cfg, WithClock(f.clk)) // no reset
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Open(ctx); err != nil {
		t.Fatal(err)
	}
	f.h = h2 // closed by the fixture's cleanup
	if got, err := h2.TerminalKeys(ctx, terminal); err != nil || got != info {
		t.Errorf("after restart: %+v, %v; want %+v", got, err, info)
	}
	req := f.withdraw("bob-debit", 100_000)
	resp := f.expectRC(req, hostlink.RCApproved)
	if !dispenser.VerifyToken(f.keys.TDK, tokenData(t, req), token(t, resp)) {
		t.Error("token after restart does not verify under the TDK")
	}
	want, err := mac.RetailMAC(f.keys.TAK, []byte("0210 data"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h2.MAC(terminal).Sign(ctx, []byte("0210 data")); err != nil || !bytes.Equal(got, want) {
		t.Errorf("MAC after restart = %X, %v; want %X", got, err, want)
	}
	if err := h2.MAC(terminal).Verify(ctx, []byte("0210 data"), want); err != nil {
		t.Errorf("Verify after restart: %v", err)
	}
	bad := bytes.Clone(want)
	bad[0] ^= 1
	if err := h2.MAC(terminal).Verify(ctx, []byte("0210 data"), bad); err == nil {
		t.Error("a bad MAC verifies")
	}
}

func TestLMKMismatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.LMK = Key(bytes.Repeat([]byte{0x4D}, 32))
	h, err := New(cfg, WithClock(clock.NewFake(start)))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Open(ctx)
	if !errors.Is(err, ErrLMKMismatch) {
		t.Fatalf("Open under another LMK: err = %v, want ErrLMKMismatch", err)
	}
	if strings.Contains(strings.ToLower(err.Error()), "4d4d") || strings.Contains(strings.ToLower(err.Error()), "4c4c") {
		t.Errorf("error shows the LMK: %v", err)
	}
	if _, err := h.Balance(ctx, "bob-twd"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("after the refused Open: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Error(err)
	}
}

// TestNoKeyMaterialAtRest exchanges keys a few times, runs a workload and
// then searches the database files and the log for every key: clear
// bytes, and hex in either case.
func TestNoKeyMaterialAtRest(t *testing.T) {
	f := newFixture(t)
	var keys [][]byte
	for i := 0; i < 3; i++ {
		f.keys = f.exchange(terminal, tmk)
		keys = append(keys, f.keys.TPK, f.keys.TAK, f.keys.TDK)
		w := f.withdraw("bob-debit", 100_000)
		f.send(w)
		f.send(f.reversal(hostlink.MTIReversal, w, ""))
	}
	k2 := f.exchange(terminal2, tmk2)
	keys = append(keys, k2.TPK, k2.TAK, k2.TDK, tmk, tmk2, lmk, pvk)

	files := map[string][]byte{"log": f.logs.Bytes()}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(f.cfg.DB + suffix)
		if err != nil {
			t.Fatal(err)
		}
		files["db"+suffix] = b
	}
	for i, k := range keys {
		for name, b := range files {
			for _, needle := range [][]byte{k[:8], []byte(hex.EncodeToString(k[:8])), []byte(strings.ToUpper(hex.EncodeToString(k[:8])))} {
				if bytes.Contains(b, needle) {
					t.Errorf("%s contains key %d", name, i)
				}
			}
		}
	}
	if !bytes.Contains(files["log"], []byte("working keys exchanged")) {
		t.Error("no exchange in the log; is the scan looking at the right log?")
	}
}
