package cardreadertest

import (
	"context"
	"fmt"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
)

// Card positions reported by Fake.State.
const (
	Empty     = "empty"     // no card in the reader
	Inside    = "inside"    // card read and held inside
	Presented = "presented" // card at the slot's mouth
)

// Fake is an in-memory card reader. The test plays the customer with
// Insert, InsertUnreadable and Take, scripts failures with FailNext and
// inspects what the code under test did with Calls and State. Use
// NewFake.
type Fake struct {
	mu       sync.Mutex
	caps     cardreader.Capabilities
	st       hal.Status
	changed  chan struct{}     // closed and replaced on every change
	slot     chan acceptResult // non-nil while Accept waits for a card
	pos      string            // Empty, Inside or Presented
	card     cardreader.Card   // the card in the reader
	binned   int               // cards in the retain bin
	failNext map[string]error  // scripted errors by method name
	calls    []string          // methods called, in order
}

type acceptResult struct {
	card cardreader.Card
	err  error
}

// NewFake returns an online fake reader with chip, magstripe and a retain
// bin for caps.BinCapacity cards (caps zero: chip, magstripe, 10 cards).
func NewFake(caps cardreader.Capabilities) *Fake {
	if caps == (cardreader.Capabilities{}) {
		caps = cardreader.Capabilities{Chip: true, Magstripe: true, Retain: true, BinCapacity: 10}
	}
	return &Fake{caps: caps, pos: Empty, changed: make(chan struct{}), failNext: map[string]error{}}
}

var _ cardreader.Reader = (*Fake)(nil)

// String names the fake.
func (f *Fake) String() string { return "cardreader:fake" }

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

// Capabilities returns the capabilities given to NewFake.
func (f *Fake) Capabilities() cardreader.Capabilities { return f.caps }

// FailNext makes the next call of method ("Accept", "Eject", "WaitTaken",
// "Retain" or "Halt") return err without doing anything.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = err
}

// Calls returns the names of the contract methods called so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// State returns where the card is: Empty, Inside or Presented.
func (f *Fake) State() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos
}

// Insert plays a customer inserting c: it blocks until Accept is waiting,
// then hands the card over. It fails at once if a card is in the reader.
func (f *Fake) Insert(ctx context.Context, c cardreader.Card) error {
	return f.insert(ctx, acceptResult{card: c}, Inside)
}

// InsertUnreadable plays a card that cannot be read: Accept returns
// cardreader.ErrUnreadable and the card is presented.
func (f *Fake) InsertUnreadable(ctx context.Context) error {
	return f.insert(ctx, acceptResult{err: fmt.Errorf("cardreadertest: accept: %w", cardreader.ErrUnreadable)}, Presented)
}

func (f *Fake) insert(ctx context.Context, r acceptResult, pos string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pos != Empty {
		return fmt.Errorf("cardreadertest: insert: a card is already %s: %w", f.pos, hal.ErrInvalid)
	}
	if err := f.waitLocked(ctx, func() bool { return f.slot != nil }); err != nil {
		return fmt.Errorf("cardreadertest: insert: slot not enabled: %w", err)
	}
	f.slot <- r
	f.slot = nil
	f.pos, f.card = pos, r.card
	f.changedLocked()
	return nil
}

// Take plays the customer taking the card; it blocks until one is
// presented.
func (f *Fake) Take(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.waitLocked(ctx, func() bool { return f.pos == Presented }); err != nil {
		return fmt.Errorf("cardreadertest: take: no card presented: %w", err)
	}
	f.pos, f.card = Empty, cardreader.Card{}
	f.changedLocked()
	return nil
}

// Accept enables the slot and waits for Insert or InsertUnreadable.
func (f *Fake) Accept(ctx context.Context) (cardreader.Card, error) {
	f.mu.Lock()
	if err := f.beginLocked(ctx, "Accept"); err != nil {
		f.mu.Unlock()
		return cardreader.Card{}, err
	}
	if f.pos != Empty {
		f.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("cardreadertest: accept: card already %s: %w", f.pos, hal.ErrInvalid)
	}
	if f.slot != nil {
		f.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("cardreadertest: accept: %w", hal.ErrBusy)
	}
	slot := make(chan acceptResult, 1)
	f.slot = slot
	f.changedLocked()
	f.mu.Unlock()

	select {
	case r := <-slot:
		return r.card, r.err
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.slot == slot {
		f.slot = nil
		return cardreader.Card{}, fmt.Errorf("cardreadertest: accept: %w", ctx.Err())
	}
	r := <-slot // a card arrived as the context ended: the card wins
	return r.card, r.err
}

// Eject presents the card.
func (f *Fake) Eject(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Eject"); err != nil {
		return err
	}
	if f.pos == Empty {
		return fmt.Errorf("cardreadertest: eject: %w", cardreader.ErrNoCard)
	}
	f.pos = Presented
	f.changedLocked()
	return nil
}

// WaitTaken blocks until the presented card is taken.
func (f *Fake) WaitTaken(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "WaitTaken"); err != nil {
		return err
	}
	if f.pos == Inside {
		return fmt.Errorf("cardreadertest: wait taken: card not presented: %w", hal.ErrInvalid)
	}
	if err := f.waitLocked(ctx, func() bool { return f.pos != Presented }); err != nil {
		return fmt.Errorf("cardreadertest: wait taken: %w", err)
	}
	return nil
}

// Retain moves the card into the bin.
func (f *Fake) Retain(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Retain"); err != nil {
		return err
	}
	switch {
	case !f.caps.Retain:
		return fmt.Errorf("cardreadertest: retain: %w", hal.ErrUnsupported)
	case f.pos == Empty:
		return fmt.Errorf("cardreadertest: retain: %w", cardreader.ErrNoCard)
	case f.binned >= f.caps.BinCapacity:
		return fmt.Errorf("cardreadertest: retain: %w", cardreader.ErrBinFull)
	}
	f.binned++
	f.pos, f.card = Empty, cardreader.Card{}
	f.changedLocked()
	return nil
}

// Halt ends a waiting Accept with hal.ErrCancelled and presents a card
// that is inside.
func (f *Fake) Halt(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(ctx, "Halt"); err != nil {
		return err
	}
	if f.slot != nil {
		f.slot <- acceptResult{err: fmt.Errorf("cardreadertest: accept: halted: %w", hal.ErrCancelled)}
		f.slot = nil
	}
	if f.pos == Inside {
		f.pos = Presented
	}
	f.changedLocked()
	return nil
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
		return fmt.Errorf("cardreadertest: %s: %w", method, err)
	}
	return nil
}

func (f *Fake) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitLocked waits, with f.mu held, until cond holds or ctx ends.
func (f *Fake) waitLocked(ctx context.Context, cond func() bool) error {
	for !cond() {
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		f.mu.Lock()
		if err := ctx.Err(); err != nil && !cond() {
			return err
		}
	}
	return nil
}
