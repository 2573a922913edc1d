package cdm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/tarm/serial"
)

// Line timing of docs/devices/framing.md.
const (
	// ackWait is how long the host waits for ACK or NAK after a frame.
	ackWait = 300 * time.Millisecond
	// sendTries is how often a frame is sent before the command fails.
	sendTries = 3
	// readSlice is the serial read timeout: tarm/serial's resolution, and
	// the quiet time after which a partial frame is dropped.
	readSlice = 100 * time.Millisecond
)

// Transport failures of one exchange; Dev turns them into faults.
var (
	errNoAnswer   = errors.New("no ACK from the device")
	errNAKed      = errors.New("the device refused the frame three times (NAK)")
	errNoResponse = errors.New("no response from the device")
	errGarbled    = errors.New("only malformed frames from the device")
	errPortGone   = errors.New("serial port gone")
)

// port is what the link needs of a serial port.
type port interface {
	io.ReadWriteCloser
}

// openPort opens a serial line with the framing page's settings: 8N1, no
// flow control, reads that give up after readSlice.
func openPort(path string, baud int) (port, error) {
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: readSlice})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// link is one open serial port and the goroutine reading it. Commands are
// sent by one goroutine at a time (Dev's semaphore); the reader answers
// frames with ACK/NAK, hands responses and ACK/NAK bytes to the sender
// and events to onEvent.
type link struct {
	path    string
	p       port
	log     zerolog.Logger
	onEvent func(rxFrame)

	wmu    sync.Mutex   // one writer at a time: ACKs from the reader, frames from the sender
	acks   chan byte    // ACK and NAK bytes between frames
	frames chan rxFrame // responses

	mu      sync.Mutex
	bad     int    // malformed frames since the exchange began
	lastBad []byte // the last of them
	stale   bool   // a command went out: a partial frame from before is dead

	dead    chan struct{} // closed when the line is unusable
	deadErr error
	once    sync.Once
	stopped chan struct{} // closed when the reader has returned
}

func newLink(path string, p port, log zerolog.Logger, onEvent func(rxFrame)) *link {
	l := &link{
		path: path, p: p, log: log, onEvent: onEvent,
		acks: make(chan byte, 8), frames: make(chan rxFrame, 8),
		dead: make(chan struct{}), stopped: make(chan struct{}),
	}
	go l.read()
	return l
}

// die marks the line unusable and closes the port; the first cause wins.
func (l *link) die(err error) {
	l.once.Do(func() {
		l.deadErr = err
		close(l.dead)
		_ = l.p.Close()
	})
}

// err returns why the line died.
func (l *link) err() error {
	<-l.dead
	return l.deadErr
}

// close shuts the line and waits for the reader.
func (l *link) close() {
	l.die(errors.New("cdm: link closed"))
	<-l.stopped
}

func (l *link) write(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	select {
	case <-l.dead:
		return l.err()
	default:
	}
	if _, err := l.p.Write(b); err != nil {
		err = fmt.Errorf("%w: %w", errPortGone, err)
		l.die(err)
		return err
	}
	return nil
}

// read runs until the port fails or is closed. tarm/serial returns 0,
// io.EOF when a read times out with no data: that is a quiet line, not
// the end of it. A hung-up pseudo-terminal also reads 0, io.EOF, but at
// once; several in a row make the reader look for the port's path.
func (l *link) read() {
	defer close(l.stopped)
	buf := make([]byte, 512)
	var pending []byte
	quick := 0
	for {
		start := time.Now()
		n, err := l.p.Read(buf)
		select {
		case <-l.dead:
			return
		default:
		}
		if n > 0 {
			quick = 0
			if l.takeStale() && len(pending) > 0 {
				// The device writes whole frames and answers a command
				// only after it: a frame left unfinished before the
				// command went out was cut short. Drop it, or it would
				// swallow the ACK.
				l.expire(pending)
				pending = nil
			}
			pending = l.consume(append(pending, buf[:n]...))
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			l.die(fmt.Errorf("%w: %w", errPortGone, err))
			return
		}
		if len(pending) > 0 {
			// The line went quiet inside a frame: it was cut short, or a
			// stray STX began it.
			_ = l.write([]byte{bNAK})
			l.expire(pending)
			pending = nil
		}
		if time.Since(start) >= readSlice/2 {
			quick = 0
			continue
		}
		if quick++; quick >= 3 {
			if _, err := os.Stat(l.path); err != nil {
				l.die(fmt.Errorf("%w: %w", errPortGone, err))
				return
			}
			// The port is there but reads end at once: do not spin.
			select {
			case <-l.dead:
				return
			case <-time.After(readSlice):
			}
		}
	}
}

