package escpos

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Fault codes Inject takes.
const (
	PaperOut  = "PRN-PAPER-OUT"  // no paper: same as SetPaper("out")
	PaperLow  = "PRN-PAPER-LOW"  // near end, still printing: same as SetPaper("low")
	CoverOpen = "PRN-COVER-OPEN" // cover open: off-line
	Jam       = "PRN-JAM"        // autocutter error: off-line until Clear
	Hardware  = "PRN-HARDWARE"   // unrecoverable error: off-line until Clear
	Offline   = "PRN-OFFLINE"    // reads everything, answers nothing
	Timeout   = "PRN-TIMEOUT"    // answers, but Options.Delay late
	Protocol  = "PRN-PROTOCOL"   // answers every status request with FF
)

// Options configure a Printer.
type Options struct {
	// Name is shown by String.
	Name string
	// Cols is the paper width in single-width characters; text beyond it
	// wraps, as on paper. A Big5 character takes two columns.
	Cols int
	// Delay is how late answers come while PRN-TIMEOUT is injected.
	Delay time.Duration
	// Log receives receipts and control actions; the zero value
	// discards. Receipt text is logged at debug level only.
	Log zerolog.Logger
}

// DefaultOptions: 42 columns (80 mm paper, Font A); answers 2 s late
// under PRN-TIMEOUT. New takes a zero field from here.
var DefaultOptions = Options{Name: "sim", Cols: 42, Delay: 2 * time.Second}

// Printer is a simulated ESC/POS receipt printer at the far end of a
// serial line: it parses the byte stream, prints text lines (rendered as
// strings), cuts, and answers real-time status (DLE EOT n) and GS r
// requests from its paper, cover and error state. Use New.
type Printer struct {
	opts Options

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when a receipt is finished
	paper    string        // "ok", "low", "out"
	cover    bool          // cover open
	cutter   bool          // autocutter error
	broken   bool          // unrecoverable error
	jamCut   bool          // the next cut jams
	mode     string        // "", Offline, Timeout or Protocol
	truncate bool          // answer only the first of every two status requests
	answered int           // status requests seen while truncating

	table    byte // ESC t n
	line     []rune
	width    int // columns used on line
	open     []string
	done     []printer.Receipt
	problems []string
	dropped  int // bytes discarded while off-line
}

// New returns a printer with a full roll, no faults, code table 0
// (CP437) and single-byte mode.
func New(opts Options) *Printer {
	if opts.Name == "" {
		opts.Name = DefaultOptions.Name
	}
	if opts.Cols <= 0 {
		opts.Cols = DefaultOptions.Cols
	}
	if opts.Delay <= 0 {
		opts.Delay = DefaultOptions.Delay
	}
	return &Printer{opts: opts, paper: "ok", changed: make(chan struct{})}
}

// String names the simulator.
func (p *Printer) String() string { return "printer:wire-escpos:" + p.opts.Name }

// deadliner is a reader whose blocked Read can be cut short.
type deadliner interface{ SetReadDeadline(time.Time) error }

// Serve runs the printer on rw (the master side of a pseudo-terminal, a
// serial port, a net.Conn) until ctx ends or rw fails. It returns ctx's
// error, or the read error wrapped. When rw has SetReadDeadline (an
// *os.File on a pseudo-terminal, a net.Conn) a cancelled ctx interrupts
// the blocked read; otherwise Serve returns at once and the read in
// flight ends with rw. One Serve at a time; state (paper, receipts)
// carries over from one Serve to the next.
func (p *Printer) Serve(ctx context.Context, rw io.ReadWriter) error {
	var wmu sync.Mutex
	var timers []*time.Timer
	defer func() {
		wmu.Lock()
		for _, t := range timers {
			t.Stop()
		}
		timers = nil
		wmu.Unlock()
	}()
	send := func(b []byte, delay time.Duration) {
		if len(b) == 0 {
			return
		}
		wmu.Lock()
		defer wmu.Unlock()
		if delay <= 0 {
			_, _ = rw.Write(b)
			return
		}
		timers = append(timers, time.AfterFunc(delay, func() {
			wmu.Lock()
			defer wmu.Unlock()
			if timers != nil {
				_, _ = rw.Write(b)
			}
		}))
	}
	type result struct {
		b   []byte
		err error
	}
	reads := make(chan result)
	readerDone := make(chan struct{})
	read := rw.Read
	wait := false // whether Serve can wait for the reader on its way out
	switch f := rw.(type) {
	case *os.File:
		read = func(b []byte) (int, error) { return readFile(ctx, f, b) }
		wait = true
	case deadliner:
		// Cut the read in flight short on the way out, and wait for it,
		// so that the next Serve on the same line is its only reader.
		if f.SetReadDeadline(time.Time{}) == nil {
			wait = true
			defer func() { _ = f.SetReadDeadline(time.Time{}) }()
			stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
			defer stop()
		}
	}
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
	if wait {
		defer func() { <-readerDone }()
	}
	var parser Parser
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-reads:
			if len(r.b) > 0 {
				answer, delay := p.feed(&parser, r.b)
				p.opts.Log.Trace().Hex("in", r.b).Hex("out", answer).Msg("bytes")
				send(answer, delay)
			}
			if r.err != nil {
				return fmt.Errorf("escpos sim: read: %w", r.err)
			}
		}
	}
}

