package lcd

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
)

// Offline is the fault Inject takes: the display loses power behind a
// live serial adapter. It shows nothing and ignores what it is sent;
// Clear brings it back blank, in its power-on state, as a real display
// comes back.
const Offline = "OPD-OFFLINE"

// Options configure a Display.
type Options struct {
	// Name is shown by String.
	Name string
	// Rows and Cols are the size in characters.
	Rows, Cols int
	// Log receives control actions and problems; the zero value
	// discards.
	Log zerolog.Logger
}

// DefaultOptions: a 4×20 display. New takes a zero size from here.
var DefaultOptions = Options{Name: "sim", Rows: 4, Cols: 20}

// Display is a simulated serial character display that takes the
// Matrix Orbital LK command set: a grid of characters and a cursor. Use
// New.
type Display struct {
	opts Options

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever bytes are processed
	grid      [][]rune
	row, col  int // cursor, 0-based; col == Cols: the row is full
	wrap      bool
	scroll    bool
	backlight bool
	underline bool
	block     bool
	dead      bool
	received  uint64
	problems  []string
}

// New returns a display in its power-on state: blank, cursor home,
// backlight on, line wrap and auto scroll on, cursors off.
func New(opts Options) *Display {
	if opts.Name == "" {
		opts.Name = DefaultOptions.Name
	}
	if opts.Rows <= 0 || opts.Cols <= 0 {
		opts.Rows, opts.Cols = DefaultOptions.Rows, DefaultOptions.Cols
	}
	d := &Display{opts: opts, changed: make(chan struct{})}
	d.powerOnLocked()
	return d
}

func (d *Display) powerOnLocked() {
	d.grid = make([][]rune, d.opts.Rows)
	for i := range d.grid {
		d.grid[i] = []rune(strings.Repeat(" ", d.opts.Cols))
	}
	d.row, d.col = 0, 0
	d.wrap, d.scroll, d.backlight = true, true, true
	d.underline, d.block = false, false
}

// String names the simulator.
func (d *Display) String() string { return "opdisplay:wire-lcd:" + d.opts.Name }

// Serve runs the display on rw (the master side of a pseudo-terminal, a
// serial port, any io.ReadWriter) until ctx ends or rw fails, and
// returns ctx's error or the read error wrapped. The display sends
// nothing. On an *os.File a cancelled ctx interrupts the blocked read;
// on another reader Serve returns at once and the read in flight ends
// with rw. One Serve at a time; the screen carries over to the next.
func (d *Display) Serve(ctx context.Context, rw io.ReadWriter) error {
	parser := Parser{Cells: d.opts.Rows * d.opts.Cols}
	read := rw.Read
	if f, ok := rw.(*os.File); ok {
		read = func(b []byte) (int, error) { return readFile(ctx, f, b) }
	}
	type result struct {
		b   []byte
		err error
	}
	reads := make(chan result)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 512)
		for {
			n, err := read(buf)
			select {
			case reads <- result{b: slices.Clone(buf[:n]), err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	if _, ok := rw.(*os.File); ok {
		defer func() { <-readerDone }()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-reads:
			if len(r.b) > 0 {
				d.Feed(&parser, r.b)
			}
			if r.err != nil {
				return fmt.Errorf("lcd sim: read: %w", r.err)
			}
		}
	}
}

// Feed processes bytes as if they had arrived on the line. Serve uses
// the same path; Feed is for tests that need no line.
func (d *Display) Feed(parser *Parser, b []byte) {
	cmds := parser.Feed(b)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.received += uint64(len(b))
	if !d.dead {
		for _, c := range cmds {
			d.execLocked(c)
		}
	}
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *Display) problemLocked(s string) {
	d.problems = append(d.problems, s)
	d.opts.Log.Warn().Str("problem", s).Msg("bad input")
}

func (d *Display) execLocked(c Cmd) {
	if c.Text != nil {
		for _, b := range c.Text {
			d.putLocked(d.glyphLocked(b))
		}
		return
	}
	switch c.Op {
	case 0x58:
		for _, r := range d.grid {
			for i := range r {
				r[i] = ' '
			}
		}
		d.row, d.col = 0, 0
	case 0x48:
		d.row, d.col = 0, 0
	case 0x47:
		col, row := int(c.Args[0]), int(c.Args[1])
		if col < 1 || col > d.opts.Cols || row < 1 || row > d.opts.Rows {
			d.problemLocked(fmt.Sprintf("set cursor to column %d row %d: off the screen", col, row))
			return
		}
		d.row, d.col = row-1, col-1
	case 0x4C:
		d.col = max(min(d.col, d.opts.Cols-1)-1, 0)
	case 0x4D:
		d.col = min(d.col+1, d.opts.Cols-1)
	case 0x42:
		d.backlight = true
	case 0x46:
		d.backlight = false
	case 0x4A, 0x4B:
		d.underline = c.Op == 0x4A
	case 0x53, 0x54:
		d.block = c.Op == 0x53
	case 0x43, 0x44:
		d.wrap = c.Op == 0x43
	case 0x51, 0x52:
		d.scroll = c.Op == 0x51
	case 0x36, 0x37, 0x26:
		d.problemLocked(c.Name + ": read-back is not simulated; no answer")
	default:
		if c.Name == "" {
			d.problemLocked(fmt.Sprintf("unknown command FE %02X", c.Op))
		}
		// Contrast, brightness, custom characters, keypad, GPO and
		// interface settings do not change the text.
	}
}

// glyphLocked is what byte b shows: ASCII and ISO 8859-1 above A0 as
// themselves; custom characters (00–07) and bytes the display does not
// define as U+FFFD, the latter reported.
func (d *Display) glyphLocked(b byte) rune {
	switch {
	case b >= 0x20 && b < 0x7F, b >= 0xA0:
		return rune(b)
	case b < 0x08:
		return '\uFFFD' // a custom character
	}
	d.problemLocked(fmt.Sprintf("byte %02X is no character", b))
	return '\uFFFD'
}

// putLocked writes r at the cursor. A full row moves on to the next one
// when the next character comes, if line wrap is on (and past the last
// row scrolls up, or with auto scroll off goes back to the top);
// otherwise characters past the end of the row are lost.
func (d *Display) putLocked(r rune) {
	if d.col >= d.opts.Cols {
		if !d.wrap {
			return
		}
		d.col = 0
		if d.row++; d.row == d.opts.Rows {
			if d.scroll {
				copy(d.grid, d.grid[1:])
				d.grid[d.opts.Rows-1] = []rune(strings.Repeat(" ", d.opts.Cols))
				d.row = d.opts.Rows - 1
			} else {
				d.row = 0
			}
		}
	}
	d.grid[d.row][d.col] = r
	d.col++
}

// Lines returns the screen, one string of exactly Cols characters per
// row.
func (d *Display) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.grid))
	for i, r := range d.grid {
		out[i] = string(r)
	}
	return out
}

