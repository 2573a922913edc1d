package pcsc

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebfe/scard"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
)

// Accept enables the slot and waits for a card (a card already in the
// reader that the driver has not read counts), then reads it with the
// EMV kernel. The card stays in session for GenerateAC until Eject,
// Retain or Halt.
//
// Errors: the contract's; a card the kernel cannot read is ErrUnreadable
// and stays in the slot, presented (with a *hal.Fault FaultProtocol or
// FaultTimeout when the card misbehaved); a card pulled during the read
// is ErrCardRemoved; a missing pcscd or reader is a *hal.Fault
// FaultOffline wrapping hal.ErrOffline.
func (d *Dev) Accept(ctx context.Context) (cardreader.Card, error) {
	if err := ctx.Err(); err != nil {
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: %w", err)
	}
	d.mu.Lock()
	if err := d.readyLocked("accept"); err != nil {
		d.mu.Unlock()
		return cardreader.Card{}, err
	}
	if d.pos != Empty {
		pos := d.pos
		d.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: card already %s: %w", pos, hal.ErrInvalid)
	}
	if d.accepting {
		d.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: %w", hal.ErrBusy)
	}
	d.accepting, d.pulled = true, false
	halts := d.halts
	d.broadcastLocked()
	d.log.Debug().Msg("card slot enabled")
	err := d.waitLocked(ctx, func() bool {
		return d.present || !d.online || d.closed || d.halts != halts
	})
	d.accepting = false
	d.broadcastLocked()
	switch {
	case err != nil:
		d.mu.Unlock()
		d.log.Debug().Msg("card slot disabled")
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: %w", err)
	case d.halts != halts || d.closed:
		d.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: halted: %w", hal.ErrCancelled)
	case !d.online:
		why := d.whyOff
		d.mu.Unlock()
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: %w", offlineFault(why, nil))
	}
	reader, gen := d.reader, d.inserted
	d.mu.Unlock()

	release, err := d.acquire(ctx)
	if err != nil {
		return cardreader.Card{}, fmt.Errorf("pcsc: accept: %w", err)
	}
	defer release()
	c, err := d.read(ctx, reader, gen)
	if err != nil {
		err = d.publicError("accept", err)
		d.log.Warn().Err(err).Msg("card not read")
		return cardreader.Card{}, err
	}
	d.log.Info().Object("card", c).Hex("aid", c.AID).Msg("card read")
	return c, nil
}

// readyLocked refuses commands while the driver is closed, offline or
// held up by a card that does not answer.
func (d *Dev) readyLocked(op string) error {
	switch {
	case d.closed:
		return fmt.Errorf("pcsc: %s: driver closed: %w", op, hal.ErrOffline)
	case !d.online:
		return fmt.Errorf("pcsc: %s: %w", op, offlineFault(d.whyOff, nil))
	case d.stuck > 0:
		return fmt.Errorf("pcsc: %s: %w", op, &hal.Fault{Device: faultDevice, Code: FaultTimeout,
			Msg: "a card that does not answer holds the reader", Recoverable: true, Err: hal.ErrTimeout})
	}
	return nil
}

// read connects to the card and runs the kernel; on success the card is
// Inside with its session kept.
func (d *Dev) read(ctx context.Context, reader string, gen uint64) (cardreader.Card, error) {
	s, err := d.connect(reader, gen, scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		err = d.settle(ctx, err, gen)
		d.afterFailedRead(err, gen)
		return cardreader.Card{}, err
	}
	k := &kernel{t: s, term: d.opts.Terminal, aids: d.opts.AIDs, now: d.opts.Clock.Now, un: unpredictable}
	c, err := k.read(ctx)
	if err != nil {
		err = d.settle(ctx, err, gen)
		s.close(scard.UnpowerCard)
		d.afterFailedRead(err, gen)
		return cardreader.Card{}, err
	}
	c.ATR = s.atr
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.present || d.inserted != gen || !d.online {
		s.close(scard.LeaveCard)
		return cardreader.Card{}, &transportError{kind: errRemoved}
	}
	d.pos, d.sess, d.k = Inside, s, k
	d.broadcastLocked()
	return c, nil
}

