package cdm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/cdm"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/sim/wire"
	simcdm "github.com/atmd/atmd/sim/wire/cdm"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor waits, with a deadline, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

func waitOnline(t *testing.T, d *cdm.Dev) {
	t.Helper()
	waitFor(t, "the driver to see the device online", func() bool { return d.Status().State == hal.Online })
}

// wantFault checks that err is a *hal.Fault with code (and wraps is),
// and that Status reports state with that code.
func wantFault(t *testing.T, d *cdm.Dev, err error, code string, is error, state hal.State) {
	t.Helper()
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != code {
		t.Fatalf("error = %v, want a *hal.Fault %s", err, code)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error = %v, want it to wrap %v", err, is)
	}
	if st := d.Status(); st.State != state || st.Fault != code {
		t.Errorf("Status = %v, want %v %s", st, state, code)
	}
}

func quickRig(t *testing.T) *rig {
	t.Helper()
	return newRig(t, simOptions(filepath.Join(stateDir(t), "cdm.json")), fastOptions())
}

// authorise gets a nonce and signs a request for mix as the host would.
func authorise(t *testing.T, r *rig, txn string, mix ...dispenser.Notes) dispenser.DispenseRequest {
	t.Helper()
	nonce, err := r.dev.Nonce(ctxT(t))
	if err != nil {
		t.Fatalf("Nonce: %v", err)
	}
	q := dispenser.DispenseRequest{ATM: simcdm.DefaultOptions.ATM, Txn: txn, Currency: "TWD", Mix: mix, Nonce: nonce}
	q.Amount = dispenser.MixAmount(mix, r.sim.Counters())
	q.Token = dispenser.SignToken(testKey, dispenser.TokenData{ATM: q.ATM, Txn: txn, Amount: q.Amount, Currency: "TWD", Nonce: nonce})
	return q
}

// dispensed returns how many notes left each cassette, by the device's
// own counters.
func dispensed(r *rig) []int {
	var out []int
	for _, c := range r.sim.Counters() {
		out = append(out, c.Dispensed)
	}
	return out
}

func TestDamagedFramesAreRetried(t *testing.T) {
	r := quickRig(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		arm  func()
	}{
		{"garbled response", func() { r.sim.GarbleNext(1) }},
		{"garbled twice", func() { r.sim.GarbleNext(2) }},
		{"truncated response", func() { r.sim.TruncateNext(1) }},
		{"noise on the line", func() { r.sim.SendRaw([]byte{0x00, 0x02, 0x07, 0xFF, 0x15, 0x06, 0x41}) }},
		{"command NAKed twice", func() { r.sim.NakNext(2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.arm()
			if _, err := r.dev.Nonce(ctx); err != nil {
				t.Fatalf("Nonce: %v", err)
			}
			if _, err := r.dev.Cassettes(ctx); err != nil {
				t.Fatalf("Cassettes: %v", err)
			}
			if st := r.dev.Status(); st.State != hal.Online {
				t.Errorf("Status = %v", st)
			}
		})
	}
}

// Each line fault gives a typed error and an Offline status with its
// code; when the line is good again the driver recovers by itself.
func TestLineFaultsAndRecovery(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(s *simcdm.Sim)
		mend  func(s *simcdm.Sim)
		code  string
		is    error
	}{
		{"bad CRC on every frame", func(s *simcdm.Sim) { s.GarbleNext(1000) }, func(s *simcdm.Sim) { s.GarbleNext(0) }, cdm.FaultProtocol, cdm.ErrProtocol},
		{"every frame truncated", func(s *simcdm.Sim) { s.TruncateNext(1000) }, func(s *simcdm.Sim) { s.TruncateNext(0) }, cdm.FaultProtocol, cdm.ErrProtocol},
		{"commands NAKed", func(s *simcdm.Sim) { s.NakNext(1000) }, func(s *simcdm.Sim) { s.NakNext(0) }, cdm.FaultProtocol, cdm.ErrProtocol},
		{"device silent", func(s *simcdm.Sim) { _ = s.Inject(simcdm.FaultOffline) }, func(s *simcdm.Sim) { s.Clear() }, cdm.FaultOffline, hal.ErrOffline},
		{"device hangs after ACK", func(s *simcdm.Sim) { s.Stall(true) }, func(s *simcdm.Sim) { s.Stall(false) }, cdm.FaultTimeout, hal.ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := quickRig(t)
			tc.spoil(r.sim)
			_, err := r.dev.Nonce(ctxT(t))
			wantFault(t, r.dev, err, tc.code, tc.is, hal.Offline)
			_, err = r.dev.Cassettes(ctxT(t))
			wantFault(t, r.dev, err, tc.code, tc.is, hal.Offline)
			tc.mend(r.sim)
			waitOnline(t, r.dev) // the background poll notices
			if st := r.dev.Status(); st.Fault != "" {
				t.Errorf("Status after recovery = %v", st)
			}
			q := authorise(t, r, "T-AFTER", dispenser.Notes{Cassette: 1, Count: 1})
			if _, err := r.dev.Dispense(ctxT(t), q); err != nil {
				t.Fatalf("Dispense after recovery: %v", err)
			}
		})
	}
}

