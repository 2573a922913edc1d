package escpos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Fault catalogue codes the driver reports.
const (
	FaultOffline   = "PRN-OFFLINE"    // the port cannot be opened or vanished
	FaultTimeout   = "PRN-TIMEOUT"    // no or incomplete answer in time
	FaultProtocol  = "PRN-PROTOCOL"   // bytes no ESC/POS printer sends
	FaultPaperOut  = "PRN-PAPER-OUT"  // roll empty: nothing is printed
	FaultPaperLow  = "PRN-PAPER-LOW"  // roll near its end: still printing, Extra["paper"] = "low"
	FaultJam       = "PRN-JAM"        // autocutter error, paper jammed
	FaultCoverOpen = "PRN-COVER-OPEN" // cover open
	FaultHardware  = "PRN-HARDWARE"   // unrecoverable error, head too hot, other errors
)

// ErrProtocol: the printer sent bytes that break the ESC/POS status
// format (fixed bits wrong). It is the Err of a PRN-PROTOCOL fault.
var ErrProtocol = errors.New("escpos: protocol error")

// Options configure a Dev. Start from DefaultOptions: a zero number
// takes its default, but the booleans are taken as given.
type Options struct {
	// Name tells instances apart in String; "" uses the port path.
	Name string
	// Baud must match the printer's setting (DIP or memory switch),
	// 8 data bits, no parity, 1 stop bit.
	Baud int
	// Cols is the line width in single-width characters (42 for Font A
	// on 80 mm paper, 32 on 58 mm). A Big5 character takes two.
	Cols int
	// Cut: the printer has an autocutter; a receipt with Cut set ends with
	// GS V 66 n (feed to the cutter, partial cut).
	Cut bool
	// CodePage is the single-byte table for text outside ASCII: cp437
	// (ESC t 0), cp850, cp852, cp858, cp866 or windows-1252.
	CodePage string
	// Big5: the printer is a Traditional Chinese model whose two-byte
	// mode (FS &) takes Big5; Chinese text is printed through it.
	// Without it such text prints as '?'.
	Big5 bool
	// CutFeed is n of GS V 66 n: extra feed before the cut, in vertical
	// motion units (0 cuts right after the text has passed the cutter).
	CutFeed int
	// FeedLines is how far a receipt without a cut is fed (ESC d n) so
	// that it clears the tear bar.
	FeedLines int
	// Timeout bounds the answer to the real-time status requests.
	Timeout time.Duration
	// PrintTimeout bounds a whole receipt, from the first byte to the
	// printer's answer to the GS r 1 that ends it.
	PrintTimeout time.Duration
	// Poll is how often the driver asks the printer for its status in the
	// background, and tries to reopen a vanished port.
	Poll time.Duration
	// Log receives status changes and faults; the zero value discards.
	// Receipt text is logged only at debug level.
	Log zerolog.Logger
}

// DefaultOptions suit an Epson TM-T88-class Traditional Chinese model
// with an autocutter on 80 mm paper at 38400 baud: 42 columns, CP437,
// Big5, status answers within 1 s, a receipt within 10 s, status polled
// every 5 s.
var DefaultOptions = Options{
	Baud:         38400,
	Cols:         42,
	Cut:          true,
	CodePage:     "cp437",
	Big5:         true,
	FeedLines:    4,
	Timeout:      time.Second,
	PrintTimeout: 10 * time.Second,
	Poll:         5 * time.Second,
}

