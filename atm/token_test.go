package atm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/devsim"
)

// Dispense-token attacks (DESIGN.md §4, §5): a dispense command without
// a token, with a replayed token, with a token for a larger amount, with
// a token issued before the dispenser restarted, or with a flipped bit
// moves no note, and every attempt is journaled.
//
// The runner tests play a host that answers the 0200 with a crafted
// token; the dispenser tests present crafted requests to
// devsim.Dispenser directly. "No note moved" means: nothing in the tray,
// nothing taken, nothing stacked, and the cassette counters (count,
// dispensed) and the retract bin as they were.

// restartableDispenser is the runner's dispenser: a devsim.Dispenser
// with a state file that the test can restart (a new simulator on the
// same file, as after a power cycle) between two commands. It counts
// Dispense calls.
type restartableDispenser struct {
	path string

	mu        sync.Mutex
	d         *devsim.Dispenser
	dispenses int
}

var _ dispenser.Dispenser = (*restartableDispenser)(nil)

func newRestartableDispenser(t *testing.T, dir string) *restartableDispenser {
	t.Helper()
	r := &restartableDispenser{path: filepath.Join(dir, "dispenser.json")}
	if err := r.restart(); err != nil {
		t.Fatal(err)
	}
	return r
}

// restart replaces the simulator with a new one on the same state file,
// loaded with the same dispense key: the nonce counter and the counters
// survive, an outstanding nonce does not.
func (r *restartableDispenser) restart() error {
	o := devsim.DefaultDispenserOptions
	o.ATM, o.Key, o.StateFile = rigATM, rigDispenseKey, r.path
	d, err := devsim.NewDispenser(o)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.d = d
	r.mu.Unlock()
	return nil
}

func (r *restartableDispenser) dev() *devsim.Dispenser {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d
}

func (r *restartableDispenser) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dispenses
}

func (r *restartableDispenser) String() string                       { return r.dev().String() }
func (r *restartableDispenser) Status() hal.Status                   { return r.dev().Status() }
func (r *restartableDispenser) Halt(ctx context.Context) error       { return r.dev().Halt(ctx) }
func (r *restartableDispenser) Capabilities() dispenser.Capabilities { return r.dev().Capabilities() }
func (r *restartableDispenser) Present(ctx context.Context) error    { return r.dev().Present(ctx) }
func (r *restartableDispenser) WaitTaken(ctx context.Context) error  { return r.dev().WaitTaken(ctx) }
func (r *restartableDispenser) Retract(ctx context.Context) (int, error) {
	return r.dev().Retract(ctx)
}
func (r *restartableDispenser) Nonce(ctx context.Context) ([]byte, error) {
	return r.dev().Nonce(ctx)
}
func (r *restartableDispenser) Cassettes(ctx context.Context) ([]dispenser.Cassette, error) {
	return r.dev().Cassettes(ctx)
}
func (r *restartableDispenser) Dispense(ctx context.Context, req dispenser.DispenseRequest) (dispenser.Result, error) {
	r.mu.Lock()
	r.dispenses++
	d := r.d
	r.mu.Unlock()
	return d.Dispense(ctx, req)
}

// cashState is where every note of a dispenser is.
type cashState struct {
	counters   []dispenser.Cassette
	retractBin int
	tray       []dispenser.Notes
	taken      []dispenser.Notes
	stacked    string
}

func cashOf(d *devsim.Dispenser) cashState {
	return cashState{counters: d.Counters(), retractBin: d.RetractBin(), tray: d.Tray(), taken: d.Taken(),
		stacked: d.Status().Extra["notes.stacked"]}
}

// assertNoNoteMoved fails unless d's notes are where they were.
func assertNoNoteMoved(t *testing.T, before cashState, d *devsim.Dispenser) {
	t.Helper()
	now := cashOf(d)
	if len(now.tray) != 0 {
		t.Errorf("notes in the tray: %v", now.tray)
	}
	if len(now.taken) != len(before.taken) {
		t.Errorf("notes taken: %v, before %v", now.taken, before.taken)
	}
	if now.stacked != "" {
		t.Errorf("notes stacked: %s", now.stacked)
	}
	if now.retractBin != before.retractBin {
		t.Errorf("retract bin %d, before %d", now.retractBin, before.retractBin)
	}
	for i, c := range now.counters {
		b := before.counters[i]
		if c.Count != b.Count || c.Dispensed != b.Dispensed {
			t.Errorf("cassette %d: count %d dispensed %d, before count %d dispensed %d", c.ID, c.Count, c.Dispensed, b.Count, b.Dispensed)
		}
	}
}

