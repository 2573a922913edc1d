package epp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/tarm/serial"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/pinblock"
)

// Fault catalogue codes the driver reports in Status and in *hal.Fault
// errors. A code the device sends with status 06 is reported as it is.
const (
	// FaultOffline: the port cannot be opened, or it went away.
	FaultOffline = "PIN-OFFLINE"
	// FaultTimeout: the device did not ACK or did not answer in time.
	FaultTimeout = "PIN-TIMEOUT"
	// FaultProtocol: garbage, bad CRCs after retries, a malformed answer.
	FaultProtocol = "PIN-PROTOCOL"
	// FaultTamper: the device detected tamper and erased its keys.
	FaultTamper = "PIN-TAMPER"
)

// device is the Fault.Device of every fault this driver reports.
const device = "pinpad"

// cancelWait bounds CANCEL-ENTRY after the caller's context ended.
const cancelWait = 2 * time.Second

// Alg is the algorithm of a key loaded with LoadKeyAlg: LOAD-KEY's AL
// byte.
type Alg byte

// Key algorithms.
const (
	// FromKEK: the key has the algorithm of the KEK it is loaded under.
	// Not valid for a clear component.
	FromKEK Alg = 0x00
	// TDES: a double- or triple-length TDES key (16 or 24 bytes); its
	// check value is the TDES one.
	TDES Alg = 0x01
	// AES: an AES key (16, 24 or 32 bytes); its check value is the AES
	// one.
	AES Alg = 0x02
)

// Tone is a BEEP tone.
type Tone byte

// Tones.
const (
	ToneClick     Tone = 0x00
	ToneAttention Tone = 0x01
	ToneError     Tone = 0x02
)

// Options tune the driver.
type Options struct {
	// Name tells instances apart in String ("pinpad:epp:<Name>");
	// default: the port.
	Name string
	// Baud is the line speed; 0 means DefaultOptions.Baud.
	Baud int
	// Poll is how often the driver checks an idle device with
	// GET-STATUS, and how often it tries to reach a device that is gone;
	// 0 means DefaultOptions.Poll.
	Poll time.Duration
	// KeyAlgs gives the algorithm LoadKey states for a key name. A name
	// not listed is loaded as FromKEK when it comes under a KEK and as
	// TDES when it is a clear component: list AES keys loaded from clear
	// components here.
	KeyAlgs map[string]Alg
	// Log receives connection changes, faults and entries (never a
	// digit, a key or a clear PAN); the zero value discards.
	Log zerolog.Logger
}

// DefaultOptions: 115200 baud as epp.md says, a check every two seconds.
var DefaultOptions = Options{Baud: 115200, Poll: 2 * time.Second}

// Dev is an encrypting PIN pad on a serial port. See the package comment.
type Dev struct {
	port   string
	opts   Options
	log    zerolog.Logger
	cancel context.CancelFunc // stops the monitor
	done   chan struct{}      // closed when the monitor has stopped

	connMu sync.Mutex // one (re)connection at a time
	macMu  sync.Mutex // the parts of one MAC go out together, with no LOAD-KEY or DELETE-KEY between

	mu       sync.Mutex
	l        *link // nil while not connected
	greeting *link // the link connect is greeting, if any
	st       hal.Status
	caps     pinpad.Capabilities
	entry    bool // an entry call is running
	closed   bool
}

var (
	_ pinpad.PinPad     = (*Dev)(nil)
	_ pinpad.KeyLoader  = (*Dev)(nil)
	_ pinpad.MACer      = (*Dev)(nil)
	_ pinpad.KeyChecker = (*Dev)(nil)
	_ pinpad.KeyDeleter = (*Dev)(nil)
)

