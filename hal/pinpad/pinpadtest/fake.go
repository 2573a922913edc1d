package pinpadtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/pinblock"
)

// FakeKeys returns the PIN keys every Fake holds: "pin" (double-length
// TDES, for ISO0) and "pin-aes" (AES-128, for ISO4). They are test keys,
// published here so tests can open the Fake's PIN blocks.
func FakeKeys() []PINKey {
	tdes, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")
	aes, _ := hex.DecodeString("000102030405060708090A0B0C0D0E0F")
	return []PINKey{
		{Name: "pin", Format: pinpad.ISO0, Value: tdes},
		{Name: "pin-aes", Format: pinpad.ISO4, Value: aes},
	}
}

// Fake is an in-memory PIN pad holding FakeKeys. The test presses keys
// with Press, scripts failures with FailNext and inspects the calls with
// Calls. Its PIN blocks are real: they open with FakeKeys. Use NewFake.
type Fake struct {
	mu       sync.Mutex
	st       hal.Status
	keys     map[string][]byte
	changed  chan struct{}    // closed and replaced on every change
	entry    *fakeEntry       // the active entry, if any
	failNext map[string]error // scripted errors by method name
	calls    []string
}

// fakeEntry is an active GetPIN, GetData or ReadKey.
type fakeEntry struct {
	accepts func(pinpad.Key) bool
	keys    chan fakePress // Press hands keys over here
	halt    chan struct{}  // closed by Halt
	done    chan struct{}  // closed when the entry ends
}

type fakePress struct {
	key  pinpad.Key
	done chan struct{} // closed once the entry has dealt with the key
}

// NewFake returns an online fake PIN pad with ISO0 and ISO4, eight
// function keys and FakeKeys loaded.
func NewFake() *Fake {
	f := &Fake{keys: map[string][]byte{}, changed: make(chan struct{}), failNext: map[string]error{}}
	for _, k := range FakeKeys() {
		f.keys[k.Name] = k.Value
	}
	return f
}

var _ pinpad.PinPad = (*Fake)(nil)

// String names the fake.
func (f *Fake) String() string { return "pinpad:fake" }

// Status returns the status set with SetStatus (online at first).
func (f *Fake) Status() hal.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// SetStatus sets what Status reports; it does not change behaviour.
func (f *Fake) SetStatus(st hal.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
}

// Capabilities declares ISO0, ISO4 and eight function keys.
func (f *Fake) Capabilities() pinpad.Capabilities {
	return pinpad.Capabilities{Formats: []pinpad.Format{pinpad.ISO0, pinpad.ISO4}, FDKs: 8}
}

// FailNext makes the next call of method ("GetPIN", "GetData", "ReadKey"
// or "Halt") return err without doing anything.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = err
}

// Calls returns the names of the contract methods called so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Press presses keys in order. Each waits until an entry is active and
// would take it, and Press returns once the entry has dealt with the
// last key.
func (f *Fake) Press(ctx context.Context, keys ...pinpad.Key) error {
	for _, k := range keys {
		if !k.Valid() {
			return fmt.Errorf("pinpadtest: press: no such key: %w", hal.ErrInvalid)
		}
		if err := f.press(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fake) press(ctx context.Context, k pinpad.Key) error {
	for {
		f.mu.Lock()
		for f.entry == nil || !f.entry.accepts(k) {
			ch := f.changed
			f.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				// The key is not named: it may be a PIN digit.
				return fmt.Errorf("pinpadtest: press: no entry took the key: %w", ctx.Err())
			}
			f.mu.Lock()
		}
		e := f.entry
		f.mu.Unlock()
		p := fakePress{key: k, done: make(chan struct{})}
		select {
		case e.keys <- p:
			<-p.done
			return nil
		case <-e.done: // the entry ended first; wait for the next one
		case <-ctx.Done():
			return fmt.Errorf("pinpadtest: press: %w", ctx.Err())
		}
	}
}

// GetPIN collects digits and returns a PIN block under the named key,
// or a *pinpad.TerminatedError when one of req.Terminators is pressed.
func (f *Fake) GetPIN(ctx context.Context, req pinpad.PINRequest, echo func(pinpad.Key)) (pinpad.PINBlock, error) {
	if err := req.Validate(); err != nil {
		return pinpad.PINBlock{}, err
	}
	f.mu.Lock()
	key := slices.Clone(f.keys[req.Key])
	f.mu.Unlock()
	defer pinblock.Wipe(key)
	if key == nil {
		return pinpad.PINBlock{}, fmt.Errorf("pinpadtest: get PIN: %q: %w", req.Key, pinpad.ErrNoKey)
	}
	echo = orNop(echo)
	digits := make([]byte, 0, 12)
	defer func() { pinblock.Wipe(digits[:cap(digits)]) }()
	var block []byte
	err := f.run(ctx, "GetPIN", req.Takes, func(k pinpad.Key) (bool, error) {
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
			return true, err
		default:
			digits = pinpad.EditEntry(k, digits, echo)
		}
		return k == pinpad.KeyCancel, cancelled(k)
	})
	if err != nil {
		return pinpad.PINBlock{}, err
	}
	return pinpad.PINBlock{Format: req.Format, Key: req.Key, Block: block}, nil
}

