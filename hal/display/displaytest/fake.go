package displaytest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/display"
)

// Fake is an in-memory customer display with QR codes and touch. It
// records every screen shown; the test touches menu items with Touch and
// scripts failures with FailNext. Use NewFake.
type Fake struct {
	mu       sync.Mutex
	st       hal.Status
	shown    []display.Screen
	touches  chan string
	failNext map[string]error
}

// NewFake returns an online fake display showing nothing.
func NewFake() *Fake {
	return &Fake{touches: make(chan string), failNext: map[string]error{}}
}

var (
	_ display.Display = (*Fake)(nil)
	_ display.Touch   = (*Fake)(nil)
)

// String names the fake.
func (f *Fake) String() string { return "display:fake" }

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

// Capabilities declares QR codes, touch and English and Chinese.
func (f *Fake) Capabilities() display.Capabilities {
	return display.Capabilities{QR: true, Touch: true, Langs: []string{"en", "zh-TW"}}
}

// FailNext makes the next call of method ("Show" or "Halt") return err
// without doing anything.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = err
}

// Show records s after checking it with Screen.Validate.
func (f *Fake) Show(ctx context.Context, s display.Screen) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Show"); err != nil {
		return err
	}
	f.shown = append(f.shown, s)
	return nil
}

// Halt shows a blank screen with ID "blank".
func (f *Fake) Halt(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Halt"); err != nil {
		return err
	}
	f.shown = append(f.shown, display.Screen{ID: "blank"})
	return nil
}

// Touches yields the keys of touched menu items.
func (f *Fake) Touches() <-chan string { return f.touches }

// Current returns the screen shown last (the zero Screen before any).
func (f *Fake) Current() display.Screen {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.shown) == 0 {
		return display.Screen{}
	}
	return f.shown[len(f.shown)-1]
}

// Screens returns every screen shown, in order.
func (f *Fake) Screens() []display.Screen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.shown)
}

// Touch touches the menu item bound to key on the current screen and
// blocks until the touch is read from Touches.
func (f *Fake) Touch(ctx context.Context, key string) error {
	cur := f.Current()
	if !slices.ContainsFunc(cur.Menu, func(m display.MenuItem) bool { return m.Key == key }) {
		return fmt.Errorf("displaytest: touch: screen %q has no item on %q: %w", cur.ID, key, hal.ErrInvalid)
	}
	select {
	case f.touches <- key:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("displaytest: touch: nobody read it: %w", ctx.Err())
	}
}

func (f *Fake) beginLocked(ctx context.Context, method string) error {
	if err, ok := f.failNext[method]; ok {
		delete(f.failNext, method)
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("displaytest: %s: %w", method, err)
	}
	return nil
}
