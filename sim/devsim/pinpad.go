package devsim

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/pinblock"
)

// PIN pad fault codes.
const (
	PinPadOffline = "PIN-OFFLINE" // PIN pad not responding
	PinPadTamper  = "PIN-TAMPER"  // tamper detected: keys erased
)

// PinPadOptions configures a PinPad.
type PinPadOptions struct {
	Name string              // instance name, shown by String
	Caps pinpad.Capabilities // what the PIN pad declares and does
	// Keys are the keys loaded at start, by name: a 16- or 24-byte key
	// serves ISO0 (TDES), a 16-, 24- or 32-byte key ISO4 (AES). They
	// are copied.
	Keys map[string][]byte
	Log  zerolog.Logger // zero value: no logging
}

// DefaultPinPadOptions is a PIN pad with ISO0 and ISO4, eight function
// keys and a beeper, and no keys: load them with Keys or LoadKey.
// NewPinPad takes Name and Caps from here when they are zero.
var DefaultPinPadOptions = PinPadOptions{
	Name: "sim",
	Caps: pinpad.Capabilities{Formats: []pinpad.Format{pinpad.ISO0, pinpad.ISO4}, FDKs: 8, Beeper: true},
}

// PinPad is a simulated encrypting PIN pad. It holds real keys and
// returns only encrypted PIN blocks; the digits it collects are wiped
// when an entry ends and never logged, returned or put in an error.
//
// The control surface: Press plays the customer, Active tells what entry
// is running, Inject and Clear the faults. PIN-OFFLINE fails every
// command with hal.ErrOffline; PIN-TAMPER erases every key, as a real EPP
// does, and fails every command with a *hal.Fault. Either ends an active
// entry. Clear brings the PIN pad online again; erased keys stay erased.
//
// Key loading (pinpad.KeyLoader): a clear component (kek "") is XORed
// into the named key, or becomes it when there is none. A key encrypted
// under a KEK is unwrapped in ECB mode with TDES when the KEK is 16 or 24
// bytes long and with AES when it is 32 bytes long. The check value is
// the TDES one (pinblock.KCV) for keys unwrapped with TDES and for clear
// keys of 16 or 24 bytes, the AES one (pinblock.KCVAES) otherwise.
type PinPad struct {
	status
	opts PinPadOptions

	mu    sync.Mutex
	sig   changeSignal
	fault string
	keys  map[string][]byte
	entry *padEntry // the active entry, if any
}

// padEntry is an active GetPIN, GetData or ReadKey.
type padEntry struct {
	desc    string // what Active reports
	accepts func(pinpad.Key) bool
	keys    chan padPress // Press hands keys over here
	abort   chan error    // Halt or a fault ends the entry (buffered)
	done    chan struct{} // closed when the entry ends
}

type padPress struct {
	key  pinpad.Key
	done chan struct{} // closed once the entry has dealt with the key
}

var (
	_ pinpad.PinPad     = (*PinPad)(nil)
	_ pinpad.KeyLoader  = (*PinPad)(nil)
	_ pinpad.MACer      = (*PinPad)(nil)
	_ pinpad.KeyChecker = (*PinPad)(nil)
	_ pinpad.KeyDeleter = (*PinPad)(nil)
	_ Faulty            = (*PinPad)(nil)
)

// NewPinPad returns an online PIN pad holding a copy of opts.Keys.
func NewPinPad(opts PinPadOptions) *PinPad {
	if opts.Name == "" {
		opts.Name = DefaultPinPadOptions.Name
	}
	if len(opts.Caps.Formats) == 0 {
		opts.Caps = DefaultPinPadOptions.Caps
	}
	p := &PinPad{opts: opts, keys: map[string][]byte{}}
	for name, k := range opts.Keys {
		p.keys[name] = slices.Clone(k)
	}
	p.opts.Keys = nil // not kept: keys live in p.keys only
	return p
}

// String names the PIN pad.
func (p *PinPad) String() string { return "pinpad:sim:" + p.opts.Name }