// Dev is an ESC/POS receipt printer on a serial port.
type Dev struct {
	opts Options
	path string
	enc  *encoder

	sem chan struct{} // held during an exchange with the printer
	ln  *line         // the open port; nil while closed; guarded by sem

	mu      sync.Mutex
	st      hal.Status
	changed chan struct{} // closed and replaced on every status change

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var _ printer.Printer = (*Dev)(nil)

// NewSerial opens the printer on the serial port at path (e.g.
// /dev/ttyUSB0, or a /dev/serial/by-id link) and asks it for its status
// once, waiting at most opts.Timeout, so that Status is meaningful when
// NewSerial returns. It fails only on bad options: a port that is absent
// or a printer that does not answer is a status (PRN-OFFLINE,
// PRN-TIMEOUT), and the driver keeps trying in the background, every
// opts.Poll, until Close.
func NewSerial(path string, opts Options) (*Dev, error) {
	if path == "" {
		return nil, fmt.Errorf("escpos: no port: %w", hal.ErrInvalid)
	}
	def := DefaultOptions
	for _, f := range []struct {
		v *int
		d int
	}{{&opts.Baud, def.Baud}, {&opts.Cols, def.Cols}, {&opts.FeedLines, def.FeedLines}} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{{&opts.Timeout, def.Timeout}, {&opts.PrintTimeout, def.PrintTimeout}, {&opts.Poll, def.Poll}} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if opts.CodePage == "" {
		opts.CodePage = def.CodePage
	}
	cp, ok := codePages[opts.CodePage]
	switch {
	case !ok:
		return nil, fmt.Errorf("escpos: unknown code page %q: %w", opts.CodePage, hal.ErrInvalid)
	case opts.Cols < 8 || opts.Cols > 255:
		return nil, fmt.Errorf("escpos: %d columns, want 8 to 255: %w", opts.Cols, hal.ErrInvalid)
	case opts.CutFeed < 0 || opts.CutFeed > 255 || opts.FeedLines < 0 || opts.FeedLines > 255:
		return nil, fmt.Errorf("escpos: feed out of range 0 to 255: %w", hal.ErrInvalid)
	case opts.Timeout < 0 || opts.PrintTimeout < 0 || opts.Poll < 0:
		return nil, fmt.Errorf("escpos: negative duration: %w", hal.ErrInvalid)
	}
	d := &Dev{
		opts:    opts,
		path:    path,
		enc:     newEncoder(cp, opts.Big5),
		sem:     make(chan struct{}, 1),
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		st:      hal.Status{State: hal.Offline, Detail: "not yet asked"},
	}
	d.opts.Log = opts.Log.With().Str("device", d.String()).Logger()
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+readSlice)
	_ = d.Refresh(ctx) // the outcome is in Status
	cancel()
	go d.monitor()
	return d, nil
}

// String names the printer: "printer:escpos:" and Options.Name or the
// port path.
func (d *Dev) String() string {
	if d.opts.Name != "" {
		return "printer:escpos:" + d.opts.Name
	}
	return "printer:escpos:" + d.path
}

// Capabilities returns the configured width and cutter.
func (d *Dev) Capabilities() printer.Capabilities {
	return printer.Capabilities{Cols: d.opts.Cols, Cut: d.opts.Cut}
}

// Status returns what the printer said last, without I/O.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	st.Extra = maps.Clone(d.st.Extra)
	return st
}

// WaitStatus blocks until Status satisfies cond, or ctx ends, and returns
// the status that did.
func (d *Dev) WaitStatus(ctx context.Context, cond func(hal.Status) bool) (hal.Status, error) {
	for {
		d.mu.Lock()
		st, ch := d.st, d.changed
		d.mu.Unlock()
		st.Extra = maps.Clone(st.Extra)
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("escpos: wait for status: %w", ctx.Err())
		}
	}
}

// Refresh asks the printer for its status now, reopening the port if it
// had vanished. It returns an error when the printer could not be asked
// (a PRN-OFFLINE, PRN-TIMEOUT or PRN-PROTOCOL fault, or ctx's error);
// what the printer answered, its own faults included, is in Status.
func (d *Dev) Refresh(ctx context.Context) error {
	if err := d.acquire(ctx); err != nil {
		return fmt.Errorf("escpos: refresh: %w", err)
	}
	defer d.release()
	_, err := d.refreshLocked(ctx)
	if err != nil {
		return fmt.Errorf("escpos: refresh: %w", err)
	}
	return nil
}

// Print prints r: it checks the printer's status first (paper out:
// printer.ErrPaperOut inside a PRN-PAPER-OUT fault, nothing sent), sends
// the receipt, and returns once the printer has processed it.
func (d *Dev) Print(ctx context.Context, r printer.Receipt) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := d.acquire(ctx); err != nil {
		return fmt.Errorf("escpos: print: %w", err)
	}
	defer d.release()
	s, err := d.refreshLocked(ctx)
	if err != nil {
		return fmt.Errorf("escpos: print: %w", err)
	}
	if _, f := s.status(); f != nil {
		return fmt.Errorf("escpos: print: %w", f)
	}
	if s.offline || s.feeding {
		return fmt.Errorf("escpos: print: printer off-line for a moment: %w", hal.ErrBusy)
	}
	j := job{cols: d.opts.Cols, cut: r.Cut && d.opts.Cut, cutFeed: byte(d.opts.CutFeed), feedLines: byte(d.opts.FeedLines)}
	data, replaced, err := d.enc.encode(r, j)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("escpos: print: %w", err)
	}
	if replaced > 0 {
		d.opts.Log.Warn().Int("characters", replaced).Msg("characters the printer cannot print were replaced by '?'")
	}
	if err := d.printLocked(ctx, data); err != nil {
		return fmt.Errorf("escpos: print: %w", err)
	}
	d.opts.Log.Info().Int("lines", len(r.Lines)).Bool("cut", j.cut).Int("bytes", len(data)).Msg("receipt printed")
	d.opts.Log.Debug().Strs("text", r.Lines).Msg("receipt text")
	return nil
}

