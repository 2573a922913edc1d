package dispensertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

// Harness is a dispenser under test plus what the suite needs to play the
// host and the customer.
type Harness struct {
	Dev dispenser.Dispenser
	// Key is the dispense key the device shares with the host; the suite
	// signs tokens with it.
	Key []byte
	// ATM is the terminal id the device is configured with.
	ATM string
	// Take plays the customer taking the presented notes; it blocks until
	// notes are presented.
	Take func(ctx context.Context) error
	// Tray returns the notes presented to the customer now.
	Tray func() []dispenser.Notes
	// Taken returns every note customers took so far.
	Taken func() []dispenser.Notes
	// Reopen, if set, returns a new instance of the device on the same
	// persistent state, as after a restart. Optional.
	Reopen func(t *testing.T) dispenser.Dispenser
}

const (
	// wait bounds every step expected to finish.
	wait = 5 * time.Second
	// short is the deadline for steps expected to block.
	short = 50 * time.Millisecond
)

// Run runs the conformance suite. The optional abilities
// (dispenser.Tester, Loader, RetractCounter) are tested when the device
// has them. open is called once per subtest and
// returns a fresh, online dispenser without faults, with nothing in its
// transport and at least one cassette holding 10 or more notes; it should
// register its own cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"NoncesUnique", testNoncesUnique},
		{"NoncesSurviveReopen", testNoncesSurviveReopen},
		{"DispensePresentTake", testDispensePresentTake},
		{"TakenBeforeWait", testTakenBeforeWait},
		{"RefusedWithoutValidToken", testRefusedWithoutValidToken},
		{"NonceSingleUse", testNonceSingleUse},
		{"InvalidMix", testInvalidMix},
		{"NothingStacked", testNothingStacked},
		{"Retract", testRetract},
		{"EndedContext", testEndedContext},
		{"Halt", testHalt},
		{"TestDispenseToRejectBin", testTestDispense},
		{"TestDispenseInvalidMix", testTestDispenseInvalid},
		{"Load", testLoad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func cassettes(t *testing.T, h Harness) []dispenser.Cassette {
	t.Helper()
	cs, err := h.Dev.Cassettes(ctxT(t, wait))
	if err != nil {
		t.Fatalf("Cassettes: %v", err)
	}
	return cs
}

// request builds an unsigned request for two notes from the first
// cassette that holds at least 10.
func request(t *testing.T, h Harness, txn string) dispenser.DispenseRequest {
	t.Helper()
	for _, c := range cassettes(t, h) {
		if c.Count >= 10 && c.Status != dispenser.CassetteMissing && c.Denomination > 0 {
			return dispenser.DispenseRequest{
				ATM: h.ATM, Txn: txn, Amount: 2 * c.Denomination, Currency: c.Currency,
				Mix: []dispenser.Notes{{Cassette: c.ID, Count: 2}},
			}
		}
	}
	t.Fatal("no cassette holds 10 notes; open must load one")
	return dispenser.DispenseRequest{}
}

// authorise fetches a fresh nonce and signs req as the host would.
func authorise(t *testing.T, h Harness, req dispenser.DispenseRequest) dispenser.DispenseRequest {
	t.Helper()
	nonce, err := h.Dev.Nonce(ctxT(t, wait))
	if err != nil {
		t.Fatalf("Nonce: %v", err)
	}
	req.Nonce = nonce
	req.Token = dispenser.SignToken(h.Key, tokenData(req))
	return req
}

func tokenData(req dispenser.DispenseRequest) dispenser.TokenData {
	return dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: req.Nonce}
}

// snapshot is what the far side can see of the cash.
type snapshot struct {
	counts map[int][2]int // cassette id -> count, dispensed
	taken  []dispenser.Notes
}

func snap(t *testing.T, h Harness) snapshot {
	t.Helper()
	s := snapshot{counts: map[int][2]int{}, taken: h.Taken()}
	for _, c := range cassettes(t, h) {
		s.counts[c.ID] = [2]int{c.Count, c.Dispensed}
	}
	return s
}