// Capabilities returns the configured capabilities.
func (p *PinPad) Capabilities() pinpad.Capabilities { return p.opts.Caps }

// GetPIN runs secure entry and returns the PIN block, built with
// internal/pinblock under the named key, or a *pinpad.TerminatedError
// when one of req.Terminators is pressed (the digits are wiped).
func (p *PinPad) GetPIN(ctx context.Context, req pinpad.PINRequest, echo func(pinpad.Key)) (pinpad.PINBlock, error) {
	if err := req.Validate(); err != nil {
		return pinpad.PINBlock{}, err
	}
	if !slices.Contains(p.opts.Caps.Formats, req.Format) {
		return pinpad.PINBlock{}, fmt.Errorf("devsim: pinpad get PIN: format %d: %w", req.Format, hal.ErrUnsupported)
	}
	p.mu.Lock()
	err := p.checkLocked(ctx, "get PIN")
	key := slices.Clone(p.keys[req.Key])
	p.mu.Unlock()
	defer pinblock.Wipe(key)
	if err != nil {
		return pinpad.PINBlock{}, err
	}
	if key == nil {
		return pinpad.PINBlock{}, fmt.Errorf("devsim: pinpad get PIN: key %q: %w", req.Key, pinpad.ErrNoKey)
	}
	if !keyFits(req.Format, len(key)) {
		return pinpad.PINBlock{}, fmt.Errorf("devsim: pinpad get PIN: %d-byte key %q cannot make format %d blocks: %w: %w",
			len(key), req.Key, req.Format, pinpad.ErrBadRequest, hal.ErrInvalid)
	}
	echo = echoOrNop(echo)
	digits := make([]byte, 0, 12)
	defer func() { pinblock.Wipe(digits[:cap(digits)]) }()
	var block []byte
	desc := "pin"
	if len(req.Terminators) > 0 {
		desc += ":" + joinKeys(req.Terminators)
	}
	p.opts.Log.Info().Str("key", req.Key).Int("format", int(req.Format)).Str("pan", mask.PAN(req.PAN)).
		Str("terminators", joinKeys(req.Terminators)).Msg("PIN entry started")
	err = p.run(ctx, "get PIN", desc, req.Takes, func(k pinpad.Key) (bool, error) {
		switch {
		case k.IsDigit():
			if len(digits) < req.MaxLen {
				digits = append(digits, k[0])
				echo(pinpad.KeyMasked)
			}
		case req.Terminates(k):
			pinblock.Wipe(digits)
			digits = digits[:0]
			return true, &pinpad.TerminatedError{Key: k}
		case k == pinpad.KeyEnter && len(digits) >= req.MinLen:
			var err error
			if req.Format == pinpad.ISO0 {
				block, err = pinblock.EncryptFormat0(key, digits, []byte(req.PAN))
			} else {
				block, err = pinblock.EncryptFormat4(key, digits, []byte(req.PAN))
			}
			if err != nil {
				return true, fmt.Errorf("devsim: pinpad get PIN: %w", err)
			}
			return true, nil
		default:
			digits = pinpad.EditEntry(k, digits, echo)
		}
		return k == pinpad.KeyCancel, entryCancelled(k)
	})
	var te *pinpad.TerminatedError
	switch {
	case errors.As(err, &te):
		p.opts.Log.Info().Str("terminator", string(te.Key)).Msg("PIN entry ended by a function key")
		return pinpad.PINBlock{}, err
	case err != nil:
		p.opts.Log.Info().Err(err).Msg("PIN entry ended without a block")
		return pinpad.PINBlock{}, err
	}
	p.opts.Log.Info().Str("key", req.Key).Msg("PIN block built")
	return pinpad.PINBlock{Format: req.Format, Key: req.Key, Block: block}, nil
}

