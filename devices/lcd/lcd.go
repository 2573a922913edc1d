package lcd

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/opdisplay"
)

// FaultOffline is the fault code of a display whose port is gone.
const FaultOffline = "OPD-OFFLINE"

// Options configure a Dev. Start from DefaultOptions; a zero field takes
// its default.
type Options struct {
	// Name tells instances apart in String; "" uses the port path.
	Name string
	// Baud must match the display's setting (Matrix Orbital ships at
	// 19200), 8 data bits, no parity, 1 stop bit.
	Baud int
	// Rows and Cols are the display's size in characters.
	Rows, Cols int
	// Charset is what the display's character ROM holds above ASCII:
	// "latin1" (ISO 8859-1 at A0–FF, but FE, the command prefix) or
	// "ascii". Characters outside it are shown as '?'.
	Charset string
	// Poll is how often the driver tries to reopen a vanished port.
	Poll time.Duration
	// Redraw is how often the driver rewrites the current text, so that
	// a display that lost power behind a live adapter shows it again;
	// negative: never.
	Redraw time.Duration
	// Log receives status changes; the zero value discards. Displayed
	// text is logged at debug level only.
	Log zerolog.Logger
}

// DefaultOptions: a 4×20 Matrix Orbital LK-series display at 19200
// baud with a Western European (Latin-1) character ROM; a vanished port
// is retried every 2 s and the text rewritten every 30 s.
var DefaultOptions = Options{
	Baud:    19200,
	Rows:    4,
	Cols:    20,
	Charset: "latin1",
	Poll:    2 * time.Second,
	Redraw:  30 * time.Second,
}

// Dev is a serial character display that takes the Matrix Orbital LK
// command set.
type Dev struct {
	opts Options
	path string
	caps opdisplay.Capabilities

	sem   chan struct{} // held while writing to the display
	ln    *line         // the open port; nil while closed; guarded by sem
	text  []string      // what the display should show; guarded by sem
	drawn time.Time     // when text was last written; guarded by sem
	sent  atomic.Uint64

	mu      sync.Mutex
	st      hal.Status
	changed chan struct{}

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var _ opdisplay.Display = (*Dev)(nil)

// NewSerial opens the display on the serial port at path, sets it up
// (backlight on, cursors off, no wrap, no scroll) and clears it. It fails
// only on bad options: a port that is absent is a status (OPD-OFFLINE),
// and the driver keeps trying to open it every opts.Poll until Close.
func NewSerial(path string, opts Options) (*Dev, error) {
	if path == "" {
		return nil, fmt.Errorf("lcd: no port: %w", hal.ErrInvalid)
	}
	def := DefaultOptions
	if opts.Baud == 0 {
		opts.Baud = def.Baud
	}
	if opts.Rows == 0 && opts.Cols == 0 {
		opts.Rows, opts.Cols = def.Rows, def.Cols
	}
	if opts.Charset == "" {
		opts.Charset = def.Charset
	}
	if opts.Poll == 0 {
		opts.Poll = def.Poll
	}
	if opts.Redraw == 0 {
		opts.Redraw = def.Redraw
	}
	switch {
	case opts.Rows < 1 || opts.Rows > 255 || opts.Cols < 1 || opts.Cols > 255:
		return nil, fmt.Errorf("lcd: %d×%d characters, want 1 to 255 each: %w", opts.Rows, opts.Cols, hal.ErrInvalid)
	case opts.Charset != "latin1" && opts.Charset != "ascii":
		return nil, fmt.Errorf("lcd: unknown charset %q: %w", opts.Charset, hal.ErrInvalid)
	case opts.Poll < 0:
		return nil, fmt.Errorf("lcd: negative poll interval: %w", hal.ErrInvalid)
	}
	d := &Dev{
		opts:    opts,
		path:    path,
		caps:    opdisplay.Capabilities{Rows: opts.Rows, Cols: opts.Cols},
		sem:     make(chan struct{}, 1),
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		st:      hal.Status{State: hal.Offline, Detail: "not yet opened"},
	}
	d.opts.Log = opts.Log.With().Str("device", d.String()).Logger()
	d.sem <- struct{}{}
	_ = d.drawLocked() // the outcome is in Status
	<-d.sem
	go d.monitor()
	return d, nil
}

// String names the display: "opdisplay:lcd:" and Options.Name or the
// port path.
func (d *Dev) String() string {
	if d.opts.Name != "" {
		return "opdisplay:lcd:" + d.opts.Name
	}
	return "opdisplay:lcd:" + d.path
}

// Capabilities returns the configured size.
func (d *Dev) Capabilities() opdisplay.Capabilities { return d.caps }

// Status is online while the port is open and writes succeed, offline
// with OPD-OFFLINE once it is gone. It never blocks.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// WaitStatus blocks until Status satisfies cond, or ctx ends, and returns
// the status that did.
func (d *Dev) WaitStatus(ctx context.Context, cond func(hal.Status) bool) (hal.Status, error) {
	for {
		d.mu.Lock()
		st, ch := d.st, d.changed
		d.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("lcd: wait for status: %w", ctx.Err())
		}
	}
}