// consume handles every complete item at the start of pending and
// returns what is left (a frame in progress).
func (l *link) consume(pending []byte) []byte {
	for {
		t, f, n := scan(pending)
		switch t {
		case tokMore:
			return append([]byte(nil), pending...)
		case tokACK, tokNAK:
			b := byte(bACK)
			if t == tokNAK {
				b = bNAK
			}
			select {
			case l.acks <- b:
			default:
			}
		case tokBad:
			l.noteBad(pending[:n])
			_ = l.write([]byte{bNAK})
		case tokFrame:
			_ = l.write([]byte{bACK})
			f.Data = append([]byte(nil), f.Data...)
			l.dispatch(f)
		}
		pending = pending[n:]
	}
}

// expire gives up a frame that will not be finished. A stray STX may
// have swallowed a real frame: complete frames inside it are still
// handled, but what is left unfinished inside it is dead too (hunting on
// would let it swallow the next ACK or retransmission).
func (l *link) expire(partial []byte) {
	l.noteBad(partial)
	if rest := l.consume(partial[skipBroken(partial):]); len(rest) > 0 {
		l.log.Debug().Hex("raw", rest).Msg("unfinished frame inside a broken one dropped")
	}
}

// takeStale reports and clears the mark set when a command went out.
func (l *link) takeStale() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stale
	l.stale = false
	return s
}

func (l *link) noteBad(raw []byte) {
	l.mu.Lock()
	l.bad++
	l.lastBad = append([]byte(nil), raw...)
	l.mu.Unlock()
	l.log.Warn().Hex("raw", raw).Msg("malformed frame from the dispenser")
}

// badSince returns how many malformed frames arrived and the last one,
// and starts counting again.
func (l *link) badSince() (int, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, raw := l.bad, l.lastBad
	l.bad, l.lastBad = 0, nil
	return n, raw
}

func (l *link) dispatch(f rxFrame) {
	switch {
	case f.Seq == 0 && f.Cmd >= 0x40 && f.Cmd < 0x80:
		if l.onEvent != nil {
			l.onEvent(f)
		}
	case f.Cmd&replyFlag != 0 && f.Seq != 0:
		select {
		case l.frames <- f:
		default:
			l.log.Warn().Uint8("seq", f.Seq).Msg("response dropped: nobody waiting")
		}
	default:
		l.log.Warn().Uint8("seq", f.Seq).Hex("cmd", []byte{f.Cmd}).Msg("unexpected frame from the dispenser")
	}
}

// drain forgets ACKs and responses left over from earlier exchanges.
func (l *link) drain() {
	for {
		select {
		case <-l.acks:
		case <-l.frames:
		default:
			return
		}
	}
}

// exchange sends one command frame (up to three times until ACKed) and
// waits up to wait for its response. It returns the response, or
// errNoAnswer, errNAKed, errNoResponse, errGarbled, a dead line's error,
// or ctx's error. sent reports whether the frame went out at least once.
func (l *link) exchange(ctx context.Context, seq, cmd byte, data []byte, wait time.Duration) (resp rxFrame, sent bool, err error) {
	raw := appendFrame(nil, seq, cmd, data)
	l.drain()
	l.badSince()
	match := func(f rxFrame) bool { return f.Seq == seq && f.Cmd == cmd|replyFlag }
	timer := time.NewTimer(ackWait)
	defer timer.Stop()

	acked, naks := false, 0
	for try := 0; try < sendTries && !acked; try++ {
		l.mu.Lock()
		l.stale = true
		l.mu.Unlock()
		if err := l.write(raw); err != nil {
			return rxFrame{}, sent, err
		}
		sent = true
		timer.Reset(ackWait)
	waitAck:
		for {
			select {
			case b := <-l.acks:
				if b == bACK {
					acked = true
				} else {
					naks++
				}
				break waitAck
			case f := <-l.frames:
				if match(f) {
					return f, sent, nil // its ACK was lost on the way
				}
				l.discard(f)
			case <-timer.C:
				break waitAck
			case <-l.dead:
				return rxFrame{}, sent, l.err()
			case <-ctx.Done():
				return rxFrame{}, sent, ctx.Err()
			}
		}
	}
	if !acked {
		if naks > 0 {
			return rxFrame{}, sent, errNAKed
		}
		return rxFrame{}, sent, errNoAnswer
	}

	timer.Reset(wait)
	for {
		select {
		case f := <-l.frames:
			if match(f) {
				return f, sent, nil
			}
			l.discard(f)
		case <-l.acks:
		case <-timer.C:
			if n, _ := l.peekBad(); n > 0 {
				return rxFrame{}, sent, errGarbled
			}
			return rxFrame{}, sent, errNoResponse
		case <-l.dead:
			return rxFrame{}, sent, l.err()
		case <-ctx.Done():
			return rxFrame{}, sent, ctx.Err()
		}
	}
}

func (l *link) peekBad() (int, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bad, l.lastBad
}

func (l *link) discard(f rxFrame) {
	l.log.Debug().Uint8("seq", f.Seq).Hex("cmd", []byte{f.Cmd}).Msg("stale response discarded")
}