// NewSerial drives the EPP on the serial port (e.g. "/dev/ttyUSB0"). It
// opens the port and greets the device before it returns — at most about
// two seconds when the device does not answer. A device that is missing
// or silent is no error: the Dev starts offline with a fault code and
// keeps trying every Options.Poll. Only bad options are errors. Close
// stops it.
func NewSerial(port string, opts Options) (*Dev, error) {
	if port == "" {
		return nil, fmt.Errorf("epp: no serial port: %w", hal.ErrInvalid)
	}
	if opts.Baud == 0 {
		opts.Baud = DefaultOptions.Baud
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultOptions.Poll
	}
	if opts.Name == "" {
		opts.Name = port
	}
	for name, a := range opts.KeyAlgs {
		if !validName(name) || a > AES {
			return nil, fmt.Errorf("epp: key algorithm for %q: %w", name, hal.ErrInvalid)
		}
	}
	opts.KeyAlgs = maps.Clone(opts.KeyAlgs)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dev{
		port: port, opts: opts, cancel: cancel, done: make(chan struct{}),
		log: opts.Log.With().Str("device", "pinpad:epp:"+opts.Name).Logger(),
		st:  hal.Status{State: hal.Offline, Fault: FaultOffline, Detail: "not connected yet"},
	}
	if _, err := d.connect(ctx); err != nil {
		d.log.Warn().Err(err).Msg("EPP not reachable; will keep trying")
	}
	go d.monitor(ctx)
	return d, nil
}

// String names the device: "pinpad:epp:" and Options.Name.
func (d *Dev) String() string { return "pinpad:epp:" + d.opts.Name }

// Status returns the last known status without blocking.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// Capabilities returns what the device declared at the last greeting
// (nothing before the first one).
func (d *Dev) Capabilities() pinpad.Capabilities {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.caps
	c.Formats = slices.Clone(c.Formats)
	return c
}

// Close stops the driver and closes the port; an entry running ends
// with ErrClosed. Close is idempotent.
func (d *Dev) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	links := []*link{d.l, d.greeting}
	d.l = nil
	d.st = hal.Status{State: hal.Offline, Detail: "closed"}
	d.mu.Unlock()
	for _, l := range links {
		if l != nil {
			l.fail(ErrClosed)
		}
	}
	d.cancel()
	<-d.done
	d.log.Info().Msg("closed")
	return nil
}

// GetPIN runs PIN-ENTRY and returns the block the device sent. The echo
// gets KeyMasked, CLEAR and BACKSPACE from the device's KEY events. With
// req.Terminators the command carries them (NT and their codes) and a
// terminator the customer pressed comes back as a *pinpad.TerminatedError
// naming it; a request without them is sent as before terminators
// existed. When ctx ends the driver sends CANCEL-ENTRY and returns ctx's
// error once the device confirmed (or after a bounded wait).
func (d *Dev) GetPIN(ctx context.Context, req pinpad.PINRequest, echo func(pinpad.Key)) (pinpad.PINBlock, error) {
	if err := req.Validate(); err != nil {
		return pinpad.PINBlock{}, err
	}
	// The device declares its formats when greeted: connect first.
	if _, err := d.linkFor(ctx); err != nil {
		return pinpad.PINBlock{}, fmt.Errorf("epp: get PIN: %w", err)
	}
	fm, ok := formatCodes[req.Format]
	if !ok || !slices.Contains(d.Capabilities().Formats, req.Format) {
		return pinpad.PINBlock{}, fmt.Errorf("epp: get PIN: format %d: %w", req.Format, hal.ErrUnsupported)
	}
	if !validName(req.Key) {
		return pinpad.PINBlock{}, fmt.Errorf("epp: get PIN: key name %q: %w", req.Key, pinpad.ErrNoKey)
	}
	echo = orNop(echo)
	data := []byte{fm, byte(req.MinLen), byte(req.MaxLen), byte(len(req.PAN))}
	data = append(data, req.PAN...)
	data = append(data, byte(len(req.Key)))
	data = append(data, req.Key...)
	var terms []byte
	for _, k := range req.Terminators { // Validate: distinct FDKs, at most 8
		terms = append(terms, keyCodes[k])
	}
	if len(terms) > 0 {
		data = append(data, byte(len(terms)))
		data = append(data, terms...)
	}
	d.log.Info().Str("key", req.Key).Int("format", int(req.Format)).Str("pan", mask.PAN(req.PAN)).
		Int("terminators", len(terms)).Msg("PIN entry requested")
	resp, err := d.runEntry(ctx, "get PIN", cmdPINEntry, data, func(c byte) {
		switch k := codeKeys[c]; {
		case k == pinpad.KeyClear || k == pinpad.KeyBackspace:
			echo(k)
		case c == codeMasked:
			echo(pinpad.KeyMasked)
		case k.IsDigit():
			// A clear digit during PIN entry: never passed on.
			d.log.Error().Msg("device echoed a clear digit during PIN entry; masked")
			echo(pinpad.KeyMasked)
		}
	})
	if err != nil {
		return pinpad.PINBlock{}, err
	}
	block, term, ok := parsePINResult(resp, fm, terms)
	switch {
	case !ok:
		return pinpad.PINBlock{}, d.malformed("get PIN", cmdPINEntry, resp)
	case term != "":
		d.log.Info().Str("terminator", string(term)).Msg("PIN entry ended by a function key")
		return pinpad.PINBlock{}, &pinpad.TerminatedError{Key: term}
	}
	d.log.Info().Str("key", req.Key).Msg("PIN block received")
	return pinpad.PINBlock{Format: req.Format, Key: req.Key, Block: block}, nil
}