// GetData collects clear digits until ENTER or a terminator.
func (f *Fake) GetData(ctx context.Context, req pinpad.DataRequest, echo func(pinpad.Key)) (pinpad.Data, error) {
	if err := req.Validate(); err != nil {
		return pinpad.Data{}, err
	}
	echo = orNop(echo)
	var digits []byte
	var term pinpad.Key
	accepts := func(k pinpad.Key) bool { return pinpad.EntryKey(k) || slices.Contains(req.Terminators, k) }
	err := f.run(ctx, "GetData", accepts, func(k pinpad.Key) (bool, error) {
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
		return k == pinpad.KeyCancel, cancelled(k)
	})
	if err != nil {
		return pinpad.Data{}, err
	}
	return pinpad.Data{Digits: string(digits), Terminator: term}, nil
}

// ReadKey waits for one of the active keys.
func (f *Fake) ReadKey(ctx context.Context, active []pinpad.Key) (pinpad.Key, error) {
	if err := pinpad.ValidateActive(active); err != nil {
		return "", err
	}
	var got pinpad.Key
	err := f.run(ctx, "ReadKey", func(k pinpad.Key) bool { return slices.Contains(active, k) }, func(k pinpad.Key) (bool, error) {
		got = k
		return true, nil
	})
	return got, err
}

// Halt ends an active entry with hal.ErrCancelled.
func (f *Fake) Halt(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Halt"); err != nil {
		return err
	}
	if f.entry != nil {
		close(f.entry.halt)
		f.entry = nil
		f.changedLocked()
	}
	return nil
}

// run makes an entry active and feeds it pressed keys until handle
// reports that it is done.
func (f *Fake) run(ctx context.Context, method string, accepts func(pinpad.Key) bool, handle func(pinpad.Key) (bool, error)) error {
	e := &fakeEntry{accepts: accepts, keys: make(chan fakePress), halt: make(chan struct{}), done: make(chan struct{})}
	f.mu.Lock()
	if err := f.beginLocked(ctx, method); err != nil {
		f.mu.Unlock()
		return err
	}
	if f.entry != nil {
		f.mu.Unlock()
		return fmt.Errorf("pinpadtest: %s: another entry is active: %w", method, hal.ErrBusy)
	}
	f.entry = e
	f.changedLocked()
	f.mu.Unlock()

	end := func() {
		f.mu.Lock()
		if f.entry == e {
			f.entry = nil
			f.changedLocked()
		}
		f.mu.Unlock()
		close(e.done)
	}
	for {
		select {
		case p := <-e.keys:
			done, err := handle(p.key)
			if done {
				end()
			}
			close(p.done)
			if done {
				return err
			}
		case <-e.halt:
			end()
			return fmt.Errorf("pinpadtest: %s: halted: %w", method, hal.ErrCancelled)
		case <-ctx.Done():
			end()
			return fmt.Errorf("pinpadtest: %s: %w", method, ctx.Err())
		}
	}
}

// beginLocked records a call and returns a scripted error or the
// context's error, if any.
func (f *Fake) beginLocked(ctx context.Context, method string) error {
	f.calls = append(f.calls, method)
	if err, ok := f.failNext[method]; ok {
		delete(f.failNext, method)
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pinpadtest: %s: %w", strings.ToLower(method), err)
	}
	return nil
}

func (f *Fake) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func cancelled(k pinpad.Key) error {
	if k == pinpad.KeyCancel {
		return fmt.Errorf("pinpadtest: entry cancelled: %w", hal.ErrCancelled)
	}
	return nil
}

func orNop(echo func(pinpad.Key)) func(pinpad.Key) {
	if echo == nil {
		return func(pinpad.Key) {}
	}
	return echo
}
