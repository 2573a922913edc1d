package devsim

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
)

// Card reader fault codes.
const (
	CardReaderOffline = "CRD-OFFLINE"  // reader not responding
	CardReaderJam     = "CRD-JAM"      // card stuck in the transport
	CardReaderBinFull = "CRD-BIN-FULL" // retain bin full
)

// Card positions reported by CardReader.State.
const (
	CardEmpty     = "empty"     // no card in the reader
	CardInside    = "inside"    // card read and held inside
	CardPresented = "presented" // card at the slot's mouth
)

// CardReaderOptions configures a CardReader.
type CardReaderOptions struct {
	Name string                  // instance name, shown by String
	Caps cardreader.Capabilities // what the reader declares and does
	Log  zerolog.Logger          // zero value: no logging
}

// DefaultCardReaderOptions is a chip and magstripe reader with a bin for
// 50 cards. NewCardReader takes Name and Caps from here when they are
// zero.
var DefaultCardReaderOptions = CardReaderOptions{
	Name: "sim",
	Caps: cardreader.Capabilities{Chip: true, Magstripe: true, Retain: true, BinCapacity: 50},
}

// CardReader is a simulated motorised card reader. The control surface
// plays the customer (Insert, InsertUnreadable, Take) and the technician
// (Inject, Clear, Retained).
//
// Faults: CRD-OFFLINE and CRD-JAM fail every command with a *hal.Fault
// (CRD-OFFLINE wraps hal.ErrOffline) and end a waiting Accept or
// WaitTaken; a jammed card stays where it is. CRD-BIN-FULL, injected or
// reached by retaining BinCapacity cards, makes Retain fail with
// cardreader.ErrBinFull and reports UserError; the reader still reads
// and returns cards. Clear removes the faults and empties the bin.
type CardReader struct {
	status
	opts CardReaderOptions

	mu       sync.Mutex
	sig      changeSignal
	fault    string                // CardReaderOffline, CardReaderJam or ""
	binFull  bool                  // CardReaderBinFull injected
	slot     chan cardAcceptResult // non-nil while Accept waits
	pos      string
	card     cardreader.Card
	bin      int // cards in the bin since the last Clear
	retained []cardreader.Card
}

type cardAcceptResult struct {
	card cardreader.Card
	err  error
}

var (
	_ cardreader.Reader = (*CardReader)(nil)
	_ Faulty            = (*CardReader)(nil)
)

// NewCardReader returns an online, empty reader.
func NewCardReader(opts CardReaderOptions) *CardReader {
	if opts.Name == "" {
		opts.Name = DefaultCardReaderOptions.Name
	}
	if opts.Caps == (cardreader.Capabilities{}) {
		opts.Caps = DefaultCardReaderOptions.Caps
	}
	return &CardReader{opts: opts, pos: CardEmpty}
}

// String names the reader.
func (r *CardReader) String() string { return "cardreader:sim:" + r.opts.Name }

// Capabilities returns the configured capabilities.
func (r *CardReader) Capabilities() cardreader.Capabilities { return r.opts.Caps }

