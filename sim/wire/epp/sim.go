package epp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/pinblock"
)

// Fault codes Inject takes, the same as sim/devsim's PIN pad.
const (
	// FaultOffline: the EPP stops answering, as when it loses power.
	FaultOffline = "PIN-OFFLINE"
	// FaultTamper: the EPP detects tamper, erases every key and answers
	// every command but GET-STATUS with this fault code.
	FaultTamper = "PIN-TAMPER"
)

// Alg is a key's algorithm, as LOAD-KEY's AL byte states it.
type Alg byte

// Key algorithms.
const (
	TDES Alg = 0x01 // double- or triple-length TDES (16 or 24 bytes)
	AES  Alg = 0x02 // AES-128, -192 or -256 (16, 24 or 32 bytes)
)

// Key is a key loaded in the EPP.
type Key struct {
	Alg   Alg    // TDES or AES
	Value []byte // 16 or 24 bytes (TDES); 16, 24 or 32 bytes (AES)
}

// Options configures a Sim.
type Options struct {
	// Name tells simulators apart in logs.
	Name string
	// Caps is what GET-STATUS declares and what the EPP does: its PIN
	// block formats, FDK count and beeper. Without formats:
	// DefaultOptions.Caps.
	Caps pinpad.Capabilities
	// Keys are loaded at start, by name. They are copied. A TDES key
	// makes ISO 0 blocks, an AES key ISO 4 blocks.
	Keys map[string]Key
	// Log receives what the EPP does (never a digit, a key or a clear
	// PAN); the zero value discards.
	Log zerolog.Logger
}

// DefaultOptions is an EPP with ISO 0 and ISO 4, eight function keys and
// a beeper, and no keys. New takes Name and Caps from here when they are
// zero.
var DefaultOptions = Options{
	Name: "sim",
	Caps: pinpad.Capabilities{Formats: []pinpad.Format{pinpad.ISO0, pinpad.ISO4}, FDKs: 8, Beeper: true},
}

// Errors.
var (
	// ErrServing: Serve was called while another Serve runs.
	ErrServing = errors.New("epp sim: already serving a line")
)

// Sim is the EPP at the far end of the serial line. See the package
// comment for its control surface.
type Sim struct {
	opts Options
	log  zerolog.Logger
	kick chan struct{} // wakes Serve: there is something in the outbox

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	keys     map[string]Key
	fault    string
	muted    bool
	garble   int // frame transmissions left whose CRC is corrupted
	truncate int // frame transmissions left that stop half way
	serving  bool
	entry    *entry
	mac      *macInProgress // the parts of a MAC sent in parts, so far
	outbox   []*outItem
	// The last command received, for framing.md's repeated-SEQ rule.
	haveLast bool
	lastSeq  byte
	lastResp *frame // nil while its entry runs
}

// macInProgress is a MAC whose parts are still arriving.
type macInProgress struct {
	key  string
	data []byte
}

// outItem is something Serve sends: a frame (ACKed, retransmitted) or raw
// bytes (Noise). done, if not nil, is closed once it is delivered or
// given up.
type outItem struct {
	f    frame
	raw  []byte
	done chan struct{}
}

// New returns a powered, ready EPP holding a copy of opts.Keys.
func New(opts Options) *Sim {
	if opts.Name == "" {
		opts.Name = DefaultOptions.Name
	}
	if len(opts.Caps.Formats) == 0 {
		opts.Caps = DefaultOptions.Caps
	}
	opts.Caps.Formats = slices.Clone(opts.Caps.Formats)
	s := &Sim{
		opts:    opts,
		log:     opts.Log.With().Str("sim", "epp:"+opts.Name).Logger(),
		kick:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		keys:    map[string]Key{},
	}
	for name, k := range opts.Keys {
		s.keys[name] = Key{Alg: k.Alg, Value: slices.Clone(k.Value)}
	}
	s.opts.Keys = nil // keys live in s.keys only
	return s
}

// Press presses keys in order, as the customer would. Each key waits
// until an entry runs that takes it (KEY-ENTRY only its active keys; PIN
// and data entry digits, ENTER, CANCEL, CLEAR, BACKSPACE and their
// terminators), the EPP deals with it, and Press returns once the
// frames the key caused (its KEY event, the entry's response) have been
// ACKed by the host or given up. A key no entry takes blocks until ctx
// ends. Errors never name the key.
func (s *Sim) Press(ctx context.Context, keys ...pinpad.Key) error {
	for _, k := range keys {
		code, ok := keyCode(k)
		if !ok {
			return fmt.Errorf("epp sim: press: no such key: %w", hal.ErrInvalid)
		}
		if err := s.press(ctx, code); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sim) press(ctx context.Context, code byte) error {
	s.mu.Lock()
	for s.entry == nil || !s.entry.accepts(code) {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("epp sim: press: no entry took the key: %w", ctx.Err())
		}
		s.mu.Lock()
	}
	done := s.keyLocked(code)
	s.mu.Unlock()
	s.wake()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("epp sim: press: %w", ctx.Err())
	}
}

