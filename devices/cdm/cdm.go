package cdm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

// Options tune the driver. Zero durations take DefaultOptions' values.
type Options struct {
	// Name tells instances apart in String ("dispenser:serial:<Name>");
	// "" uses the port path.
	Name string
	// Baud is the line speed; 0 means 115200.
	Baud int
	// CommandTimeout bounds the response to STATUS, CASSETTES, NONCE,
	// LOAD and LAST-DISPENSE.
	CommandTimeout time.Duration
	// ShutterTimeout bounds the response to PRESENT, CLOSE-SHUTTER and
	// HALT.
	ShutterTimeout time.Duration
	// RetractTimeout bounds the response to RETRACT.
	RetractTimeout time.Duration
	// DispenseTimeout plus NoteTime for every note requested bound the
	// response to DISPENSE and TEST-DISPENSE.
	DispenseTimeout time.Duration
	// NoteTime is the time allowed per note requested, on top of
	// DispenseTimeout.
	NoteTime time.Duration
	// Poll is how often an idle driver asks the device for its status,
	// or tries to reopen a port that went away; a negative value turns
	// background polling off (commands still reopen the port).
	Poll time.Duration
	// Log receives line trouble, faults and dispense outcomes (never
	// tokens); the zero value discards.
	Log zerolog.Logger
}

// DefaultOptions are the response times of docs/devices/dispenser.md —
// 1 s for queries and NONCE, 3 s for the shutter, 5 s for RETRACT, 2 s
// plus 250 ms a note for DISPENSE — and a status poll every second.
var DefaultOptions = Options{
	Baud:            115200,
	CommandTimeout:  time.Second,
	ShutterTimeout:  3 * time.Second,
	RetractTimeout:  5 * time.Second,
	DispenseTimeout: 2 * time.Second,
	NoteTime:        250 * time.Millisecond,
	Poll:            time.Second,
}

// takenPoll is how often WaitTaken asks for STATUS in case a CASH-TAKEN
// event was lost.
const takenPoll = 500 * time.Millisecond

// Dev is a cash dispenser on a serial line.
type Dev struct {
	path string
	opts Options
	log  zerolog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	polled chan struct{} // closed when the poller has returned

	sem        chan struct{} // held while talking to the device; guards the fields below
	lnk        *link
	synced     bool // STATUS has been exchanged since the port was opened
	seq        byte
	unresolved *pendingDispense

	mu     sync.Mutex
	st     hal.Status
	caps   dispenser.Capabilities
	taken  chan struct{} // closed and replaced on CASH-TAKEN
	closed bool
}

var (
	_ dispenser.Dispenser  = (*Dev)(nil)
	_ dispenser.Recoverer  = (*Dev)(nil)
	_ dispenser.KeyLoader  = (*Dev)(nil)
	_ dispenser.Tester     = (*Dev)(nil)
	_ dispenser.KeyDeleter = (*Dev)(nil)
	_ dispenser.Loader     = (*Dev)(nil)

	_ dispenser.RetractCounter = (*Dev)(nil)
)

// pendingDispense identifies a DISPENSE or TEST-DISPENSE whose outcome is
// not known yet.
type pendingDispense struct {
	op    byte
	seq   byte
	crc   uint16
	txn   string
	nonce []byte
}