// Halt waits for a receipt in progress and leaves the printer at rest;
// an idle printer is already safe. It reports a vanished port.
func (d *Dev) Halt(ctx context.Context) error {
	if err := d.acquire(ctx); err != nil {
		return fmt.Errorf("escpos: halt: %w", err)
	}
	defer d.release()
	if d.ln == nil || d.ln.isGone() {
		if _, err := d.refreshLocked(ctx); errors.Is(err, hal.ErrOffline) {
			return fmt.Errorf("escpos: halt: %w", err)
		}
	}
	return nil
}

// Close stops the background polling and closes the port. The Dev is
// not usable afterwards.
func (d *Dev) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
	d.sem <- struct{}{}
	defer func() { <-d.sem }()
	if d.ln != nil {
		err := d.ln.close()
		d.ln = nil
		if err != nil {
			return fmt.Errorf("escpos: close: %w", err)
		}
	}
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

// monitor polls the printer every Poll, and at once when the port
// vanishes, until Close.
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
		case <-t.C:
		case <-gone:
		}
		ctx, cancel := context.WithTimeout(context.Background(), d.opts.Timeout+readSlice)
		if d.acquire(ctx) == nil {
			_, _ = d.refreshLocked(ctx)
			d.release()
		}
		cancel()
	}
}

// refreshLocked opens the port if needed, asks DLE EOT 1–4 and records
// the answer as the status. The returned error is a *hal.Fault when the
// printer could not be asked (offline, timeout, protocol), or ctx's
// error; a printer that answers with a fault is not an error here — the
// caller looks at sensors.status.
func (d *Dev) refreshLocked(ctx context.Context) (sensors, error) {
	if err := d.openLocked(); err != nil {
		return sensors{}, err
	}
	req := statusRequest
	d.mu.Lock()
	if d.st.Fault == FaultTimeout || d.st.Fault == FaultProtocol {
		// It may have been power-cycled behind a live adapter and be back
		// with automatic status back on: set it up again.
		req = slices.Concat(cmdNoASB, statusRequest)
	}
	d.mu.Unlock()
	b, err := d.askLocked(ctx, req, 4)
	if err != nil {
		return sensors{}, err
	}
	s, err := parseStatus(b)
	if err != nil {
		return sensors{}, d.faultLocked(err, b)
	}
	st, _ := s.status()
	d.setStatus(st)
	return s, nil
}

// openLocked opens the port unless it is open and alive.
func (d *Dev) openLocked() error {
	if d.ln != nil && !d.ln.isGone() {
		return nil
	}
	if d.ln != nil {
		_ = d.ln.close()
		d.ln = nil
	}
	ln, err := openLine(d.path, d.opts.Baud)
	if err != nil {
		return d.faultLocked(fmt.Errorf("%w: %w", errGone, err), nil)
	}
	d.ln = ln
	if err := ln.write(cmdNoASB); err != nil {
		return d.faultLocked(err, nil)
	}
	d.opts.Log.Info().Str("port", d.path).Msg("port opened")
	return nil
}

// askLocked drops stale input, sends req and collects n real-time
// status bytes, skipping XON/XOFF.
func (d *Dev) askLocked(ctx context.Context, req []byte, n int) ([]byte, error) {
	if stale := d.ln.drain(); len(stale) > 0 {
		d.opts.Log.Debug().Hex("bytes", stale).Msg("stale input dropped")
	}
	if err := d.ln.write(req); err != nil {
		return nil, d.faultLocked(err, nil)
	}
	deadline := time.Now().Add(d.opts.Timeout)
	var got []byte
	for len(got) < n {
		c, err := d.ln.next(ctx, deadline)
		if err != nil {
			return got, d.faultLocked(err, got)
		}
		if c != xon && c != xoff {
			got = append(got, c)
		}
	}
	return got, nil
}

