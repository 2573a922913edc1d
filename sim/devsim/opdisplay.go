package devsim

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/opdisplay"
)

// OpDisplayOffline is the operator display's fault code.
const OpDisplayOffline = "OPD-OFFLINE"

// OpDisplayOptions configures an OpDisplay.
type OpDisplayOptions struct {
	Name string                 // instance name, shown by String
	Caps opdisplay.Capabilities // the display's size
	Log  zerolog.Logger         // zero value: no logging
}

// DefaultOpDisplayOptions is a 4×20 character display. NewOpDisplay takes
// Name and Caps from here when they are zero.
var DefaultOpDisplayOptions = OpDisplayOptions{Name: "sim", Caps: opdisplay.Capabilities{Rows: 4, Cols: 20}}

// OpDisplay is a simulated operator panel display: a recorder of what it
// shows. Text that does not fit is refused (opdisplay.Fit). OPD-OFFLINE
// makes Show and Halt fail with hal.ErrOffline.
type OpDisplay struct {
	status
	opts OpDisplayOptions

	mu    sync.Mutex
	sig   changeSignal
	fault string
	shown [][]string
}

var (
	_ opdisplay.Display = (*OpDisplay)(nil)
	_ Faulty            = (*OpDisplay)(nil)
)

// NewOpDisplay returns an online, empty display.
func NewOpDisplay(opts OpDisplayOptions) *OpDisplay {
	if opts.Name == "" {
		opts.Name = DefaultOpDisplayOptions.Name
	}
	if opts.Caps == (opdisplay.Capabilities{}) {
		opts.Caps = DefaultOpDisplayOptions.Caps
	}
	return &OpDisplay{opts: opts}
}

// String names the display.
func (o *OpDisplay) String() string { return "opdisplay:sim:" + o.opts.Name }

// Capabilities returns the display's size.
func (o *OpDisplay) Capabilities() opdisplay.Capabilities { return o.opts.Caps }

// Show displays lines, one per row from the top.
func (o *OpDisplay) Show(ctx context.Context, lines []string) error {
	if err := opdisplay.Fit(o.opts.Caps, lines); err != nil {
		return fmt.Errorf("devsim: opdisplay show: %w", err)
	}
	return o.show(ctx, "show", slices.Clone(lines))
}

// Halt clears the display.
func (o *OpDisplay) Halt(ctx context.Context) error { return o.show(ctx, "halt", []string{}) }

func (o *OpDisplay) show(ctx context.Context, op string, lines []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: opdisplay %s: %w", op, err)
	}
	if o.fault != "" {
		return fmt.Errorf("devsim: opdisplay %s: %w", op, &hal.Fault{
			Device: "opdisplay", Code: o.fault, Msg: "not responding", Recoverable: true, Err: hal.ErrOffline})
	}
	o.shown = append(o.shown, lines)
	o.sig.broadcast()
	o.opts.Log.Debug().Strs("lines", lines).Msg("operator display updated")
	return nil
}

// Lines returns the text shown now (nil before any Show).
func (o *OpDisplay) Lines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.shown) == 0 {
		return nil
	}
	return slices.Clone(o.shown[len(o.shown)-1])
}

// History returns everything shown, in order; Halt shows no lines.
func (o *OpDisplay) History() [][]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([][]string, len(o.shown))
	for i, l := range o.shown {
		out[i] = slices.Clone(l)
	}
	return out
}

// Next waits for the first text shown after history index after (-1 for
// the first ever) and returns it with its index.
func (o *OpDisplay) Next(ctx context.Context, after int) ([]string, int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := max(after+1, 0)
	if err := o.sig.waitLocked(ctx, &o.mu, func() bool { return len(o.shown) > i }); err != nil {
		return nil, after, fmt.Errorf("devsim: opdisplay next: %w", err)
	}
	return slices.Clone(o.shown[i]), i, nil
}

// Inject puts the display into fault code: OPD-OFFLINE.
func (o *OpDisplay) Inject(code string) error {
	if code != OpDisplayOffline {
		return fmt.Errorf("devsim: opdisplay: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault = code
	o.set(hal.Offline, code, "not responding")
	o.opts.Log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// Clear brings the display online again.
func (o *OpDisplay) Clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault = ""
	o.set(hal.Online, "", "")
	o.opts.Log.Info().Msg("faults cleared")
}