// Sent returns how many bytes the driver has written to the display
// since NewSerial, over every port it opened: a diagnostic counter, and
// what tests wait on before they read a simulator's screen.
func (d *Dev) Sent() uint64 { return d.sent.Load() }

// Show clears the display and writes lines from the top row. Text that
// does not fit is refused with opdisplay.ErrTooLong and nothing changes.
// The lines become the display's text even when the port is gone: the
// driver shows them as soon as it is back.
func (d *Dev) Show(ctx context.Context, lines []string) error {
	if err := opdisplay.Fit(d.caps, lines); err != nil {
		return fmt.Errorf("lcd: show: %w", err)
	}
	return d.set(ctx, "show", slices.Clone(lines))
}

// Halt clears the display.
func (d *Dev) Halt(ctx context.Context) error { return d.set(ctx, "halt", nil) }

// Refresh reopens the port if it had vanished and writes the current
// text again.
func (d *Dev) Refresh(ctx context.Context) error {
	if err := d.acquire(ctx); err != nil {
		return fmt.Errorf("lcd: refresh: %w", err)
	}
	defer d.release()
	if err := d.drawLocked(); err != nil {
		return fmt.Errorf("lcd: refresh: %w", err)
	}
	return nil
}

// Close stops the background work and closes the port. The Dev is not
// usable afterwards.
func (d *Dev) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
	d.sem <- struct{}{}
	defer func() { <-d.sem }()
	if d.ln != nil {
		err := d.ln.close()
		d.ln = nil
		if err != nil {
			return fmt.Errorf("lcd: close: %w", err)
		}
	}
	return nil
}

func (d *Dev) set(ctx context.Context, op string, lines []string) error {
	if err := d.acquire(ctx); err != nil {
		return fmt.Errorf("lcd: %s: %w", op, err)
	}
	defer d.release()
	d.text = lines
	if err := d.drawLocked(); err != nil {
		return fmt.Errorf("lcd: %s: %w", op, err)
	}
	d.opts.Log.Debug().Strs("lines", lines).Msg("display updated")
	return nil
}

func (d *Dev) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Dev) release() { <-d.sem }

// drawLocked opens the port if needed (setting the display up) and
// writes the current text.
func (d *Dev) drawLocked() error {
	var setup []byte
	if d.ln == nil || d.ln.isGone() {
		if d.ln != nil {
			_ = d.ln.close()
			d.ln = nil
		}
		ln, err := openLine(d.path, d.opts.Baud)
		if err != nil {
			return d.faultLocked(fmt.Errorf("%w: %w", errGone, err))
		}
		d.ln = ln
		setup = setupBytes
		d.opts.Log.Info().Str("port", d.path).Msg("port opened")
	}
	b := slices.Concat(setup, screen(d.text, d.opts.Charset == "latin1"))
	if err := d.ln.write(b); err != nil {
		return d.faultLocked(err)
	}
	d.sent.Add(uint64(len(b)))
	d.drawn = time.Now()
	d.setStatus(hal.Status{State: hal.Online})
	return nil
}

// faultLocked records a vanished port and returns the fault.
func (d *Dev) faultLocked(err error) error {
	if d.ln != nil {
		_ = d.ln.close()
		d.ln = nil
	}
	f := &hal.Fault{Device: "opdisplay", Code: FaultOffline, Msg: "port unavailable", Recoverable: true,
		Err: fmt.Errorf("%w: %w", hal.ErrOffline, err)}
	d.setStatus(hal.Status{State: hal.Offline, Fault: FaultOffline, Detail: "port unavailable"})
	return f
}

// monitor reopens a vanished port every Poll (noticing the loss at once)
// and rewrites the text every Redraw, until Close.
func (d *Dev) monitor() {
	defer close(d.done)
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		var gone <-chan struct{}
		select {
		case d.sem <- struct{}{}:
			if d.ln != nil {
				gone = d.ln.gone
			}
			<-d.sem
		case <-d.stop:
			return
		}
		select {
		case <-d.stop:
			return
		case <-gone:
			d.sem <- struct{}{}
			if d.ln != nil && d.ln.isGone() {
				_ = d.faultLocked(d.ln.cause())
			}
			<-d.sem
			continue
		case <-t.C:
		}
		d.sem <- struct{}{}
		if d.ln == nil || (d.opts.Redraw > 0 && time.Since(d.drawn) >= d.opts.Redraw) {
			_ = d.drawLocked()
		}
		<-d.sem
	}
}

// setStatus records st and wakes WaitStatus; a change is logged.
func (d *Dev) setStatus(st hal.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.State == st.State && d.st.Fault == st.Fault && d.st.Detail == st.Detail {
		return
	}
	d.st = st
	close(d.changed)
	d.changed = make(chan struct{})
	if st.Fault != "" {
		d.opts.Log.Warn().Str("fault", st.Fault).Str("state", st.State.String()).Msg("status changed")
	} else {
		d.opts.Log.Info().Str("state", st.State.String()).Msg("status changed")
	}
}
