package vcard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/internal/emv"
)

// Faults the card can be put into with Inject. They play a broken or
// hostile card; the reader and pcscd stay healthy.
const (
	// FaultNoApp: the card has no EMV application; every SELECT fails
	// with 6A82 (a card the ATM cannot read).
	FaultNoApp = "no-app"
	// FaultMute: the card takes command APDUs and never answers them
	// (until it is removed).
	FaultMute = "mute"
	// FaultGarbage: every APDU is answered with bytes that are not
	// BER-TLV, followed by 9000.
	FaultGarbage = "garbage"
	// FaultShortResponse: every APDU is answered with a single byte, too
	// short to hold a status word.
	FaultShortResponse = "short-response"
	// FaultBadFrame: the next APDU is answered with a vpcd frame whose
	// length promises more than follows, and the card drops the link,
	// as a card pulled mid-answer.
	FaultBadFrame = "bad-frame"
)

// Garbage is what FaultGarbage answers before 90 00: a tag whose length
// byte uses a form BER-TLV forbids.
var Garbage = []byte{0xDE, 0xAD, 0xBE, 0xEF}

// Errors of the control surface.
var (
	// ErrInserted: the card is already in a reader.
	ErrInserted = errors.New("vcard: card already inserted")
	// ErrNotInserted: the card is not in a reader.
	ErrNotInserted = errors.New("vcard: card not inserted")
)

// Options tune a Card.
type Options struct {
	// Log receives insertions, removals and the commands the card
	// answers (instruction and status word, never data); the zero value
	// discards.
	Log zerolog.Logger
}

// Card is a virtual EMV contact card. It speaks the vpcd protocol to
// pcscd's vpcd reader driver (Insert, or Serve on any stream) and
// answers APDUs with its EMV application. Insert and Remove play the
// customer; Inject, Clear and RemoveAfter play a broken card. The
// methods are safe for concurrent use.
type Card struct {
	p    resolved
	opts Options

	mu          sync.Mutex
	app         *app
	fault       string
	removeAfter int           // APDUs still answered before the card pulls itself; -1 off
	conn        net.Conn      // the vpcd link while inserted
	done        chan struct{} // closed when the serve loop of conn has ended
	powered     bool
	commands    [][]byte
	changed     chan struct{} // closed and replaced on every change
}

// New returns a card holding p, not inserted. It fails if the profile's
// data cannot be encoded (PAN, expiry, name, AID out of range).
func New(p Profile, opts Options) (*Card, error) {
	r, err := p.resolve()
	if err != nil {
		return nil, err
	}
	return &Card{p: r, opts: opts, app: newApp(r), removeAfter: -1, changed: make(chan struct{})}, nil
}

// String names the card with its PAN masked.
func (c *Card) String() string { return c.p.String() }

// Insert connects the card to vpcd at addr (host:port) and serves it in
// the background until Remove, a fault or vpcd closes the link. It
// returns once the TCP connection is up; pcscd notices the card at its
// next poll (pcscd polls vpcd about every 400 ms).
func (c *Card) Insert(ctx context.Context, addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return ErrInserted
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("vcard: insert into vpcd at %s: %w", addr, err)
	}
	quickAck(conn)
	c.conn = conn
	c.done = make(chan struct{})
	c.app.reset()
	c.broadcastLocked()
	c.opts.Log.Info().Str("vpcd", addr).Stringer("card", c).Msg("card inserted")
	go c.serveConn(conn, c.done)
	return nil
}

// Remove pulls the card out: it closes the vpcd link, which pcscd sees
// as the card leaving the reader, and waits for the serve loop to end.
func (c *Card) Remove() error {
	c.mu.Lock()
	conn, done := c.conn, c.done
	c.mu.Unlock()
	if conn == nil {
		return ErrNotInserted
	}
	conn.Close()
	<-done
	return nil
}

// ErrLinkClosed: the vpcd link closed while Run held the card in the
// reader (pcscd stopped, or a fault pulled the card).
var ErrLinkClosed = errors.New("vcard: vpcd link closed")

// Run inserts the card into vpcd at addr and keeps it there until ctx
// ends — then it removes the card and returns nil — or the link closes
// (ErrLinkClosed). It is what `atmd simdev vcard` runs.
func (c *Card) Run(ctx context.Context, addr string) error {
	if err := c.Insert(ctx, addr); err != nil {
		return err
	}
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-ctx.Done():
		if err := c.Remove(); err != nil && !errors.Is(err, ErrNotInserted) {
			return err
		}
		return nil
	case <-done:
		return fmt.Errorf("%w (vpcd at %s)", ErrLinkClosed, addr)
	}
}

// Inserted reports whether the card is in a reader.
func (c *Card) Inserted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Changed returns a channel that is closed at the next insertion,
// removal or APDU.
func (c *Card) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// RemoveAfter makes the card pull itself out of the reader when its
// (n+1)-th command APDU from now arrives: n more APDUs are answered, the
// next one is not (the card leaves mid-command). n < 0 turns it off.
func (c *Card) RemoveAfter(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeAfter = n
}