// NewSerial returns the dispenser on the serial port at path (e.g.
// /dev/ttyUSB0). It opens the port and asks the device for its status;
// when that fails the driver still starts, Offline with a fault code, and
// keeps trying in the background. Only bad options are an error. Close
// releases the port.
func NewSerial(path string, opts Options) (*Dev, error) {
	if path == "" {
		return nil, fmt.Errorf("cdm: no serial port: %w", hal.ErrInvalid)
	}
	def := DefaultOptions
	for _, x := range []struct {
		v *time.Duration
		d time.Duration
	}{
		{&opts.CommandTimeout, def.CommandTimeout}, {&opts.ShutterTimeout, def.ShutterTimeout},
		{&opts.RetractTimeout, def.RetractTimeout}, {&opts.DispenseTimeout, def.DispenseTimeout},
		{&opts.NoteTime, def.NoteTime}, {&opts.Poll, def.Poll},
	} {
		if *x.v < 0 && x.v != &opts.Poll {
			return nil, fmt.Errorf("cdm: negative timeout %v: %w", *x.v, hal.ErrInvalid)
		}
		if *x.v == 0 {
			*x.v = x.d
		}
	}
	if opts.Baud == 0 {
		opts.Baud = def.Baud
	}
	d := &Dev{
		path: path, opts: opts, log: opts.Log.With().Str("device", "dispenser").Str("port", path).Logger(),
		sem: make(chan struct{}, 1), polled: make(chan struct{}), taken: make(chan struct{}),
		st:   hal.Status{State: hal.Offline, Fault: FaultOffline, Detail: "not connected yet"},
		caps: dispenser.Capabilities{Shutter: true, Retract: true},
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(d.ctx, 3*opts.CommandTimeout+sendTries*ackWait)
	d.sem <- struct{}{}
	if _, err := d.refresh(ctx); err != nil {
		d.log.Warn().Err(err).Msg("dispenser not reachable at start; will keep trying")
	}
	<-d.sem
	cancel()
	go d.poll()
	return d, nil
}

// String names the device.
func (d *Dev) String() string {
	if d.opts.Name != "" {
		return "dispenser:serial:" + d.opts.Name
	}
	return "dispenser:serial:" + d.path
}

// Status returns the last known status without blocking: the device's
// own (state, fault, shutter, notes, cassettes) while it answers, Offline
// with DSP-OFFLINE, DSP-TIMEOUT or DSP-PROTOCOL while it does not.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	if d.st.Extra != nil {
		st.Extra = make(map[string]string, len(d.st.Extra))
		for k, v := range d.st.Extra {
			st.Extra[k] = v
		}
	}
	return st
}

// Capabilities as the device last reported them.
func (d *Dev) Capabilities() dispenser.Capabilities {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.caps
}

// Close stops background polling, waits for a command in progress and
// closes the port. Further calls fail with ErrClosed.
func (d *Dev) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	<-d.polled
	d.sem <- struct{}{}
	if d.lnk != nil {
		d.lnk.close()
		d.lnk = nil
	}
	return nil
}

// acquire takes the right to talk to the device.
func (d *Dev) acquire(ctx context.Context, op string) error {
	select {
	case <-d.ctx.Done():
		return fmt.Errorf("cdm: %s: %w", op, ErrClosed)
	default:
	}
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cdm: %s: %w", op, ctx.Err())
	case <-d.ctx.Done():
		return fmt.Errorf("cdm: %s: %w", op, ErrClosed)
	}
}

func (d *Dev) release() { <-d.sem }

// poll keeps Status fresh and the port open while nobody else talks to
// the device, and settles a dispense whose outcome was unknown.
func (d *Dev) poll() {
	defer close(d.polled)
	if d.opts.Poll < 0 {
		return
	}
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		select {
		case d.sem <- struct{}{}:
		default:
			continue // a command is talking to the device
		}
		ctx, cancel := context.WithTimeout(d.ctx, 3*d.opts.CommandTimeout+sendTries*ackWait)
		if _, err := d.refresh(ctx); err == nil && d.unresolved != nil {
			d.settle(ctx)
		}
		cancel()
		<-d.sem
	}
}

// nextSeq numbers command frames 1..255, never 0; d.sem must be held.
func (d *Dev) nextSeq() byte {
	d.seq++
	if d.seq == 0 {
		d.seq = 1
	}
	return d.seq
}

// onEvent handles unsolicited frames (called by the reader).
func (d *Dev) onEvent(f rxFrame) {
	if f.Cmd != evCashTaken {
		d.log.Warn().Hex("event", []byte{f.Cmd}).Msg("unknown event from the dispenser")
		return
	}
	dec := &decoder{p: f.Data}
	n := dec.uint16()
	d.log.Info().Int("notes", n).Msg("cash taken")
	d.mu.Lock()
	close(d.taken)
	d.taken = make(chan struct{})
	d.mu.Unlock()
}