// parsePINResult reads PIN-ENTRY's OK response (status byte included)
// for a request with format code fm and terminator codes terms: either
// 00, FM, BL and the block (BL 8 for format 0, 16 for format 4), or 00,
// FF and one of terms. It returns a copy of the block, or the terminator
// pressed; ok is false for anything else.
func parsePINResult(resp []byte, fm byte, terms []byte) (block []byte, term pinpad.Key, ok bool) {
	if len(resp) < 3 || resp[0] != statusOK {
		return nil, "", false
	}
	if resp[1] == fmTerminated {
		k := codeKeys[resp[2]]
		if len(resp) != 3 || !k.IsFDK() || !slices.Contains(terms, resp[2]) {
			return nil, "", false
		}
		return nil, k, true
	}
	want := 8
	if fm == formatCodes[pinpad.ISO4] {
		want = 16
	}
	if len(resp) != 3+want || resp[1] != fm || int(resp[2]) != want {
		return nil, "", false
	}
	return slices.Clone(resp[3:]), "", true
}

// GetData runs DATA-ENTRY; the echo gets the digits, CLEAR and
// BACKSPACE.
func (d *Dev) GetData(ctx context.Context, req pinpad.DataRequest, echo func(pinpad.Key)) (pinpad.Data, error) {
	if err := req.Validate(); err != nil {
		return pinpad.Data{}, err
	}
	echo = orNop(echo)
	var terms []byte
	for _, k := range req.Terminators {
		if c := keyCodes[k]; !slices.Contains(terms, c) {
			terms = append(terms, c)
		}
	}
	if len(terms) > 8 {
		return pinpad.Data{}, fmt.Errorf("epp: get data: %d terminators: %w: %w", len(terms), pinpad.ErrBadRequest, hal.ErrInvalid)
	}
	data := append([]byte{byte(req.MaxLen), byte(len(terms))}, terms...)
	resp, err := d.runEntry(ctx, "get data", cmdDataEntry, data, func(c byte) {
		if k := codeKeys[c]; k.IsDigit() || k == pinpad.KeyClear || k == pinpad.KeyBackspace {
			echo(k)
		}
	})
	if err != nil {
		return pinpad.Data{}, err
	}
	if len(resp) < 3 || len(resp) != 3+int(resp[2]) || int(resp[2]) > req.MaxLen ||
		(resp[1] != codeEnter && !slices.Contains(terms, resp[1])) {
		return pinpad.Data{}, d.malformed("get data", cmdDataEntry, resp)
	}
	digits := resp[3:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return pinpad.Data{}, d.malformed("get data", cmdDataEntry, resp)
		}
	}
	return pinpad.Data{Digits: string(digits), Terminator: codeKeys[resp[1]]}, nil
}