// goodToken is the token the host would sign for request m.
func goodToken(t *testing.T, m *hostlink.Message) []byte {
	t.Helper()
	return dispenser.SignToken(rigDispenseKey, tokenData(t, m))
}

// tokenData is what a token for request m binds: this ATM, the STAN,
// the amount, TWD and the nonce from field 48.
func tokenData(t *testing.T, m *hostlink.Message) dispenser.TokenData {
	t.Helper()
	tl, err := hostlink.ParseTLV(m.Private)
	if err != nil {
		t.Fatalf("0200 field 48: %v", err)
	}
	nc, ok := tl.Get(hostlink.TagNonce)
	if !ok {
		t.Fatal("0200 without a nonce")
	}
	nonce, err := hex.DecodeString(nc)
	if err != nil {
		t.Fatal(err)
	}
	return dispenser.TokenData{ATM: rigATM, Txn: m.STAN, Amount: m.Amount, Currency: "TWD", Nonce: nonce}
}

// approvalWith answers a 0200 with 00 and, unless tok is nil, tok as the
// dispense token.
func approvalWith(m *hostlink.Message, tok []byte) (*hostlink.Message, error) {
	resp, err := approval(m, false)
	if err != nil || tok == nil {
		return resp, err
	}
	var out hostlink.TLV
	out.Set(hostlink.TagToken, hex.EncodeToString(tok))
	resp.Private, err = out.Encode()
	return resp, err
}

func flipBit(tok []byte, bit int) []byte {
	out := slices.Clone(tok)
	out[bit/8] ^= 1 << (bit % 8)
	return out
}

// Through the runner: the host approves every withdrawal, but with a
// token the dispenser must refuse. Each attempt: one dispense command,
// refused with dispenser.ErrBadToken; no note moves; a DISPENSE-FAULT
// record names the refusal; the approval is reversed (0420, misdispense)
// until the host acknowledges; the customer gets the card back.
func TestRunnerRefusedTokensReleaseNoCash(t *testing.T) {
	for _, tc := range []struct {
		name string
		// good: make one good withdrawal first, and keep its token.
		good bool
		// token returns the token for the 0200 m (the good one is given,
		// and the previous withdrawal's when good is set).
		token func(t *testing.T, d *restartableDispenser, m *hostlink.Message, good, previous []byte) []byte
	}{
		{name: "replayed token", good: true, token: func(_ *testing.T, _ *restartableDispenser, _ *hostlink.Message, _, previous []byte) []byte {
			return previous // signed for the last withdrawal: its STAN and its nonce
		}},
		{name: "token for a larger amount", token: func(t *testing.T, _ *restartableDispenser, m *hostlink.Message, _, _ []byte) []byte {
			td := tokenData(t, m)
			td.Amount += 100000
			return dispenser.SignToken(rigDispenseKey, td)
		}},
		{name: "token issued before a restart", token: func(t *testing.T, d *restartableDispenser, _ *hostlink.Message, good, _ []byte) []byte {
			// Good for the nonce the request carries — but the dispenser
			// restarts before the dispense, and its nonce with it.
			if err := d.restart(); err != nil {
				t.Error(err)
			}
			return good
		}},
		{name: "flipped bit", token: func(_ *testing.T, _ *restartableDispenser, _ *hostlink.Message, good, _ []byte) []byte {
			return flipBit(good, 77)
		}},
		{name: "truncated token", token: func(_ *testing.T, _ *restartableDispenser, _ *hostlink.Message, good, _ []byte) []byte {
			return good[:len(good)/2]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disp := newRestartableDispenser(t, dir)
			link := newFakeLink()
			var mu sync.Mutex
			var previous []byte
			attack := false
			link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
				if m.MTI != hostlink.MTIFinRequest {
					return goodHost(ctx, m)
				}
				good := goodToken(t, m)
				mu.Lock()
				defer mu.Unlock()
				if !attack {
					previous = good
					return approvalWith(m, good)
				}
				return approvalWith(m, tc.token(t, disp, m, good, previous))
			})
			g := newRig(t, rigOptions{dir: dir, link: link, dispenser: func(*rig, *devsim.Dispenser) dispenser.Dispenser { return disp }})
			g.waitScreen("welcome")
			if tc.good {
				g.toAmount(true)
				g.waitScreen("take-card-cash")
				g.takeCard()
				g.waitScreen("take-cash")
				if err := disp.dev().Take(g.ctx()); err != nil {
					t.Fatalf("take cash: %v", err)
				}
				g.waitScreen("goodbye")
				g.advance(flows.DefaultTimeouts.Message)
				g.waitScreen("welcome")
			}
			mu.Lock()
			attack = true
			mu.Unlock()
			before := cashOf(disp.dev())
			calls := disp.calls()

			g.toAmount(true)
			g.waitScreen("unable-to-dispense")
			g.cardReturned()
			g.eventually("the reversal to be acknowledged", func() bool { return len(g.records("REVERSAL-ACKED")) == 1 })
			if err := g.stop(); err != nil {
				t.Fatal(err)
			}

			if n := disp.calls() - calls; n != 1 {
				t.Errorf("%d dispense commands, want 1 (refused)", n)
			}
			assertNoNoteMoved(t, before, disp.dev())
			txn := g.records("TXN-REQUEST")
			id := txn[len(txn)-1].Fields["txn"]
			faults := recordsFor(g, "DISPENSE-FAULT", id)
			if len(faults) != 1 {
				t.Fatalf("DISPENSE-FAULT records for %s: %v, want 1", id, faults)
			}
			if f := faults[0].Fields; f["error"] != dispenser.ErrBadToken.Error() || f["dispensed"] != "0" {
				t.Errorf("DISPENSE-FAULT %v: want error %q, dispensed 0", f, dispenser.ErrBadToken)
			}
			if q := recordsFor(g, "REVERSAL-QUEUED", id); len(q) != 1 || q[0].Fields["reason"] != "dispense-fault" || q[0].Fields["dispensed"] != "0" {
				t.Errorf("REVERSAL-QUEUED for %s: %v, want one, reason dispense-fault, dispensed 0", id, q)
			}
			if taken := recordsFor(g, "CASH-TAKEN", id); len(taken) != 0 {
				t.Errorf("CASH-TAKEN for the refused withdrawal: %v", taken)
			}
			rev := link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat)
			if len(rev) != 1 {
				t.Fatalf("%d reversal advices, want 1", len(rev))
			}
			if tl, err := hostlink.ParseTLV(rev[0].Private); err != nil {
				t.Error(err)
			} else if rr, _ := tl.Get(hostlink.TagReason); rr != hostlink.ReasonMisdispense {
				t.Errorf("reversal reason %q, want %q (nothing dispensed)", rr, hostlink.ReasonMisdispense)
			}
		})
	}
}