// ensureLink opens the port if it is closed or gone, and sends the
// STATUS that must follow an open; d.sem must be held.
func (d *Dev) ensureLink(ctx context.Context) error {
	if d.lnk != nil {
		select {
		case <-d.lnk.dead:
			d.log.Warn().Err(d.lnk.deadErr).Msg("serial port lost")
			d.lnk.close()
			d.lnk = nil
		default:
		}
	}
	if d.lnk == nil {
		p, err := openPort(d.path, d.opts.Baud)
		if err != nil {
			return d.linkFailed("open", fmt.Errorf("%w: %w", errPortGone, err))
		}
		d.lnk = newLink(d.path, p, d.log, d.onEvent)
		d.synced = false
		d.log.Info().Msg("serial port opened")
	}
	if !d.synced {
		f, _, err := d.exchange(ctx, d.nextSeq(), opStatus, nil, d.opts.CommandTimeout)
		if err != nil {
			return d.linkFailed("STATUS", err)
		}
		d.synced = true
		if r, err := parseReply(f.Data); err == nil && r.status == rsOK {
			if ds, err := parseStatus(r.rest); err == nil {
				d.applyStatus(ds)
			}
		}
	}
	return nil
}

// exchange runs one command on the open link. When the device ACKed
// but no good response came, it sends the very same frame (same SEQ)
// once more: the device then sends its response again without executing
// the command twice. d.sem must be held.
func (d *Dev) exchange(ctx context.Context, seq, op byte, data []byte, wait time.Duration) (rxFrame, bool, error) {
	f, sent, err := d.lnk.exchange(ctx, seq, op, data, wait)
	if errors.Is(err, errNoResponse) || errors.Is(err, errGarbled) {
		d.log.Warn().Str("cmd", opNames[op]).Uint8("seq", seq).Err(err).Msg("asking again with the same SEQ")
		f, _, err = d.lnk.exchange(ctx, seq, op, data, wait)
	}
	return f, sent, err
}

// linkFailed records a transport failure in Status and returns the error
// for the caller: the context's error as it is, anything else as a
// *hal.Fault. d.sem must be held.
func (d *Dev) linkFailed(op string, err error) error {
	if isCtx(err) {
		return fmt.Errorf("cdm: %s: %w", op, err)
	}
	var raw []byte
	if d.lnk != nil {
		_, raw = d.lnk.peekBad()
		select {
		case <-d.lnk.dead:
			d.lnk.close()
			d.lnk = nil
		default:
		}
	}
	f := transportFault(op, err, raw)
	d.setDown(f)
	return f
}

// setDown marks the device unusable with f's code.
func (d *Dev) setDown(f *hal.Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.State != hal.Offline || d.st.Fault != f.Code {
		d.log.Error().Str("fault", f.Code).Err(f.Err).Msg(f.Msg)
	}
	d.st.State, d.st.Fault, d.st.Detail = hal.Offline, f.Code, f.Msg
}

// committed lists the commands that move the mechanism or change the
// device's memory: once one has gone out, the driver waits for its
// response (bounded by the command's time) even if the caller's context
// ends, so that the driver never reports a failure for something the
// device did, and the next command does not find the device busy.
var committed = map[byte]bool{
	opDispense: true, opTestDispense: true, opPresent: true, opRetract: true,
	opCloseShutter: true, opHalt: true, opLoad: true, opLoadKey: true, opDeleteKey: true,
}

// call sends a command with a new SEQ and returns its decoded header.
// When the device answers after having been unreachable, Status is
// refreshed. d.sem must be held.
func (d *Dev) call(ctx context.Context, op byte, data []byte, wait time.Duration) (reply, []byte, error) {
	if committed[op] {
		ctx = context.WithoutCancel(ctx)
	}
	if err := d.ensureLink(ctx); err != nil {
		return reply{}, nil, err
	}
	f, _, err := d.exchange(ctx, d.nextSeq(), op, data, wait)
	if err != nil {
		return reply{}, nil, d.linkFailed(opNames[op], err)
	}
	r, err := parseReply(f.Data)
	if err != nil {
		pf := protocolFault(opNames[op], err, f.Data)
		d.setDown(pf)
		return reply{}, nil, pf
	}
	if op != opStatus && d.Status().State == hal.Offline {
		_, _ = d.refresh(ctx)
	}
	return r, f.Data, nil
}

