package devsim

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Printer fault codes.
const (
	PrinterOffline  = "PRN-OFFLINE"   // printer not responding
	PrinterJam      = "PRN-JAM"       // paper jammed
	PrinterPaperOut = "PRN-PAPER-OUT" // no paper: same as SetPaper("out")
	PrinterPaperLow = "PRN-PAPER-LOW" // paper low, still printing: same as SetPaper("low")
)

// PrinterOptions configures a Printer.
type PrinterOptions struct {
	Name string               // instance name, shown by String
	Caps printer.Capabilities // width and cutter
	Log  zerolog.Logger       // zero value: no logging
}

// DefaultPrinterOptions is a 40-column printer with a cutter. NewPrinter
// takes Name and Caps from here when they are zero.
var DefaultPrinterOptions = PrinterOptions{Name: "sim", Caps: printer.Capabilities{Cols: 40, Cut: true}}

// Printer is a simulated receipt printer. It keeps the receipts it
// printed, with long lines wrapped at Cols characters.
//
// Paper: SetPaper (or Inject PRN-PAPER-LOW / PRN-PAPER-OUT) sets the
// roll; Status reports it in Extra["paper"]. Out of paper, Print fails
// with printer.ErrPaperOut and prints nothing. PRN-OFFLINE (hal.ErrOffline)
// and PRN-JAM fail every command with a *hal.Fault. Clear removes the
// faults and puts in a full roll.
type Printer struct {
	status
	opts PrinterOptions

	mu      sync.Mutex
	fault   string // PrinterOffline, PrinterJam or ""
	paper   string // "ok", "low" or "out"
	printed []printer.Receipt
}

var (
	_ printer.Printer = (*Printer)(nil)
	_ Faulty          = (*Printer)(nil)
)

// NewPrinter returns an online printer with a full roll.
func NewPrinter(opts PrinterOptions) *Printer {
	if opts.Name == "" {
		opts.Name = DefaultPrinterOptions.Name
	}
	if opts.Caps == (printer.Capabilities{}) {
		opts.Caps = DefaultPrinterOptions.Caps
	}
	p := &Printer{opts: opts, paper: "ok"}
	p.updateLocked()
	return p
}

// String names the printer.
func (p *Printer) String() string { return "printer:sim:" + p.opts.Name }

// Capabilities returns the configured capabilities.
func (p *Printer) Capabilities() printer.Capabilities { return p.opts.Caps }

// Print prints r. Receipt lines are logged only at debug level.
func (p *Printer) Print(ctx context.Context, r printer.Receipt) error {
	if err := r.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLocked(ctx, "print"); err != nil {
		return err
	}
	if p.paper == "out" {
		return fmt.Errorf("devsim: printer print: %w", &hal.Fault{
			Device: "printer", Code: PrinterPaperOut, Msg: "paper out", Recoverable: true, Err: printer.ErrPaperOut})
	}
	out := printer.Receipt{Cut: r.Cut && p.opts.Caps.Cut}
	for _, l := range r.Lines {
		out.Lines = append(out.Lines, wrapLine(l, p.opts.Caps.Cols)...)
	}
	p.printed = append(p.printed, out)
	p.opts.Log.Info().Int("lines", len(out.Lines)).Bool("cut", out.Cut).Msg("receipt printed")
	p.opts.Log.Debug().Strs("text", out.Lines).Msg("receipt text")
	return nil
}

// wrapLine cuts l into lines of cols characters and a shorter rest.
func wrapLine(l string, cols int) []string {
	var out []string
	rs := []rune(l)
	for len(rs) > cols {
		out = append(out, string(rs[:cols]))
		rs = rs[cols:]
	}
	return append(out, string(rs))
}

// Halt leaves the printer at rest; an offline or jammed printer reports
// its fault.
func (p *Printer) Halt(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkLocked(ctx, "halt")
}

// Receipts returns the receipts printed, in order.
func (p *Printer) Receipts() []printer.Receipt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.printed)
}

// SetPaper sets the paper roll: "ok", "low" or "out".
func (p *Printer) SetPaper(state string) error {
	if state != "ok" && state != "low" && state != "out" {
		return fmt.Errorf("devsim: printer: paper state %q: %w", state, hal.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paper = state
	p.updateLocked()
	p.opts.Log.Info().Str("paper", state).Msg("paper changed")
	return nil
}

// Inject puts the printer into fault code: PRN-OFFLINE, PRN-JAM,
// PRN-PAPER-OUT or PRN-PAPER-LOW.
func (p *Printer) Inject(code string) error {
	switch code {
	case PrinterPaperOut:
		return p.SetPaper("out")
	case PrinterPaperLow:
		return p.SetPaper("low")
	case PrinterOffline, PrinterJam:
	default:
		return fmt.Errorf("devsim: printer: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = code
	p.updateLocked()
	p.opts.Log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// Clear removes the faults and puts in a full roll.
func (p *Printer) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.paper = "", "ok"
	p.updateLocked()
	p.opts.Log.Info().Msg("faults cleared")
}

func (p *Printer) checkLocked(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: printer %s: %w", op, err)
	}
	switch p.fault {
	case PrinterOffline:
		return fmt.Errorf("devsim: printer %s: %w", op, &hal.Fault{
			Device: "printer", Code: p.fault, Msg: "not responding", Recoverable: true, Err: hal.ErrOffline})
	case PrinterJam:
		return fmt.Errorf("devsim: printer %s: %w", op, &hal.Fault{Device: "printer", Code: p.fault, Msg: "paper jammed"})
	}
	return nil
}

func (p *Printer) updateLocked() {
	p.setExtra("paper", p.paper)
	switch {
	case p.fault == PrinterOffline:
		p.set(hal.Offline, p.fault, "not responding")
	case p.fault == PrinterJam:
		p.set(hal.HardwareError, p.fault, "paper jammed")
	case p.paper == "out":
		p.set(hal.UserError, PrinterPaperOut, "paper out")
	default:
		p.set(hal.Online, "", "")
	}
}
