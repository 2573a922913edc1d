package devsim

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/display"
)

// DisplayOffline is the customer display's fault code: the screen is dark
// or its renderer is gone.
const DisplayOffline = "SCR-OFFLINE"

// BlankScreen is the ID of the screen Halt shows.
const BlankScreen = "blank"

// DisplayOptions configures a Display.
type DisplayOptions struct {
	Name string               // instance name, shown by String
	Caps display.Capabilities // what the display declares and does
	Log  zerolog.Logger       // zero value: no logging
}

// DefaultDisplayOptions is a touch screen that renders QR codes, in
// English and Traditional Chinese. NewDisplay takes Name and Caps from
// here when they are zero.
var DefaultDisplayOptions = DisplayOptions{
	Name: "sim",
	Caps: display.Capabilities{QR: true, Touch: true, Langs: []string{"en", "zh-TW"}},
}

// Display is a simulated customer screen: a recorder of the screens shown,
// with a touch surface. Scenario tests wait for screens with Next; live
// viewers (the web screen, a terminal view) Subscribe. SCR-OFFLINE makes
// Show and Touch fail with hal.ErrOffline.
type Display struct {
	status
	opts DisplayOptions

	mu      sync.Mutex
	sig     changeSignal
	fault   string
	shown   []display.Screen
	subs    map[chan display.Screen]struct{}
	touches chan string
}

var (
	_ display.Display = (*Display)(nil)
	_ display.Touch   = (*Display)(nil)
	_ Faulty          = (*Display)(nil)
)

// NewDisplay returns an online display showing nothing.
func NewDisplay(opts DisplayOptions) *Display {
	if opts.Name == "" {
		opts.Name = DefaultDisplayOptions.Name
	}
	if !opts.Caps.QR && !opts.Caps.Touch && opts.Caps.Langs == nil {
		opts.Caps = DefaultDisplayOptions.Caps
	}
	return &Display{opts: opts, subs: map[chan display.Screen]struct{}{}, touches: make(chan string)}
}

// String names the display.
func (d *Display) String() string { return "display:sim:" + d.opts.Name }

// Capabilities returns the configured capabilities.
func (d *Display) Capabilities() display.Capabilities { return d.opts.Caps }

// Show records s as the current screen after checking it with
// Screen.Validate and against the capabilities.
func (d *Display) Show(ctx context.Context, s display.Screen) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.QR != "" && !d.opts.Caps.QR {
		return fmt.Errorf("devsim: display show %s: QR code: %w", s.ID, hal.ErrUnsupported)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: display show %s: %w", s.ID, err)
	}
	if err := d.faultLocked("show"); err != nil {
		return err
	}
	d.showLocked(s)
	return nil
}

// Halt shows the blank screen (ID BlankScreen).
func (d *Display) Halt(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: display halt: %w", err)
	}
	if err := d.faultLocked("halt"); err != nil {
		return err
	}
	d.showLocked(display.Screen{ID: BlankScreen})
	return nil
}

func (d *Display) showLocked(s display.Screen) {
	d.shown = append(d.shown, s)
	d.sig.broadcast()
	for ch := range d.subs {
		sendLatest(ch, s)
	}
	d.opts.Log.Debug().Str("screen", s.ID).Msg("screen shown")
}

// sendLatest sends s on ch, dropping the oldest screen if ch is full.
// Only the display sends on ch, with its mutex held.
func sendLatest(ch chan display.Screen, s display.Screen) {
	select {
	case ch <- s:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	ch <- s
}

// Touches yields the keys of touched menu items.
func (d *Display) Touches() <-chan string { return d.touches }

// Touch touches the menu item bound to key on the current screen and
// blocks until the touch is read from Touches. A key bound to no item of
// the current screen is refused with hal.ErrInvalid.
func (d *Display) Touch(ctx context.Context, key string) error {
	d.mu.Lock()
	err := d.faultLocked("touch")
	cur := d.currentLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cur.Menu, func(m display.MenuItem) bool { return m.Key == key }) {
		return fmt.Errorf("devsim: display touch: screen %q has no item on %q: %w", cur.ID, key, hal.ErrInvalid)
	}
	select {
	case d.touches <- key:
		d.opts.Log.Debug().Str("screen", cur.ID).Str("key", key).Msg("menu item touched")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devsim: display touch: nobody read it: %w", ctx.Err())
	}
}

// Current returns the screen shown now (the zero Screen before any).
func (d *Display) Current() display.Screen {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.currentLocked()
}

func (d *Display) currentLocked() display.Screen {
	if len(d.shown) == 0 {
		return display.Screen{}
	}
	return d.shown[len(d.shown)-1]
}

// History returns every screen shown, in order; a screen's index in it is
// what Next counts with.
func (d *Display) History() []display.Screen {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.shown)
}

// Next waits for the first screen shown after history index after (-1
// for the first screen ever) and returns it with its index.
func (d *Display) Next(ctx context.Context, after int) (display.Screen, int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := max(after+1, 0)
	if err := d.sig.waitLocked(ctx, &d.mu, func() bool { return len(d.shown) > i }); err != nil {
		return display.Screen{}, after, fmt.Errorf("devsim: display next: %w", err)
	}
	return d.shown[i], i, nil
}

// Subscribe returns a channel that receives the current screen (if one
// has been shown) and then every screen shown, and a function that ends
// the subscription and closes the channel. A viewer that falls behind
// loses the oldest screens, never the latest.
func (d *Display) Subscribe() (<-chan display.Screen, func()) {
	ch := make(chan display.Screen, 16)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.shown) > 0 {
		ch <- d.currentLocked()
	}
	d.subs[ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			delete(d.subs, ch)
			close(ch)
		})
	}
}

// Inject puts the display into fault code: SCR-OFFLINE.
func (d *Display) Inject(code string) error {
	if code != DisplayOffline {
		return fmt.Errorf("devsim: display: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault = code
	d.set(hal.Offline, code, "screen not responding")
	d.opts.Log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// Clear brings the display online again.
func (d *Display) Clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault = ""
	d.set(hal.Online, "", "")
	d.opts.Log.Info().Msg("faults cleared")
}

func (d *Display) faultLocked(op string) error {
	if d.fault == "" {
		return nil
	}
	return fmt.Errorf("devsim: display %s: %w", op, &hal.Fault{
		Device: "display", Code: d.fault, Msg: "screen not responding", Recoverable: true, Err: hal.ErrOffline})
}