// unmoved checks that no note moved since before: counters, tray and
// customers' hands are as they were and nothing is stacked.
func unmoved(t *testing.T, h Harness, before snapshot, what string) {
	t.Helper()
	after := snap(t, h)
	for id, c := range before.counts {
		if after.counts[id] != c {
			t.Errorf("%s: cassette %d count/dispensed %v -> %v", what, id, c, after.counts[id])
		}
	}
	if tray := h.Tray(); len(tray) > 0 {
		t.Errorf("%s: tray holds %v", what, tray)
	}
	if !slices.Equal(after.taken, before.taken) {
		t.Errorf("%s: customers took %v, before %v", what, after.taken, before.taken)
	}
	if err := h.Dev.Present(ctxT(t, wait)); !errors.Is(err, dispenser.ErrNothingStack) {
		t.Errorf("%s: Present = %v, want ErrNothingStack (nothing may be stacked)", what, err)
	}
}

func total(ns []dispenser.Notes) int {
	n := 0
	for _, x := range ns {
		n += x.Count
	}
	return n
}

func sameNotes(a, b []dispenser.Notes) bool {
	key := func(ns []dispenser.Notes) map[int]int {
		m := map[int]int{}
		for _, n := range ns {
			m[n.Cassette] += n.Count
		}
		return m
	}
	ka, kb := key(a), key(b)
	if len(ka) != len(kb) {
		return false
	}
	for id, n := range ka {
		if kb[id] != n {
			return false
		}
	}
	return true
}

// dispense runs a valid dispense and checks it stacked exactly the mix.
func dispense(t *testing.T, h Harness, req dispenser.DispenseRequest) {
	t.Helper()
	res, err := h.Dev.Dispense(ctxT(t, wait), req)
	if err != nil {
		t.Fatalf("Dispense with a valid token: %v", err)
	}
	if !sameNotes(res.Dispensed, req.Mix) {
		t.Fatalf("Dispense stacked %v, want %v", res.Dispensed, req.Mix)
	}
}

func present(t *testing.T, h Harness) {
	t.Helper()
	if err := h.Dev.Present(ctxT(t, wait)); err != nil {
		t.Fatalf("Present: %v", err)
	}
}

func take(t *testing.T, h Harness) {
	t.Helper()
	if err := h.Take(ctxT(t, wait)); err != nil {
		t.Fatalf("Take: %v", err)
	}
}

func testIdentity(t *testing.T, h Harness) {
	if h.Dev.String() == "" {
		t.Error("String is empty")
	}
	if st := h.Dev.Status(); st.State != hal.Online || st.Fault != "" {
		t.Errorf("fresh Status = %v, want online without fault", st)
	}
	caps := h.Dev.Capabilities()
	if caps.MaxNotes <= 0 {
		t.Errorf("Capabilities().MaxNotes = %d", caps.MaxNotes)
	}
	if n := len(cassettes(t, h)); caps.Cassettes != n {
		t.Errorf("Capabilities().Cassettes = %d, Cassettes returns %d", caps.Cassettes, n)
	}
}

func testNoncesUnique(t *testing.T, h Harness) {
	seen := map[string]bool{}
	for i := range 1000 {
		n, err := h.Dev.Nonce(ctxT(t, wait))
		if err != nil {
			t.Fatalf("Nonce #%d: %v", i, err)
		}
		if len(n) < 8 {
			t.Fatalf("Nonce #%d is %d bytes", i, len(n))
		}
		if seen[string(n)] {
			t.Fatalf("Nonce #%d %x repeats", i, n)
		}
		seen[string(n)] = true
	}
}

func testNoncesSurviveReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("harness cannot reopen the device")
	}
	seen := map[string]bool{}
	collect := func(d dispenser.Dispenser, what string) {
		for i := range 50 {
			n, err := d.Nonce(ctxT(t, wait))
			if err != nil {
				t.Fatalf("%s: Nonce #%d: %v", what, i, err)
			}
			if seen[string(n)] {
				t.Fatalf("%s: Nonce #%d %x was issued before", what, i, n)
			}
			seen[string(n)] = true
		}
	}
	collect(h.Dev, "first instance")
	collect(h.Reopen(t), "reopened")
	collect(h.Reopen(t), "reopened again")
}