// afterFailedRead places the card after a failed read: a card still in
// the reader that could not be read is presented (the customer takes
// it); a cancelled read, or one another application's hold on the card
// prevented, leaves it unread, for the next Accept.
func (d *Dev) afterFailedRead(err error, gen uint64) {
	var te *transportError
	cancelled := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	removed := errors.As(err, &te) && (te.kind == errRemoved || te.kind == errOffline || te.kind == errShared)
	d.mu.Lock()
	defer d.mu.Unlock()
	if cancelled || removed || !d.present || d.inserted != gen {
		return
	}
	d.pos = Presented
	if errors.Is(err, ErrProtocol) || (errors.As(err, &te) && te.kind == errTransport) {
		d.cardFault, d.faultMsg = FaultProtocol, "the card in the reader broke the EMV protocol"
	}
	d.broadcastLocked()
}

// Eject gives the card back. A plain PC/SC reader cannot move the card:
// the driver ends the card session (powering the card down) and the card
// is presented where the customer left it. With Motor.Eject the reader
// is also told to move the card to the slot's mouth. A card the customer
// already pulled out counts as ejected (nil, once).
func (d *Dev) Eject(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pcsc: eject: %w", err)
	}
	release, err := d.acquire(ctx)
	if err != nil {
		return fmt.Errorf("pcsc: eject: %w", err)
	}
	defer release()
	return d.eject(ctx, "eject")
}

