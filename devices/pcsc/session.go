package pcsc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
)

// Transport errors, classified from the PC/SC return codes. The public
// methods turn them into the contract's errors and faults.
var (
	errRemoved   = errors.New("card removed")
	errOffline   = errors.New("pcscd or reader gone")
	errTimeout   = errors.New("card did not answer in time")
	errTransport = errors.New("card communication failed")
	errLost      = errors.New("card session lost after an abandoned command")
	errShared    = errors.New("another application holds the card")
)

// transportError is a classified PC/SC failure.
type transportError struct {
	kind  error // errRemoved, errOffline, errTimeout, errTransport, errLost or errShared
	cause error // the scard error, if any
}

func (e *transportError) Error() string {
	if e.cause == nil {
		return "pcsc: " + e.kind.Error()
	}
	return "pcsc: " + e.kind.Error() + ": " + e.cause.Error()
}

func (e *transportError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// classify sorts a PC/SC return code.
func classify(err error) error {
	var se scard.Error
	if !errors.As(err, &se) {
		return &transportError{kind: errTransport, cause: err}
	}
	switch se {
	case scard.ErrRemovedCard, scard.ErrNoSmartcard, scard.ErrResetCard, scard.ErrUnpoweredCard:
		return &transportError{kind: errRemoved, cause: err}
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrNoReadersAvailable, scard.ErrReaderUnavailable,
		scard.ErrUnknownReader, scard.ErrInvalidHandle, scard.ErrUnknownError:
		return &transportError{kind: errOffline, cause: err}
	case scard.ErrSharingViolation:
		return &transportError{kind: errShared, cause: err}
	}
	return &transportError{kind: errTransport, cause: err}
}

// session is one connection to the card: a PC/SC context of its own
// (so a card that hangs holds up nothing else) and the card handle. It
// is the kernel's transceiver.
type session struct {
	d    *Dev
	sctx *scard.Context
	card *scard.Card
	atr  []byte
	gen  uint64 // the insertion this session belongs to

	mu       sync.Mutex
	pending  bool // a transmit whose caller gave up is still running
	closing  bool
	disposal scard.Disposition
}

// connect opens a session with the card in the reader.
func (d *Dev) connect(reader string, gen uint64, mode scard.ShareMode, proto scard.Protocol) (*session, error) {
	sctx, err := scard.EstablishContext()
	if err != nil {
		return nil, classify(err)
	}
	card, err := sctx.Connect(reader, mode, proto)
	if err != nil {
		_ = sctx.Release()
		return nil, classify(err)
	}
	s := &session{d: d, sctx: sctx, card: card, gen: gen}
	if st, err := card.Status(); err == nil {
		s.atr = st.Atr
	}
	return s, nil
}

type transmitResult struct {
	b   []byte
	err error
}

// transmit sends one APDU. It gives up after Options.APDUTimeout
// (errTimeout) or when ctx ends; the PC/SC call cannot be interrupted,
// so it runs on and the session is unusable until it returns.
func (s *session) transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	s.mu.Lock()
	if s.pending || s.closing {
		s.mu.Unlock()
		return nil, &transportError{kind: errLost}
	}
	s.mu.Unlock()
	ch := make(chan transmitResult, 1)
	go func() {
		b, err := s.card.Transmit(apdu)
		ch <- transmitResult{b, err}
	}()
	t := time.NewTimer(s.d.opts.APDUTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, classify(r.err)
		}
		if len(r.b) == 0 {
			// vpcd reports a card that went away mid-command as an
			// empty answer; a card always sends at least SW1 SW2.
			return nil, &transportError{kind: errTransport, cause: errors.New("empty response")}
		}
		return r.b, nil
	case <-t.C:
		s.abandon(ch, true)
		return nil, &transportError{kind: errTimeout}
	case <-ctx.Done():
		s.abandon(ch, false)
		return nil, ctx.Err()
	}
}