func testDispensePresentTake(t *testing.T, h Harness) {
	req := authorise(t, h, request(t, h, "T-CYCLE"))
	before := snap(t, h)
	dispense(t, h, req)
	after := snap(t, h)
	for _, n := range req.Mix {
		b, a := before.counts[n.Cassette], after.counts[n.Cassette]
		if a[0] != b[0]-n.Count || a[1] != b[1]+n.Count {
			t.Errorf("cassette %d count/dispensed %v -> %v, want -%d/+%d", n.Cassette, b, a, n.Count, n.Count)
		}
	}
	if tray := h.Tray(); len(tray) > 0 {
		t.Errorf("tray holds %v before Present; notes belong behind the shutter", tray)
	}
	present(t, h)
	if tray := h.Tray(); !sameNotes(tray, req.Mix) {
		t.Errorf("tray holds %v after Present, want %v", tray, req.Mix)
	}
	waited := make(chan error, 1)
	go func() { waited <- h.Dev.WaitTaken(ctxT(t, wait)) }()
	take(t, h)
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("WaitTaken: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("WaitTaken did not return after Take")
	}
	if got := h.Taken(); !sameNotes(got, req.Mix) {
		t.Errorf("customer took %v, want %v", got, req.Mix)
	}
	if tray := h.Tray(); len(tray) > 0 {
		t.Errorf("tray still holds %v", tray)
	}
}

func testTakenBeforeWait(t *testing.T, h Harness) {
	dispense(t, h, authorise(t, h, request(t, h, "T-EARLY")))
	present(t, h)
	take(t, h)
	if err := h.Dev.WaitTaken(ctxT(t, wait)); err != nil {
		t.Errorf("WaitTaken after the customer already took the notes = %v, want nil", err)
	}
}

func testRefusedWithoutValidToken(t *testing.T, h Harness) {
	otherKey := bytes.Repeat([]byte{0x5A}, 32)
	tests := []struct {
		name  string
		forge func(t *testing.T, req dispenser.DispenseRequest) dispenser.DispenseRequest
	}{
		{"no token", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			r.Token = nil
			return r
		}},
		{"no nonce", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			authorise(t, h, r)
			r.Token = dispenser.SignToken(h.Key, tokenData(r))
			return r
		}},
		{"token over another amount", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			d := tokenData(r)
			d.Amount /= 2
			r.Token = dispenser.SignToken(h.Key, d)
			return r
		}},
		{"token over another ATM", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			d := tokenData(r)
			d.ATM += "X"
			r.Token = dispenser.SignToken(h.Key, d)
			return r
		}},
		{"request and token for another ATM", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			r.ATM += "X"
			r.Token = dispenser.SignToken(h.Key, tokenData(r))
			return r
		}},
		{"token over another transaction", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			d := tokenData(r)
			d.Txn += "X"
			r.Token = dispenser.SignToken(h.Key, d)
			return r
		}},
		{"token over another currency", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			d := tokenData(r)
			d.Currency = "XXX"
			r.Token = dispenser.SignToken(h.Key, d)
			return r
		}},
		{"token under another key", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			r.Token = dispenser.SignToken(otherKey, tokenData(r))
			return r
		}},
		{"token with a flipped bit", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			r.Token[len(r.Token)/2] ^= 0x10
			return r
		}},
		{"truncated token", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			r.Token = r.Token[:len(r.Token)-1]
			return r
		}},
		{"nonce the dispenser did not issue", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			r.Nonce = bytes.Clone(r.Nonce)
			r.Nonce[len(r.Nonce)-1] ^= 0x01
			r.Token = dispenser.SignToken(h.Key, tokenData(r))
			return r
		}},
		{"nonce voided by a newer one", func(t *testing.T, r dispenser.DispenseRequest) dispenser.DispenseRequest {
			r = authorise(t, h, r)
			if _, err := h.Dev.Nonce(ctxT(t, wait)); err != nil {
				t.Fatalf("Nonce: %v", err)
			}
			return r
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.forge(t, request(t, h, fmt.Sprintf("T-FORGE-%02d", i)))
			before := snap(t, h)
			res, err := h.Dev.Dispense(ctxT(t, wait), req)
			if !errors.Is(err, dispenser.ErrBadToken) {
				t.Errorf("Dispense = %v, %v; want ErrBadToken", res, err)
			}
			if len(res.Dispensed) > 0 {
				t.Errorf("refused Dispense reports %v dispensed", res.Dispensed)
			}
			unmoved(t, h, before, tc.name)
		})
	}
}

