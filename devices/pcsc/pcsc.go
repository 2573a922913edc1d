package pcsc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"
	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/emv"
)

// Fault catalogue codes this driver reports.
const (
	// FaultOffline: pcscd is not running or the reader is gone. State
	// Offline; the driver reconnects by itself.
	FaultOffline = "CRD-OFFLINE"
	// FaultProtocol: the card in the reader answered with malformed data
	// or status words EMV does not allow. State stays Online (the reader
	// works); the code clears when the card leaves the reader.
	FaultProtocol = "CRD-PROTOCOL"
	// FaultTimeout: the card did not answer an APDU within
	// Options.APDUTimeout. The reader is held up until the card is
	// removed: State HardwareError until then.
	FaultTimeout = "CRD-TIMEOUT"
	// FaultJam: a motorised reader's capture or eject command failed.
	// State HardwareError until the card leaves the reader.
	FaultJam = "CRD-JAM"
	// FaultBinFull: the retain bin holds Motor.BinCapacity cards. State
	// UserError until ResetBin.
	FaultBinFull = "CRD-BIN-FULL"
)

// faultDevice is the device class in the faults this driver returns.
const faultDevice = "cardreader"

// Errors.
var (
	// ErrProtocol: the card broke the EMV protocol (malformed response,
	// unexpected status word, missing mandatory data).
	ErrProtocol = errors.New("pcsc: card protocol error")
	// ErrNoApplication: the card has no EMV application the terminal
	// supports. It wraps cardreader.ErrUnreadable.
	ErrNoApplication = fmt.Errorf("pcsc: no supported application: %w", cardreader.ErrUnreadable)
)

// Common application identifiers for DefaultOptions.AIDs.
var (
	AIDVisa         = []byte{0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10}
	AIDVisaElectron = []byte{0xA0, 0x00, 0x00, 0x00, 0x03, 0x20, 0x10}
	AIDMastercard   = []byte{0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10}
	AIDMaestro      = []byte{0xA0, 0x00, 0x00, 0x00, 0x04, 0x30, 0x60}
	AIDUnionPay     = []byte{0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01}
	AIDJCB          = []byte{0xA0, 0x00, 0x00, 0x00, 0x65, 0x10, 0x10}
	AIDAmex         = []byte{0xA0, 0x00, 0x00, 0x00, 0x25, 0x01}
)

// Terminal is the terminal data the kernel gives the card (PDOL, CDOL1)
// and puts in field 55.
type Terminal struct {
	// Country is the terminal's ISO 3166 numeric country code (9F1A),
	// used at card read; GENERATE AC uses the transaction's.
	Country string
	// Currency is the ISO 4217 numeric currency (5F2A) used at card read;
	// GENERATE AC uses the transaction's.
	Currency string
	// Type is the terminal type (9F35); 0x14 is an unattended, online
	// only terminal of a financial institution — an ATM.
	Type byte
	// Capabilities (9F33): byte 1 card input (0x20 IC with contacts),
	// byte 2 CVM (0x40 enciphered PIN online), byte 3 security (0x20
	// card capture: set by Open when Motor can retain).
	Capabilities [3]byte
	// AdditionalCapabilities (9F40).
	AdditionalCapabilities [5]byte
	// IFDSerial is the interface device serial number (9F1E), 8
	// characters.
	IFDSerial string
}

// values returns the terminal's data objects.
func (t Terminal) values() map[emv.Tag][]byte {
	v := map[emv.Tag][]byte{
		emv.TagTermType:    {t.Type},
		emv.TagTermCaps:    t.Capabilities[:],
		emv.TagAddTermCaps: t.AdditionalCapabilities[:],
		emv.TagIFDSerial:   []byte(t.IFDSerial),
	}
	v[emv.TagCountry], _ = emv.Numeric(t.Country, 2)
	v[emv.TagCurrency], _ = emv.Numeric(t.Currency, 2)
	return v
}

// Motor drives a motorised reader's card transport through SCardControl.
// PC/SC has no standard command for it: each reader maker defines an
// escape command (for CCID readers, SCardControl with the code
// IOCTL_CCID_ESCAPE, scard.CtlCode(3500) on Linux, and the maker's
// bytes). A plain dip reader has no Motor: it cannot eject or capture.
type Motor struct {
	// ControlCode is the SCardControl code the commands are sent with.
	ControlCode uint32
	// Eject is the command that moves the card to the slot's mouth; nil
	// leaves the card where the customer put it.
	Eject []byte
	// Retain is the command that captures the card into the bin; nil
	// means the reader cannot retain.
	Retain []byte
	// BinCapacity is how many cards the bin holds; required with Retain.
	BinCapacity int
}

