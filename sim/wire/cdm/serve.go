package cdm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Line timing of docs/devices/framing.md.
const (
	// ackWait is how long the device waits for the host's ACK of a
	// response or an event before sending it again.
	ackWait = 300 * time.Millisecond
	// tries is how often a frame is sent before the device gives up.
	tries = 3
	// frameGap is how long the line may go quiet inside a frame before
	// the device drops the partial frame and answers NAK.
	frameGap = 100 * time.Millisecond
)

// ErrServing is returned by Serve when another Serve of the same Sim is
// running: a device has one serial port.
var ErrServing = errors.New("sim/wire/cdm: already serving a line")

// executed is a command the mechanism finished.
type executed struct {
	f    frame
	raw  []byte
	resp []byte
}

// line is one Serve call's view of the wire; only the serving goroutine
// touches it.
type line struct {
	s     *Sim
	rw    io.ReadWriter
	rx    receiver
	out   []frame // frames waiting to be sent; out[0] is in flight when sent is true
	sent  bool
	tries int
	busy  []byte // the command frame being executed, nil when idle
	ackT  *time.Timer
	ackC  <-chan time.Time
	gapT  *time.Timer
	gapC  <-chan time.Time
	done  chan executed
}

// Serve speaks the dispenser protocol on rw — typically the master side
// of a pseudo-terminal, or a real serial port — until ctx ends (it then
// returns nil) or reading or writing rw fails (it returns that error).
// One command executes at a time, in its own goroutine, so the line is
// answered while the mechanism works. A read blocked in rw ends when rw
// is closed or delivers bytes; close rw before serving it again.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.serving = false
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []byte)
	rerr := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := rw.Read(buf)
			if n > 0 {
				select {
				case chunks <- bytes.Clone(buf[:n]):
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				rerr <- err
				return
			}
		}
	}()

	l := &line{s: s, rw: rw, ackT: time.NewTimer(time.Hour), gapT: time.NewTimer(time.Hour), done: make(chan executed, 1)}
	l.ackT.Stop()
	l.gapT.Stop()
	defer l.ackT.Stop()
	defer l.gapT.Stop()
	s.poke() // send what was queued while nobody served
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case err = <-rerr:
			if ctx.Err() != nil {
				return nil // the line was closed because serving ended
			}
			return fmt.Errorf("sim/wire/cdm: read: %w", err)
		case c := <-chunks:
			err = l.received(ctx, c)
		case <-l.gapC:
			l.gapC = nil
			err = l.handle(ctx, l.rx.expire())
		case <-l.ackC:
			l.ackC = nil
			err = l.resend("no ACK")
		case x := <-l.done:
			err = l.finished(x)
		case <-s.kick:
			err = l.pump()
		}
		if err != nil {
			return err
		}
	}
}

// silent reports whether the device is playing dead (DSP-OFFLINE).
func (l *line) silent() bool {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.s.fault == FaultOffline
}

func (l *line) write(b []byte) error {
	if _, err := l.rw.Write(b); err != nil {
		return fmt.Errorf("sim/wire/cdm: write: %w", err)
	}
	return nil
}

// received handles bytes from the host.
func (l *line) received(ctx context.Context, p []byte) error {
	if l.silent() {
		l.rx = receiver{}
		return nil
	}
	return l.handle(ctx, l.rx.feed(p))
}

// handle acts on what the receiver recognised, then watches for a frame
// left unfinished.
func (l *line) handle(ctx context.Context, evs []rxEvent) error {
	if l.silent() {
		l.rx = receiver{}
		return nil
	}
	for _, ev := range evs {
		var err error
		switch ev.kind {
		case rxAck:
			if l.sent {
				l.out, l.sent = l.out[1:], false
				l.ackC = nil
				l.ackT.Stop()
				err = l.pump()
			}
		case rxNak:
			if l.sent {
				err = l.resend("NAK")
			}
		case rxBad:
			l.s.opts.Log.Warn().Hex("raw", ev.raw).Msg("malformed or truncated frame")
			err = l.write([]byte{nak})
		case rxFrame:
			err = l.command(ctx, ev.f, ev.raw)
		}
		if err != nil {
			return err
		}
	}
	if l.rx.partial() {
		l.gapT.Reset(frameGap)
		l.gapC = l.gapT.C
	} else {
		l.gapT.Stop()
		l.gapC = nil
	}
	return nil
}