func testNonceSingleUse(t *testing.T, h Harness) {
	t.Run("replay", func(t *testing.T) {
		req := authorise(t, h, request(t, h, "T-REPLAY"))
		dispense(t, h, req)
		present(t, h)
		take(t, h)
		if err := h.Dev.WaitTaken(ctxT(t, wait)); err != nil {
			t.Fatalf("WaitTaken: %v", err)
		}
		before := snap(t, h)
		if _, err := h.Dev.Dispense(ctxT(t, wait), req); !errors.Is(err, dispenser.ErrBadToken) {
			t.Errorf("replayed Dispense = %v, want ErrBadToken", err)
		}
		unmoved(t, h, before, "replay")
	})
	t.Run("burnt by a failed attempt", func(t *testing.T) {
		req := authorise(t, h, request(t, h, "T-BURNT"))
		bad := req
		bad.Token = slices.Clone(req.Token)
		bad.Token[0] ^= 0x80
		before := snap(t, h)
		if _, err := h.Dev.Dispense(ctxT(t, wait), bad); !errors.Is(err, dispenser.ErrBadToken) {
			t.Fatalf("Dispense with a bad token = %v, want ErrBadToken", err)
		}
		if _, err := h.Dev.Dispense(ctxT(t, wait), req); !errors.Is(err, dispenser.ErrBadToken) {
			t.Errorf("Dispense with the right token after a failed attempt = %v, want ErrBadToken", err)
		}
		unmoved(t, h, before, "burnt nonce")
	})
}

func testInvalidMix(t *testing.T, h Harness) {
	base := request(t, h, "T-MIX")
	id := base.Mix[0].Cassette
	var count int
	for _, c := range cassettes(t, h) {
		if c.ID == id {
			count = c.Count
		}
	}
	denom := base.Amount / 2
	type mixCase struct {
		name string
		edit func(r *dispenser.DispenseRequest)
	}
	tests := []mixCase{
		{"more notes than the cassette holds", func(r *dispenser.DispenseRequest) {
			r.Mix = []dispenser.Notes{{Cassette: id, Count: count + 1}}
			r.Amount = int64(count+1) * denom
		}},
		{"mix does not add up", func(r *dispenser.DispenseRequest) { r.Amount += denom }},
		{"unknown cassette", func(r *dispenser.DispenseRequest) { r.Mix = []dispenser.Notes{{Cassette: 9999, Count: 2}} }},
		{"zero notes", func(r *dispenser.DispenseRequest) { r.Mix = []dispenser.Notes{{Cassette: id, Count: 0}}; r.Amount = 0 }},
		{"negative notes", func(r *dispenser.DispenseRequest) {
			r.Mix = []dispenser.Notes{{Cassette: id, Count: -2}}
			r.Amount = -2 * denom
		}},
		{"empty mix", func(r *dispenser.DispenseRequest) { r.Mix = nil }},
		{"other currency", func(r *dispenser.DispenseRequest) { r.Currency = "XXX" }},
	}
	if most := h.Dev.Capabilities().MaxNotes; count > most {
		tests = append(tests, mixCase{"more notes than Capabilities().MaxNotes", func(r *dispenser.DispenseRequest) {
			r.Mix = []dispenser.Notes{{Cassette: id, Count: most + 1}}
			r.Amount = int64(most+1) * denom
		}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := base
			tc.edit(&req)
			req = authorise(t, h, req) // a valid token: only the mix is wrong
			before := snap(t, h)
			if _, err := h.Dev.Dispense(ctxT(t, wait), req); !errors.Is(err, hal.ErrInvalid) {
				t.Errorf("Dispense = %v, want ErrInvalid", err)
			}
			unmoved(t, h, before, tc.name)
		})
	}
}