// Options configure the driver. Zero fields take DefaultOptions' values.
type Options struct {
	// Reader is the PC/SC reader's name or a prefix of it; "" takes the
	// first reader pcscd lists.
	Reader string
	// AIDs are the applications the terminal supports, in order of
	// preference, for matching the card's PSE directory and for
	// selecting by name when the card has no PSE.
	AIDs [][]byte
	// Terminal is the data given to the card.
	Terminal Terminal
	// APDUTimeout bounds one command APDU; a card that does not answer
	// in time is reported with FaultTimeout.
	APDUTimeout time.Duration
	// Retry is how often the driver tries to reach pcscd and the reader
	// again while they are gone.
	Retry time.Duration
	// RemovalGrace is how long the driver waits, after a transmit error,
	// for pcscd to report the card gone before it blames the card.
	// pcscd polls the vpcd reader about every 400 ms.
	RemovalGrace time.Duration
	// Motor, if not nil, makes Eject and Retain drive a motorised reader.
	Motor *Motor
	// Clock gives the date at card read (nil: the wall clock).
	Clock clock.Clock
	// Log receives reader and card events, cards masked; the zero value
	// discards.
	Log zerolog.Logger
}

// DefaultOptions: the first reader, the common international AIDs, a
// Taiwanese ATM (country 158, currency 901), 5 s per APDU, retry every
// second.
var DefaultOptions = Options{
	AIDs: [][]byte{AIDVisa, AIDVisaElectron, AIDMastercard, AIDMaestro, AIDUnionPay, AIDJCB, AIDAmex},
	Terminal: Terminal{
		Country:                "158",
		Currency:               "901",
		Type:                   0x14,
		Capabilities:           [3]byte{0x20, 0x40, 0x00},
		AdditionalCapabilities: [5]byte{0x80, 0x00, 0xA0, 0x50, 0x01},
		IFDSerial:              "ATMD0001",
	},
	APDUTimeout:  5 * time.Second,
	Retry:        time.Second,
	RemovalGrace: 1500 * time.Millisecond,
}

// Position is where the driver believes the card is.
type Position string

// Card positions.
const (
	Empty     Position = "empty"     // no card the driver knows of
	Inside    Position = "inside"    // read, in session, held
	Presented Position = "presented" // given back: left in the slot for the customer
)

// Slot is the card slot as the driver sees it.
type Slot struct {
	Accepting bool     // an Accept is waiting for a card
	Present   bool     // pcscd reports a card in the reader
	Card      Position // where the driver believes the card is
}

// Dev is a PC/SC card reader running atmd's EMV kernel.
type Dev struct {
	opts Options
	name string
	log  zerolog.Logger
	cmd  chan struct{} // one card command at a time: holds a token while one runs
	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	closed  bool
	wctx    *scard.Context // the watcher's context, to cancel its wait

	// What pcscd says.
	reader   string // the reader's full name, once found
	online   bool
	whyOff   string // why offline
	present  bool
	inserted uint64 // cards seen arriving

	// What the driver does with the card.
	pos       Position
	pulled    bool   // the card was pulled out while inside
	accepting bool   // an Accept waits
	halts     uint64 // Halt calls, to end a waiting Accept
	sess      *session
	k         *kernel
	stuck     int    // abandoned transmits still running
	cardFault string // FaultProtocol or FaultJam until the card leaves
	faultMsg  string
	bin       int // cards in the bin since ResetBin
}

var (
	_ cardreader.Reader            = (*Dev)(nil)
	_ cardreader.ChipAuthenticator = (*Dev)(nil)
)

// Open starts the driver on the reader opts names. It returns once it
// has asked pcscd for the reader's state (or ctx ends): the Dev is
// Online, or Offline with FaultOffline if pcscd or the reader is not
// there — it keeps trying every Options.Retry and comes back by itself.
// Only bad options are an error.
func Open(ctx context.Context, opts Options) (*Dev, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dev{
		opts:    o,
		log:     o.Log,
		cmd:     make(chan struct{}, 1),
		stop:    make(chan struct{}),
		changed: make(chan struct{}),
		pos:     Empty,
		whyOff:  "not started",
	}
	first := make(chan struct{})
	d.wg.Add(1)
	go d.watch(first)
	select {
	case <-first:
	case <-ctx.Done():
		d.Close()
		return nil, fmt.Errorf("pcsc: open: %w", ctx.Err())
	}
	d.mu.Lock()
	d.name = "cardreader:pcsc:" + cmpStr(d.reader, o.Reader, "*")
	d.mu.Unlock()
	return d, nil
}

