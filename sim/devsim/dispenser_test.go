package devsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/dispenser/dispensertest"
	"github.com/atmd/atmd/internal/pinblock"
)

var dspKey = []byte("sim-dispense-key-0123456789abcdef")

// dspOptions are the defaults with a key and, if dir is not "", a state
// file in it.
func dspOptions(dir string) DispenserOptions {
	opts := DefaultDispenserOptions
	opts.Key = dspKey
	if dir != "" {
		opts.StateFile = filepath.Join(dir, "dispenser.json")
	}
	return opts
}

func newDsp(t *testing.T, opts DispenserOptions) *Dispenser {
	t.Helper()
	d, err := NewDispenser(opts)
	if err != nil {
		t.Fatalf("NewDispenser: %v", err)
	}
	return d
}

func dspCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dspRequest authorises a dispense of mix as the host would.
func dspRequest(t *testing.T, d *Dispenser, txn string, mix ...dispenser.Notes) dispenser.DispenseRequest {
	t.Helper()
	nonce, err := d.Nonce(dspCtx(t))
	if err != nil {
		t.Fatalf("Nonce: %v", err)
	}
	req := dispenser.DispenseRequest{ATM: d.opts.ATM, Txn: txn, Currency: "TWD", Mix: mix, Nonce: nonce}
	req.Amount = dispenser.MixAmount(mix, d.Counters())
	req.Token = dispenser.SignToken(dspKey, dispenser.TokenData{ATM: req.ATM, Txn: txn, Amount: req.Amount, Currency: "TWD", Nonce: nonce})
	return req
}

func TestDispenserConformance(t *testing.T) {
	harness := func(d *Dispenser) dispensertest.Harness {
		return dispensertest.Harness{Dev: d, Key: dspKey, ATM: d.opts.ATM, Take: d.Take, Tray: d.Tray, Taken: d.Taken}
	}
	t.Run("memory", func(t *testing.T) {
		dispensertest.Run(t, func(t *testing.T) dispensertest.Harness {
			return harness(newDsp(t, dspOptions("")))
		})
	})
	t.Run("state file", func(t *testing.T) {
		dispensertest.Run(t, func(t *testing.T) dispensertest.Harness {
			opts := dspOptions(t.TempDir())
			h := harness(newDsp(t, opts))
			h.Reopen = func(t *testing.T) dispenser.Dispenser { return newDsp(t, opts) }
			return h
		})
	})
}

