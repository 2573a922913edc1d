package atm

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/saf"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/devsim"
)

// recoveryRig is a journal written up to some point of a withdrawal, as
// a crash would leave it, and a dispenser in the matching state.
type recoveryRig struct {
	t   *testing.T
	j   *journal.Journal
	q   *saf.Queue
	dsp *devsim.Dispenser
}

var recKey = []byte("recovery-dispense-key-0123456789")

func newRecoveryRig(t *testing.T) *recoveryRig {
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "journal.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := saf.Open(filepath.Join(dir, "saf.jsonl"), saf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := devsim.DefaultDispenserOptions
	opts.ATM, opts.Key, opts.StateFile = "ATM00001", recKey, filepath.Join(dir, "dispenser.json")
	dsp, err := devsim.NewDispenser(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(); j.Close() })
	return &recoveryRig{t: t, j: j, q: q, dsp: dsp}
}

func (g *recoveryRig) write(kind string, kv ...string) {
	f := map[string]string{"txn": "S1-1"}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	if _, err := g.j.Append(kind, "S1", f); err != nil {
		g.t.Fatal(err)
	}
}

// upTo writes the withdrawal's journal records up to and including step.
func (g *recoveryRig) upTo(step string) {
	steps := []struct {
		kind string
		kv   []string
	}{
		{"TXN-REQUEST", []string{"kind", "withdrawal", "amount", "100000"}},
		{"HOST-SEND", []string{"mti", "0200", "stan", "000042", "time", "1122090000", "proc", "010000", "currency", "901", "amount", "100000"}},
		{"TXN-REPLY", []string{"outcome", "approved", "rc", "00", "stan", "000042"}},
		{"DISPENSE-INTENT", []string{"stan", "000042", "amount", "100000", "mix", "1x1"}},
		{"DISPENSED", []string{"amount", "100000"}},
		{"CASH-PRESENTED", nil},
		{"CASH-TAKEN", nil},
	}
	for _, s := range steps {
		g.write(s.kind, s.kv...)
		if s.kind == step {
			return
		}
	}
	g.t.Fatalf("no step %s", step)
}

// dispense moves the dispenser to state as the runner would have.
func (g *recoveryRig) dispense(state dispenser.LastState) {
	ctx := context.Background()
	nonce, _ := g.dsp.Nonce(ctx)
	req := dispenser.DispenseRequest{ATM: "ATM00001", Txn: "000042", Amount: 100000, Currency: "TWD",
		Mix: []dispenser.Notes{{Cassette: 1, Count: 1}}, Nonce: nonce}
	req.Token = dispenser.SignToken(recKey, dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: "TWD", Nonce: nonce})
	if _, err := g.dsp.Dispense(ctx, req); err != nil {
		g.t.Fatal(err)
	}
	if state == dispenser.LastStacked {
		return
	}
	g.dsp.Present(ctx)
	if state == dispenser.LastTaken {
		g.dsp.Take(ctx)
	}
}

func (g *recoveryRig) recover() {
	rc := &recovery{j: g.j, q: g.q, disp: g.dsp, stan: &fixedSTAN{n: 500}, log: zerolog.Nop()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rc.run(ctx); err != nil {
		g.t.Fatal(err)
	}
}

type fixedSTAN struct{ n int }

func (s *fixedSTAN) NextSTAN() string { s.n++; return fmt.Sprintf("%06d", s.n) }

func TestRecoveryDecidesFromJournalAndDispenser(t *testing.T) {
	for _, tc := range []struct {
		name      string
		step      string
		dispenser dispenser.LastState // "" = never dispensed
		action    string              // RECOVERED action, "" = none
		reverse   bool
		retracted int
	}{
		{"killed before send", "TXN-REQUEST", "", "", false, 0},
		{"killed after send", "HOST-SEND", "", "reverse-no-reply", true, 0},
		{"killed after approval", "TXN-REPLY", "", "reverse-not-dispensed", true, 0},
		{"killed before the dispense command", "DISPENSE-INTENT", "", "reverse-not-dispensed", true, 0},
		{"killed mid-dispense", "DISPENSE-INTENT", dispenser.LastStacked, "reverse-retracted", true, 1},
		{"killed with cash presented", "CASH-PRESENTED", dispenser.LastPresented, "reverse-retracted", true, 1},
		{"killed after the customer took the cash", "CASH-PRESENTED", dispenser.LastTaken, "complete", false, 0},
		{"killed after cash taken was journaled", "CASH-TAKEN", dispenser.LastTaken, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRecoveryRig(t)
			if tc.dispenser != "" {
				g.dispense(tc.dispenser)
			}
			g.upTo(tc.step)
			g.recover()
			recs := g.j.Records(func(r journal.Record) bool { return r.Kind == "RECOVERED" })
			switch {
			case tc.action == "" && len(recs) != 0:
				t.Fatalf("recovered %v; nothing was open", recs)
			case tc.action != "" && (len(recs) != 1 || recs[0].Fields["action"] != tc.action):
				t.Fatalf("recovered %v, want action %s", recs, tc.action)
			}
			pending := g.q.Pending()
			if tc.reverse != (len(pending) == 1) {
				t.Fatalf("pending reversals %+v, want reversal=%v", pending, tc.reverse)
			}
			if tc.reverse {
				m := pending[0].Msg
				if m.MTI != hostlink.MTIReversal || m.Original[:20] != "02000000421122090000" || m.PAN != "" {
					t.Fatalf("reversal %+v", m)
				}
			}
			if got := g.dsp.RetractBin(); got != tc.retracted {
				t.Fatalf("retract bin %d, want %d", got, tc.retracted)
			}
			// A second recovery (a crash during the first) does nothing more.
			g.recover()
			if n := len(g.j.Records(func(r journal.Record) bool { return r.Kind == "RECOVERED" })); n != len(recs) {
				t.Fatalf("second recovery wrote %d RECOVERED records, first %d", n, len(recs))
			}
			if len(g.q.Pending()) != len(pending) {
				t.Fatal("second recovery queued again")
			}
		})
	}
}

// A control request whose handler panics gets an error answer; the
// daemon (and the next request) carry on.
func TestControlSurvivesAPanickingHandler(t *testing.T) {
	calls := 0
	h := func(ctx context.Context, req ControlRequest) ControlResponse {
		calls++
		if req.Cmd == "boom" {
			panic("driver bug")
		}
		return ControlResponse{OK: true}
	}
	if r := safeHandle(context.Background(), h, ControlRequest{Cmd: "boom"}, zerolog.Nop()); r.OK || r.Error == "" {
		t.Fatalf("panicking handler answered %+v", r)
	}
	if r := safeHandle(context.Background(), h, ControlRequest{Cmd: "status"}, zerolog.Nop()); !r.OK || calls != 2 {
		t.Fatalf("next request: %+v after %d calls", r, calls)
	}
}