// Active describes the running entry: "" (none), "pin" (PIN entry
// without terminators), "pin:" and the terminators, e.g. "pin:F4,F5",
// "data", or "keys:" and the active keys, e.g. "keys:F1,F2".
func (s *Sim) Active() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entry == nil {
		return ""
	}
	return s.entry.describe()
}

// Inject puts the EPP into a fault. FaultOffline: it ends any entry
// without a word, forgets what it was sending and answers nothing (no
// ACK either) until Clear. FaultTamper: it erases every key, ends any
// entry with status 06 and the code, sends a STATUS event, and answers
// every command but GET-STATUS with 06 PIN-TAMPER until Clear.
func (s *Sim) Inject(code string) error {
	s.mu.Lock()
	defer s.wake()
	defer s.mu.Unlock()
	switch code {
	case FaultOffline:
		s.fault = code
		s.dropMACLocked()
		s.endEntryLocked(nil, nil)
		s.dropOutboxLocked()
		s.haveLast, s.lastResp = false, nil
	case FaultTamper:
		s.dropMACLocked()
		for name, k := range s.keys {
			pinblock.Wipe(k.Value)
			delete(s.keys, name)
		}
		s.fault = code
		s.endEntryLocked(append([]byte{stFault}, code...), nil)
		s.queueLocked(frame{cmd: evStatus, data: s.statusLocked()}, nil)
	default:
		return fmt.Errorf("epp sim: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	s.log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// Clear ends an injected fault: the EPP powers up again (after
// FaultOffline) or is reset by a technician (after FaultTamper) and sends
// a STATUS event saying it is ready. Keys erased by a tamper stay erased.
func (s *Sim) Clear() {
	s.mu.Lock()
	defer s.wake()
	defer s.mu.Unlock()
	if s.fault == "" {
		return
	}
	s.fault = ""
	s.queueLocked(frame{cmd: evStatus, data: s.statusLocked()}, nil)
	s.broadcastLocked()
	s.log.Info().Msg("faults cleared")
}

// Mute makes the line dead both ways while on: the EPP reads and drops
// everything the host sends, answers nothing and drops what it would
// send, but keeps its state (a running entry keeps running). For the
// driver's timeout tests.
func (s *Sim) Mute(on bool) {
	s.mu.Lock()
	defer s.wake()
	defer s.mu.Unlock()
	s.muted = on
	if on {
		s.dropOutboxLocked()
	}
	s.log.Info().Bool("muted", on).Msg("line muted")
}

// Garble corrupts the CRC of the next n frame transmissions the EPP makes
// (retransmissions count), so the host should NAK them. For the driver's
// bad-CRC tests; n = 0 stops.
func (s *Sim) Garble(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garble = max(n, 0)
}

// Truncate makes the next n frame transmissions stop half way, so the
// host should time the partial frame out and NAK it. For the driver's
// truncated-frame tests; n = 0 stops.
func (s *Sim) Truncate(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = max(n, 0)
}

// Noise sends raw bytes down the line between two frames, as a noisy
// cable would, and returns once they are written or ctx ends. For the
// driver's garbage tests.
func (s *Sim) Noise(ctx context.Context, b []byte) error {
	done := make(chan struct{})
	s.mu.Lock()
	s.outbox = append(s.outbox, &outItem{raw: slices.Clone(b), done: done})
	s.mu.Unlock()
	s.wake()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("epp sim: noise: %w", ctx.Err())
	}
}

// wake tells Serve to look at the outbox.
func (s *Sim) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Sim) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// queueLocked puts a frame in the outbox; done, if not nil, is closed
// when it has been delivered or given up.
func (s *Sim) queueLocked(f frame, done chan struct{}) {
	if !s.serving || s.fault == FaultOffline || s.muted {
		if done != nil {
			close(done)
		}
		return
	}
	s.outbox = append(s.outbox, &outItem{f: f, done: done})
}

// dropOutboxLocked forgets everything not yet sent.
func (s *Sim) dropOutboxLocked() {
	for _, it := range s.outbox {
		if it.done != nil {
			close(it.done)
		}
	}
	s.outbox = nil
}