// Feed processes bytes as if they had arrived on the line and returns
// what the printer sends back at once (ignoring PRN-TIMEOUT's delay).
// Serve uses the same path; Feed is for tests that need no line.
func (p *Printer) Feed(parser *Parser, b []byte) []byte {
	out, _ := p.feed(parser, b)
	return out
}

func (p *Printer) feed(parser *Parser, b []byte) ([]byte, time.Duration) {
	cmds := parser.Feed(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range cmds {
		out = append(out, p.execLocked(c)...)
	}
	var delay time.Duration
	switch p.mode {
	case Offline:
		out = nil
	case Timeout:
		delay = p.opts.Delay
	}
	return out, delay
}

// stoppedLocked reports whether the printer is off-line: it then executes
// real-time commands only and drops everything else.
func (p *Printer) stoppedLocked() bool {
	return p.paper == "out" || p.cover || p.cutter || p.broken
}

// execLocked executes one element and returns the printer's answer.
func (p *Printer) execLocked(c Cmd) []byte {
	if c.Op == OpCommand && c.Code[0] == dle {
		return p.realtimeLocked(c)
	}
	if p.stoppedLocked() {
		p.dropped += len(c.Data) + len(c.Args) + 1
		return nil
	}
	switch c.Op {
	case OpText:
		p.textLocked(c)
	case OpControl:
		if c.Code[0] == lf {
			p.printLineLocked(true)
		}
		// HT, FF, CR and CAN do not change the text of a receipt.
	case OpUnknown:
		p.problemLocked(fmt.Sprintf("unknown bytes % X", c.Data))
	case OpCommand:
		return p.commandLocked(c)
	}
	return nil
}

func (p *Printer) problemLocked(s string) {
	p.problems = append(p.problems, s)
	p.opts.Log.Warn().Str("problem", s).Msg("bad input")
}

// realtimeLocked answers DLE EOT n; DLE ENQ and DLE DC4 are accepted
// without effect.
func (p *Printer) realtimeLocked(c Cmd) []byte {
	if c.Name != "DLE EOT" {
		return nil
	}
	var b byte
	switch c.Args[0] {
	case 1:
		b = 0x12
		if p.stoppedLocked() {
			b |= 0x08
		}
	case 2:
		b = 0x12
		if p.cover {
			b |= 0x04
		}
		if p.paper == "out" {
			b |= 0x20
		}
		if p.cutter || p.broken {
			b |= 0x40
		}
	case 3:
		b = 0x12
		if p.cutter {
			b |= 0x08
		}
		if p.broken {
			b |= 0x20
		}
	case 4:
		b = 0x12
		switch p.paper {
		case "low":
			b |= 0x0C
		case "out":
			b |= 0x0C | 0x60
		}
	default:
		p.problemLocked(fmt.Sprintf("DLE EOT %d out of range", c.Args[0]))
		return nil
	}
	return p.answerLocked(b)
}

// answerLocked applies the wire faults to one answer byte.
func (p *Printer) answerLocked(b byte) []byte {
	if p.mode == Protocol {
		return []byte{0xFF}
	}
	if p.truncate {
		p.answered++
		if p.answered%2 == 0 {
			return nil
		}
	}
	return []byte{b}
}

// commandLocked executes a command the printer has processed in order.
func (p *Printer) commandLocked(c Cmd) []byte {
	switch c.Name {
	case "ESC @":
		p.line, p.width, p.table = nil, 0, 0
		if len(p.open) > 0 {
			p.finishLocked(false)
		}
	case "ESC t":
		p.table = c.Args[0]
		if _, ok := tables[p.table]; !ok {
			p.problemLocked(fmt.Sprintf("ESC t %d: code table not simulated", p.table))
		}
	case "ESC d", "ESC J":
		if len(p.line) > 0 {
			p.printLineLocked(false)
		}
	case "GS V":
		if len(p.line) > 0 {
			p.printLineLocked(false)
		}
		if p.jamCut {
			p.jamCut, p.cutter = false, true
			p.opts.Log.Warn().Msg("cutter jammed")
			return nil
		}
		p.finishLocked(true)
	case "GS r":
		switch c.Args[0] {
		case 1, 49:
			var b byte
			if p.paper == "low" {
				b |= 0x03
			}
			return p.answerLocked(b)
		case 2, 50:
			return p.answerLocked(0x00) // drawer kick-out connector pin 3 low
		}
		p.problemLocked(fmt.Sprintf("GS r %d out of range", c.Args[0]))
	}
	// Every other known command changes layout or appearance only, or
	// drives hardware the simulator does not have (drawer, bar codes).
	return nil
}

// tables are the single-byte code tables, by ESC t number.
var tables = map[byte]*charmap.Charmap{
	0:  charmap.CodePage437,
	2:  charmap.CodePage850,
	16: charmap.Windows1252,
	17: charmap.CodePage866,
	18: charmap.CodePage852,
	19: charmap.CodePage858,
}

// textLocked puts text on the current line, wrapping when the paper is
// full as a printer does.
func (p *Printer) textLocked(c Cmd) {
	cm := tables[p.table]
	b := c.Data
	for len(b) > 0 {
		r, w, n := utf8.RuneError, 1, 1
		switch {
		case b[0] < 0x80:
			r = rune(b[0])
		case c.Kanji && len(b) >= 2:
			n, w = 2, 2
			if out, err := traditionalchinese.Big5.NewDecoder().Bytes(b[:2]); err == nil {
				if dr, size := utf8.DecodeRune(out); size == len(out) {
					r = dr
				}
			}
		case cm != nil:
			r = cm.DecodeByte(b[0])
		}
		b = b[n:]
		if p.width+w > p.opts.Cols && len(p.line) > 0 {
			p.printLineLocked(false)
		}
		p.line = append(p.line, r)
		p.width += w
	}
}

// printLineLocked prints the line buffer (an empty one too, for LF).
func (p *Printer) printLineLocked(lf bool) {
	if !lf && len(p.line) == 0 {
		return
	}
	p.open = append(p.open, string(p.line))
	p.line, p.width = nil, 0
}

// finishLocked ends the receipt in progress.
func (p *Printer) finishLocked(cut bool) {
	r := printer.Receipt{Lines: p.open, Cut: cut}
	p.done = append(p.done, r)
	p.open = nil
	close(p.changed)
	p.changed = make(chan struct{})
	p.opts.Log.Info().Int("lines", len(r.Lines)).Bool("cut", cut).Msg("receipt printed")
	p.opts.Log.Debug().Strs("text", r.Lines).Msg("receipt text")
}

// Receipts returns the receipts printed, in order. A receipt ends at a
// cut, or at the ESC @ that starts the next one; the last receipt is
// included while it is still open (Cut false) if it has lines.
func (p *Printer) Receipts() []printer.Receipt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.receiptsLocked()
}