// refresh asks the device for STATUS and publishes it; d.sem must be
// held.
func (d *Dev) refresh(ctx context.Context) (deviceStatus, error) {
	r, raw, err := d.call(ctx, opStatus, nil, d.opts.CommandTimeout)
	if err != nil {
		return deviceStatus{}, err
	}
	if r.status != rsOK {
		return deviceStatus{}, refusal(opStatus, r, raw)
	}
	ds, err := parseStatus(r.rest)
	if err != nil {
		pf := protocolFault("STATUS", err, raw)
		d.setDown(pf)
		return deviceStatus{}, pf
	}
	d.applyStatus(ds)
	return ds, nil
}

// applyStatus publishes a STATUS response as hal.Status.
func (d *Dev) applyStatus(ds deviceStatus) {
	st := hal.Status{State: hal.Online, Extra: map[string]string{"shutter": "closed"}}
	switch ds.state {
	case 1:
		st.State = hal.Busy
	case 2:
		st.State = hal.HardwareError
	case 3:
		st.State = hal.UserError
	}
	if ds.shutter {
		st.Extra["shutter"] = "open"
	}
	if ds.stacked > 0 {
		st.Extra["notes.stacked"] = strconv.Itoa(ds.stacked)
	}
	if ds.presented > 0 {
		st.Extra["notes.presented"] = strconv.Itoa(ds.presented)
	}
	var low, empty []int
	for _, c := range ds.cassettes {
		st.Extra["cassette."+strconv.Itoa(c.id)] = string(c.status)
		switch c.status {
		case dispenser.CassetteLow:
			low = append(low, c.id)
		case dispenser.CassetteEmpty:
			empty = append(empty, c.id)
		}
	}
	switch {
	case ds.fault != "":
		st.Fault, st.Detail = ds.fault, ds.detail
	case len(empty) > 0:
		st.Fault, st.Detail = FaultCassEmpty, fmt.Sprintf("cassettes %v empty", empty)
	case len(low) > 0:
		st.Fault, st.Detail = FaultCassLow, fmt.Sprintf("cassettes %v low", low)
	}
	if d.unresolved != nil {
		st.Extra["dispense.outcome"] = "unknown"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.State == hal.Offline {
		d.log.Info().Str("status", st.String()).Msg("dispenser online")
	}
	d.st = st
	d.caps.MaxNotes, d.caps.Cassettes = ds.maxNotes, len(ds.cassettes)
}

// Cassettes returns the cash units and their counters, as the device
// counts them.
func (d *Dev) Cassettes(ctx context.Context) ([]dispenser.Cassette, error) {
	_, cs, err := d.cassettes(ctx)
	return cs, err
}

// RetractCount returns how many notes the retract bin has received since
// the device was new (dispenser.RetractCounter), from CASSETTES.
func (d *Dev) RetractCount(ctx context.Context) (int, error) {
	n, _, err := d.cassettes(ctx)
	return int(n), err
}

// cassettes runs CASSETTES: the retract bin's count and the cash units.
func (d *Dev) cassettes(ctx context.Context) (int64, []dispenser.Cassette, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("cdm: cassettes: %w", err)
	}
	if err := d.acquire(ctx, "cassettes"); err != nil {
		return 0, nil, err
	}
	defer d.release()
	r, raw, err := d.call(ctx, opCassettes, nil, d.opts.CommandTimeout)
	if err != nil {
		return 0, nil, err
	}
	if r.status != rsOK {
		return 0, nil, refusal(opCassettes, r, raw)
	}
	bin, cs, err := parseCassettes(r.rest)
	if err != nil {
		pf := protocolFault("CASSETTES", err, raw)
		d.setDown(pf)
		return 0, nil, pf
	}
	d.mu.Lock()
	d.caps.Cassettes = len(cs)
	d.mu.Unlock()
	return bin, cs, nil
}