func TestFaultCarriesRawBytes(t *testing.T) {
	r := quickRig(t)
	r.sim.GarbleNext(1000)
	_, err := r.dev.Cassettes(ctxT(t))
	var f *hal.Fault
	if !errors.As(err, &f) || len(f.Raw) == 0 || f.Raw[0] != 0x02 {
		t.Errorf("fault %+v, want the damaged frame in Raw", f)
	}
}

func TestPortGone(t *testing.T) {
	r := quickRig(t)
	r.unplug(t)
	_, err := r.dev.Nonce(ctxT(t))
	wantFault(t, r.dev, err, cdm.FaultOffline, hal.ErrOffline, hal.Offline)
	// The driver keeps running and keeps answering with typed errors.
	for range 3 {
		_, err := r.dev.Dispense(ctxT(t), dispenser.DispenseRequest{Mix: []dispenser.Notes{{Cassette: 1, Count: 1}}})
		wantFault(t, r.dev, err, cdm.FaultOffline, hal.ErrOffline, hal.Offline)
	}
	if err := r.dev.Halt(ctxT(t)); hal.FaultCode(err) != cdm.FaultOffline {
		t.Errorf("Halt = %v", err)
	}
}

func TestPortMissingAtStart(t *testing.T) {
	d, err := cdm.NewSerial(filepath.Join(t.TempDir(), "ttyNONE"), fastOptions())
	if err != nil {
		t.Fatalf("NewSerial = %v; a missing port is a status, not an error", err)
	}
	defer d.Close()
	if st := d.Status(); st.State != hal.Offline || st.Fault != cdm.FaultOffline {
		t.Errorf("Status = %v", st)
	}
	_, err = d.Nonce(ctxT(t))
	wantFault(t, d, err, cdm.FaultOffline, hal.ErrOffline, hal.Offline)
}

