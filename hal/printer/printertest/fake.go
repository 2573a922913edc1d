package printertest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Fake is an in-memory receipt printer, 40 columns with a cutter. It
// records what it prints; the test sets the paper with SetPaper and
// scripts failures with FailNext. Use NewFake.
type Fake struct {
	mu       sync.Mutex
	paper    string
	printed  []printer.Receipt
	failNext map[string]error
}

// NewFake returns an online fake printer with paper.
func NewFake() *Fake {
	return &Fake{paper: "ok", failNext: map[string]error{}}
}

var _ printer.Printer = (*Fake)(nil)

// String names the fake.
func (f *Fake) String() string { return "printer:fake" }

// Status reports the paper state as the contract describes.
func (f *Fake) Status() hal.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := hal.Status{Extra: map[string]string{"paper": f.paper}}
	if f.paper == "out" {
		st.State, st.Fault = hal.UserError, PaperOutCode
	}
	return st
}

// Capabilities declares 40 columns and a cutter.
func (f *Fake) Capabilities() printer.Capabilities { return printer.Capabilities{Cols: 40, Cut: true} }

// SetPaper sets the paper roll to "ok", "low" or "out".
func (f *Fake) SetPaper(state string) error {
	if state != "ok" && state != "low" && state != "out" {
		return fmt.Errorf("printertest: paper state %q: %w", state, hal.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paper = state
	return nil
}

// FailNext makes the next call of method ("Print" or "Halt") return err
// without doing anything.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = err
}

// Print records r, its long lines wrapped at 40 characters.
func (f *Fake) Print(ctx context.Context, r printer.Receipt) error {
	if err := r.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Print"); err != nil {
		return err
	}
	if f.paper == "out" {
		return fmt.Errorf("printertest: print: %w", printer.ErrPaperOut)
	}
	out := printer.Receipt{Cut: r.Cut}
	for _, l := range r.Lines {
		for rs := []rune(l); ; rs = rs[40:] {
			if len(rs) <= 40 {
				out.Lines = append(out.Lines, string(rs))
				break
			}
			out.Lines = append(out.Lines, string(rs[:40]))
		}
	}
	f.printed = append(f.printed, out)
	return nil
}

// Halt does nothing but honour FailNext and ctx: a printer at rest is
// safe.
func (f *Fake) Halt(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beginLocked(ctx, "Halt")
}

// Receipts returns the receipts printed, in order.
func (f *Fake) Receipts() []printer.Receipt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.printed)
}

func (f *Fake) beginLocked(ctx context.Context, method string) error {
	if err, ok := f.failNext[method]; ok {
		delete(f.failNext, method)
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("printertest: %s: %w", method, err)
	}
	return nil
}