func (p *Printer) receiptsLocked() []printer.Receipt {
	out := make([]printer.Receipt, 0, len(p.done)+1)
	for _, r := range p.done {
		out = append(out, printer.Receipt{Lines: slices.Clone(r.Lines), Cut: r.Cut})
	}
	if len(p.open) > 0 {
		out = append(out, printer.Receipt{Lines: slices.Clone(p.open)})
	}
	return out
}

// WaitReceipts waits until at least n receipts have been finished (cut,
// or followed by ESC @) and returns all receipts, or fails when ctx ends.
func (p *Printer) WaitReceipts(ctx context.Context, n int) ([]printer.Receipt, error) {
	for {
		p.mu.Lock()
		if len(p.done) >= n {
			defer p.mu.Unlock()
			return p.receiptsLocked(), nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("escpos sim: wait for %d receipts: %w", n, ctx.Err())
		}
	}
}

// Problems returns what the printer could not make sense of: unknown
// commands, stray control bytes, parameters out of range.
func (p *Printer) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.problems)
}

// SetPaper sets the roll: "ok", "low" (near end, still printing) or
// "out" (off-line: nothing prints).
func (p *Printer) SetPaper(state string) error {
	if state != "ok" && state != "low" && state != "out" {
		return fmt.Errorf("escpos sim: paper state %q: %w", state, hal.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paper = state
	p.opts.Log.Info().Str("paper", state).Msg("paper changed")
	return nil
}

// Inject puts the printer into a fault: PRN-PAPER-OUT, PRN-PAPER-LOW,
// PRN-COVER-OPEN, PRN-JAM (cutter error), PRN-HARDWARE (unrecoverable
// error) change what the status bytes say; PRN-OFFLINE (silent),
// PRN-TIMEOUT (answers Options.Delay late) and PRN-PROTOCOL (answers FF)
// change how it answers. An unknown code is an error.
func (p *Printer) Inject(code string) error {
	switch code {
	case PaperOut:
		return p.SetPaper("out")
	case PaperLow:
		return p.SetPaper("low")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch code {
	case CoverOpen:
		p.cover = true
	case Jam:
		p.cutter = true
	case Hardware:
		p.broken = true
	case Offline, Timeout, Protocol:
		p.mode = code
	default:
		return fmt.Errorf("escpos sim: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	p.opts.Log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// JamNextCut makes the next cut fail with an autocutter error: the
// receipt stays uncut and the printer goes off-line until Clear.
func (p *Printer) JamNextCut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jamCut = true
}

// SetTruncate makes the printer answer only the first of every two
// status requests (a line that loses bytes), or stop doing so.
func (p *Printer) SetTruncate(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.truncate, p.answered = on, 0
}

// Clear removes every fault, puts in a full roll and closes the cover.
func (p *Printer) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paper, p.cover, p.cutter, p.broken, p.jamCut = "ok", false, false, false, false
	p.mode, p.truncate, p.answered = "", false, 0
	p.opts.Log.Info().Msg("faults cleared")
}