// The port vanishes (USB unplugged) and comes back under the same name
// (a udev symlink, as /dev/serial/by-id/... is): the driver reopens it by
// itself.
func TestPortComesBack(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyCDM")
	state := filepath.Join(dir, "cdm.json")
	serveOn := func() (*wire.PTY, *simcdm.Sim) {
		p, err := wire.OpenPTY()
		if err != nil {
			t.Fatal(err)
		}
		s, err := simcdm.New(simOptions(state))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, p.Master) }()
		t.Cleanup(func() { cancel(); p.Close(); <-done })
		if err := os.Symlink(p.Path, link); err != nil {
			t.Fatal(err)
		}
		return p, s
	}
	p1, _ := serveOn()
	d, err := cdm.NewSerial(link, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitOnline(t, d)
	first, err := d.Nonce(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// Unplugged: the name goes first, so that the driver cannot reopen a
	// recycled /dev/pts/N belonging to someone else.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	p1.Close()
	waitFor(t, "Offline after the port vanished", func() bool { return d.Status().State == hal.Offline })
	if st := d.Status(); st.Fault != cdm.FaultOffline {
		t.Errorf("Status = %v", st)
	}
	_, s2 := serveOn()
	waitOnline(t, d)
	second, err := d.Nonce(ctxT(t))
	if err != nil {
		t.Fatalf("Nonce after the port came back: %v", err)
	}
	if string(first[:8]) >= string(second[:8]) {
		t.Errorf("nonce counter went from % X to % X", first[:8], second[:8])
	}
	r := &rig{dev: d, sim: s2}
	if _, err := d.Dispense(ctxT(t), authorise(t, r, "T-BACK", dispenser.Notes{Cassette: 2, Count: 1})); err != nil {
		t.Fatalf("Dispense after the port came back: %v", err)
	}
}

// A DISPENSE whose response is lost is settled from the device — by the
// same frame sent again, or by LAST-DISPENSE — and never dispensed twice.
func TestLostDispenseResponse(t *testing.T) {
	mix := []dispenser.Notes{{Cassette: 1, Count: 2}, {Cassette: 3, Count: 1}}
	tests := []struct {
		name    string
		arm     func(r *rig, q *dispenser.DispenseRequest)
		moved   []dispenser.Notes
		partial bool
		is      error
	}{
		{"one response lost: the same frame again", func(r *rig, _ *dispenser.DispenseRequest) { r.sim.DropDispenseResponses(1) }, mix, false, nil},
		{"every response lost: LAST-DISPENSE", func(r *rig, _ *dispenser.DispenseRequest) { r.sim.DropDispenseResponses(100) }, mix, false, nil},
		{"partial dispense, every response lost", func(r *rig, _ *dispenser.DispenseRequest) {
			r.sim.SetPickFailure(2)
			r.sim.DropDispenseResponses(100)
		}, []dispenser.Notes{{Cassette: 1, Count: 2}}, true, nil},
		// A refusal picks nothing, so the device keeps no record of it:
		// the driver learns that nothing moved, not why.
		{"refused token, every response lost", func(r *rig, q *dispenser.DispenseRequest) {
			q.Token[0] ^= 1
			r.sim.DropDispenseResponses(100)
		}, nil, false, hal.ErrTimeout},
		{"response garbled every time", func(r *rig, _ *dispenser.DispenseRequest) {}, mix, false, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := quickRig(t)
			q := authorise(t, r, "T-LOST", mix...)
			tc.arm(r, &q)
			if i == len(tests)-1 {
				r.sim.GarbleNext(6) // the response and its two resends, twice
			}
			before := dispensed(r)
			res, err := r.dev.Dispense(ctxT(t), q)
			var pe *dispenser.PartialError
			switch {
			case tc.is != nil:
				if !errors.Is(err, tc.is) || errors.Is(err, cdm.ErrOutcomeUnknown) {
					t.Fatalf("Dispense = %v, want %v (and a known outcome)", err, tc.is)
				}
			case tc.partial:
				if !errors.As(err, &pe) || hal.FaultCode(err) != cdm.FaultPick || !slices.Equal(pe.Dispensed, tc.moved) {
					t.Fatalf("Dispense = %v, want a partial dispense of %v", err, tc.moved)
				}
			case err != nil:
				t.Fatalf("Dispense = %v", err)
			}
			if !slices.Equal(res.Dispensed, tc.moved) {
				t.Errorf("Dispense reports %v moved, want %v", res.Dispensed, tc.moved)
			}
			after := dispensed(r)
			for k, id := range []int{1, 2, 3} {
				want := 0
				for _, n := range tc.moved {
					if n.Cassette == id {
						want = n.Count
					}
				}
				if after[k]-before[k] != want {
					t.Errorf("cassette %d dispensed %d notes, want %d (never twice)", id, after[k]-before[k], want)
				}
			}
			if tc.moved != nil {
				if err := r.dev.Present(ctxT(t)); err != nil {
					t.Fatalf("Present: %v", err)
				}
				if got := r.sim.Tray(); !slices.Equal(got, tc.moved) {
					t.Errorf("tray %v, want %v", got, tc.moved)
				}
			}
		})
	}
}