func TestDispenserNoncePersistedBeforeReturn(t *testing.T) {
	opts := dspOptions(t.TempDir())
	d := newDsp(t, opts)
	for want := uint64(1); want <= 3; want++ {
		nonce, err := d.Nonce(dspCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(nonce) != 16 {
			t.Fatalf("nonce is %d bytes, want 16", len(nonce))
		}
		if got := binary.BigEndian.Uint64(nonce); got != want {
			t.Errorf("nonce counter = %d, want %d", got, want)
		}
		b, err := os.ReadFile(opts.StateFile)
		if err != nil {
			t.Fatal(err)
		}
		st, err := parseDispenserState(b)
		if err != nil {
			t.Fatal(err)
		}
		if st.Nonces != want {
			t.Errorf("state file holds counter %d after nonce %d was returned", st.Nonces, want)
		}
	}
	if leftovers, _ := filepath.Glob(opts.StateFile + ".tmp*"); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
	d2 := newDsp(t, opts)
	nonce, err := d2.Nonce(dspCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint64(nonce); got != 4 {
		t.Errorf("first nonce after restart has counter %d, want 4", got)
	}
}

func TestDispenserStateSurvivesRestart(t *testing.T) {
	opts := dspOptions(t.TempDir())
	d := newDsp(t, opts)
	req := dspRequest(t, d, "T1", dispenser.Notes{Cassette: 1, Count: 3}, dispenser.Notes{Cassette: 3, Count: 2})
	if _, err := d.Dispense(dspCtx(t), req); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Retract(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	d2 := newDsp(t, opts)
	if got, want := d2.Counters(), d.Counters(); !reflect.DeepEqual(got, want) {
		t.Errorf("counters after restart = %+v, want %+v", got, want)
	}
	if d2.RetractBin() != 5 {
		t.Errorf("retract bin after restart = %d, want 5", d2.RetractBin())
	}
}

func TestDispenserStateFileProblems(t *testing.T) {
	t.Run("corrupt file", func(t *testing.T) {
		opts := dspOptions(t.TempDir())
		if err := os.WriteFile(opts.StateFile, []byte(`{"version":1,"nonces":`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewDispenser(opts); err == nil {
			t.Error("NewDispenser accepted a corrupt state file")
		}
	})
	t.Run("unwritable", func(t *testing.T) {
		dir := t.TempDir()
		opts := dspOptions(dir)
		d := newDsp(t, opts)
		first, err := d.Nonce(dspCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		// Replace the directory by a file: nothing can be saved any more.
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if n, err := d.Nonce(dspCtx(t)); err == nil {
			t.Fatalf("Nonce = %x with nowhere to save the counter", n)
		}
		req := dispenser.DispenseRequest{ATM: opts.ATM, Txn: "T1", Amount: 100000, Currency: "TWD",
			Mix: []dispenser.Notes{{Cassette: 1, Count: 1}}, Nonce: first}
		req.Token = dispenser.SignToken(dspKey, dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: first})
		if _, err := d.Dispense(dspCtx(t), req); !errors.Is(err, dispenser.ErrBadToken) {
			t.Errorf("Dispense with the nonce voided by a failed Nonce = %v, want ErrBadToken", err)
		}
	})
	t.Run("bad cassettes", func(t *testing.T) {
		opts := dspOptions("")
		opts.Cassettes = []dispenser.Cassette{{ID: 1, Denomination: 100, Currency: "TWD"}, {ID: 1, Denomination: 100, Currency: "TWD"}}
		if _, err := NewDispenser(opts); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("NewDispenser with duplicate cassette ids = %v, want ErrInvalid", err)
		}
	})
}

func TestDispenserCassetteStatus(t *testing.T) {
	tests := []struct {
		name      string
		counts    [3]int // cassettes 1..3; Low is 10 for each
		fault     string
		cassette2 dispenser.CassetteStatus
	}{
		{"all full", [3]int{100, 100, 100}, "", dispenser.CassetteOK},
		{"one at the low mark", [3]int{100, 10, 100}, "DSP-CASS-LOW", dispenser.CassetteLow},
		{"one empty", [3]int{100, 0, 100}, "DSP-CASS-EMPTY", dispenser.CassetteEmpty},
		{"empty beats low", [3]int{5, 0, 100}, "DSP-CASS-EMPTY", dispenser.CassetteEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDsp(t, dspOptions(""))
			var cs []dispenser.Cassette
			for i, n := range tc.counts {
				cs = append(cs, dispenser.Cassette{ID: i + 1, Denomination: 10000 * int64(i+1), Currency: "TWD", Count: n, Low: 10})
			}
			if err := d.Load(context.Background(), cs); err != nil {
				t.Fatal(err)
			}
			st := d.Status()
			if st.State != hal.Online || st.Fault != tc.fault {
				t.Errorf("Status = %v, want online with fault %q", st, tc.fault)
			}
			if got := st.Extra["cassette.2"]; got != string(tc.cassette2) {
				t.Errorf("Extra[cassette.2] = %q, want %q", got, tc.cassette2)
			}
			if got := d.Counters()[1].Status; got != tc.cassette2 {
				t.Errorf("cassette 2 status = %q, want %q", got, tc.cassette2)
			}
		})
	}
}

func TestDispenserDispenseDrainsToLow(t *testing.T) {
	d := newDsp(t, dspOptions(""))
	if err := d.Load(context.Background(), []dispenser.Cassette{{ID: 1, Denomination: 100000, Currency: "TWD", Count: 12, Low: 10}}); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Fault != "" {
		t.Fatalf("Status = %v before dispensing", st)
	}
	if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", dispenser.Notes{Cassette: 1, Count: 2})); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Fault != "DSP-CASS-LOW" || st.Extra["cassette.1"] != "low" {
		t.Errorf("Status = %v %v after draining to the low mark", st, st.Extra)
	}
	if c := d.Counters()[0]; c.Count != 10 || c.Dispensed != 2 || c.Initial != 12 {
		t.Errorf("counters = %+v", c)
	}
}

func TestDispenserInjectedFaults(t *testing.T) {
	tests := []struct {
		code  string
		state hal.State
		// which commands fail with the fault, given notes stacked
		dispense, present, retract bool
		is                         error
	}{
		{"DSP-OFFLINE", hal.Offline, true, true, true, hal.ErrOffline},
		{"DSP-JAM", hal.HardwareError, true, true, true, nil},
		{"DSP-SHUTTER", hal.HardwareError, false, true, false, dispenser.ErrShutter},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			d := newDsp(t, dspOptions(""))
			mix := dispenser.Notes{Cassette: 1, Count: 2}
			if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", mix)); err != nil {
				t.Fatal(err)
			}
			if err := d.Inject(tc.code); err != nil {
				t.Fatal(err)
			}
			if st := d.Status(); st.State != tc.state || st.Fault != tc.code {
				t.Errorf("Status = %v, want %v %s", st, tc.state, tc.code)
			}
			check := func(what string, want bool, err error) {
				t.Helper()
				if !want {
					return
				}
				if hal.FaultCode(err) != tc.code || (tc.is != nil && !errors.Is(err, tc.is)) {
					t.Errorf("%s = %v, want fault %s", what, err, tc.code)
				}
			}
			before := d.Counters()
			_, err := d.Dispense(dspCtx(t), dispenser.DispenseRequest{})
			check("Dispense", tc.dispense, err)
			check("Present", tc.present, d.Present(dspCtx(t)))
			_, err = d.Retract(dspCtx(t))
			check("Retract", tc.retract, err)
			if !tc.retract && err != nil {
				t.Errorf("Retract of stacked notes with %s = %v", tc.code, err)
			}
			if len(d.Tray()) > 0 {
				t.Errorf("tray holds %v under %s", d.Tray(), tc.code)
			}
			if !reflect.DeepEqual(d.Counters(), before) {
				t.Errorf("counters changed under %s", tc.code)
			}
			d.Clear()
			if st := d.Status(); !st.OK() {
				t.Errorf("Status after Clear = %v", st)
			}
			if _, err := d.Retract(dspCtx(t)); err != nil && !errors.Is(err, dispenser.ErrNothingStack) {
				t.Fatalf("Retract after Clear: %v", err)
			}
			if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T2", mix)); err != nil {
				t.Fatalf("Dispense after Clear: %v", err)
			}
			if err := d.Present(dspCtx(t)); err != nil {
				t.Errorf("Present after Clear: %v", err)
			}
		})
	}
	if err := newDsp(t, dspOptions("")).Inject("PRN-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(PRN-JAM) = %v, want ErrInvalid", err)
	}
}

