package pn532

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/tarm/serial"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
)

// Options tune the driver. A zero field takes its DefaultOptions value.
type Options struct {
	// Name tells instances apart in String ("nfctag:pn532:<Name>"); the
	// port path when empty.
	Name string
	// Baud is the HSU line speed; the PN532's default is 115200.
	Baud int
	// MaxNDEF is the largest message Publish takes, at least
	// nfctag.MaxNDEF and at most 65532. The NDEF file holds MaxNDEF + 2.
	MaxNDEF int
	// MLe is the largest READ BINARY the tag announces in its capability
	// container, 15 to 255. The default 255 makes the PN532 send 257-byte
	// R-APDUs in extended frames.
	MLe int
	// NFCID1 is the 3-byte NFCID1t given to TgInitAsTarget (the PN532
	// sets the first UID byte itself).
	NFCID1 [3]byte
	// AckTimeout is how long to wait for the ACK of a command frame
	// before sending it again. UM0701-02 suggests 15 ms; a serial read
	// here has a resolution of 100 ms.
	AckTimeout time.Duration
	// ResponseTimeout bounds the answer to a command that does not wait
	// for the RF side (SAMConfiguration, GetFirmwareVersion, TgSetData).
	ResponseTimeout time.Duration
	// SessionTimeout is how long a phone may stay silent within a
	// session (TgGetData) before the driver drops the session.
	SessionTimeout time.Duration
	// Heartbeat is how long the driver leaves TgInitAsTarget waiting for
	// a phone before it aborts it to check that the PN532 still answers,
	// and arms it again. A PN532 that has gone silent is noticed within
	// Heartbeat plus Retries × AckTimeout.
	Heartbeat time.Duration
	// Retries is how many times a command frame is sent without an ACK,
	// and how many NACKs a bad response gets, before the command fails.
	Retries int
	// RetryInterval is the pause between attempts to reopen the port and
	// initialise the PN532 after a fault.
	RetryInterval time.Duration
	// Log receives state changes, faults and phone reads (sizes only,
	// never the message, which carries a one-time session value). The
	// zero value discards.
	Log zerolog.Logger
}

// DefaultOptions suit a PN532 breakout board on a USB-serial adapter.
var DefaultOptions = Options{
	Baud:            115200,
	MaxNDEF:         nfctag.MaxNDEF,
	MLe:             0xFF,
	NFCID1:          [3]byte{0x41, 0x54, 0x4D}, // "ATM"
	AckTimeout:      200 * time.Millisecond,
	ResponseTimeout: time.Second,
	SessionTimeout:  2 * time.Second,
	Heartbeat:       2 * time.Second,
	Retries:         3,
	RetryInterval:   time.Second,
}

// Dev is a PN532 on a serial port, emulating an NFC Forum Type 4 Tag
// that carries the published NDEF message. Its methods are safe for
// concurrent use; the serial line belongs to a background goroutine
// that Close stops.
type Dev struct {
	port string
	opts Options
	log  zerolog.Logger
	open func() (io.ReadWriteCloser, error)

	cancel context.CancelFunc
	done   chan struct{}
	close  sync.Once

	mu       sync.Mutex
	status   hal.Status
	fault    *hal.Fault // nil when online
	faults   int        // faults recorded so far
	msg      []byte     // published message; nil when none
	gen      uint64     // bumped by every Publish, Clear and Halt
	read     bool       // a phone read msg
	wake     chan struct{}
	firstTry chan struct{} // closed after the first initialisation attempt
}

var _ nfctag.Tag = (*Dev)(nil)

// NewSerial opens the PN532 on the serial port (for example
// /dev/ttyUSB0) at opts.Baud, 8N1, initialises it and starts emulating
// the tag. It returns an error only for invalid options: when the port
// or the chip cannot be reached the Dev reports the fault in Status
// (NFC-OFFLINE, NFC-TIMEOUT, NFC-PROTOCOL) and keeps trying in the
// background, as it does whenever the PN532 goes away later. Close
// stops it.
func NewSerial(port string, opts Options) (*Dev, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	cfg := &serial.Config{Name: port, Baud: opts.Baud, ReadTimeout: readSlice}
	d := newDev(port, opts, func() (io.ReadWriteCloser, error) { return serial.OpenPort(cfg) })
	<-d.firstTry
	return d, nil
}

// fill applies defaults and checks the options.
func (o *Options) fill() error {
	def := DefaultOptions
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Baud <= 0 {
		o.Baud = def.Baud
	}
	if o.MaxNDEF == 0 {
		o.MaxNDEF = def.MaxNDEF
	}
	if o.MLe == 0 {
		o.MLe = def.MLe
	}
	if o.NFCID1 == ([3]byte{}) {
		o.NFCID1 = def.NFCID1
	}
	setDur(&o.AckTimeout, def.AckTimeout)
	setDur(&o.ResponseTimeout, def.ResponseTimeout)
	setDur(&o.SessionTimeout, def.SessionTimeout)
	setDur(&o.Heartbeat, def.Heartbeat)
	setDur(&o.RetryInterval, def.RetryInterval)
	if o.Retries <= 0 {
		o.Retries = def.Retries
	}
	switch {
	case o.MaxNDEF < nfctag.MaxNDEF || o.MaxNDEF > 0xFFFE-2:
		return fmt.Errorf("pn532: MaxNDEF %d out of range %d..%d: %w", o.MaxNDEF, nfctag.MaxNDEF, 0xFFFE-2, hal.ErrInvalid)
	case o.MLe < 0x0F || o.MLe > 0xFF:
		return fmt.Errorf("pn532: MLe %d out of range 15..255: %w", o.MLe, hal.ErrInvalid)
	}
	return nil
}

