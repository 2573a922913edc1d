package escpos_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/devices/escpos"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hal/printer/printertest"
	"github.com/atmd/atmd/sim/wire"
	simescpos "github.com/atmd/atmd/sim/wire/escpos"
)

const wait = 5 * time.Second // bounds every step expected to finish

// testOptions answer fast and never poll unless a test asks.
func testOptions() escpos.Options {
	o := escpos.DefaultOptions
	o.Timeout = 2 * time.Second // generous: CI machines are loaded
	o.PrintTimeout = 5 * time.Second
	o.Poll = time.Hour
	return o
}

func openPTY(t *testing.T) *wire.PTY {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatalf("OpenPTY: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// serve runs sim on the PTY's master until the test ends.
func serve(t *testing.T, sim *simescpos.Printer, p *wire.PTY) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, p.Master) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("simulator: %v", err)
		}
	})
}

func newDev(t *testing.T, path string, o escpos.Options) *escpos.Dev {
	t.Helper()
	d, err := escpos.NewSerial(path, o)
	if err != nil {
		t.Fatalf("NewSerial: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// rig is a driver on a PTY with the wire simulator on the far end.
type rig struct {
	dev *escpos.Dev
	sim *simescpos.Printer
	pty *wire.PTY
}

func newRig(t *testing.T, o escpos.Options) rig {
	t.Helper()
	o.Log = zerolog.New(zerolog.NewTestWriter(t))
	p := openPTY(t)
	sim := simescpos.New(simescpos.Options{Cols: o.Cols, Delay: 2 * o.Timeout, Log: o.Log})
	serve(t, sim, p)
	return rig{dev: newDev(t, p.Path, o), sim: sim, pty: p}
}

func TestConformance(t *testing.T) {
	printertest.Run(t, func(t *testing.T) printertest.Harness {
		r := newRig(t, testOptions())
		return printertest.Harness{
			Dev:     r.dev,
			Printed: r.sim.Receipts,
			SetPaper: func(state string) error {
				if err := r.sim.SetPaper(state); err != nil {
					return err
				}
				return r.dev.Refresh(ctxFor(t)) // the driver learns it as its poll would
			},
		}
	})
}

func TestConformanceNarrowNoCutterNoBig5(t *testing.T) {
	o := testOptions()
	o.Cols, o.Cut, o.Big5, o.CodePage = 32, false, false, "cp858"
	r := newRig(t, o)
	if c := r.dev.Capabilities(); c != (printer.Capabilities{Cols: 32}) {
		t.Fatalf("Capabilities = %+v", c)
	}
	rc := printer.Receipt{Lines: []string{"Total €12", "提款"}, Cut: true}
	if err := r.dev.Print(ctxFor(t), rc); err != nil {
		t.Fatal(err)
	}
	want := []printer.Receipt{{Lines: []string{"Total €12", "??"}}}
	if got := r.sim.Receipts(); !reflect.DeepEqual(got, want) {
		t.Fatalf("printed %+v, want %+v", got, want)
	}
}

// A Big5 character is two columns wide: 42 columns hold 21 of them.
func TestBig5Wrap(t *testing.T) {
	r := newRig(t, testOptions())
	line := ""
	for range 25 {
		line += "元"
	}
	if err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"A" + line}, Cut: true}); err != nil {
		t.Fatal(err)
	}
	rs := []rune(line)
	want := []string{"A" + string(rs[:20]), string(rs[20:])}
	if got := r.sim.Receipts(); len(got) != 1 || !reflect.DeepEqual(got[0].Lines, want) {
		t.Fatalf("printed %+v, want %+v", got, want)
	}
	if p := r.sim.Problems(); len(p) > 0 {
		t.Errorf("simulator problems: %q", p)
	}
}

func fault(t *testing.T, err error, code string) *hal.Fault {
	t.Helper()
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != code {
		t.Fatalf("error %v, want a *hal.Fault %s", err, code)
	}
	return f
}

func waitStatus(t *testing.T, d *escpos.Dev, what string, cond func(hal.Status) bool) hal.Status {
	t.Helper()
	st, err := d.WaitStatus(ctxFor(t), cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v (status %v)", what, err, st)
	}
	return st
}

func online(st hal.Status) bool { return st.State == hal.Online && st.Fault == "" }