// Nonce asks the device for a fresh nonce. The device saves its counter
// before the nonce leaves it, and voids the previous one.
func (d *Dev) Nonce(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cdm: nonce: %w", err)
	}
	if err := d.acquire(ctx, "nonce"); err != nil {
		return nil, err
	}
	defer d.release()
	r, raw, err := d.call(ctx, opNonce, nil, d.opts.CommandTimeout)
	if err != nil {
		return nil, err
	}
	if r.status != rsOK {
		return nil, refusal(opNonce, r, raw)
	}
	dec := &decoder{p: r.rest}
	nonce := dec.lstr()
	if err := dec.done(); err != nil || len(nonce) < 8 {
		if err == nil {
			err = fmt.Errorf("nonce of %d bytes", len(nonce))
		}
		pf := protocolFault("NONCE", err, raw)
		d.setDown(pf)
		return nil, pf
	}
	return slices.Clone(nonce), nil
}

// Dispense carries the request and its token to the device, which checks
// the token and stacks the notes behind the shutter. Once the DISPENSE
// frame has gone out the driver waits for the outcome even if ctx ends
// (at most the dispense time, then it asks the device what happened):
// abandoning it would leave cash unaccounted for. See the package
// documentation for what happens when the response is lost.
func (d *Dev) Dispense(ctx context.Context, req dispenser.DispenseRequest) (dispenser.Result, error) {
	if err := ctx.Err(); err != nil {
		return dispenser.Result{}, fmt.Errorf("cdm: dispense: %w", err)
	}
	data, err := encodeDispense(req)
	if err != nil {
		return dispenser.Result{}, fmt.Errorf("%w: %w", err, dispenser.ErrCannotMake)
	}
	if err := d.acquire(ctx, "dispense"); err != nil {
		return dispenser.Result{}, err
	}
	defer d.release()
	return d.dispense(ctx, opDispense, data, req.Txn, req.Nonce, req.Mix)
}

// TestDispense picks notes straight into the reject bin, for the
// technician's test from the maintenance menu. It needs no token: no note
// reaches the customer. The Result lists the notes picked per cassette;
// Rejected counts them all.
func (d *Dev) TestDispense(ctx context.Context, mix []dispenser.Notes) (dispenser.Result, error) {
	if err := ctx.Err(); err != nil {
		return dispenser.Result{}, fmt.Errorf("cdm: test dispense: %w", err)
	}
	data, err := encodeTestDispense(mix)
	if err != nil {
		return dispenser.Result{}, err
	}
	if err := d.acquire(ctx, "test dispense"); err != nil {
		return dispenser.Result{}, err
	}
	defer d.release()
	return d.dispense(ctx, opTestDispense, data, "", nil, mix)
}

// dispense runs DISPENSE or TEST-DISPENSE; d.sem must be held.
func (d *Dev) dispense(ctx context.Context, op byte, data []byte, txn string, nonce []byte, mix []dispenser.Notes) (dispenser.Result, error) {
	name := opNames[op]
	if err := d.ensureLink(ctx); err != nil {
		return dispenser.Result{}, err // nothing went out
	}
	notes := 0
	for _, n := range mix {
		notes += max(n.Count, 0)
	}
	wait := d.opts.DispenseTimeout + time.Duration(min(notes, 1<<16))*d.opts.NoteTime
	seq := d.nextSeq()
	frame := appendFrame(nil, seq, op, data)
	p := &pendingDispense{op: op, seq: seq, crc: binary.BigEndian.Uint16(frame[len(frame)-3:]), txn: txn, nonce: slices.Clone(nonce)}
	dctx := context.WithoutCancel(ctx)

	f, sent, err := d.exchange(dctx, seq, op, data, wait)
	defer func() { _, _ = d.refresh(dctx) }()
	if err == nil {
		r, perr := parseReply(f.Data)
		if perr != nil {
			// The device answered, so the record is there to ask for.
			return d.recover(dctx, p, protocolFault(name, perr, f.Data))
		}
		return d.outcome(op, r, f.Data)
	}
	fault := d.linkFailed(name, err)
	if !sent {
		return dispenser.Result{}, fault
	}
	return d.recover(dctx, p, fault)
}