func TestDispenserShutterFaultKeepsNotesPresented(t *testing.T) {
	d := newDsp(t, dspOptions(""))
	if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", dispenser.Notes{Cassette: 1, Count: 1})); err != nil {
		t.Fatal(err)
	}
	if err := d.Present(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := d.Inject("DSP-SHUTTER"); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(dspCtx(t)); !errors.Is(err, dispenser.ErrShutter) {
		t.Errorf("Halt with a stuck shutter = %v, want ErrShutter", err)
	}
	if _, err := d.Retract(dspCtx(t)); !errors.Is(err, dispenser.ErrShutter) {
		t.Errorf("Retract with a stuck shutter = %v, want ErrShutter", err)
	}
	if err := d.Take(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitTaken(dspCtx(t)); !errors.Is(err, dispenser.ErrShutter) {
		t.Errorf("WaitTaken with a stuck shutter = %v, want ErrShutter", err)
	}
	if d.Status().Extra["shutter"] != "open" {
		t.Errorf("shutter reported %q", d.Status().Extra["shutter"])
	}
	d.Clear()
	if err := d.WaitTaken(dspCtx(t)); err != nil {
		t.Errorf("WaitTaken after Clear: %v", err)
	}
	if d.Status().Extra["shutter"] != "closed" {
		t.Errorf("shutter reported %q after WaitTaken", d.Status().Extra["shutter"])
	}
}

func TestDispenserPickFailure(t *testing.T) {
	tests := []struct {
		name  string
		arm   func(d *Dispenser)
		moved []dispenser.Notes
	}{
		{"after three notes", func(d *Dispenser) { d.SetPickFailure(3) }, []dispenser.Notes{{Cassette: 1, Count: 2}, {Cassette: 3, Count: 1}}},
		{"injected, at the first note", func(d *Dispenser) { _ = d.Inject("DSP-PICK") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDsp(t, dspOptions(""))
			tc.arm(d)
			before := d.Counters()
			mix := []dispenser.Notes{{Cassette: 1, Count: 2}, {Cassette: 3, Count: 3}}
			res, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", mix...))
			var pe *dispenser.PartialError
			if !errors.As(err, &pe) || hal.FaultCode(err) != "DSP-PICK" {
				t.Fatalf("Dispense = %v, want a PartialError with DSP-PICK", err)
			}
			if !slices.Equal(pe.Dispensed, tc.moved) || !slices.Equal(res.Dispensed, tc.moved) {
				t.Errorf("partial dispense moved %v (result %v), want %v", pe.Dispensed, res.Dispensed, tc.moved)
			}
			after := d.Counters()
			for i := range after {
				moved := 0
				for _, n := range tc.moved {
					if n.Cassette == after[i].ID {
						moved = n.Count
					}
				}
				if after[i].Count != before[i].Count-moved || after[i].Dispensed != moved {
					t.Errorf("cassette %d: %+v, want %d notes fewer", after[i].ID, after[i], moved)
				}
			}
			if st := d.Status(); st.Fault != "DSP-PICK" || !st.State.Usable() {
				t.Errorf("Status = %v, want usable with DSP-PICK", st)
			}
			err = d.Present(dspCtx(t))
			if tc.moved == nil {
				if !errors.Is(err, dispenser.ErrNothingStack) {
					t.Errorf("Present after a failure at the first note = %v, want ErrNothingStack", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Present of the picked notes: %v", err)
				}
				if !slices.Equal(d.Tray(), tc.moved) {
					t.Errorf("tray holds %v, want %v", d.Tray(), tc.moved)
				}
				if _, err := d.Retract(dspCtx(t)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T2", mix...)); err != nil {
				t.Errorf("next Dispense = %v; a pick failure is one-shot", err)
			}
			d.Clear()
			if st := d.Status(); st.Fault != "" {
				t.Errorf("Status after Clear = %v", st)
			}
		})
	}
}

func TestDispenserBusyWhileNotesInTransport(t *testing.T) {
	d := newDsp(t, dspOptions(""))
	mix := dispenser.Notes{Cassette: 2, Count: 1}
	if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", mix)); err != nil {
		t.Fatal(err)
	}
	before := d.Counters()
	if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T2", mix)); !errors.Is(err, hal.ErrBusy) {
		t.Errorf("second Dispense with notes stacked = %v, want ErrBusy", err)
	}
	if !reflect.DeepEqual(d.Counters(), before) {
		t.Error("counters changed")
	}
}

func TestDispenserHaltVoidsNonceAndReportsKeptNotes(t *testing.T) {
	d := newDsp(t, dspOptions(""))
	if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", dispenser.Notes{Cassette: 1, Count: 4})); err != nil {
		t.Fatal(err)
	}
	if err := d.Present(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Extra["notes.stacked"] != "4" || st.Extra["shutter"] != "closed" {
		t.Errorf("Status extra after Halt = %v, want 4 notes stacked behind a closed shutter", st.Extra)
	}
	if _, err := d.Retract(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	req := dspRequest(t, d, "T2", dispenser.Notes{Cassette: 1, Count: 1})
	if err := d.Halt(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dispense(dspCtx(t), req); !errors.Is(err, dispenser.ErrBadToken) {
		t.Errorf("Dispense with a nonce issued before Halt = %v, want ErrBadToken", err)
	}
}

func TestDispenserTakeWaitsForPresent(t *testing.T) {
	d := newDsp(t, dspOptions(""))
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := d.Take(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take with nothing presented = %v, want DeadlineExceeded", err)
	}
	took := make(chan error, 1)
	go func() { took <- d.Take(dspCtx(t)) }()
	mix := dispenser.Notes{Cassette: 3, Count: 5}
	if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "T1", mix)); err != nil {
		t.Fatal(err)
	}
	if err := d.Present(dspCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-took; err != nil {
		t.Fatalf("Take: %v", err)
	}
	if got := d.Taken(); !slices.Equal(got, []dispenser.Notes{mix}) {
		t.Errorf("Taken = %v", got)
	}
	if err := d.WaitTaken(dspCtx(t)); err != nil {
		t.Errorf("WaitTaken: %v", err)
	}
}

func TestDispenserLoad(t *testing.T) {
	d := newDsp(t, dspOptions(t.TempDir()))
	cs := []dispenser.Cassette{{ID: 4, Denomination: 200000, Currency: "TWD", Count: 500}}
	if err := d.Load(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	got := d.Counters()
	if len(got) != 1 || got[0].Initial != 500 || got[0].Status != dispenser.CassetteOK {
		t.Errorf("Counters after Load = %+v", got)
	}
	if c := d.Capabilities().Cassettes; c != 1 {
		t.Errorf("Capabilities().Cassettes = %d", c)
	}
	if err := d.Load(context.Background(), []dispenser.Cassette{{ID: 1, Denomination: 0, Currency: "TWD"}}); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Load of a cassette without a denomination = %v, want ErrInvalid", err)
	}
	if !reflect.DeepEqual(d.Counters(), got) {
		t.Error("a rejected Load changed the cassettes")
	}
}

func FuzzParseDispenserState(f *testing.F) {
	good, err := json.Marshal(dispenserState{Version: 1, Nonces: 42, Cassettes: DefaultDispenserOptions.Cassettes, RetractBin: 3})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(good),
		`{"version":1,"nonces":0,"cassettes":[],"retract_bin":0}`,
		`{"version":2}`,
		`{"version":1,"cassettes":[{"id":1,"denomination":100,"currency":"TWD","count":-1}]}`,
		`{"version":1,"cassettes":[{"id":1,"denomination":100,"currency":"TWD"},{"id":1,"denomination":100,"currency":"TWD"}]}`,
		`{"version":1,"extra":true}`,
		`{"version":1} {}`,
		`{"version":1,"nonces":18446744073709551615}`,
		``,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseDispenserState(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := parseDispenserState(again)
		if err != nil {
			t.Fatalf("re-encoded state rejected: %v", err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("round trip changed the state: %+v -> %+v", st, st2)
		}
	})
}

func TestDispenserDeleteKey(t *testing.T) {
	d := newDsp(t, dspOptions(""))
	ctx := context.Background()
	if err := d.DeleteKey(ctx, "tmk"); !errors.Is(err, dispenser.ErrNoKey) {
		t.Fatalf("DeleteKey of no key = %v", err)
	}
	comp := bytes.Repeat([]byte{0x11, 0x22}, 8)
	want, _ := pinblock.KCV(comp)
	for i := 0; i < 2; i++ {
		if kcv, err := d.LoadKey(ctx, "tmk", "", comp); err != nil || !bytes.Equal(kcv, want) {
			t.Fatalf("load %d: %X, %v", i+1, kcv, err)
		}
		if err := d.DeleteKey(ctx, "tmk"); err != nil {
			t.Fatal(err)
		}
	}
}