func newDev(port string, opts Options, open func() (io.ReadWriteCloser, error)) *Dev {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dev{
		port: port, opts: opts, open: open,
		cancel: cancel, done: make(chan struct{}),
		wake: make(chan struct{}), firstTry: make(chan struct{}),
	}
	d.log = opts.Log.With().Str("device", d.String()).Logger()
	d.status = hal.Status{State: hal.Offline, Fault: FaultOffline, Detail: "starting"}
	go d.run(ctx)
	return d
}

// String names the device: "nfctag:pn532:<Name or port>".
func (d *Dev) String() string {
	name := d.opts.Name
	if name == "" {
		name = d.port
	}
	return "nfctag:pn532:" + name
}

// Status returns the last known status; Extra carries the firmware
// version once the PN532 answered.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.status
	st.Extra = maps.Clone(d.status.Extra)
	return st
}

// Capabilities reports the configured message size.
func (d *Dev) Capabilities() nfctag.Capabilities {
	return nfctag.Capabilities{MaxNDEF: d.opts.MaxNDEF}
}

// changed wakes WaitRead; d.mu must be held.
func (d *Dev) changed() {
	close(d.wake)
	d.wake = make(chan struct{})
}

// Publish replaces the message the tag presents; the tag keeps its own
// copy. A phone already reading finishes with the message it started
// with. It fails with the current fault while the PN532 is not online.
func (d *Dev) Publish(ctx context.Context, ndef []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pn532: publish: %w", err)
	}
	if err := nfctag.CheckMessage(ndef, d.opts.MaxNDEF); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault != nil {
		return d.fault
	}
	d.msg, d.read = slices.Clone(ndef), false
	d.gen++
	d.changed()
	d.log.Info().Int("bytes", len(ndef)).Msg("message published")
	return nil
}

// Clear withdraws the message: a phone that touches the tag is told it
// has no NDEF application (6A82). Clear works while the PN532 is
// offline, so that the message is not there when it comes back.
func (d *Dev) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pn532: clear: %w", err)
	}
	d.withdraw()
	return nil
}

func (d *Dev) withdraw() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.msg != nil {
		d.log.Info().Msg("message withdrawn")
	}
	d.msg, d.read = nil, false
	d.gen++
	d.changed()
}

// WaitRead blocks until a phone has read the whole current message (its
// NLEN and every byte), also when that happened before the call. It
// fails with nfctag.ErrNoMessage when there is no message or it is
// withdrawn meanwhile, and with the fault when the PN532 is or goes
// offline.
func (d *Dev) WaitRead(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pn532: wait read: %w", err)
		}
		d.mu.Lock()
		fault, msg, read, wake := d.fault, d.msg, d.read, d.wake
		d.mu.Unlock()
		switch {
		case fault != nil:
			return fault
		case msg == nil:
			return nfctag.ErrNoMessage
		case read:
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
		}
	}
}

// Halt withdraws the message; the tag keeps answering phones that it
// has none. It withdraws even when ctx has ended (and then returns ctx's
// error) and while the PN532 is offline.
func (d *Dev) Halt(ctx context.Context) error {
	d.withdraw()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pn532: halt: %w", err)
	}
	return nil
}

// Close aborts what the PN532 is doing, closes the port and stops the
// background goroutine. The Dev reports NFC-OFFLINE afterwards and its
// methods fail with ErrClosed.
func (d *Dev) Close() error {
	d.close.Do(func() {
		d.cancel()
		<-d.done
		f := offline("device closed", ErrClosed)
		d.mu.Lock()
		d.fault = f
		d.status = hal.Status{State: hal.Offline, Fault: f.Code, Detail: f.Msg}
		d.changed()
		d.mu.Unlock()
		d.log.Info().Msg("closed")
	})
	return nil
}

// snapshot is the message a reader session starts with.
func (d *Dev) snapshot() ([]byte, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.msg, d.gen
}

// markRead records that a phone read the message of generation gen.
func (d *Dev) markRead(gen uint64, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.msg == nil || d.gen != gen {
		d.log.Info().Int("bytes", n).Msg("phone read a message since replaced")
		return
	}
	d.read = true
	d.changed()
	d.log.Info().Int("bytes", n).Msg("phone read the message")
}

// setOnline records a working PN532.
func (d *Dev) setOnline(firmware string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status.State != hal.Online {
		d.log.Info().Str("firmware", firmware).Msg("PN532 online")
	}
	d.fault = nil
	d.status = hal.Status{State: hal.Online, Extra: map[string]string{"firmware": firmware}}
	d.changed()
}

// setFault records a fault; the first of a run is logged.
func (d *Dev) setFault(f *hal.Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == nil || d.fault.Code != f.Code || d.fault.Msg != f.Msg {
		ev := d.log.Warn().Str("fault", f.Code).Err(f.Err)
		if len(f.Raw) > 0 {
			ev = ev.Hex("raw", f.Raw)
		}
		ev.Msg(f.Msg)
	}
	d.fault = f
	d.faults++
	d.status = hal.Status{State: stateOf(f), Fault: f.Code, Detail: f.Msg}
	d.changed()
}