// command handles one well-formed frame from the host.
func (l *line) command(ctx context.Context, f frame, raw []byte) error {
	s := l.s
	s.mu.Lock()
	if s.nakNext > 0 {
		s.nakNext--
		s.mu.Unlock()
		return l.write([]byte{nak})
	}
	stall := s.stall
	repeat := s.lastResp != nil && bytes.Equal(raw, s.lastCmd)
	var last frame
	if repeat {
		last = *s.lastResp
	}
	s.mu.Unlock()
	if err := l.write([]byte{ack}); err != nil {
		return err
	}
	switch {
	case stall:
		return nil
	case l.busy != nil && bytes.Equal(raw, l.busy):
		return nil // the response follows when the mechanism is done
	case l.busy != nil && f.cmd == cmdStatus:
		s.mu.Lock()
		resp := s.statusLocked(true)
		s.mu.Unlock()
		return l.queue(frame{seq: f.seq, cmd: f.cmd | respBit, data: resp})
	case l.busy != nil:
		return l.queue(frame{seq: f.seq, cmd: f.cmd | respBit, data: header(stBusy, "another command is in progress")})
	case repeat:
		s.opts.Log.Info().Uint8("seq", f.seq).Msg("repeated command: last response sent again")
		return l.respond(last)
	case f.seq == 0 || f.cmd == 0 || f.cmd >= 0x40:
		return l.queue(frame{seq: f.seq, cmd: f.cmd | respBit, data: header(stBadParams, "not a command frame")})
	}
	l.busy = raw
	go func() {
		resp := s.execute(ctx, f, raw)
		select {
		case l.done <- executed{f: f, raw: raw, resp: resp}:
		case <-ctx.Done():
		}
	}()
	return nil
}

// finished stores and sends the response of an executed command.
func (l *line) finished(x executed) error {
	l.busy = nil
	r := frame{seq: x.f.seq, cmd: x.f.cmd | respBit, data: x.resp}
	l.s.mu.Lock()
	l.s.lastCmd, l.s.lastResp = x.raw, &r
	l.s.mu.Unlock()
	return l.respond(r)
}

// respond queues a response, unless it answers a dispense whose responses
// are to be lost.
func (l *line) respond(r frame) error {
	if c := r.cmd &^ respBit; c == cmdDispense || c == cmdTestDispense {
		l.s.mu.Lock()
		drop := l.s.dropResp > 0
		if drop {
			l.s.dropResp--
		}
		l.s.mu.Unlock()
		if drop {
			l.s.opts.Log.Warn().Uint8("seq", r.seq).Msg("dispense response dropped (misbehaviour)")
			return nil
		}
	}
	return l.queue(r)
}

// queue adds a frame to the outgoing queue and starts sending.
func (l *line) queue(f frame) error {
	l.out = append(l.out, f)
	return l.pump()
}

// pump moves waiting events and raw bytes to the line and sends the next
// frame if none is in flight.
func (l *line) pump() error {
	s := l.s
	s.mu.Lock()
	silent := s.fault == FaultOffline
	events, raw := s.events, s.raw
	s.events, s.raw = nil, nil
	s.mu.Unlock()
	if silent {
		l.out, l.sent = nil, false
		l.ackC = nil
		return nil
	}
	for _, b := range raw {
		if err := l.write(b); err != nil {
			return err
		}
	}
	l.out = append(l.out, events...)
	if l.sent || len(l.out) == 0 {
		return nil
	}
	l.tries = 0
	return l.transmit()
}

// transmit sends out[0], spoilt if a misbehaviour says so, and waits for
// its ACK.
func (l *line) transmit() error {
	b := l.out[0].encode()
	s := l.s
	s.mu.Lock()
	if s.fault == FaultOffline {
		s.mu.Unlock()
		l.out, l.sent = nil, false
		l.ackC = nil
		return nil
	}
	switch {
	case s.garble > 0:
		s.garble--
		b[len(b)-2] ^= 0xFF
	case s.truncate > 0:
		s.truncate--
		b = b[:len(b)-3]
	}
	s.mu.Unlock()
	l.sent = true
	l.tries++
	l.ackT.Reset(ackWait)
	l.ackC = l.ackT.C
	return l.write(b)
}

// resend sends the frame in flight again, or gives it up after the third
// try.
func (l *line) resend(why string) error {
	if !l.sent {
		return nil
	}
	if l.tries < tries {
		return l.transmit()
	}
	f := l.out[0]
	l.s.opts.Log.Warn().Uint8("seq", f.seq).Hex("cmd", []byte{f.cmd}).Str("why", why).Msg("frame given up after three tries")
	l.out, l.sent = l.out[1:], false
	l.ackC = nil
	l.ackT.Stop()
	return l.pump()
}

// GarbleNext corrupts the CRC of the next n frames the device sends
// (retransmissions count), as line noise would. A test aid.
func (s *Sim) GarbleNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garble = max(n, 0)
}

// TruncateNext cuts the next n frames the device sends short by their
// last three bytes (retransmissions count). A test aid.
func (s *Sim) TruncateNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = max(n, 0)
}

// NakNext answers the next n well-formed command frames with NAK, as if
// they had arrived damaged. A test aid.
func (s *Sim) NakNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nakNext = max(n, 0)
}

// Stall makes the device ACK command frames but neither execute nor
// answer them while on is true: a hung controller. A test aid.
func (s *Sim) Stall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = on
}

// DropDispenseResponses makes the device execute the next DISPENSE or
// TEST-DISPENSE commands as usual but lose the next n responses to them,
// including the responses it sends again for a repeated frame: the case
// of a response lost on the wire. A test aid.
func (s *Sim) DropDispenseResponses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropResp = max(n, 0)
}

// SendRaw writes b on the line as it is, between frames, when the device
// is serving and not silent: noise, a hand-made frame. A test aid.
func (s *Sim) SendRaw(b []byte) {
	s.mu.Lock()
	s.raw = append(s.raw, bytes.Clone(b))
	s.mu.Unlock()
	s.poke()
}