// Accept enables the slot and waits for Insert or InsertUnreadable.
func (r *CardReader) Accept(ctx context.Context) (cardreader.Card, error) {
	r.mu.Lock()
	if err := r.checkLocked(ctx, "accept"); err != nil {
		r.mu.Unlock()
		return cardreader.Card{}, err
	}
	if r.pos != CardEmpty {
		r.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("devsim: cardreader accept: card already %s: %w", r.pos, hal.ErrInvalid)
	}
	if r.slot != nil {
		r.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("devsim: cardreader accept: %w", hal.ErrBusy)
	}
	slot := make(chan cardAcceptResult, 1)
	r.slot = slot
	r.sig.broadcast()
	r.mu.Unlock()
	r.opts.Log.Debug().Msg("card slot enabled")

	select {
	case res := <-slot:
		return res.card, res.err
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.slot == slot {
		r.slot = nil
		r.opts.Log.Debug().Msg("card slot disabled")
		return cardreader.Card{}, fmt.Errorf("devsim: cardreader accept: %w", ctx.Err())
	}
	res := <-slot // a card arrived as the context ended: the card wins
	return res.card, res.err
}

// Eject presents the card at the slot's mouth; a presented card stays.
func (r *CardReader) Eject(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(ctx, "eject"); err != nil {
		return err
	}
	if r.pos == CardEmpty {
		return fmt.Errorf("devsim: cardreader eject: %w", cardreader.ErrNoCard)
	}
	if r.pos == CardInside {
		r.pos = CardPresented
		r.sig.broadcast()
		r.opts.Log.Info().Object("card", r.card).Msg("card ejected")
	}
	return nil
}

// WaitTaken blocks until the presented card is taken. It returns nil at
// once for an empty reader and hal.ErrInvalid for a card not yet ejected.
func (r *CardReader) WaitTaken(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(ctx, "wait taken"); err != nil {
		return err
	}
	if r.pos == CardInside {
		return fmt.Errorf("devsim: cardreader wait taken: card not presented: %w", hal.ErrInvalid)
	}
	if err := r.sig.waitLocked(ctx, &r.mu, func() bool { return r.pos != CardPresented || r.fault != "" }); err != nil {
		return fmt.Errorf("devsim: cardreader wait taken: %w", err)
	}
	if r.pos == CardPresented {
		return r.faultLocked("wait taken")
	}
	return nil
}

// Retain moves the card into the bin.
func (r *CardReader) Retain(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(ctx, "retain"); err != nil {
		return err
	}
	switch {
	case !r.opts.Caps.Retain:
		return fmt.Errorf("devsim: cardreader retain: %w", hal.ErrUnsupported)
	case r.pos == CardEmpty:
		return fmt.Errorf("devsim: cardreader retain: %w", cardreader.ErrNoCard)
	case r.binFullLocked():
		return fmt.Errorf("devsim: cardreader retain: %w", &hal.Fault{
			Device: "cardreader", Code: CardReaderBinFull, Msg: "retain bin full", Recoverable: true, Err: cardreader.ErrBinFull})
	}
	r.opts.Log.Info().Object("card", r.card).Msg("card retained")
	r.retained = append(r.retained, r.card)
	r.bin++
	r.pos, r.card = CardEmpty, cardreader.Card{}
	r.updateLocked()
	r.sig.broadcast()
	return nil
}

// Halt disables the slot, ending a waiting Accept with hal.ErrCancelled,
// and presents a card that is inside. A jammed or offline reader cannot
// eject and reports its fault.
func (r *CardReader) Halt(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: cardreader halt: %w", err)
	}
	r.closeSlotLocked(fmt.Errorf("devsim: cardreader accept: halted: %w", hal.ErrCancelled))
	if err := r.faultLocked("halt"); err != nil {
		return err
	}
	if r.pos == CardInside {
		r.pos = CardPresented
		r.sig.broadcast()
		r.opts.Log.Info().Object("card", r.card).Msg("card ejected by halt")
	}
	return nil
}

// Insert plays a customer inserting c. It blocks until Accept is waiting,
// then hands the card over and returns; it fails at once if a card is
// already in the reader.
func (r *CardReader) Insert(ctx context.Context, c cardreader.Card) error {
	return r.insert(ctx, cardAcceptResult{card: c}, CardInside)
}

// InsertUnreadable plays a card the reader cannot read: Accept returns
// cardreader.ErrUnreadable and the card is presented for the customer to
// take.
func (r *CardReader) InsertUnreadable(ctx context.Context) error {
	return r.insert(ctx, cardAcceptResult{err: fmt.Errorf("devsim: cardreader accept: %w", cardreader.ErrUnreadable)}, CardPresented)
}

func (r *CardReader) insert(ctx context.Context, res cardAcceptResult, pos string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos != CardEmpty {
		return fmt.Errorf("devsim: cardreader insert: a card is already %s: %w", r.pos, hal.ErrInvalid)
	}
	if err := r.sig.waitLocked(ctx, &r.mu, func() bool { return r.slot != nil }); err != nil {
		return fmt.Errorf("devsim: cardreader insert: slot not enabled: %w", err)
	}
	r.slot <- res
	r.slot = nil
	r.pos, r.card = pos, res.card
	r.sig.broadcast()
	if res.err != nil {
		r.opts.Log.Info().Msg("unreadable card inserted and ejected")
	} else {
		r.opts.Log.Info().Object("card", res.card).Msg("card inserted")
	}
	return nil
}