// Faults the printer reports in its status bytes: refused before any
// byte of the receipt is sent, then cleared and noticed by the poll.
func TestStatusFaults(t *testing.T) {
	for _, tc := range []struct {
		inject string
		state  hal.State
		code   string
		is     error
	}{
		{simescpos.PaperOut, hal.UserError, escpos.FaultPaperOut, printer.ErrPaperOut},
		{simescpos.CoverOpen, hal.UserError, escpos.FaultCoverOpen, nil},
		{simescpos.Jam, hal.HardwareError, escpos.FaultJam, nil},
		{simescpos.Hardware, hal.HardwareError, escpos.FaultHardware, nil},
	} {
		t.Run(tc.code, func(t *testing.T) {
			o := testOptions()
			o.Poll = 20 * time.Millisecond
			r := newRig(t, o)
			if err := r.sim.Inject(tc.inject); err != nil {
				t.Fatal(err)
			}
			err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"X"}, Cut: true})
			f := fault(t, err, tc.code)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if len(f.Raw) != 4 {
				t.Errorf("Raw = % X, want the four status bytes", f.Raw)
			}
			if st := r.dev.Status(); st.State != tc.state || st.Fault != tc.code {
				t.Errorf("Status = %v, want %v %s", st, tc.state, tc.code)
			}
			if got := r.sim.Receipts(); len(got) != 0 {
				t.Errorf("printed %+v while refusing", got)
			}
			r.sim.Clear()
			waitStatus(t, r.dev, "online after Clear", online)
			if err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"AFTER"}, Cut: true}); err != nil {
				t.Fatalf("Print after Clear: %v", err)
			}
		})
	}
}

// The cutter jams at the end of a receipt: the driver, waiting for the
// GS r answer, asks DLE EOT and reports the jam long before PrintTimeout.
func TestJamMidReceipt(t *testing.T) {
	o := testOptions()
	o.PrintTimeout = time.Minute
	r := newRig(t, o)
	r.sim.JamNextCut()
	start := time.Now()
	err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"JAMMED"}, Cut: true})
	fault(t, err, escpos.FaultJam)
	if d := time.Since(start); d > 3*o.Timeout {
		t.Errorf("jam reported after %v", d)
	}
	if st := r.dev.Status(); st.State != hal.HardwareError || st.Fault != escpos.FaultJam {
		t.Errorf("Status = %v", st)
	}
	if got := r.sim.Receipts(); len(got) != 1 || got[0].Cut {
		t.Errorf("receipts %+v, want one, uncut", got)
	}
}

// Line faults: the printer is silent, answers late, answers garbage or
// loses answers. Each gives a typed error and a fault status with a
// code; the driver recovers by itself once the line is good again.
func TestLineFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*simescpos.Printer)
		code  string
		state hal.State
		is    error
		raw   int
	}{
		{"silent", func(p *simescpos.Printer) { p.Inject(simescpos.Offline) }, escpos.FaultTimeout, hal.Offline, hal.ErrTimeout, 0},
		{"late", func(p *simescpos.Printer) { p.Inject(simescpos.Timeout) }, escpos.FaultTimeout, hal.Offline, hal.ErrTimeout, 0},
		{"garbage", func(p *simescpos.Printer) { p.Inject(simescpos.Protocol) }, escpos.FaultProtocol, hal.HardwareError, escpos.ErrProtocol, 4},
		{"truncated", func(p *simescpos.Printer) { p.SetTruncate(true) }, escpos.FaultTimeout, hal.Offline, hal.ErrTimeout, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out a timeout on its own line
			o := testOptions()
			r := newRig(t, o)
			tc.set(r.sim)
			err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"X"}})
			f := fault(t, err, tc.code)
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if len(f.Raw) != tc.raw || !f.Recoverable {
				t.Errorf("fault Raw % X Recoverable %v, want %d bytes, recoverable", f.Raw, f.Recoverable, tc.raw)
			}
			if st := r.dev.Status(); st.State != tc.state || st.Fault != tc.code {
				t.Errorf("Status = %v, want %v %s", st, tc.state, tc.code)
			}
			if got := r.sim.Receipts(); len(got) != 0 {
				t.Errorf("printed %+v", got)
			}
			r.sim.Clear()
			if err := r.dev.Refresh(ctxFor(t)); err != nil {
				t.Fatalf("Refresh after Clear: %v", err)
			}
			if st := r.dev.Status(); !online(st) {
				t.Errorf("Status after Clear = %v", st)
			}
		})
	}
}