// eject runs with the command token held.
func (d *Dev) eject(ctx context.Context, op string) error {
	d.mu.Lock()
	if d.pulled {
		d.pulled = false
		d.mu.Unlock()
		return nil
	}
	switch d.pos {
	case Empty:
		d.mu.Unlock()
		return fmt.Errorf("pcsc: %s: %w", op, cardreader.ErrNoCard)
	case Presented:
		d.mu.Unlock()
		return nil
	}
	s := d.sess
	d.mu.Unlock()
	if m := d.opts.Motor; m != nil && m.Eject != nil && s != nil {
		if _, err := s.control(ctx, m.ControlCode, m.Eject); err != nil {
			return d.jam(op, "eject command failed", err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess == s && d.pos == Inside {
		if s != nil {
			s.close(scard.UnpowerCard)
		}
		d.sess, d.k, d.pos = nil, nil, Presented
		d.broadcastLocked()
		d.log.Info().Msg("card presented")
	}
	return nil
}

// jam records a failed motor command.
func (d *Dev) jam(op, msg string, err error) error {
	f := &hal.Fault{Device: faultDevice, Code: FaultJam, Msg: msg, Err: err}
	d.mu.Lock()
	d.cardFault, d.faultMsg = FaultJam, msg
	d.broadcastLocked()
	d.mu.Unlock()
	d.log.Error().Err(err).Msg(msg)
	return fmt.Errorf("pcsc: %s: %w", op, f)
}

// WaitTaken blocks until the presented card has left the reader, as
// pcscd reports it.
func (d *Dev) WaitTaken(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pcsc: wait taken: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pos == Inside {
		return fmt.Errorf("pcsc: wait taken: card not presented: %w", hal.ErrInvalid)
	}
	if err := d.waitLocked(ctx, func() bool { return d.pos != Presented || !d.online || d.closed }); err != nil {
		return fmt.Errorf("pcsc: wait taken: %w", err)
	}
	if d.pos == Presented {
		if d.closed {
			return fmt.Errorf("pcsc: wait taken: driver closed: %w", hal.ErrOffline)
		}
		return fmt.Errorf("pcsc: wait taken: %w", offlineFault(d.whyOff, nil))
	}
	return nil
}

// Retain captures the card with Motor.Retain through SCardControl. A
// reader without a Motor that can retain gives hal.ErrUnsupported.
func (d *Dev) Retain(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pcsc: retain: %w", err)
	}
	m := d.opts.Motor
	if m == nil || m.Retain == nil {
		return fmt.Errorf("pcsc: retain: a plain PC/SC reader cannot capture cards: %w", hal.ErrUnsupported)
	}
	release, err := d.acquire(ctx)
	if err != nil {
		return fmt.Errorf("pcsc: retain: %w", err)
	}
	defer release()
	d.mu.Lock()
	switch {
	case d.pulled:
		d.pulled = false
		d.mu.Unlock()
		return fmt.Errorf("pcsc: retain: card pulled out: %w", cardreader.ErrNoCard)
	case d.pos == Empty:
		d.mu.Unlock()
		return fmt.Errorf("pcsc: retain: %w", cardreader.ErrNoCard)
	case d.binFullLocked():
		d.mu.Unlock()
		return fmt.Errorf("pcsc: retain: %w", &hal.Fault{Device: faultDevice, Code: FaultBinFull,
			Msg: "retain bin full", Recoverable: true, Err: cardreader.ErrBinFull})
	}
	if err := d.readyLocked("retain"); err != nil {
		d.mu.Unlock()
		return err
	}
	s, reader, gen := d.sess, d.reader, d.inserted
	d.mu.Unlock()
	own := false
	if s == nil { // presented: talk to the reader directly
		if s, err = d.connect(reader, gen, scard.ShareDirect, scard.ProtocolUndefined); err != nil {
			return d.jam("retain", "cannot reach the reader for capture", err)
		}
		own = true
	}
	_, err = s.control(ctx, m.ControlCode, m.Retain)
	if own {
		s.close(scard.LeaveCard)
	}
	if err != nil {
		return d.jam("retain", "capture command failed", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess != nil {
		d.sess.close(scard.LeaveCard)
	}
	d.sess, d.k, d.pos = nil, nil, Empty
	d.bin++
	d.broadcastLocked()
	d.log.Info().Int("bin", d.bin).Msg("card retained")
	return nil
}

// Halt disables the slot — a waiting Accept ends with hal.ErrCancelled —
// and gives back a card that is inside (Eject).
func (d *Dev) Halt(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pcsc: halt: %w", err)
	}
	d.mu.Lock()
	d.halts++
	d.broadcastLocked()
	d.mu.Unlock()
	release, err := d.acquire(ctx)
	if err != nil {
		return fmt.Errorf("pcsc: halt: %w", err)
	}
	defer release()
	if err := d.eject(ctx, "halt"); err != nil && !errors.Is(err, cardreader.ErrNoCard) {
		return err
	}
	return nil
}

// GenerateAC runs the first GENERATE AC, asking the card for an ARQC
// over the CDOL1 data built from txn and the terminal, and returns the
// chip data for field 55 (BER-TLV, emv.Field55Tags order). The card's
// cryptogram information data (9F27) says what it gave: 80 ARQC, 00 AAC
// (declined). It needs the card read by Accept still inside.
func (d *Dev) GenerateAC(ctx context.Context, txn cardreader.TxnData) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pcsc: generate AC: %w", err)
	}
	release, err := d.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pcsc: generate AC: %w", err)
	}
	defer release()
	d.mu.Lock()
	if d.pulled {
		d.mu.Unlock()
		return nil, fmt.Errorf("pcsc: generate AC: %w", cardreader.ErrCardRemoved)
	}
	if d.pos != Inside || d.k == nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("pcsc: generate AC: no card in session: %w", cardreader.ErrNoCard)
	}
	if err := d.readyLocked("generate AC"); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	k, s := d.k, d.sess
	d.mu.Unlock()
	out, err := k.generateAC(ctx, txn)
	if errors.Is(err, hal.ErrInvalid) {
		return nil, err
	}
	if err != nil {
		err = d.publicError("generate AC", d.settle(ctx, err, s.gen))
		if errors.Is(err, ErrProtocol) {
			d.mu.Lock()
			d.cardFault, d.faultMsg = FaultProtocol, "the card in the reader broke the EMV protocol"
			d.broadcastLocked()
			d.mu.Unlock()
		}
		d.log.Warn().Err(err).Msg("generate AC failed")
		return nil, err
	}
	d.log.Info().Msg("ARQC generated")
	return out, nil
}