// Take plays the customer taking the presented card; it blocks until a
// card is presented.
func (r *CardReader) Take(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sig.waitLocked(ctx, &r.mu, func() bool { return r.pos == CardPresented }); err != nil {
		return fmt.Errorf("devsim: cardreader take: no card presented: %w", err)
	}
	r.pos, r.card = CardEmpty, cardreader.Card{}
	r.sig.broadcast()
	r.opts.Log.Info().Msg("card taken")
	return nil
}

// State returns where the card is: CardEmpty, CardInside or
// CardPresented.
func (r *CardReader) State() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// Retained returns every card retained since the reader was made, in
// order.
func (r *CardReader) Retained() []cardreader.Card {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cardreader.Card(nil), r.retained...)
}

// Inject puts the reader into fault code: CRD-OFFLINE, CRD-JAM or
// CRD-BIN-FULL.
func (r *CardReader) Inject(code string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch code {
	case CardReaderOffline, CardReaderJam:
		r.fault = code
		r.closeSlotLocked(r.faultLocked("accept"))
	case CardReaderBinFull:
		r.binFull = true
	default:
		return fmt.Errorf("devsim: cardreader: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	r.updateLocked()
	r.sig.broadcast()
	r.opts.Log.Warn().Str("fault", code).Msg("fault injected")
	return nil
}

// Clear removes injected faults and empties the bin (Retained still
// lists the cards).
func (r *CardReader) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fault, r.binFull, r.bin = "", false, 0
	r.updateLocked()
	r.sig.broadcast()
	r.opts.Log.Info().Msg("faults cleared")
}

// checkLocked refuses a command when ctx has ended or the reader is
// offline or jammed.
func (r *CardReader) checkLocked(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: cardreader %s: %w", op, err)
	}
	return r.faultLocked(op)
}

// faultLocked returns the error for an offline or jammed reader, or nil.
func (r *CardReader) faultLocked(op string) error {
	switch r.fault {
	case CardReaderOffline:
		return fmt.Errorf("devsim: cardreader %s: %w", op, &hal.Fault{
			Device: "cardreader", Code: r.fault, Msg: "not responding", Recoverable: true, Err: hal.ErrOffline})
	case CardReaderJam:
		return fmt.Errorf("devsim: cardreader %s: %w", op, &hal.Fault{
			Device: "cardreader", Code: r.fault, Msg: "card jammed in the transport"})
	}
	return nil
}

func (r *CardReader) closeSlotLocked(err error) {
	if r.slot != nil {
		r.slot <- cardAcceptResult{err: err}
		r.slot = nil
		r.sig.broadcast()
	}
}

func (r *CardReader) binFullLocked() bool {
	return r.binFull || r.bin >= r.opts.Caps.BinCapacity
}

func (r *CardReader) updateLocked() {
	switch {
	case r.fault == CardReaderOffline:
		r.set(hal.Offline, r.fault, "not responding")
	case r.fault == CardReaderJam:
		r.set(hal.HardwareError, r.fault, "card jammed in the transport")
	case r.opts.Caps.Retain && r.binFullLocked():
		r.set(hal.UserError, CardReaderBinFull, "retain bin full")
	default:
		r.set(hal.Online, "", "")
	}
}

// changeSignal wakes goroutines waiting for a simulator's state to
// change. The zero value is ready; every method is called with the
// simulator's mutex held. (Shared by the simulators in this package.)
type changeSignal struct{ ch chan struct{} }

// broadcast wakes every waiter.
func (s *changeSignal) broadcast() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// waitLocked waits, with mu held, until cond holds or ctx ends; it
// returns ctx's error in the second case. cond is evaluated with mu held.
func (s *changeSignal) waitLocked(ctx context.Context, mu *sync.Mutex, cond func() bool) error {
	for !cond() {
		if s.ch == nil {
			s.ch = make(chan struct{})
		}
		ch := s.ch
		mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		mu.Lock()
		if err := ctx.Err(); err != nil && !cond() {
			return err
		}
	}
	return nil
}