func (o Options) withDefaults() (Options, error) {
	def := DefaultOptions
	if o.AIDs == nil {
		o.AIDs = def.AIDs
	}
	if o.Terminal == (Terminal{}) {
		o.Terminal = def.Terminal
	}
	if o.APDUTimeout <= 0 {
		o.APDUTimeout = def.APDUTimeout
	}
	if o.Retry <= 0 {
		o.Retry = def.Retry
	}
	if o.RemovalGrace <= 0 {
		o.RemovalGrace = def.RemovalGrace
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("pcsc: options: "+format+": %w", append(args, hal.ErrInvalid)...)
	}
	for _, a := range o.AIDs {
		if len(a) < 5 || len(a) > 16 {
			return bad("AID %X is not 5–16 bytes", a)
		}
	}
	t := o.Terminal
	if len(t.Country) != 3 || len(t.Currency) != 3 || !digits(t.Country) || !digits(t.Currency) {
		return bad("terminal country and currency must be 3 digits")
	}
	if len(t.IFDSerial) != 8 {
		return bad("terminal IFD serial must be 8 characters")
	}
	if m := o.Motor; m != nil {
		if m.ControlCode == 0 {
			return bad("motor control code is 0")
		}
		if (m.Retain != nil) != (m.BinCapacity > 0) {
			return bad("motor retain command and bin capacity go together")
		}
		mc := *m
		o.Motor = &mc
		if m.Retain != nil {
			o.Terminal.Capabilities[2] |= 0x20 // card capture
		}
	}
	return o, nil
}

// String names the reader: "cardreader:pcsc:<reader name>".
func (d *Dev) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.name
}

// Capabilities: chip only; Retain with a Motor that can capture.
func (d *Dev) Capabilities() cardreader.Capabilities {
	c := cardreader.Capabilities{Chip: true}
	if m := d.opts.Motor; m != nil && m.Retain != nil {
		c.Retain, c.BinCapacity = true, m.BinCapacity
	}
	return c
}

// Status reports the reader's state; it never blocks on I/O.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return hal.Status{State: hal.Offline, Fault: FaultOffline, Detail: "driver closed"}
	case !d.online:
		return hal.Status{State: hal.Offline, Fault: FaultOffline, Detail: d.whyOff}
	case d.stuck > 0:
		return hal.Status{State: hal.HardwareError, Fault: FaultTimeout, Detail: "card not answering; remove it"}
	case d.cardFault == FaultJam:
		return hal.Status{State: hal.HardwareError, Fault: FaultJam, Detail: d.faultMsg}
	case d.binFullLocked():
		return hal.Status{State: hal.UserError, Fault: FaultBinFull, Detail: "retain bin full"}
	case d.cardFault != "":
		return hal.Status{State: hal.Online, Fault: d.cardFault, Detail: d.faultMsg}
	}
	return hal.Status{State: hal.Online}
}

// Slot returns the card slot's state.
func (d *Dev) Slot() Slot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Slot{Accepting: d.accepting, Present: d.present, Card: d.pos}
}

// Changed returns a channel closed at the next change of Status or Slot;
// a test harness or a guidance light waits on it.
func (d *Dev) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

// ResetBin records that the retain bin was emptied.
func (d *Dev) ResetBin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bin = 0
	d.broadcastLocked()
}

// Close stops the driver: it ends the watcher, disconnects the card
// session and releases the PC/SC contexts. A card in the reader stays
// there. Close is safe to call twice.
func (d *Dev) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	if d.wctx != nil {
		_ = d.wctx.Cancel()
	}
	close(d.stop)
	d.accepting = false
	sess := d.sess
	d.sess, d.k = nil, nil
	d.broadcastLocked()
	d.mu.Unlock()
	// SCardCancel only ends a wait that has begun: one that lands just
	// before the watcher's next SCardGetStatusChange is lost, so cancel
	// again until the watcher is gone (at most watchWait).
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			d.mu.Lock()
			if d.wctx != nil {
				_ = d.wctx.Cancel()
			}
			d.mu.Unlock()
		}
	}
	if sess != nil {
		sess.close(scard.LeaveCard)
	}
	return nil
}

func (d *Dev) binFullLocked() bool {
	m := d.opts.Motor
	return m != nil && m.Retain != nil && d.bin >= m.BinCapacity
}

func (d *Dev) broadcastLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// waitLocked waits, with d.mu held, until cond holds or ctx ends; it
// returns ctx's error in the second case.
func (d *Dev) waitLocked(ctx context.Context, cond func() bool) error {
	for !cond() {
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		d.mu.Lock()
		if err := ctx.Err(); err != nil && !cond() {
			return err
		}
	}
	return nil
}

// acquire takes the command token: one card command at a time.
func (d *Dev) acquire(ctx context.Context) (release func(), err error) {
	select {
	case d.cmd <- struct{}{}:
		return func() { <-d.cmd }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// offlineFault is the error for a reader that pcscd cannot reach.
func offlineFault(why string, cause error) error {
	err := hal.ErrOffline
	if cause != nil {
		err = fmt.Errorf("%w: %w", hal.ErrOffline, cause)
	}
	return &hal.Fault{Device: faultDevice, Code: FaultOffline, Msg: why, Recoverable: true, Err: err}
}

// unpredictable returns four random bytes.
func unpredictable() [4]byte {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return b
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func cmpStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