// Inject puts the card into a fault: FaultNoApp, FaultMute,
// FaultGarbage, FaultShortResponse or FaultBadFrame. An unknown fault is
// an error wrapping hal.ErrInvalid.
func (c *Card) Inject(fault string) error {
	switch fault {
	case FaultNoApp, FaultMute, FaultGarbage, FaultShortResponse, FaultBadFrame:
	default:
		return fmt.Errorf("vcard: unknown fault %q: %w", fault, hal.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = fault
	c.app.noApp = fault == FaultNoApp
	c.opts.Log.Warn().Str("fault", fault).Msg("fault injected")
	return nil
}

// Clear removes the fault and RemoveAfter; the card answers normally
// again.
func (c *Card) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault, c.removeAfter, c.app.noApp = "", -1, false
}

// Commands returns the command APDUs the card has received, in order.
// Commands carry no card data (the PAN travels only in responses).
func (c *Card) Commands() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.commands))
	for i, b := range c.commands {
		out[i] = append([]byte(nil), b...)
	}
	return out
}

// ATC returns the application transaction counter.
func (c *Card) ATC() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.app.atc
}

// LastCryptogram returns the last application cryptogram the card
// computed and its cryptogram information data (80 ARQC, 40 TC, 00
// AAC); nil before the first GENERATE AC.
func (c *Card) LastCryptogram() (ac []byte, cid byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.app.lastAC...), c.app.lastCID
}

// Serve speaks the vpcd protocol on rw until the stream ends, ctx ends or
// a fault drops the link; it answers control bytes and APDUs as the
// card. When ctx ends it closes rw if rw is an io.Closer (so a blocked
// read returns) and returns ctx's error; a stream that ends between
// frames returns nil. Insert uses Serve on its TCP connection; use it
// directly to put the card on another transport (a pipe in tests).
func (c *Card) Serve(ctx context.Context, rw io.ReadWriter) error {
	stop := context.AfterFunc(ctx, func() {
		if cl, ok := rw.(io.Closer); ok {
			cl.Close()
		}
	})
	defer stop()
	err := c.serve(rw)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, errPulled) {
		return nil
	}
	return err
}

var errPulled = errors.New("vcard: card pulled")

func (c *Card) serveConn(conn net.Conn, done chan struct{}) {
	err := c.serve(conn)
	conn.Close()
	c.mu.Lock()
	c.conn, c.powered = nil, false
	c.app.reset()
	c.broadcastLocked()
	c.mu.Unlock()
	ev := c.opts.Log.Info()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errPulled) && !errors.Is(err, net.ErrClosed) {
		ev = c.opts.Log.Warn().Err(err)
	}
	ev.Stringer("card", c).Msg("card removed")
	close(done)
}

// serve is the frame loop: one frame in, at most one frame out.
func (c *Card) serve(rw io.ReadWriter) error {
	for {
		p, err := ReadFrame(rw)
		quickAck(rw)
		if err != nil {
			return err
		}
		out, err := c.handle(p)
		if err != nil {
			if out != nil {
				_, _ = rw.Write(out)
			}
			return err
		}
		if out == nil {
			continue
		}
		frame, err := AppendFrame(nil, out)
		if err != nil {
			return err
		}
		if _, err := rw.Write(frame); err != nil {
			return fmt.Errorf("vcard: write: %w", err)
		}
		quickAck(rw)
	}
}

// handle answers one frame's payload: nil for control bytes that need no
// answer. An error ends the link (out, if not nil, is written raw first).
func (c *Card) handle(p []byte) (out []byte, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) == 1 {
		switch p[0] {
		case CtrlGetATR:
			return append([]byte(nil), c.p.ATR...), nil
		case CtrlPowerOn, CtrlReset:
			c.powered = true
			c.app.reset()
		case CtrlPowerOff:
			c.powered = false
			c.app.reset()
		default:
			c.opts.Log.Warn().Hex("ctrl", p).Msg("unknown vpcd control byte ignored")
		}
		return nil, nil
	}
	c.commands = append(c.commands, append([]byte(nil), p...))
	c.broadcastLocked()
	if c.removeAfter == 0 {
		c.removeAfter = -1
		c.opts.Log.Info().Msg("card pulled mid-command")
		return nil, errPulled
	}
	if c.removeAfter > 0 {
		c.removeAfter--
	}
	switch c.fault {
	case FaultMute:
		// Never answer: the reader waits for this APDU's answer until
		// the card is removed.
		c.opts.Log.Debug().Msg("mute card ignores an apdu")
		return nil, nil
	case FaultGarbage:
		return response(Garbage, SWOK), nil
	case FaultShortResponse:
		return []byte{0x90}, nil
	case FaultBadFrame:
		c.fault = ""
		return []byte{0x00, 0x40, 0x6F, 0x10}, errPulled
	}
	resp := c.app.process(p)
	if len(p) >= 2 && len(resp) >= 2 {
		c.opts.Log.Debug().Hex("ins", p[1:2]).Hex("sw", resp[len(resp)-2:]).Msg("apdu")
	}
	return resp, nil
}

func (c *Card) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Track2 returns the track 2 equivalent data the card holds. It carries
// the PAN: for tests, never for logs.
func (c *Card) Track2() emv.Track2 {
	t, _ := emv.ParseTrack2(c.p.track2)
	return t
}
