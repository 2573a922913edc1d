package epp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Line timing (docs/devices/framing.md and epp.md).
const (
	ackWait  = 300 * time.Millisecond // for the ACK/NAK of a frame sent
	byteGap  = 100 * time.Millisecond // longest pause inside a frame
	sends    = 3                      // transmissions of a frame in all
	eofPause = 20 * time.Millisecond  // after a read that found no data
)

// Serve is the EPP on the line rw — typically the master side of a
// wire.PTY, or an opened serial port — until ctx ends (it then returns
// nil) or reading or writing rw fails. One Serve runs at a time; the EPP
// keeps its keys between them, and an entry ends (without a response)
// when Serve returns.
//
// A read of rw that returns io.EOF is taken as "no data yet", as a
// serial port with a read timeout reports it. When rw is an *os.File
// that supports deadlines (a PTY master does), Serve stops reading it as
// soon as ctx ends and leaves no goroutine behind; for other readers the
// reading goroutine ends at their next byte or error.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Info().Msg("serving the line")

	lr := newLineReader(rw)
	in := make(chan chunk)
	stop := make(chan struct{})
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		lr.pump(in, stop)
	}()
	e := &engine{s: s, w: rw, gap: stoppedTimer(), ack: stoppedTimer()}
	defer func() {
		close(stop)
		if lr.interrupt() {
			<-pumped
			lr.reset()
		}
		e.close()
		s.mu.Lock()
		s.serving = false
		s.endEntryLocked(nil, nil)
		s.dropOutboxLocked()
		s.broadcastLocked()
		s.mu.Unlock()
		s.log.Info().Msg("line closed")
	}()
	for {
		if err := e.send(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case c := <-in:
			if c.err != nil {
				return fmt.Errorf("epp sim: read: %w", c.err)
			}
			if err := e.received(c.b); err != nil {
				return err
			}
		case <-e.gap.C:
			e.pending = e.pending[:0]
			s.log.Debug().Msg("truncated frame dropped")
			if err := e.write([]byte{nak}); err != nil {
				return err
			}
		case <-e.ack.C:
			// Bytes that came with the timer may hold the ACK (or a NAK).
			it, tries := e.inflight, e.tries
			select {
			case c := <-in:
				if c.err != nil {
					return fmt.Errorf("epp sim: read: %w", c.err)
				}
				if err := e.received(c.b); err != nil {
					return err
				}
			default:
			}
			if e.inflight != it || e.tries != tries {
				continue
			}
			if err := e.resend("no ACK"); err != nil {
				return err
			}
		case <-s.kick:
		}
	}
}

// engine is Serve's link layer: it splits what arrives into ACK, NAK and
// frames, ACKs and NAKs the host's frames, and sends the outbox one frame
// at a time, retransmitting on NAK or silence.
type engine struct {
	s        *Sim
	w        io.Writer
	pending  []byte      // bytes received but not yet a whole unit
	gap      *time.Timer // runs while pending holds a partial frame
	ack      *time.Timer // runs while inflight waits for its ACK
	inflight *outItem
	tries    int
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// silent reports whether the EPP answers nothing: muted or powered off.
func (e *engine) silent() bool {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.s.muted || e.s.fault == FaultOffline
}

func (e *engine) write(b []byte) error {
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("epp sim: write: %w", err)
	}
	return nil
}

// received handles bytes from the host.
func (e *engine) received(b []byte) error {
	if e.silent() {
		e.pending = e.pending[:0]
		e.gap.Stop()
		return nil
	}
	e.pending = append(e.pending, b...)
	for {
		u, n, f := scan(e.pending)
		if u == unitMore {
			break
		}
		e.pending = e.pending[n:]
		switch u {
		case unitACK:
			if e.inflight != nil {
				e.finish()
			}
		case unitNAK:
			if e.inflight != nil {
				if err := e.resend("NAK"); err != nil {
					return err
				}
			}
		case unitNoise:
			e.s.log.Debug().Int("bytes", n).Msg("noise discarded")
		case unitBad:
			e.s.log.Debug().Int("bytes", n).Msg("bad frame, NAK")
			if err := e.write([]byte{nak}); err != nil {
				return err
			}
		case unitFrame:
			if err := e.write([]byte{ack}); err != nil {
				return err
			}
			e.s.log.Debug().Uint8("seq", f.seq).Uint8("cmd", f.cmd).Msg("command received")
			e.s.mu.Lock()
			e.s.commandLocked(f)
			e.s.mu.Unlock()
		}
	}
	if len(e.pending) > 0 {
		e.gap.Reset(byteGap)
	} else {
		e.pending = e.pending[:0:0]
		e.gap.Stop()
	}
	return nil
}