// The device takes longer than the driver waits and then cannot say what
// it did (it is still busy): the outcome is reported unknown, with a
// typed error, and settled later without dispensing again.
func TestDispenseOutcomeUnknownThenSettled(t *testing.T) {
	so := simOptions(filepath.Join(stateDir(t), "cdm.json"))
	so.PickTime = 700 * time.Millisecond
	do := fastOptions()
	do.DispenseTimeout = 150 * time.Millisecond
	do.CommandTimeout = 150 * time.Millisecond
	r := newRig(t, so, do)
	q := authorise(t, r, "T-SLOW", dispenser.Notes{Cassette: 2, Count: 2})
	res, err := r.dev.Dispense(ctxT(t), q)
	if !errors.Is(err, cdm.ErrOutcomeUnknown) || len(res.Dispensed) != 0 {
		t.Fatalf("Dispense = %v, %v; want ErrOutcomeUnknown", res, err)
	}
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code == "" {
		t.Errorf("error %v carries no fault code", err)
	}
	if st := r.dev.Status(); st.Extra["dispense.outcome"] != "unknown" {
		t.Errorf("Status %v %v does not flag the unknown outcome", st, st.Extra)
	}
	waitFor(t, "the outcome to be settled", func() bool {
		st := r.dev.Status()
		return st.State == hal.Online && st.Extra["dispense.outcome"] == ""
	})
	if got := dispensed(r); got[1] != 2 {
		t.Errorf("cassette 2 dispensed %d notes, want 2 (once)", got[1])
	}
	if st := r.dev.Status(); st.Extra["notes.stacked"] != "2" {
		t.Errorf("Status %v does not show the 2 notes behind the shutter", st.Extra)
	}
	rec, err := r.dev.LastDispense(ctxT(t))
	if err != nil || rec.Txn != "T-SLOW" || rec.State != dispenser.LastStacked || !slices.Equal(rec.Notes, q.Mix) {
		t.Errorf("LastDispense = %+v, %v", rec, err)
	}
}