// The background poll brings the status back once the printer answers
// again, without any command.
func TestRecoversByItself(t *testing.T) {
	o := testOptions()
	o.Poll = 20 * time.Millisecond
	r := newRig(t, o)
	for _, code := range []string{simescpos.Offline, simescpos.Protocol} {
		if err := r.sim.Inject(code); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, r.dev, "a fault for "+code, func(st hal.Status) bool { return st.Fault != "" })
		r.sim.Clear()
		waitStatus(t, r.dev, "online after "+code, online)
	}
	if err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"BACK"}, Cut: true}); err != nil {
		t.Fatal(err)
	}
}

// The port vanishes (adapter unplugged) and comes back under the same
// name, as a /dev/serial/by-id link does.
func TestPortGoneAndBack(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "printer")
	first := openPTY(t)
	sim1 := simescpos.New(simescpos.Options{})
	serve(t, sim1, first)
	if err := os.Symlink(first.Path, link); err != nil {
		t.Fatal(err)
	}
	o := testOptions()
	o.Poll = 20 * time.Millisecond
	d := newDev(t, link, o)
	if st := d.Status(); !online(st) {
		t.Fatalf("Status = %v", st)
	}
	first.Close() // unplugged: the hang-up is noticed without any command

	st := waitStatus(t, d, "offline", func(st hal.Status) bool { return st.Fault == escpos.FaultOffline })
	if st.Fault != escpos.FaultOffline {
		t.Errorf("Status = %v, want %s", st, escpos.FaultOffline)
	}
	err := d.Print(ctxFor(t), printer.Receipt{Lines: []string{"X"}})
	fault(t, err, escpos.FaultOffline)
	if !errors.Is(err, hal.ErrOffline) {
		t.Errorf("error %v does not wrap hal.ErrOffline", err)
	}

	second := openPTY(t) // plugged back in
	sim2 := simescpos.New(simescpos.Options{})
	serve(t, sim2, second)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Symlink(second.Path, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d, "online again", online)
	if err := d.Print(ctxFor(t), printer.Receipt{Lines: []string{"BACK"}, Cut: true}); err != nil {
		t.Fatal(err)
	}
	if got := sim2.Receipts(); len(got) != 1 || got[0].Lines[0] != "BACK" {
		t.Errorf("new printer printed %+v", got)
	}
}

// A port that does not exist at start is a status, not an error.
func TestAbsentAtStart(t *testing.T) {
	d := newDev(t, filepath.Join(t.TempDir(), "nothing"), testOptions())
	if st := d.Status(); st.State != hal.Offline || st.Fault != escpos.FaultOffline {
		t.Errorf("Status = %v", st)
	}
	if err := d.Halt(ctxFor(t)); !errors.Is(err, hal.ErrOffline) {
		t.Errorf("Halt = %v, want hal.ErrOffline", err)
	}
}

// Noise on the line costs at most the exchange it lands in (ESC/POS has
// no framing to resynchronise on): the next command works.
func TestNoiseOnTheLine(t *testing.T) {
	r := newRig(t, testOptions())
	if _, err := r.pty.Master.Write([]byte{0xFF, 0x00, 0x12, 0x11, 0x13, 0x55}); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Refresh(ctxFor(t)); err != nil {
		t.Logf("the exchange the noise hit: %v", err)
	}
	if err := r.dev.Print(ctxFor(t), printer.Receipt{Lines: []string{"CLEAN"}, Cut: true}); err != nil {
		t.Fatal(err)
	}
	if got := r.sim.Receipts(); len(got) != 1 {
		t.Fatalf("receipts %+v", got)
	}
}

// A context that ends while the driver waits for the printer returns the
// context's error and leaves the status alone.
func TestCancelWhileWaiting(t *testing.T) {
	r := newRig(t, testOptions())
	r.sim.Inject(simescpos.Offline)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.dev.Print(ctx, printer.Receipt{Lines: []string{"X"}})
	if !errors.Is(err, context.DeadlineExceeded) || hal.FaultCode(err) != "" {
		t.Fatalf("Print = %v, want the context's error", err)
	}
	if st := r.dev.Status(); !online(st) {
		t.Errorf("Status = %v, want it unchanged", st)
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]escpos.Options{
		"code page": {CodePage: "ebcdic"},
		"cols":      {Cols: 4},
		"feed":      {CutFeed: 300},
		"duration":  {Timeout: -1},
	} {
		if _, err := escpos.NewSerial("/dev/null", o); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("%s: NewSerial = %v, want hal.ErrInvalid", name, err)
		}
	}
	if _, err := escpos.NewSerial("", escpos.DefaultOptions); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("no port: %v", err)
	}
}