// An approval without any token never reaches the dispenser: the runner
// takes it as a decline that must be reversed (atm/hostmap.go), journals
// the reply and the reversal, and moves no note.
func TestRunnerApprovalWithoutTokenNeverDispenses(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  []byte // nil: no DT tag at all
	}{
		{name: "no token tag"},
		{name: "empty token", tok: []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disp := newRestartableDispenser(t, dir)
			link := newFakeLink()
			link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
				if m.MTI == hostlink.MTIFinRequest {
					return approvalWith(m, tc.tok)
				}
				return goodHost(ctx, m)
			})
			g := newRig(t, rigOptions{dir: dir, link: link, dispenser: func(*rig, *devsim.Dispenser) dispenser.Dispenser { return disp }})
			g.waitScreen("welcome")
			before := cashOf(disp.dev())
			g.toAmount(true)
			g.waitScreen("declined")
			g.cardReturned()
			g.eventually("the reversal to be acknowledged", func() bool { return len(g.records("REVERSAL-ACKED")) == 1 })
			if err := g.stop(); err != nil {
				t.Fatal(err)
			}
			if n := disp.calls(); n != 0 {
				t.Errorf("%d dispense commands for an approval without a token", n)
			}
			assertNoNoteMoved(t, before, disp.dev())
			id := g.records("TXN-REQUEST")[0].Fields["txn"]
			if r := recordsFor(g, "TXN-REPLY", id); len(r) != 1 || r[0].Fields["outcome"] != "declined" {
				t.Errorf("TXN-REPLY %v, want one, outcome declined", r)
			}
			if q := recordsFor(g, "REVERSAL-QUEUED", id); len(q) != 1 || q[0].Fields["reason"] != "unusable-approval" {
				t.Errorf("REVERSAL-QUEUED %v, want one, reason unusable-approval", q)
			}
			if n := len(recordsFor(g, "DISPENSE-INTENT", id)); n != 0 {
				t.Errorf("%d DISPENSE-INTENT records", n)
			}
		})
	}
}

func recordsFor(g *rig, kind, txn string) []journal.Record {
	return g.j.Records(func(r journal.Record) bool { return r.Kind == kind && r.Fields["txn"] == txn })
}