// send starts the next transmission when nothing waits for an ACK.
func (e *engine) send() error {
	for {
		silent := e.silent()
		if silent && e.inflight != nil {
			e.finish()
		}
		if e.inflight != nil {
			return nil
		}
		e.s.mu.Lock()
		if silent {
			e.s.dropOutboxLocked()
		}
		if len(e.s.outbox) == 0 {
			e.s.mu.Unlock()
			return nil
		}
		it := e.s.outbox[0]
		e.s.outbox = e.s.outbox[1:]
		e.s.mu.Unlock()
		if it.raw != nil {
			err := e.write(it.raw)
			if it.done != nil {
				close(it.done)
			}
			if err != nil {
				return err
			}
			continue
		}
		e.inflight, e.tries = it, 0
		return e.transmit()
	}
}

// transmit sends the frame in flight, garbled or cut short when the
// test asked for it, and starts waiting for its ACK.
func (e *engine) transmit() error {
	b := e.inflight.f.encode()
	e.s.mu.Lock()
	switch {
	case e.s.garble > 0:
		e.s.garble--
		b[len(b)-3] ^= 0xFF
	case e.s.truncate > 0:
		e.s.truncate--
		b = b[:len(b)/2]
	}
	e.s.mu.Unlock()
	e.tries++
	e.ack.Reset(ackWait)
	e.s.log.Debug().Uint8("seq", e.inflight.f.seq).Uint8("cmd", e.inflight.f.cmd).Int("try", e.tries).Msg("frame sent")
	return e.write(b)
}

// resend retransmits the frame in flight, or gives it up after the
// third transmission.
func (e *engine) resend(why string) error {
	if e.inflight == nil {
		return nil
	}
	if e.tries >= sends {
		e.s.log.Warn().Uint8("seq", e.inflight.f.seq).Uint8("cmd", e.inflight.f.cmd).Str("last", why).Msg("frame given up")
		e.finish()
		return nil
	}
	return e.transmit()
}

// finish ends the transmission in flight, delivered or not.
func (e *engine) finish() {
	e.ack.Stop()
	if e.inflight.done != nil {
		close(e.inflight.done)
	}
	e.inflight = nil
}

func (e *engine) close() {
	e.gap.Stop()
	if e.inflight != nil {
		e.finish()
	}
}

// chunk is what the reading goroutine hands over: bytes or an error.
type chunk struct {
	b   []byte
	err error
}

// lineReader reads the line. On an *os.File with deadline support it
// waits for data through the runtime's poller, so that a deadline (or
// Close) interrupts it even when the descriptor is in blocking mode, as
// wire.OpenPTY leaves a PTY master.
type lineReader struct {
	r  io.Reader
	f  *os.File
	rc syscall.RawConn
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{r: r}
	if f, ok := r.(*os.File); ok && f.SetReadDeadline(time.Time{}) == nil {
		if rc, err := f.SyscallConn(); err == nil {
			lr.f, lr.rc = f, rc
		}
	}
	return lr
}

func (lr *lineReader) Read(p []byte) (int, error) {
	if lr.rc == nil {
		return lr.r.Read(p)
	}
	var n int
	var rerr error
	err := lr.rc.Read(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err := unix.Poll(pfd, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			return false
		case err != nil:
			rerr = err
			return true
		case k == 0:
			return false // wait in the poller, which honours deadlines
		}
		n, rerr = unix.Read(int(fd), p)
		if errors.Is(rerr, unix.EAGAIN) {
			n, rerr = 0, nil
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n <= 0 {
		return 0, io.EOF
	}
	return n, nil
}

// interrupt makes a blocked Read return; it reports whether it could.
func (lr *lineReader) interrupt() bool {
	return lr.f != nil && lr.f.SetReadDeadline(time.Now()) == nil
}

// reset lifts the deadline interrupt set, so the file can be served again.
func (lr *lineReader) reset() {
	if lr.f != nil {
		_ = lr.f.SetReadDeadline(time.Time{})
	}
}

// pump reads until stop is closed or reading fails, handing chunks to in.
func (lr *lineReader) pump(in chan<- chunk, stop <-chan struct{}) {
	for {
		buf := make([]byte, 512)
		n, err := lr.Read(buf)
		if n > 0 {
			select {
			case in <- chunk{b: buf[:n]}:
			case <-stop:
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			select {
			case <-stop:
				return
			case <-time.After(eofPause):
			}
		default:
			select {
			case in <- chunk{err: err}:
			case <-stop:
			}
			return
		}
	}
}
