package devsim_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hal/printer/printertest"
	"github.com/atmd/atmd/sim/devsim"
)

func TestPrinterConformance(t *testing.T) {
	for name, caps := range map[string]printer.Capabilities{
		"default":   {},
		"no-cutter": {Cols: 24},
	} {
		t.Run(name, func(t *testing.T) {
			printertest.Run(t, func(t *testing.T) printertest.Harness {
				p := devsim.NewPrinter(devsim.PrinterOptions{Caps: caps})
				return printertest.Harness{Dev: p, Printed: p.Receipts, SetPaper: p.SetPaper}
			})
		})
	}
}

func TestPrinterFaults(t *testing.T) {
	tests := []struct {
		code   string
		state  hal.State
		fault  string
		paper  string
		errIs  error // from Print; nil: prints
		faulty bool  // Print's error carries the code
	}{
		{devsim.PrinterOffline, hal.Offline, devsim.PrinterOffline, "ok", hal.ErrOffline, true},
		{devsim.PrinterJam, hal.HardwareError, devsim.PrinterJam, "ok", nil, true},
		{devsim.PrinterPaperOut, hal.UserError, devsim.PrinterPaperOut, "out", printer.ErrPaperOut, true},
		{devsim.PrinterPaperLow, hal.Online, "", "low", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			ctx := ctxT(t)
			p := devsim.NewPrinter(devsim.DefaultPrinterOptions)
			if err := p.Inject(tc.code); err != nil {
				t.Fatal(err)
			}
			st := p.Status()
			if st.State != tc.state || st.Fault != tc.fault || st.Extra["paper"] != tc.paper {
				t.Fatalf("Status = %v %v, want %v %q paper %s", st, st.Extra, tc.state, tc.fault, tc.paper)
			}
			err := p.Print(ctx, printer.Receipt{Lines: []string{"X"}})
			switch {
			case tc.faulty:
				if hal.FaultCode(err) != tc.code || (tc.errIs != nil && !errors.Is(err, tc.errIs)) {
					t.Fatalf("Print = %v, want fault %s wrapping %v", err, tc.code, tc.errIs)
				}
				if n := len(p.Receipts()); n != 0 {
					t.Fatalf("%d receipts printed during the fault", n)
				}
			case err != nil:
				t.Fatalf("Print with %s: %v", tc.code, err)
			}
			p.Clear()
			if st := p.Status(); !st.OK() || st.Extra["paper"] != "ok" {
				t.Fatalf("Status after Clear = %v %v, want OK with paper", st, st.Extra)
			}
			if err := p.Print(ctx, printer.Receipt{Lines: []string{"Y"}}); err != nil {
				t.Fatalf("Print after Clear: %v", err)
			}
		})
	}
	p := devsim.NewPrinter(devsim.DefaultPrinterOptions)
	if err := p.Inject("DSP-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Inject(DSP-JAM) = %v, want hal.ErrInvalid", err)
	}
	if err := p.SetPaper("half"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("SetPaper(half) = %v, want hal.ErrInvalid", err)
	}
}

func TestPrinterLogsNoReceiptTextAtInfo(t *testing.T) {
	var logs logBuffer
	p := devsim.NewPrinter(devsim.PrinterOptions{Log: zerolog.New(&logs).Level(zerolog.InfoLevel)})
	if err := p.Print(ctxT(t), printer.Receipt{Lines: []string{"BALANCE 12,345.67"}}); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); strings.Contains(out, "12,345.67") || !strings.Contains(out, "receipt printed") {
		t.Fatalf("info log must record the receipt without its text:\n%s", out)
	}
}

// FuzzPrinterWrap checks that any printable line comes out whole, in
// lines no wider than the printer.
func FuzzPrinterWrap(f *testing.F) {
	for _, s := range []string{"", "WITHDRAWAL 1,500.00", strings.Repeat("x", 41), strings.Repeat("提款", 30), "a\x1bb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := devsim.NewPrinter(devsim.DefaultPrinterOptions)
		r := printer.Receipt{Lines: []string{line}}
		err := p.Print(t.Context(), r)
		if (err != nil) != (r.Validate() != nil) {
			t.Fatalf("Print = %v, Validate = %v", err, r.Validate())
		}
		if err != nil {
			if !errors.Is(err, hal.ErrInvalid) || len(p.Receipts()) != 0 {
				t.Fatalf("refused line: err %v, printed %d", err, len(p.Receipts()))
			}
			return
		}
		got := p.Receipts()[0].Lines
		for _, l := range got {
			if n := len([]rune(l)); n > devsim.DefaultPrinterOptions.Caps.Cols {
				t.Fatalf("printed line of %d characters", n)
			}
		}
		if strings.Join(got, "") != line {
			t.Fatalf("printed %q, want %q", got, line)
		}
	})
}