// GetData runs clear digit entry until ENTER or a terminator.
func (p *PinPad) GetData(ctx context.Context, req pinpad.DataRequest, echo func(pinpad.Key)) (pinpad.Data, error) {
	if err := req.Validate(); err != nil {
		return pinpad.Data{}, err
	}
	echo = echoOrNop(echo)
	var digits []byte
	var term pinpad.Key
	accepts := func(k pinpad.Key) bool { return pinpad.EntryKey(k) || slices.Contains(req.Terminators, k) }
	err := p.run(ctx, "get data", "data", accepts, func(k pinpad.Key) (bool, error) {
		switch {
		case k.IsDigit():
			if len(digits) < req.MaxLen {
				digits = append(digits, k[0])
				echo(k)
			}
		case k == pinpad.KeyEnter || slices.Contains(req.Terminators, k):
			term = k
			return true, nil
		default:
			digits = pinpad.EditEntry(k, digits, echo)
		}
		return k == pinpad.KeyCancel, entryCancelled(k)
	})
	if err != nil {
		return pinpad.Data{}, err
	}
	return pinpad.Data{Digits: string(digits), Terminator: term}, nil
}

// ReadKey waits for one of the active keys; Press of any other key
// blocks.
func (p *PinPad) ReadKey(ctx context.Context, active []pinpad.Key) (pinpad.Key, error) {
	if err := pinpad.ValidateActive(active); err != nil {
		return "", err
	}
	var got pinpad.Key
	err := p.run(ctx, "read key", "keys:"+joinKeys(active),
		func(k pinpad.Key) bool { return slices.Contains(active, k) },
		func(k pinpad.Key) (bool, error) {
			got = k
			return true, nil
		})
	if err == nil {
		p.opts.Log.Debug().Str("key", string(got)).Msg("key read")
	}
	return got, err
}

// DeleteKey erases a key (pinpad.KeyDeleter); pinpad.ErrNoKey when it
// is not loaded.
func (p *PinPad) DeleteKey(ctx context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLocked(ctx, "delete key"); err != nil {
		return err
	}
	k, ok := p.keys[name]
	if !ok {
		return fmt.Errorf("devsim: pinpad delete key %q: %w", name, pinpad.ErrNoKey)
	}
	pinblock.Wipe(k)
	delete(p.keys, name)
	return nil
}

// LoadKey stores a key (see PinPad for the rules) and returns its check
// value. The key's value is never logged.
func (p *PinPad) LoadKey(ctx context.Context, name, kek string, value []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLocked(ctx, "load key"); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("devsim: pinpad load key: no name: %w", hal.ErrInvalid)
	}
	key, aesFamily, err := p.unwrapLocked(name, kek, value)
	if err != nil {
		return nil, err
	}
	var kcv []byte
	if aesFamily {
		kcv, err = pinblock.KCVAES(key)
	} else {
		kcv, err = pinblock.KCV(key)
	}
	if err != nil {
		pinblock.Wipe(key)
		return nil, fmt.Errorf("devsim: pinpad load key %q: %w: %w", name, err, hal.ErrInvalid)
	}
	if old := p.keys[name]; old != nil {
		pinblock.Wipe(old)
	}
	p.keys[name] = key
	p.opts.Log.Info().Str("key", name).Str("kek", kek).Hex("kcv", kcv).Msg("key loaded")
	return kcv, nil
}

// MAC computes the ISO 9797-1 algorithm 3 MAC of data under the named
// double-length TDES key.
func (p *PinPad) MAC(ctx context.Context, name string, data []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLocked(ctx, "mac"); err != nil {
		return nil, err
	}
	k := p.keys[name]
	if k == nil {
		return nil, fmt.Errorf("devsim: pinpad mac: key %q: %w", name, pinpad.ErrNoKey)
	}
	m, err := mac.RetailMAC(k, data)
	if err != nil {
		return nil, fmt.Errorf("devsim: pinpad mac: key %q: %w: %w", name, err, hal.ErrInvalid)
	}
	return m, nil
}

// KCV returns the check value of the named key.
func (p *PinPad) KCV(ctx context.Context, name string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLocked(ctx, "kcv"); err != nil {
		return nil, err
	}
	k := p.keys[name]
	if k == nil {
		return nil, fmt.Errorf("devsim: pinpad kcv: key %q: %w", name, pinpad.ErrNoKey)
	}
	if len(k) == 32 {
		return pinblock.KCVAES(k)
	}
	return pinblock.KCV(k)
}