// Once the DISPENSE has gone out, a cancelled caller still gets the
// outcome: the cash must be accounted for.
func TestDispenseOutlivesCancel(t *testing.T) {
	so := simOptions(filepath.Join(stateDir(t), "cdm.json"))
	so.PickTime = 100 * time.Millisecond
	r := newRig(t, so, fastOptions())
	q := authorise(t, r, "T-CANCEL", dispenser.Notes{Cassette: 1, Count: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := r.dev.Dispense(ctx, q)
	if err != nil || !slices.Equal(res.Dispensed, q.Mix) {
		t.Errorf("Dispense = %v, %v; want the notes stacked", res, err)
	}
}

func TestDeviceFaults(t *testing.T) {
	t.Run("jam", func(t *testing.T) {
		r := quickRig(t)
		q := authorise(t, r, "T-JAM", dispenser.Notes{Cassette: 1, Count: 1})
		if err := r.sim.Inject(simcdm.FaultJam); err != nil {
			t.Fatal(err)
		}
		_, err := r.dev.Dispense(ctxT(t), q)
		wantFault(t, r.dev, err, "DSP-JAM", nil, hal.HardwareError)
		var pe *dispenser.PartialError
		if errors.As(err, &pe) {
			t.Error("a jam before picking is not a partial dispense")
		}
		r.sim.Clear()
		waitOnline(t, r.dev)
		// The jam refused before the token check: the nonce is still good.
		if _, err := r.dev.Dispense(ctxT(t), q); err != nil {
			t.Errorf("Dispense after Clear: %v", err)
		}
	})
	t.Run("pick failure", func(t *testing.T) {
		r := quickRig(t)
		r.sim.SetPickFailure(1)
		res, err := r.dev.Dispense(ctxT(t), authorise(t, r, "T-PICK", dispenser.Notes{Cassette: 1, Count: 3}))
		var pe *dispenser.PartialError
		if !errors.As(err, &pe) || hal.FaultCode(err) != cdm.FaultPick {
			t.Fatalf("Dispense = %v, want a partial dispense with DSP-PICK", err)
		}
		want := []dispenser.Notes{{Cassette: 1, Count: 1}}
		if !slices.Equal(pe.Dispensed, want) || !slices.Equal(res.Dispensed, want) {
			t.Errorf("partial %v / result %v, want %v", pe.Dispensed, res.Dispensed, want)
		}
		if st := r.dev.Status(); st.Fault != cdm.FaultPick || !st.State.Usable() {
			t.Errorf("Status = %v, want usable with DSP-PICK", st)
		}
	})
	t.Run("shutter", func(t *testing.T) {
		r := quickRig(t)
		if _, err := r.dev.Dispense(ctxT(t), authorise(t, r, "T-SHUT", dispenser.Notes{Cassette: 1, Count: 1})); err != nil {
			t.Fatal(err)
		}
		if err := r.dev.Present(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := r.sim.Inject(simcdm.FaultShutter); err != nil {
			t.Fatal(err)
		}
		if err := r.sim.Take(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		err := r.dev.WaitTaken(ctxT(t))
		if !errors.Is(err, dispenser.ErrShutter) || hal.FaultCode(err) != cdm.FaultShutter {
			t.Fatalf("WaitTaken with a stuck shutter = %v", err)
		}
		if st := r.dev.Status(); st.State != hal.HardwareError || st.Extra["shutter"] != "open" {
			t.Errorf("Status = %v %v", st, st.Extra)
		}
		r.sim.Clear()
		if err := r.dev.WaitTaken(ctxT(t)); err != nil {
			t.Errorf("WaitTaken after Clear: %v", err)
		}
		if st := r.dev.Status(); st.Extra["shutter"] != "closed" {
			t.Errorf("shutter %q after WaitTaken", st.Extra["shutter"])
		}
	})
}

func TestRefusalIsVisibleOnTheDevice(t *testing.T) {
	r := quickRig(t)
	q := authorise(t, r, "T-FRAUD", dispenser.Notes{Cassette: 1, Count: 1})
	// The box on the wire asks for five notes with a token for one.
	q.Mix, q.Amount = []dispenser.Notes{{Cassette: 1, Count: 5}}, 5*q.Amount
	res, err := r.dev.Dispense(ctxT(t), q)
	if !errors.Is(err, dispenser.ErrBadToken) || len(res.Dispensed) > 0 {
		t.Fatalf("Dispense = %v, %v; want ErrBadToken", res, err)
	}
	if got := r.sim.Refusals(); len(got) != 1 || got[0].Txn != "T-FRAUD" {
		t.Errorf("device recorded refusals %v", got)
	}
}

func TestMaintenance(t *testing.T) {
	r := quickRig(t)
	ctx := ctxT(t)
	res, err := r.dev.TestDispense(ctx, []dispenser.Notes{{Cassette: 3, Count: 2}})
	if err != nil || res.Rejected != 2 {
		t.Fatalf("TestDispense = %+v, %v", res, err)
	}
	cs, err := r.dev.Cassettes(ctx)
	if err != nil || cs[2].Rejected != 2 || cs[2].Count != 998 || cs[2].Dispensed != 0 {
		t.Errorf("cassette 3 after a test dispense: %+v, %v", cs, err)
	}
	if err := r.dev.Present(ctx); !errors.Is(err, dispenser.ErrNothingStack) {
		t.Errorf("Present after a test dispense = %v; nothing may reach the customer", err)
	}
	if rec, err := r.dev.LastDispense(ctx); err != nil || rec.State != dispenser.LastNone {
		t.Errorf("LastDispense after only a test dispense = %+v, %v; want none", rec, err)
	}
	if _, err := r.dev.TestDispense(ctx, []dispenser.Notes{{Cassette: 7, Count: 1}}); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("TestDispense from a missing cassette = %v, want ErrInvalid", err)
	}

	load := []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Currency: "TWD", Count: 5, Low: 10},
		{ID: 2, Denomination: 50000, Currency: "TWD", Count: 0, Low: 10},
	}
	if err := r.dev.Load(ctx, load); err != nil {
		t.Fatalf("Load: %v", err)
	}
	cs, err = r.dev.Cassettes(ctx)
	if err != nil || len(cs) != 2 || cs[0].Initial != 5 || cs[0].Status != dispenser.CassetteLow || cs[1].Status != dispenser.CassetteEmpty {
		t.Errorf("Cassettes after Load = %+v, %v", cs, err)
	}
	if st := r.dev.Status(); st.Fault != cdm.FaultCassEmpty || st.State != hal.Online || st.Extra["cassette.1"] != "low" {
		t.Errorf("Status = %v %v, want online with DSP-CASS-EMPTY", st, st.Extra)
	}
	if c := r.dev.Capabilities(); c.Cassettes != 2 {
		t.Errorf("Capabilities = %+v", c)
	}
	if err := r.dev.Load(ctx, []dispenser.Cassette{{ID: 1, Denomination: 0, Currency: "TWD"}}); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Load without a denomination = %v, want ErrInvalid", err)
	}
}

func TestClosed(t *testing.T) {
	r := quickRig(t)
	if err := r.dev.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dev.Nonce(ctxT(t)); !errors.Is(err, cdm.ErrClosed) {
		t.Errorf("Nonce after Close = %v, want ErrClosed", err)
	}
}