// recover finds out from the device what became of a dispense whose
// response was lost or unreadable. It never sends the DISPENSE again
// with a new SEQ. d.sem must be held.
func (d *Dev) recover(ctx context.Context, p *pendingDispense, cause error) (dispenser.Result, error) {
	name := opNames[p.op]
	rec, err := d.lastRecord(ctx, p.op)
	switch {
	case err == nil && rec.matches(p):
		res, rerr := d.recordOutcome(rec)
		d.log.Warn().Str("cmd", name).Str("txn", p.txn).Int("notes", count(res.Dispensed)).AnErr("outcome", rerr).
			Msg("response lost; outcome read from the device's dispense record")
		return res, rerr
	case err == nil || errors.Is(err, errNoRecord):
		// The device records every dispense that picks notes: this one
		// picked none (refused, or never received).
		d.log.Warn().Str("cmd", name).Str("txn", p.txn).Msg("response lost; the device picked no note for it")
		return dispenser.Result{}, cause
	}
	d.unresolved = p
	d.mu.Lock()
	if d.st.Extra == nil {
		d.st.Extra = map[string]string{}
	}
	d.st.Extra["dispense.outcome"] = "unknown"
	d.mu.Unlock()
	d.log.Error().Str("cmd", name).Str("txn", p.txn).Err(err).Msg("dispense outcome unknown; will ask the device when it answers")
	f := &hal.Fault{Device: "dispenser", Code: FaultOffline, Msg: name + " outcome unknown", Recoverable: true,
		Err: fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)}
	var cf *hal.Fault
	if errors.As(cause, &cf) {
		f.Code, f.Raw = cf.Code, cf.Raw
	}
	return dispenser.Result{}, f
}

// settle asks the device about a dispense whose outcome was unknown and
// logs what happened; d.sem must be held.
func (d *Dev) settle(ctx context.Context) {
	p := d.unresolved
	rec, err := d.lastRecord(ctx, p.op)
	switch {
	case err == nil && rec.matches(p):
		res, rerr := d.recordOutcome(rec)
		d.log.Error().Str("cmd", opNames[p.op]).Str("txn", p.txn).Int("notes", count(res.Dispensed)).AnErr("outcome", rerr).
			Interface("dispensed", res.Dispensed).Msg("outcome of the earlier dispense learned from the device")
	case err == nil || errors.Is(err, errNoRecord):
		d.log.Warn().Str("cmd", opNames[p.op]).Str("txn", p.txn).Msg("the earlier dispense picked no note")
	default:
		return
	}
	d.unresolved = nil
	d.mu.Lock()
	delete(d.st.Extra, "dispense.outcome")
	d.mu.Unlock()
}

func (r lastRecord) matches(p *pendingDispense) bool {
	return r.cmd == p.op && r.seq == p.seq && r.crc == p.crc && string(r.nonce) == string(p.nonce)
}

// lastRecord asks LAST-DISPENSE for the record of the last command op
// (DISPENSE or TEST-DISPENSE); d.sem must be held.
func (d *Dev) lastRecord(ctx context.Context, op byte) (lastRecord, error) {
	r, raw, err := d.call(ctx, opLastDispense, []byte{op}, d.opts.CommandTimeout)
	if err != nil {
		return lastRecord{}, err
	}
	if r.status != rsOK {
		return lastRecord{}, refusal(opLastDispense, r, raw)
	}
	rec, err := parseLast(r.rest)
	if err != nil {
		return lastRecord{}, protocolFault("LAST-DISPENSE", err, raw)
	}
	return rec, nil
}

// outcome interprets a DISPENSE or TEST-DISPENSE response.
func (d *Dev) outcome(op byte, r reply, raw []byte) (dispenser.Result, error) {
	var res dispenser.Result
	block := false
	if r.status == rsOK || (r.status == rsHardware && len(r.rest) > 0) {
		dec := &decoder{p: r.rest}
		res = parseResult(dec)
		if err := dec.done(); err != nil {
			return dispenser.Result{}, protocolFault(opNames[op], err, raw)
		}
		block = true
	}
	return d.verdict(op, r, res, block, raw)
}

// recordOutcome interprets a LAST-DISPENSE record as the response it
// stands for.
func (d *Dev) recordOutcome(rec lastRecord) (dispenser.Result, error) {
	r := reply{status: rec.status, reason: rec.reason}
	return d.verdict(rec.cmd, r, rec.result, true, nil)
}

