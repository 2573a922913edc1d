package atm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/devices/pcsc"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/sim/wire/vcard"
)

// unreadablePAN is the PAN of the card InsertUnreadable plays; its chip
// has no payment application, so the PAN is never read.
const unreadablePAN = "4761739001010119"

// slotGone bounds how long Close waits for pcscd to report the reader
// empty after the card is pulled (pcscd polls vpcd about every 400 ms).
const slotGone = 3 * time.Second

// vcardSlot plays the customer at a PC/SC reader's slot with virtual EMV
// cards (sim/wire/vcard) inserted into pcscd's vpcd reader, the one the
// driver reads. It is the CardControl and the fault surface of a pcsc
// card reader with a vpcd address.
type vcardSlot struct {
	dev  *pcsc.Dev
	addr string
	log  zerolog.Logger

	mu    sync.Mutex
	card  *vcard.Card // in the reader, if any
	fault string      // vcard fault for the card in the reader and the next ones
}

var _ CardControl = (*vcardSlot)(nil)

func newVCardSlot(dev *pcsc.Dev, addr string, log zerolog.Logger) *vcardSlot {
	return &vcardSlot{dev: dev, addr: addr, log: log}
}

// waitSlot waits until cond holds for the driver's slot or ctx ends.
func (s *vcardSlot) waitSlot(ctx context.Context, cond func(pcsc.Slot) bool) error {
	for {
		ch := s.dev.Changed()
		if cond(s.dev.Slot()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Insert waits until the driver accepts a card, then inserts a virtual
// card holding c's data (its chip is the seed profile's: PAN, sequence
// number, expiry, name) and returns once pcscd reports it in the reader.
func (s *vcardSlot) Insert(ctx context.Context, c cardreader.Card) error {
	seq, _ := strconv.Atoi(c.PANSeq)
	return s.insert(ctx, vcard.Profile{PAN: c.PAN, PANSeq: seq, Expiry: c.Expiry, Name: c.Name}, "")
}

// InsertUnreadable inserts a card whose chip has no payment application:
// the driver's read fails and the card stays presented.
func (s *vcardSlot) InsertUnreadable(ctx context.Context) error {
	return s.insert(ctx, vcard.Profile{PAN: unreadablePAN, Expiry: "3012", Name: "UNREADABLE/CARD"}, vcard.FaultNoApp)
}

func (s *vcardSlot) insert(ctx context.Context, p vcard.Profile, fault string) error {
	s.mu.Lock()
	busy := s.card != nil
	s.mu.Unlock()
	if busy {
		return fmt.Errorf("atm: card slot: a card is already in the reader: %w", vcard.ErrInserted)
	}
	if err := s.waitSlot(ctx, func(sl pcsc.Slot) bool { return sl.Accepting && !sl.Present }); err != nil {
		return fmt.Errorf("atm: card slot: not accepting a card: %w", err)
	}
	card, err := vcard.New(p, vcard.Options{Log: s.log})
	if err != nil {
		return fmt.Errorf("atm: card slot: %w", err)
	}
	s.mu.Lock()
	if fault == "" {
		fault = s.fault
	}
	if fault != "" {
		if err := card.Inject(fault); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if s.card == nil {
		if err = card.Insert(ctx, s.addr); err == nil {
			s.card = card
		}
	} else {
		err = vcard.ErrInserted
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("atm: card slot: %w", err)
	}
	if err := s.waitSlot(ctx, func(sl pcsc.Slot) bool { return sl.Present }); err != nil {
		return fmt.Errorf("atm: card slot: pcscd did not see the card: %w", err)
	}
	return nil
}

// Take waits until the card is presented, pulls it out and returns once
// the driver has seen it go.
func (s *vcardSlot) Take(ctx context.Context) error {
	if err := s.waitSlot(ctx, func(sl pcsc.Slot) bool { return sl.Card == pcsc.Presented }); err != nil {
		return fmt.Errorf("atm: card slot: no card presented: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx)
}

// removeLocked pulls the card out and waits until the driver sees the
// reader empty.
func (s *vcardSlot) removeLocked(ctx context.Context) error {
	if s.card != nil {
		if err := s.card.Remove(); err != nil && !errors.Is(err, vcard.ErrNotInserted) {
			return fmt.Errorf("atm: card slot: %w", err)
		}
		s.card = nil
	}
	if err := s.waitSlot(ctx, func(sl pcsc.Slot) bool { return !sl.Present }); err != nil {
		return fmt.Errorf("atm: card slot: the reader still reports a card: %w", err)
	}
	return nil
}

// State is where the driver believes the card is: "empty", "inside" or
// "presented", as sim/devsim's card reader says it.
func (s *vcardSlot) State() string { return string(s.dev.Slot().Card) }

// Retained: a plain PC/SC reader cannot capture cards.
func (s *vcardSlot) Retained() []cardreader.Card { return nil }

// Inject gives the card in the reader, and every card inserted until
// Clear, a chip fault of sim/wire/vcard: no-app, mute, garbage,
// short-response or bad-frame.
func (s *vcardSlot) Inject(code string) error {
	probe, err := vcard.New(vcard.Profile{PAN: unreadablePAN, Expiry: "3012"}, vcard.Options{})
	if err != nil {
		return err
	}
	if err := probe.Inject(code); err != nil {
		return fmt.Errorf("atm: card slot: %w (faults: %s, %s, %s, %s, %s)", err,
			vcard.FaultNoApp, vcard.FaultMute, vcard.FaultGarbage, vcard.FaultShortResponse, vcard.FaultBadFrame)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = code
	if s.card != nil {
		return s.card.Inject(code)
	}
	return nil
}

// Clear ends the fault, for the card in the reader too.
func (s *vcardSlot) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = ""
	if s.card != nil {
		s.card.Clear()
	}
}

// Close pulls out a card left in the reader and waits until the driver
// sees the reader empty, so the next user of the reader starts with an
// empty slot.
func (s *vcardSlot) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), slotGone)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.card == nil {
		return nil
	}
	return s.removeLocked(ctx)
}

// chipReader is the PC/SC reader as the ATM uses it. EMV's PAN sequence
// number (tag 5F34) has two digits, field 23 of the host link three (a
// leading zero), as the in-process simulator already gives it: Accept
// pads it. Everything else is the driver's.
type chipReader struct{ *pcsc.Dev }

var (
	_ cardreader.Reader            = chipReader{}
	_ cardreader.ChipAuthenticator = chipReader{}
)

// Accept reads a card and gives its PAN sequence number three digits.
func (r chipReader) Accept(ctx context.Context) (cardreader.Card, error) {
	c, err := r.Dev.Accept(ctx)
	if err == nil && len(c.PANSeq) == 2 {
		c.PANSeq = "0" + c.PANSeq
	}
	return c, err
}