// unwrapLocked returns the key to store under name, and whether it
// belongs to the AES family for its check value.
func (p *PinPad) unwrapLocked(name, kek string, value []byte) ([]byte, bool, error) {
	if kek == "" {
		if !slices.Contains([]int{16, 24, 32}, len(value)) {
			return nil, false, fmt.Errorf("devsim: pinpad load key %q: %d-byte component: %w", name, len(value), hal.ErrInvalid)
		}
		key := slices.Clone(value)
		if old := p.keys[name]; old != nil {
			if len(old) != len(key) {
				pinblock.Wipe(key)
				return nil, false, fmt.Errorf("devsim: pinpad load key %q: component length differs from the key's: %w", name, hal.ErrInvalid)
			}
			for i := range key {
				key[i] ^= old[i]
			}
		}
		return key, len(key) == 32, nil
	}
	kk := p.keys[kek]
	if kk == nil {
		return nil, false, fmt.Errorf("devsim: pinpad load key %q: KEK %q: %w", name, kek, pinpad.ErrNoKey)
	}
	var c cipher.Block
	var err error
	aesFamily := len(kk) == 32
	if aesFamily {
		c, err = aes.NewCipher(kk)
	} else {
		c, err = pinblock.TDES(kk)
	}
	if err != nil {
		return nil, false, fmt.Errorf("devsim: pinpad load key %q: KEK %q: %w: %w", name, kek, err, hal.ErrInvalid)
	}
	if len(value)%c.BlockSize() != 0 || !slices.Contains([]int{16, 24, 32}, len(value)) {
		return nil, false, fmt.Errorf("devsim: pinpad load key %q: %d-byte encrypted key: %w", name, len(value), hal.ErrInvalid)
	}
	key := make([]byte, len(value))
	for i := 0; i < len(value); i += c.BlockSize() {
		c.Decrypt(key[i:], value[i:])
	}
	return key, aesFamily, nil
}

// Halt ends an active entry with hal.ErrCancelled.
func (p *PinPad) Halt(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: pinpad halt: %w", err)
	}
	p.endEntryLocked(fmt.Errorf("devsim: pinpad entry: halted: %w", hal.ErrCancelled))
	return p.faultLocked("halt")
}