// Straight to the dispenser: every crafted request is refused with
// dispenser.ErrBadToken and moves no note, whatever the token binds
// wrongly; the genuine request after them works.
func TestDispenserRefusesBadTokens(t *testing.T) {
	ctx := context.Background()
	newDisp := func(t *testing.T, path string) *devsim.Dispenser {
		t.Helper()
		o := devsim.DefaultDispenserOptions
		o.ATM, o.Key, o.StateFile = rigATM, rigDispenseKey, path
		d, err := devsim.NewDispenser(o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// genuine is the request the host would authorise, with a fresh
	// nonce from d.
	genuine := func(t *testing.T, d *devsim.Dispenser) dispenser.DispenseRequest {
		t.Helper()
		nonce, err := d.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := dispenser.DispenseRequest{ATM: rigATM, Txn: "000042", Amount: 200000, Currency: "TWD",
			Mix: []dispenser.Notes{{Cassette: 1, Count: 2}}, Nonce: nonce}
		r.Token = dispenser.SignToken(rigDispenseKey, data(r))
		return r
	}
	resign := func(r dispenser.DispenseRequest, td dispenser.TokenData) dispenser.DispenseRequest {
		r.Token = dispenser.SignToken(rigDispenseKey, td)
		return r
	}
	// Each attempt crafts a request for d, or for the dispenser it
	// returns instead.
	type attempt struct {
		name  string
		craft func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest)
	}
	attempts := []attempt{
		{"no token", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			r.Token = nil
			return d, r
		}},
		{"no nonce outstanding", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			d.Dispense(ctx, dispenser.DispenseRequest{}) // refused, but it consumes the nonce
			return d, r
		}},
		{"replayed token, same nonce", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			if _, err := d.Dispense(ctx, r); err != nil {
				t.Fatalf("the genuine dispense: %v", err)
			}
			if err := d.Present(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.Take(ctx); err != nil {
				t.Fatal(err)
			}
			return d, r // the same request again
		}},
		{"replayed token, fresh nonce", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			old := genuine(t, d)
			r := genuine(t, d)
			r.Token = old.Token
			return d, r
		}},
		{"token for a larger amount", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			td := data(r)
			td.Amount *= 10
			return d, resign(r, td)
		}},
		{"request larger than its token", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			r.Amount, r.Mix = 500000, []dispenser.Notes{{Cassette: 1, Count: 5}}
			return d, r
		}},
		{"token for another ATM", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			r.ATM = "ATM00002"
			return d, resign(r, data(r))
		}},
		{"token for another transaction", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			td := data(r)
			td.Txn = "000043"
			return d, resign(r, td)
		}},
		{"token for another currency", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			td := data(r)
			td.Currency = "USD"
			return d, resign(r, td)
		}},
		{"token under another key", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			r.Token = dispenser.SignToken([]byte("not the dispense key"), data(r))
			return d, r
		}},
		{"token issued before a restart", func(t *testing.T, _ *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			path := filepath.Join(t.TempDir(), "dispenser.json")
			r := genuine(t, newDisp(t, path)) // the host signs over this nonce...
			return newDisp(t, path), r        // ...and the dispenser restarts before the dispense
		}},
		{"truncated token", func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			r.Token = r.Token[:16]
			return d, r
		}},
	}
	for bit := range 256 { // every bit of the 32-byte token
		attempts = append(attempts, attempt{fmt.Sprintf("flipped bit %d", bit), func(t *testing.T, d *devsim.Dispenser) (*devsim.Dispenser, dispenser.DispenseRequest) {
			r := genuine(t, d)
			r.Token = flipBit(r.Token, bit)
			return d, r
		}})
	}
	d := newDisp(t, "") // in memory: the state file is the restart attempt's own
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			dd, r := a.craft(t, d)
			before := cashOf(dd)
			res, err := dd.Dispense(ctx, r)
			if !errors.Is(err, dispenser.ErrBadToken) {
				t.Fatalf("Dispense = %v, want ErrBadToken", err)
			}
			if len(res.Dispensed) != 0 {
				t.Errorf("result says %v dispensed", res.Dispensed)
			}
			assertNoNoteMoved(t, before, dd)
			if err := dd.Present(ctx); !errors.Is(err, dispenser.ErrNothingStack) {
				t.Errorf("Present after the refusal = %v, want ErrNothingStack", err)
			}
		})
	}
	// The genuine request still works on the same dispenser.
	before := cashOf(d)
	if _, err := d.Dispense(ctx, genuine(t, d)); err != nil {
		t.Fatalf("genuine dispense: %v", err)
	}
	if got := d.Counters()[0].Dispensed - before.counters[0].Dispensed; got != 2 {
		t.Errorf("genuine dispense picked %d notes, want 2", got)
	}
}

func data(r dispenser.DispenseRequest) dispenser.TokenData {
	return dispenser.TokenData{ATM: r.ATM, Txn: r.Txn, Amount: r.Amount, Currency: r.Currency, Nonce: r.Nonce}
}