// abandon leaves a transmit running. stuck: the card is not answering,
// which holds the reader up; Status says so until the call returns.
func (s *session) abandon(ch chan transmitResult, stuck bool) {
	s.mu.Lock()
	s.pending = true
	s.mu.Unlock()
	d := s.d
	if stuck {
		d.mu.Lock()
		d.stuck++
		d.broadcastLocked()
		d.mu.Unlock()
	}
	go func() {
		r := <-ch
		d.log.Debug().AnErr("err", r.err).Msg("abandoned transmit returned")
		s.mu.Lock()
		s.pending = false
		release := s.closing
		s.mu.Unlock()
		if release {
			s.release()
		}
		if stuck {
			d.mu.Lock()
			d.stuck--
			d.broadcastLocked()
			d.mu.Unlock()
		}
	}()
}

// close ends the session in the background: the card is disconnected
// with disp (scard.UnpowerCard when the card is given back) once no
// transmit is running. It never blocks.
func (s *session) close(disp scard.Disposition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing, s.disposal = true, disp
	if !s.pending {
		go s.release()
	}
}

func (s *session) release() {
	if err := s.card.Disconnect(s.disposal); err != nil {
		s.d.log.Debug().Err(err).Msg("disconnect")
	}
	_ = s.sctx.Release()
}

// control sends a reader command through SCardControl, bounded like an
// APDU.
func (s *session) control(ctx context.Context, code uint32, in []byte) ([]byte, error) {
	ch := make(chan transmitResult, 1)
	go func() {
		b, err := s.card.Control(code, in)
		ch <- transmitResult{b, err}
	}()
	t := time.NewTimer(s.d.opts.APDUTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-t.C:
		s.abandon(ch, true)
		return nil, &transportError{kind: errTimeout}
	case <-ctx.Done():
		s.abandon(ch, false)
		return nil, ctx.Err()
	}
}

// settle decides what an ambiguous transport error means: if pcscd
// reports the card gone within Options.RemovalGrace it was removed
// (vpcd, like many readers, reports a card pulled mid-APDU as a failed
// transmit first and as removed at its next poll); otherwise the card
// failed. Other errors pass unchanged.
func (d *Dev) settle(ctx context.Context, err error, gen uint64) error {
	var te *transportError
	if !errors.As(err, &te) || te.kind != errTransport {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.RemovalGrace)
	defer cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	gone := func() bool { return !d.present || d.inserted != gen || !d.online }
	_ = d.waitLocked(ctx, gone)
	switch {
	case !d.online:
		return &transportError{kind: errOffline, cause: te.cause}
	case gone():
		return &transportError{kind: errRemoved, cause: te.cause}
	}
	return err
}

// publicError turns a failure of a card operation into the contract's
// error for op ("accept", "generate AC").
func (d *Dev) publicError(op string, err error) error {
	var te *transportError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("pcsc: %s: %w", op, err)
	case errors.As(err, &te) && te.kind == errRemoved:
		return fmt.Errorf("pcsc: %s: %w (%w)", op, cardreader.ErrCardRemoved, err)
	case errors.As(err, &te) && te.kind == errLost:
		return fmt.Errorf("pcsc: %s: %w: %w", op, cardreader.ErrUnreadable, err)
	case errors.As(err, &te) && te.kind == errShared:
		return fmt.Errorf("pcsc: %s: %w: %w", op, hal.ErrBusy, err)
	case errors.As(err, &te) && te.kind == errOffline:
		return fmt.Errorf("pcsc: %s: %w", op, offlineFault("pcscd or reader gone", te.cause))
	case errors.As(err, &te) && te.kind == errTimeout:
		return fmt.Errorf("pcsc: %s: %w: %w", op, cardreader.ErrUnreadable, &hal.Fault{
			Device: faultDevice, Code: FaultTimeout, Msg: "card did not answer within " + d.opts.APDUTimeout.String(),
			Recoverable: true, Err: hal.ErrTimeout})
	case errors.Is(err, ErrNoApplication):
		return fmt.Errorf("pcsc: %s: %w", op, err)
	case errors.Is(err, ErrProtocol), errors.As(err, &te):
		var raw []byte
		var ce *CardError
		if errors.As(err, &ce) {
			raw = ce.Raw
		}
		return fmt.Errorf("pcsc: %s: %w: %w", op, cardreader.ErrUnreadable, &hal.Fault{
			Device: faultDevice, Code: FaultProtocol, Msg: "card broke the protocol", Recoverable: true, Raw: raw, Err: err})
	}
	return fmt.Errorf("pcsc: %s: %w", op, err)
}