// ReadKey runs KEY-ENTRY and returns the key pressed.
func (d *Dev) ReadKey(ctx context.Context, active []pinpad.Key) (pinpad.Key, error) {
	if err := pinpad.ValidateActive(active); err != nil {
		return "", err
	}
	var codes []byte
	for _, k := range active {
		if c := keyCodes[k]; !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	if len(codes) > 16 {
		return "", fmt.Errorf("epp: read key: %d keys: %w: %w", len(codes), pinpad.ErrBadRequest, hal.ErrInvalid)
	}
	resp, err := d.runEntry(ctx, "read key", cmdKeyEntry, append([]byte{byte(len(codes))}, codes...), func(byte) {})
	if err != nil {
		return "", err
	}
	if len(resp) != 2 || !slices.Contains(codes, resp[1]) {
		return "", d.malformed("read key", cmdKeyEntry, resp)
	}
	return codeKeys[resp[1]], nil
}

// LoadKey loads a key (pinpad.KeyLoader) with the algorithm
// Options.KeyAlgs gives for name, else FromKEK under a KEK and TDES for
// a clear component. See LoadKeyAlg.
func (d *Dev) LoadKey(ctx context.Context, name, kek string, value []byte) ([]byte, error) {
	alg, ok := d.opts.KeyAlgs[name]
	if !ok {
		alg = TDES
		if kek != "" {
			alg = FromKEK
		}
	}
	return d.LoadKeyAlg(ctx, name, kek, alg, value)
}

// LoadKeyAlg runs LOAD-KEY: value (16, 24 or 32 bytes) is the key
// encrypted under kek in ECB mode, or with kek "" a clear component
// XORed into the key name. alg states the key's algorithm; it decides
// the check value returned (3 bytes). The value is never logged.
func (d *Dev) LoadKeyAlg(ctx context.Context, name, kek string, alg Alg, value []byte) ([]byte, error) {
	switch {
	case !validName(name), kek != "" && !validName(kek):
		return nil, fmt.Errorf("epp: load key: key names are 1-16 printable characters: %w", hal.ErrInvalid)
	case len(value) != 16 && len(value) != 24 && len(value) != 32:
		return nil, fmt.Errorf("epp: load key %q: %d-byte value: %w", name, len(value), hal.ErrInvalid)
	case alg > AES, alg == FromKEK && kek == "":
		return nil, fmt.Errorf("epp: load key %q: algorithm %d: %w", name, alg, hal.ErrInvalid)
	}
	// LOAD-KEY discards a MAC sent in parts: not between two parts.
	d.macMu.Lock()
	defer d.macMu.Unlock()
	data := []byte{byte(alg), byte(len(name))}
	data = append(data, name...)
	data = append(data, byte(len(kek)))
	data = append(data, kek...)
	data = append(data, byte(len(value)))
	data = append(data, value...)
	defer pinblock.Wipe(data)
	resp, err := d.do(ctx, "load key", cmdLoadKey, data)
	if err != nil {
		return nil, err
	}
	if len(resp) != 3 {
		return nil, d.malformed("load key", cmdLoadKey, append([]byte{statusOK}, resp...))
	}
	d.log.Info().Str("key", name).Str("kek", kek).Hex("kcv", resp).Msg("key loaded")
	return slices.Clone(resp), nil
}

// DeleteKey runs DELETE-KEY; an unknown name is pinpad.ErrNoKey.
func (d *Dev) DeleteKey(ctx context.Context, name string) error {
	if !validName(name) {
		return fmt.Errorf("epp: delete key: %q: %w", name, hal.ErrInvalid)
	}
	d.macMu.Lock() // as LoadKeyAlg
	defer d.macMu.Unlock()
	if _, err := d.do(ctx, "delete key", cmdDeleteKey, append([]byte{byte(len(name))}, name...)); err != nil {
		return err
	}
	d.log.Info().Str("key", name).Msg("key deleted")
	return nil
}

// MAC runs MAC (pinpad.MACer): the EPP computes the ISO 9797-1
// algorithm 3 MAC of data under its key name, a double-length TDES key,
// and returns its 8 bytes. Data longer than one frame carries goes in
// parts; the parts of one MAC are never interleaved with another's. At
// most MaxMACData bytes. A key that is not loaded is pinpad.ErrNoKey, one
// that cannot make this MAC pinpad.ErrBadRequest. Neither data nor MAC
// is logged.
func (d *Dev) MAC(ctx context.Context, key string, data []byte) ([]byte, error) {
	switch {
	case !validName(key):
		return nil, fmt.Errorf("epp: mac: key names are 1-16 printable characters: %w", hal.ErrInvalid)
	case len(data) > MaxMACData:
		return nil, fmt.Errorf("epp: mac: %d bytes, at most %d: %w", len(data), MaxMACData, hal.ErrInvalid)
	}
	d.macMu.Lock()
	defer d.macMu.Unlock()
	pt := byte(macWhole)
	if len(data) > macPart {
		pt = macFirst
	}
	for {
		n := min(len(data), macPart)
		last := n == len(data)
		if last && pt != macWhole {
			pt = macLast
		}
		req := []byte{pt, byte(len(key))}
		req = append(req, key...)
		req = append(req, byte(n>>8), byte(n))
		req = append(req, data[:n]...)
		resp, err := d.do(ctx, "mac", cmdMAC, req)
		if err != nil {
			return nil, err
		}
		if !last {
			if len(resp) != 0 {
				return nil, d.malformed("mac", cmdMAC, append([]byte{statusOK}, resp...))
			}
			data, pt = data[n:], macMiddle
			continue
		}
		if len(resp) != 8 {
			return nil, d.malformed("mac", cmdMAC, append([]byte{statusOK}, resp...))
		}
		return slices.Clone(resp), nil
	}
}

// KCV runs KEY-CHECK (pinpad.KeyChecker): the check value of the loaded
// key name (3 bytes, TDES or AES by the key's algorithm), never the key.
// A key that is not loaded is pinpad.ErrNoKey.
func (d *Dev) KCV(ctx context.Context, name string) ([]byte, error) {
	if !validName(name) {
		return nil, fmt.Errorf("epp: key check: %q: %w", name, hal.ErrInvalid)
	}
	resp, err := d.do(ctx, "key check", cmdKeyCheck, append([]byte{byte(len(name))}, name...))
	if err != nil {
		return nil, err
	}
	if len(resp) != 3 {
		return nil, d.malformed("key check", cmdKeyCheck, append([]byte{statusOK}, resp...))
	}
	return slices.Clone(resp), nil
}

// Beep runs BEEP; hal.ErrUnsupported when the device has no beeper.
func (d *Dev) Beep(ctx context.Context, t Tone) error {
	if t > ToneError {
		return fmt.Errorf("epp: beep: tone %d: %w", t, hal.ErrInvalid)
	}
	if !d.Capabilities().Beeper {
		return fmt.Errorf("epp: beep: %w", hal.ErrUnsupported)
	}
	_, err := d.do(ctx, "beep", cmdBeep, []byte{byte(t)})
	return err
}

// Halt sends CANCEL-ENTRY: a running entry ends with hal.ErrCancelled.
// It fails when the device cannot be reached or reports a fault.
func (d *Dev) Halt(ctx context.Context) error {
	d.mu.Lock()
	l, st, closed := d.l, d.st, d.closed
	d.mu.Unlock()
	if closed {
		return nil
	}
	if l == nil {
		return fmt.Errorf("epp: halt: %w", &hal.Fault{Device: device, Code: st.Fault, Msg: st.Detail, Recoverable: true, Err: hal.ErrOffline})
	}
	resp, err := d.exchange(ctx, l, cmdCancelEntry, nil)
	if err != nil {
		return fmt.Errorf("epp: halt: %w", err)
	}
	if resp[0] == statusOK || resp[0] == statusNotReady {
		return nil
	}
	return d.refused(l, "halt", cmdCancelEntry, resp, false)
}

// do runs a command that is not an entry and returns the response's DATA
// after the OK status.
func (d *Dev) do(ctx context.Context, op string, cmd byte, data []byte) ([]byte, error) {
	l, err := d.linkFor(ctx)
	if err != nil {
		return nil, fmt.Errorf("epp: %s: %w", op, err)
	}
	resp, err := d.exchange(ctx, l, cmd, data)
	if err != nil {
		return nil, fmt.Errorf("epp: %s: %w", op, err)
	}
	if resp[0] != statusOK {
		return nil, d.refused(l, op, cmd, resp, false)
	}
	return resp[1:], nil
}

// runEntry runs an entry command: it passes KEY event codes to onKey and
// returns the response's DATA (status OK). When ctx ends it sends
// CANCEL-ENTRY; the device sends the entry's response before it answers
// that, so the entry is over when runEntry returns.
func (d *Dev) runEntry(ctx context.Context, op string, cmd byte, data []byte, onKey func(byte)) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("epp: %s: %w", op, err)
	}
	d.mu.Lock()
	if d.entry {
		d.mu.Unlock()
		return nil, fmt.Errorf("epp: %s: another entry is running: %w", op, hal.ErrBusy)
	}
	d.entry = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.entry = false
		d.mu.Unlock()
	}()
	l, err := d.linkFor(ctx)
	if err != nil {
		return nil, fmt.Errorf("epp: %s: %w", op, err)
	}
	seq, w := l.register(cmd, true)
	defer l.unregister(seq)
	if err := l.transmit(pkt{seq: seq, cmd: cmd, data: data}); err != nil {
		return nil, fmt.Errorf("epp: %s: %w", op, err)
	}
	// next passes queued KEY events on and returns the response, if it
	// has come.
	next := func() ([]byte, bool) {
		for {
			p, ok := w.pop()
			if !ok {
				return nil, false
			}
			if p.cmd != evKey {
				return p.data, true
			}
			if len(p.data) == 1 {
				onKey(p.data[0])
			}
		}
	}
	for {
		select {
		case <-w.sig:
			resp, ok := next()
			if !ok {
				continue
			}
			if len(resp) == 0 {
				return nil, d.malformed(op, cmd, resp)
			}
			if resp[0] != statusOK {
				return nil, d.refused(l, op, cmd, resp, true)
			}
			return resp, nil
		case <-l.down:
			return nil, fmt.Errorf("epp: %s: %w", op, l.err)
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), cancelWait)
			_, err := d.exchange(cctx, l, cmdCancelEntry, nil)
			cancel()
			if err != nil {
				d.log.Warn().Err(err).Str("op", op).Msg("CANCEL-ENTRY failed")
			}
			if resp, ok := next(); ok {
				pinblock.Wipe(resp) // a block that came too late
			}
			return nil, fmt.Errorf("epp: %s: %w", op, ctx.Err())
		}
	}
}