// verdict turns a dispense status and its notes into what Dispense
// returns: a Result, a *dispenser.PartialError when a fault stopped the
// picking, or the refusal.
func (d *Dev) verdict(op byte, r reply, res dispenser.Result, block bool, raw []byte) (dispenser.Result, error) {
	switch {
	case r.status == rsOK:
		d.log.Info().Str("cmd", opNames[op]).Int("notes", count(res.Dispensed)).Msg("notes picked")
		return res, nil
	case r.status == rsHardware && block && (r.reason == FaultPick || len(res.Dispensed) > 0):
		err := refusal(op, r, raw)
		d.log.Error().Str("cmd", opNames[op]).Str("fault", r.reason).Int("notes", count(res.Dispensed)).Msg("partial dispense")
		return res, &dispenser.PartialError{Dispensed: res.Dispensed, Err: err}
	}
	err := refusal(op, r, raw)
	if r.status == rsSecurity {
		d.log.Warn().Str("cmd", opNames[op]).Msg("dispense refused by the device: token")
	}
	return dispenser.Result{}, err
}

// Present opens the shutter on the stacked notes.
func (d *Dev) Present(ctx context.Context) error {
	return d.simple(ctx, opPresent, d.opts.ShutterTimeout)
}

// simple runs a command without arguments whose OK response carries at
// most a count, then refreshes Status.
func (d *Dev) simple(ctx context.Context, op byte, wait time.Duration) error {
	_, err := d.counted(ctx, op, wait)
	return err
}

func (d *Dev) counted(ctx context.Context, op byte, wait time.Duration) (int, error) {
	name := opNames[op]
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cdm: %s: %w", name, err)
	}
	if err := d.acquire(ctx, name); err != nil {
		return 0, err
	}
	defer d.release()
	r, raw, err := d.call(ctx, op, nil, wait)
	if err != nil {
		return 0, err
	}
	defer func() { _, _ = d.refresh(context.WithoutCancel(ctx)) }()
	if r.status != rsOK {
		return 0, refusal(op, r, raw)
	}
	if len(r.rest) == 0 {
		return 0, nil
	}
	dec := &decoder{p: r.rest}
	n := dec.uint16()
	if err := dec.done(); err != nil {
		return 0, protocolFault(name, err, raw)
	}
	return n, nil
}

// WaitTaken returns once the customer has taken the presented notes and
// the shutter is closed (the device closes it itself; if it stayed open
// the driver sends CLOSE-SHUTTER). It learns of the take from the
// CASH-TAKEN event, and from STATUS in case the event was lost.
func (d *Dev) WaitTaken(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cdm: wait taken: %w", err)
		}
		d.mu.Lock()
		wake := d.taken
		d.mu.Unlock()
		done, err := d.checkTaken(ctx)
		if done {
			return err
		}
		t := time.NewTimer(takenPoll)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// checkTaken asks STATUS whether WaitTaken is over, and how.
func (d *Dev) checkTaken(ctx context.Context) (bool, error) {
	if err := d.acquire(ctx, "wait taken"); err != nil {
		return true, err
	}
	defer d.release()
	ds, err := d.refresh(ctx)
	switch {
	case err != nil:
		return true, err
	case ds.presented > 0:
		return false, nil
	case !ds.taken:
		return true, fmt.Errorf("cdm: wait taken: %w", dispenser.ErrNothingStack)
	case !ds.shutter:
		return true, nil
	}
	r, raw, err := d.call(ctx, opCloseShutter, nil, d.opts.ShutterTimeout)
	if err != nil {
		return true, err
	}
	defer func() { _, _ = d.refresh(ctx) }()
	if r.status != rsOK {
		return true, refusal(opCloseShutter, r, raw)
	}
	return true, nil
}

// Retract pulls presented or stacked notes into the retract bin and
// returns how many the device counted.
func (d *Dev) Retract(ctx context.Context) (int, error) {
	return d.counted(ctx, opRetract, d.opts.RetractTimeout)
}

// Halt brings the device to its safe state: it voids the outstanding
// nonce and closes the shutter (presented notes stay behind it, stacked,
// until Retract). It runs even when ctx has ended, bounded by the
// shutter time.
func (d *Dev) Halt(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.ShutterTimeout+d.opts.CommandTimeout+2*sendTries*ackWait)
	defer cancel()
	return d.simple(hctx, opHalt, d.opts.ShutterTimeout)
}

