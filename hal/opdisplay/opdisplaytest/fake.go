package opdisplaytest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/opdisplay"
)

// Fake is an in-memory operator display that records what it shows. Use
// NewFake.
type Fake struct {
	mu       sync.Mutex
	caps     opdisplay.Capabilities
	st       hal.Status
	shown    [][]string
	failNext map[string]error
}

// NewFake returns an online fake display of caps' size (4×20 when caps
// is zero), showing nothing.
func NewFake(caps opdisplay.Capabilities) *Fake {
	if caps == (opdisplay.Capabilities{}) {
		caps = opdisplay.Capabilities{Rows: 4, Cols: 20}
	}
	return &Fake{caps: caps, failNext: map[string]error{}}
}

var _ opdisplay.Display = (*Fake)(nil)

// String names the fake.
func (f *Fake) String() string { return "opdisplay:fake" }

// Status returns the status set with SetStatus (online at first).
func (f *Fake) Status() hal.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// SetStatus sets what Status reports; it does not change behaviour.
func (f *Fake) SetStatus(st hal.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
}

// Capabilities returns the size given to NewFake.
func (f *Fake) Capabilities() opdisplay.Capabilities { return f.caps }

// FailNext makes the next call of method ("Show" or "Halt") return err
// without doing anything.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = err
}

// Show records lines after checking them with opdisplay.Fit.
func (f *Fake) Show(ctx context.Context, lines []string) error {
	if err := opdisplay.Fit(f.caps, lines); err != nil {
		return fmt.Errorf("opdisplaytest: show: %w", err)
	}
	return f.record(ctx, "Show", slices.Clone(lines))
}

// Halt clears the display.
func (f *Fake) Halt(ctx context.Context) error { return f.record(ctx, "Halt", []string{}) }

func (f *Fake) record(ctx context.Context, method string, lines []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err, ok := f.failNext[method]; ok {
		delete(f.failNext, method)
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("opdisplaytest: %s: %w", method, err)
	}
	f.shown = append(f.shown, lines)
	return nil
}

// Lines returns the text shown now (nil before any Show).
func (f *Fake) Lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.shown) == 0 {
		return nil
	}
	return slices.Clone(f.shown[len(f.shown)-1])
}

// History returns everything shown, in order; Halt shows no lines.
func (f *Fake) History() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.shown))
	for i, l := range f.shown {
		out[i] = slices.Clone(l)
	}
	return out
}