// Press presses keys in order, as the customer would. Each key waits
// until an entry is active and would take it (ReadKey only its active
// keys; GetPIN and GetData digits, ENTER, CANCEL, CLEAR, BACKSPACE and
// their terminators), is handed over, and Press returns once the entry
// has dealt with the last key. Errors never name the key.
func (p *PinPad) Press(ctx context.Context, keys ...pinpad.Key) error {
	for _, k := range keys {
		if !k.Valid() {
			return fmt.Errorf("devsim: pinpad press: no such key: %w", hal.ErrInvalid)
		}
		if err := p.press(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (p *PinPad) press(ctx context.Context, k pinpad.Key) error {
	for {
		p.mu.Lock()
		err := p.sig.waitLocked(ctx, &p.mu, func() bool { return p.entry != nil && p.entry.accepts(k) })
		e := p.entry
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("devsim: pinpad press: no entry took the key: %w", err)
		}
		pr := padPress{key: k, done: make(chan struct{})}
		select {
		case e.keys <- pr:
			<-pr.done
			return nil
		case <-e.done: // the entry ended first; wait for the next one
		case <-ctx.Done():
			return fmt.Errorf("devsim: pinpad press: %w", ctx.Err())
		}
	}
}

// Active describes the running entry: "" (none), "pin" (PIN entry
// without terminators), "pin:" and the terminators, e.g. "pin:F4,F5"
// (those function keys end it too), "data", or "keys:" and the active
// keys, e.g. "keys:F1,F2".
func (p *PinPad) Active() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entry == nil {
		return ""
	}
	return p.entry.desc
}

// Inject puts the PIN pad into fault code: PIN-OFFLINE or PIN-TAMPER.
func (p *PinPad) Inject(code string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch code {
	case PinPadOffline:
		p.set(hal.Offline, code, "not responding")
	case PinPadTamper:
		for name, k := range p.keys {
			pinblock.Wipe(k)
			delete(p.keys, name)
		}
		p.set(hal.HardwareError, code, "tamper detected, keys erased")
	default:
		return fmt.Errorf("devsim: pinpad: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	p.fault = code
	p.endEntryLocked(p.faultLocked("entry"))
	p.opts.Log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// Clear brings the PIN pad online again. Keys erased by a tamper stay
// erased.
func (p *PinPad) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = ""
	p.set(hal.Online, "", "")
	p.opts.Log.Info().Msg("faults cleared")
}

// run makes an entry active and feeds it pressed keys until handle
// reports that it is done.
func (p *PinPad) run(ctx context.Context, op, desc string, accepts func(pinpad.Key) bool, handle func(pinpad.Key) (bool, error)) error {
	e := &padEntry{desc: desc, accepts: accepts, keys: make(chan padPress), abort: make(chan error, 1), done: make(chan struct{})}
	p.mu.Lock()
	if err := p.checkLocked(ctx, op); err != nil {
		p.mu.Unlock()
		return err
	}
	if p.entry != nil {
		p.mu.Unlock()
		return fmt.Errorf("devsim: pinpad %s: another entry is active: %w", op, hal.ErrBusy)
	}
	p.entry = e
	p.sig.broadcast()
	p.mu.Unlock()

	end := func() {
		p.mu.Lock()
		if p.entry == e {
			p.entry = nil
			p.sig.broadcast()
		}
		p.mu.Unlock()
		close(e.done)
	}
	for {
		select {
		case pr := <-e.keys:
			select {
			case err := <-e.abort: // Halt or a fault came first
				close(pr.done)
				close(e.done)
				return err
			default:
			}
			done, err := handle(pr.key)
			if done {
				end()
			}
			close(pr.done)
			if done {
				return err
			}
		case err := <-e.abort:
			close(e.done)
			return err
		case <-ctx.Done():
			end()
			return fmt.Errorf("devsim: pinpad %s: %w", op, ctx.Err())
		}
	}
}

// endEntryLocked ends the active entry, if any, with err.
func (p *PinPad) endEntryLocked(err error) {
	if p.entry != nil {
		p.entry.abort <- err
		p.entry = nil
		p.sig.broadcast()
	}
}

func (p *PinPad) checkLocked(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: pinpad %s: %w", op, err)
	}
	return p.faultLocked(op)
}

// faultLocked returns the error for an offline or tampered PIN pad, or
// nil.
func (p *PinPad) faultLocked(op string) error {
	switch p.fault {
	case PinPadOffline:
		return fmt.Errorf("devsim: pinpad %s: %w", op, &hal.Fault{
			Device: "pinpad", Code: p.fault, Msg: "not responding", Recoverable: true, Err: hal.ErrOffline})
	case PinPadTamper:
		return fmt.Errorf("devsim: pinpad %s: %w", op, &hal.Fault{
			Device: "pinpad", Code: p.fault, Msg: "tamper detected, keys erased"})
	}
	return nil
}

// keyFits reports whether a key of n bytes can make blocks of format f.
func keyFits(f pinpad.Format, n int) bool {
	if f == pinpad.ISO0 {
		return n == 16 || n == 24
	}
	return n == 16 || n == 24 || n == 32
}

func entryCancelled(k pinpad.Key) error {
	if k == pinpad.KeyCancel {
		return fmt.Errorf("devsim: pinpad entry: cancelled: %w", hal.ErrCancelled)
	}
	return nil
}

// joinKeys lists keys separated by commas: "F1,F2".
func joinKeys(keys []pinpad.Key) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = string(k)
	}
	return strings.Join(names, ",")
}

func echoOrNop(echo func(pinpad.Key)) func(pinpad.Key) {
	if echo == nil {
		return func(pinpad.Key) {}
	}
	return echo
}