// Load replaces the cassettes after a replenishment: denomination,
// currency, count, low mark and whether each is missing. The device
// resets their dispensed and rejected counters and takes the count as
// the initial one.
func (d *Dev) Load(ctx context.Context, cs []dispenser.Cassette) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cdm: load: %w", err)
	}
	data, err := encodeLoad(cs)
	if err != nil {
		return err
	}
	if err := d.acquire(ctx, "load"); err != nil {
		return err
	}
	defer d.release()
	r, raw, err := d.call(ctx, opLoad, data, d.opts.CommandTimeout)
	if err != nil {
		return err
	}
	defer func() { _, _ = d.refresh(ctx) }()
	if r.status != rsOK {
		return refusal(opLoad, r, raw)
	}
	return nil
}

// LastDispense reports the device's record of its last DISPENSE that
// picked notes, and where they are now — picking (interrupted), stacked,
// presented, taken or retracted — as the device keeps it across power
// loss. After a crash the ATM uses it to tell whether the customer got
// the cash. A device that never dispensed reports dispenser.LastNone.
func (d *Dev) LastDispense(ctx context.Context) (dispenser.LastDispense, error) {
	if err := ctx.Err(); err != nil {
		return dispenser.LastDispense{}, fmt.Errorf("cdm: last dispense: %w", err)
	}
	if err := d.acquire(ctx, "last dispense"); err != nil {
		return dispenser.LastDispense{}, err
	}
	defer d.release()
	rec, err := d.lastRecord(ctx, opDispense)
	switch {
	case errors.Is(err, errNoRecord):
		return dispenser.LastDispense{State: dispenser.LastNone}, nil
	case err != nil:
		return dispenser.LastDispense{}, err
	}
	return dispenser.LastDispense{Txn: rec.txn, Notes: rec.result.Dispensed, State: rec.state}, nil
}

// LoadKey loads a key into the dispenser: the terminal master key as
// clear components (name "tmk", kek ""), which the device XORs together,
// or the dispense key encrypted under it (name "dispense", kek "tmk",
// TDES-ECB). It returns the device's check value for the key: the TDES
// check value for the master key, dispenser.DispenseKCV for the dispense
// key. Key material is never logged.
func (d *Dev) LoadKey(ctx context.Context, name, kek string, value []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cdm: load key: %w", err)
	}
	data, err := encodeLoadKey(name, kek, value)
	if err != nil {
		return nil, err
	}
	if err := d.acquire(ctx, "load key"); err != nil {
		return nil, err
	}
	defer d.release()
	r, raw, err := d.call(ctx, opLoadKey, data, d.opts.CommandTimeout)
	if err != nil {
		return nil, err
	}
	if r.status != rsOK {
		return nil, refusal(opLoadKey, r, raw)
	}
	dec := &decoder{p: r.rest}
	kcv := dec.lstr()
	if err := dec.done(); err != nil || len(kcv) == 0 {
		if err == nil {
			err = errors.New("empty check value")
		}
		return nil, protocolFault("LOAD-KEY", err, raw)
	}
	d.log.Info().Str("key", name).Hex("kcv", kcv).Msg("key loaded")
	return slices.Clone(kcv), nil
}

// DeleteKey erases a key in the dispenser (DELETE-KEY), before a new
// master key is loaded as components; a key that is not loaded is
// dispenser.ErrNoKey.
func (d *Dev) DeleteKey(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cdm: delete key: %w", err)
	}
	e := &encoder{}
	e.lstr([]byte(name), "key name")
	data, err := e.result("delete key")
	if err != nil {
		return err
	}
	if err := d.acquire(ctx, "delete key"); err != nil {
		return err
	}
	defer d.release()
	r, raw, err := d.call(ctx, opDeleteKey, data, d.opts.CommandTimeout)
	if err != nil {
		return err
	}
	switch r.status {
	case rsOK:
		d.log.Info().Str("key", name).Msg("key deleted")
		return nil
	case rsNotReady:
		return fmt.Errorf("cdm: delete key %q: %w", name, dispenser.ErrNoKey)
	}
	return refusal(opDeleteKey, r, raw)
}

func count(ns []dispenser.Notes) int {
	n := 0
	for _, x := range ns {
		n += x.Count
	}
	return n
}