// exchange sends a command on l and waits for its response, within the
// command's time limit. A link failure, a missing response or a response
// without a status fail the link.
func (d *Dev) exchange(ctx context.Context, l *link, cmd byte, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seq, w := l.register(cmd, false)
	defer l.unregister(seq)
	if err := l.transmit(pkt{seq: seq, cmd: cmd, data: data}); err != nil {
		return nil, err
	}
	t := time.NewTimer(responseWait[cmd])
	defer t.Stop()
	select {
	case <-w.sig:
		p, _ := w.pop()
		if len(p.data) == 0 {
			return nil, l.fail(protocolFault(cmdName(cmd)+" answered without a status", nil))
		}
		return p.data, nil
	case <-t.C:
		return nil, l.fail(timeoutFault("no answer to " + cmdName(cmd) + " in time"))
	case <-l.down:
		return nil, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refused turns a non-OK answer into the caller's error, and records a
// fault the device reported.
func (d *Dev) refused(l *link, op string, cmd byte, resp []byte, entry bool) error {
	err := answerError(cmd, resp, entry)
	var f *hal.Fault
	if errors.As(err, &f) {
		if f.Code == FaultProtocol {
			l.fail(f)
		} else {
			d.mu.Lock()
			d.setStatusLocked(hal.Status{State: hal.HardwareError, Fault: f.Code, Detail: f.Msg})
			d.mu.Unlock()
		}
	}
	return fmt.Errorf("epp: %s: %w", op, err)
}

// malformed reports a response that breaks epp.md; the link is reopened.
func (d *Dev) malformed(op string, cmd byte, resp []byte) error {
	f := protocolFault("malformed "+cmdName(cmd)+" response", resp)
	d.mu.Lock()
	l := d.l
	d.mu.Unlock()
	if l != nil {
		l.fail(f)
	}
	return fmt.Errorf("epp: %s: %w", op, f)
}

// linkFor returns the open link, connecting first when there is none.
func (d *Dev) linkFor(ctx context.Context) (*link, error) {
	d.mu.Lock()
	l, closed := d.l, d.closed
	d.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case l != nil:
		return l, nil
	}
	return d.connect(ctx)
}

// connect opens the port and greets the device (epp.md, "Opening the
// link"), unless a link is open already.
func (d *Dev) connect(ctx context.Context) (*link, error) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.mu.Lock()
	l, closed := d.l, d.closed
	d.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case l != nil:
		return l, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	p, err := serial.OpenPort(&serial.Config{Name: d.port, Baud: d.opts.Baud, ReadTimeout: readTimeout})
	if err != nil {
		f := offlineFault("cannot open "+d.port, err)
		d.linkDown(nil, f)
		return nil, f
	}
	l = newLink(p, d.log, d.linkDown, nil)
	l.onStat = func(b []byte) { d.statusEvent(l, b) }
	go l.read()
	d.mu.Lock()
	d.greeting = l
	closed = d.closed
	d.mu.Unlock()
	if closed { // Close came first: it did not see this link
		l.fail(ErrClosed)
	}
	st, err := d.greet(ctx, l)
	d.mu.Lock()
	d.greeting = nil
	closed = d.closed
	d.mu.Unlock()
	if err == nil && closed {
		err = ErrClosed
	}
	if err != nil {
		return nil, l.fail(err)
	}
	d.mu.Lock()
	d.l = l
	d.applyLocked(st)
	d.mu.Unlock()
	d.log.Info().Str("port", d.port).Msg("EPP connected")
	return l, nil
}