func testNothingStacked(t *testing.T, h Harness) {
	if err := h.Dev.Present(ctxT(t, wait)); !errors.Is(err, dispenser.ErrNothingStack) {
		t.Errorf("Present = %v, want ErrNothingStack", err)
	}
	if err := h.Dev.WaitTaken(ctxT(t, wait)); !errors.Is(err, dispenser.ErrNothingStack) {
		t.Errorf("WaitTaken = %v, want ErrNothingStack", err)
	}
	if h.Dev.Capabilities().Retract {
		if n, err := h.Dev.Retract(ctxT(t, wait)); !errors.Is(err, dispenser.ErrNothingStack) {
			t.Errorf("Retract = %d, %v; want ErrNothingStack", n, err)
		}
	}
}

func testRetract(t *testing.T, h Harness) {
	if !h.Dev.Capabilities().Retract {
		t.Skip("no retract")
	}
	for _, presented := range []bool{false, true} {
		req := authorise(t, h, request(t, h, fmt.Sprintf("T-RETRACT-%v", presented)))
		dispense(t, h, req)
		if presented {
			present(t, h)
		}
		n, err := h.Dev.Retract(ctxT(t, wait))
		if err != nil || n != total(req.Mix) {
			t.Errorf("Retract (presented %v) = %d, %v; want %d", presented, n, err, total(req.Mix))
		}
		if tray := h.Tray(); len(tray) > 0 {
			t.Errorf("tray holds %v after Retract", tray)
		}
		if err := h.Dev.Present(ctxT(t, wait)); !errors.Is(err, dispenser.ErrNothingStack) {
			t.Errorf("Present after Retract = %v, want ErrNothingStack", err)
		}
	}
	if got := h.Taken(); len(got) > 0 {
		t.Errorf("customers took %v of retracted notes", got)
	}
}

func testEndedContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Dev.Nonce(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Nonce = %v, want Canceled", err)
	}
	if _, err := h.Dev.Cassettes(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Cassettes = %v, want Canceled", err)
	}
	req := authorise(t, h, request(t, h, "T-CTX"))
	before := snap(t, h)
	if _, err := h.Dev.Dispense(ctx, req); !errors.Is(err, context.Canceled) {
		t.Errorf("Dispense = %v, want Canceled", err)
	}
	unmoved(t, h, before, "cancelled Dispense")

	dispense(t, h, authorise(t, h, request(t, h, "T-CTX-2")))
	if err := h.Dev.Present(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Present = %v, want Canceled", err)
	}
	if tray := h.Tray(); len(tray) > 0 {
		t.Errorf("cancelled Present presented %v", tray)
	}
	if _, err := h.Dev.Retract(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Retract = %v, want Canceled", err)
	}
	present(t, h)
	start := time.Now()
	if err := h.Dev.WaitTaken(ctxT(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitTaken with nobody taking = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("WaitTaken took %v to notice its deadline", d)
	}
	if tray := h.Tray(); total(tray) != 2 {
		t.Errorf("tray holds %v after WaitTaken gave up; the notes must stay", tray)
	}
}

func testHalt(t *testing.T, h Harness) {
	for i := range 2 {
		if err := h.Dev.Halt(ctxT(t, wait)); err != nil {
			t.Fatalf("Halt #%d on an idle dispenser: %v", i+1, err)
		}
	}
	req := authorise(t, h, request(t, h, "T-HALT"))
	dispense(t, h, req)
	present(t, h)
	for i := range 2 {
		if err := h.Dev.Halt(ctxT(t, wait)); err != nil {
			t.Fatalf("Halt #%d with notes presented: %v", i+1, err)
		}
		if tray := h.Tray(); len(tray) > 0 {
			t.Errorf("after Halt #%d the tray still holds %v; Halt closes the shutter", i+1, tray)
		}
	}
	if got := h.Taken(); len(got) > 0 {
		t.Errorf("customers took %v", got)
	}
	if st := h.Dev.Status(); !st.State.Usable() {
		t.Errorf("Status after Halt = %v", st)
	}
	if h.Dev.Capabilities().Retract {
		if n, err := h.Dev.Retract(ctxT(t, wait)); err != nil || n != total(req.Mix) {
			t.Errorf("Retract after Halt = %d, %v; want the %d notes Halt kept", n, err, total(req.Mix))
		}
	}
}

// tester returns the device's test dispense, or skips.
func tester(t *testing.T, h Harness) dispenser.Tester {
	t.Helper()
	ts, ok := h.Dev.(dispenser.Tester)
	if !ok {
		t.Skip("the dispenser has no test dispense")
	}
	return ts
}