// Text returns the screen as text: trailing blanks of every row and
// trailing blank rows removed (nil for a blank screen).
func (d *Display) Text() []string {
	var out []string
	for _, l := range d.Lines() {
		out = append(out, strings.TrimRight(l, " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// Cursor returns the cursor's row and column (0-based) and whether a
// cursor (underline or block) is shown.
func (d *Display) Cursor() (row, col int, visible bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.row, min(d.col, d.opts.Cols-1), d.underline || d.block
}

// Backlight reports whether the backlight is on.
func (d *Display) Backlight() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.backlight && !d.dead
}

// Received returns how many bytes the display has processed.
func (d *Display) Received() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.received
}

// WaitReceived waits until the display has processed at least n bytes,
// or ctx ends.
func (d *Display) WaitReceived(ctx context.Context, n uint64) error {
	return d.Wait(ctx, func() bool { return d.received >= n })
}

// WaitText waits until Text satisfies cond, or ctx ends.
func (d *Display) WaitText(ctx context.Context, cond func(text []string) bool) error {
	for {
		d.mu.Lock()
		ch := d.changed
		d.mu.Unlock()
		if cond(d.Text()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("lcd sim: wait for text: %w", ctx.Err())
		}
	}
}

// Wait waits until cond, called with the display locked, holds, or ctx
// ends.
func (d *Display) Wait(ctx context.Context, cond func() bool) error {
	for {
		d.mu.Lock()
		ok, ch := cond(), d.changed
		d.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("lcd sim: wait: %w", ctx.Err())
		}
	}
}

// Problems returns what the display could not make sense of: unknown
// commands, a cursor off the screen, bytes that are no character.
func (d *Display) Problems() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.problems)
}

// Inject puts the display into fault code: OPD-OFFLINE.
func (d *Display) Inject(code string) error {
	if code != Offline {
		return fmt.Errorf("lcd sim: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	d.powerOnLocked() // what it showed is gone
	d.opts.Log.Warn().Str("fault", code).Msg("fault injected: display without power")
	return nil
}

// Clear powers the display back on: blank, in its power-on state.
func (d *Display) Clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = false
	d.powerOnLocked()
	close(d.changed)
	d.changed = make(chan struct{})
	d.opts.Log.Info().Msg("faults cleared: display powered on")
}