// greet sends GET-STATUS twice and trusts the second answer; it cancels
// an entry an earlier session left running.
func (d *Dev) greet(ctx context.Context, l *link) (devStatus, error) {
	var st devStatus
	for range 2 {
		resp, err := d.exchange(ctx, l, cmdGetStatus, nil)
		if err != nil {
			return st, err
		}
		if resp[0] != statusOK {
			return st, protocolFault("GET-STATUS refused", resp)
		}
		if st, err = parseStatus(resp[1:]); err != nil {
			return st, err
		}
	}
	if st.state == 0x01 {
		d.log.Info().Str("entry", cmdName(st.entry)).Msg("cancelling an entry left running")
		resp, err := d.exchange(ctx, l, cmdCancelEntry, nil)
		if err != nil {
			return st, err
		}
		if resp[0] != statusOK && resp[0] != statusNotReady {
			return st, answerError(cmdCancelEntry, resp, false)
		}
		st.state, st.entry = 0, 0
	}
	return st, nil
}

// monitor checks the device every Poll: GET-STATUS when the link has
// been quiet, a new connection when there is none.
func (d *Dev) monitor(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		l := d.l
		d.mu.Unlock()
		if l == nil {
			if _, err := d.connect(ctx); err != nil {
				d.log.Debug().Err(err).Msg("EPP still not reachable")
			}
			continue
		}
		if l.sinceRx() < d.opts.Poll/2 {
			continue
		}
		resp, err := d.exchange(ctx, l, cmdGetStatus, nil)
		if err != nil {
			continue // the link failed and said so
		}
		if resp[0] != statusOK {
			l.fail(protocolFault("GET-STATUS refused", resp))
			continue
		}
		d.statusEvent(l, resp[1:])
	}
}