// printLocked sends a job ending in GS r 1 and waits for the printer to
// answer it. While it waits it asks DLE EOT 1 whenever the line has been
// quiet for Timeout, so a printer that stops on an error mid-receipt is
// noticed at once rather than at PrintTimeout, and one that stops
// answering at all is a timeout. The two kinds of answer tell themselves
// apart by bit 4 (on for real-time status, off for GS r).
func (d *Dev) printLocked(ctx context.Context, data []byte) error {
	d.ln.drain()
	if err := d.ln.write(data); err != nil {
		return d.faultLocked(err, nil)
	}
	end := time.Now().Add(d.opts.PrintTimeout)
	var rt []byte // answers to this round of real-time requests
	want := 0     // real-time answers still expected
	for {
		wait := time.Now().Add(d.opts.Timeout)
		if wait.After(end) {
			wait = end
		}
		c, err := d.ln.next(ctx, wait)
		if errors.Is(err, errNoAnswer) {
			switch {
			case want > 0:
				return d.faultLocked(err, rt) // it stopped answering
			case !time.Now().Before(end):
				return d.faultLocked(fmt.Errorf("receipt not confirmed within %v: %w", d.opts.PrintTimeout, err), nil)
			}
			rt, want = nil, 1
			if err := d.ln.write(statusRequest[:3]); err != nil {
				return d.faultLocked(err, nil)
			}
			continue
		}
		if err != nil {
			return d.faultLocked(err, nil)
		}
		switch {
		case c == xon || c == xoff:
			continue
		case isRealtime(c):
			if want == 0 {
				continue // a late answer to an earlier round
			}
			rt, want = append(rt, c), want-1
			switch {
			case want > 0:
				continue
			case len(rt) == 1 && c&0x08 == 0:
				rt = nil // on-line: still printing
				continue
			case len(rt) == 1:
				// Off-line mid-receipt: ask why.
				want = 3
				if err := d.ln.write(statusRequest[3:]); err != nil {
					return d.faultLocked(err, nil)
				}
				continue
			}
			s, err := parseStatus(rt)
			if err != nil {
				return d.faultLocked(err, rt)
			}
			rt = nil
			st, f := s.status()
			d.setStatus(st)
			if f != nil {
				return f
			}
			continue // off-line for a moment (FEED button): keep waiting
		case !isPaperSensor(c):
			return d.faultLocked(fmt.Errorf("escpos: byte %02X is no status: %w", c, ErrProtocol), []byte{c})
		}
		p, _ := parsePaperSensor(c) // cannot fail: isPaperSensor(c)
		d.setPaper(p)
		return nil
	}
}

// setPaper records the roll state the answer to GS r 1 reported.
func (d *Dev) setPaper(p paperSensor) {
	d.mu.Lock()
	st := d.st
	st.Extra = maps.Clone(d.st.Extra)
	d.mu.Unlock()
	if st.Extra == nil {
		st.Extra = map[string]string{}
	}
	st.Extra["paper"] = "ok"
	if p.nearEnd {
		st.Extra["paper"] = "low"
	}
	if st.State == hal.Online {
		st.Detail = ""
		if p.nearEnd {
			st.Detail = "paper near end"
		}
	}
	d.setStatus(st)
}

// faultLocked turns a link error into a fault, records it as the status
// (closing the port when it vanished) and returns it; ctx's errors pass
// through untouched and leave the status alone.
func (d *Dev) faultLocked(err error, raw []byte) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	f := &hal.Fault{Device: "printer", Recoverable: true, Raw: raw}
	state := hal.Offline
	switch {
	case errors.Is(err, errGone):
		f.Code, f.Msg, f.Err = FaultOffline, "port unavailable", fmt.Errorf("%w: %w", hal.ErrOffline, err)
		if d.ln != nil {
			_ = d.ln.close()
			d.ln = nil
		}
	case errors.Is(err, errNoAnswer) && len(raw) > 0:
		f.Code, f.Msg, f.Err = FaultTimeout, fmt.Sprintf("incomplete answer: %d bytes", len(raw)), hal.ErrTimeout
	case errors.Is(err, errNoAnswer):
		f.Code, f.Msg, f.Err = FaultTimeout, "no answer", fmt.Errorf("%w: %w", hal.ErrTimeout, err)
	default:
		f.Code, f.Msg, f.Err, state = FaultProtocol, "unexpected bytes from the printer", err, hal.HardwareError
	}
	d.mu.Lock()
	extra := maps.Clone(d.st.Extra)
	d.mu.Unlock()
	d.setStatus(hal.Status{State: state, Fault: f.Code, Detail: f.Msg, Extra: extra})
	return f
}

// setStatus records st and wakes WaitStatus; a change is logged.
func (d *Dev) setStatus(st hal.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.st
	if old.State == st.State && old.Fault == st.Fault && old.Detail == st.Detail && maps.Equal(old.Extra, st.Extra) {
		return
	}
	d.st = st
	close(d.changed)
	d.changed = make(chan struct{})
	ev := d.opts.Log.Info()
	switch {
	case st.Fault != "":
		ev = d.opts.Log.Warn().Str("fault", st.Fault)
	case st.Extra["paper"] == "low":
		ev = d.opts.Log.Warn().Str("fault", FaultPaperLow) // usable: not a Status fault
	}
	ev.Str("state", st.State.String()).Str("paper", st.Extra["paper"]).Str("detail", st.Detail).Msg("status changed")
}