// A test dispense moves notes from a cassette into the reject bin and
// nothing towards the customer, without a token.
func testTestDispense(t *testing.T, h Harness) {
	ts := tester(t, h)
	req := request(t, h, "")
	before := cassettes(t, h)
	res, err := ts.TestDispense(ctxT(t, wait), req.Mix)
	if err != nil {
		t.Fatalf("TestDispense %v: %v", req.Mix, err)
	}
	if !sameNotes(res.Dispensed, req.Mix) || res.Rejected != total(req.Mix) {
		t.Errorf("TestDispense = %+v, want %v picked and all rejected", res, req.Mix)
	}
	after := cassettes(t, h)
	for i, c := range before {
		want := c
		if c.ID == req.Mix[0].Cassette {
			want.Count -= req.Mix[0].Count
			want.Rejected += req.Mix[0].Count
		}
		got := after[i]
		if got.Count != want.Count || got.Rejected != want.Rejected || got.Dispensed != want.Dispensed {
			t.Errorf("cassette %d after a test dispense: count/rejected/dispensed %d/%d/%d, want %d/%d/%d",
				c.ID, got.Count, got.Rejected, got.Dispensed, want.Count, want.Rejected, want.Dispensed)
		}
	}
	if tray := h.Tray(); len(tray) > 0 {
		t.Errorf("the tray holds %v after a test dispense", tray)
	}
	if err := h.Dev.Present(ctxT(t, wait)); !errors.Is(err, dispenser.ErrNothingStack) {
		t.Errorf("Present after a test dispense = %v, want ErrNothingStack", err)
	}
	if got := h.Taken(); len(got) > 0 {
		t.Errorf("customers took %v", got)
	}
	if rc, ok := h.Dev.(dispenser.RetractCounter); ok {
		if _, err := rc.RetractCount(ctxT(t, wait)); err != nil {
			t.Errorf("RetractCount: %v", err)
		}
	}
}

// A test dispense the cassettes cannot make moves nothing.
func testTestDispenseInvalid(t *testing.T, h Harness) {
	ts := tester(t, h)
	cs := cassettes(t, h)
	before := snap(t, h)
	for _, mix := range [][]dispenser.Notes{
		nil,
		{{Cassette: cs[0].ID, Count: 0}},
		{{Cassette: cs[0].ID, Count: cs[0].Count + 1}},
		{{Cassette: 999, Count: 1}},
		{{Cassette: cs[0].ID, Count: 1}, {Cassette: cs[0].ID, Count: 1}},
	} {
		if _, err := ts.TestDispense(ctxT(t, wait), mix); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("TestDispense(%v) = %v, want hal.ErrInvalid", mix, err)
		}
	}
	unmoved(t, h, before, "invalid test dispenses")
}

// Load replaces the cassettes and starts their counters again.
func testLoad(t *testing.T, h Harness) {
	l, ok := h.Dev.(dispenser.Loader)
	if !ok {
		t.Skip("the dispenser cannot be loaded")
	}
	cs := cassettes(t, h)
	load := make([]dispenser.Cassette, len(cs))
	for i, c := range cs {
		load[i] = dispenser.Cassette{ID: c.ID, Denomination: c.Denomination, Currency: c.Currency, Count: 50 + i, Low: 5}
	}
	if err := l.Load(ctxT(t, wait), load); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for i, c := range cassettes(t, h) {
		if c.Count != 50+i || c.Initial != 50+i || c.Dispensed != 0 || c.Rejected != 0 || c.Low != 5 || c.Status != dispenser.CassetteOK {
			t.Errorf("cassette %d after Load: %+v", c.ID, c)
		}
	}
	// A dispense after the load counts from there.
	req := authorise(t, h, request(t, h, "T-LOAD"))
	dispense(t, h, req)
	present(t, h)
	if err := h.Take(ctxT(t, wait)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cassettes(t, h) {
		if c.ID == req.Mix[0].Cassette && (c.Dispensed != 2 || c.Count != c.Initial-2) {
			t.Errorf("cassette %d after a dispense: %+v", c.ID, c)
		}
	}
}