// statusEvent applies a device status (STATUS event or GET-STATUS).
func (d *Dev) statusEvent(l *link, b []byte) {
	st, err := parseStatus(b)
	if err != nil {
		l.fail(err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.l == l {
		d.applyLocked(st)
	}
}

// applyLocked takes the device's own status as ours.
func (d *Dev) applyLocked(st devStatus) {
	d.caps = st.caps
	if st.state == 0x02 {
		f := deviceFault([]byte(st.fault))
		d.setStatusLocked(hal.Status{State: hal.HardwareError, Fault: f.Code, Detail: f.Msg})
		return
	}
	d.setStatusLocked(hal.Status{State: hal.Online})
}

// linkDown records why a link failed; l is nil when the port did not
// open. Errors that are not faults (a context ending during a greeting,
// Close) leave the status as it was.
func (d *Dev) linkDown(l *link, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l != nil && d.l == l {
		d.l = nil
	}
	var f *hal.Fault
	if d.closed || !errors.As(err, &f) {
		return
	}
	state := hal.Offline
	if f.Code == FaultProtocol {
		state = hal.HardwareError
	}
	d.setStatusLocked(hal.Status{State: state, Fault: f.Code, Detail: f.Msg})
}

func (d *Dev) setStatusLocked(st hal.Status) {
	if st.State == d.st.State && st.Fault == d.st.Fault {
		d.st = st
		return
	}
	d.st = st
	if st.OK() {
		d.log.Info().Str("status", st.String()).Msg("EPP status")
	} else {
		d.log.Warn().Str("status", st.String()).Msg("EPP status")
	}
}

func orNop(echo func(pinpad.Key)) func(pinpad.Key) {
	if echo == nil {
		return func(pinpad.Key) {}
	}
	return echo
}
