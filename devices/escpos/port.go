package escpos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tarm/serial"
)

// readSlice is the read timeout the port is opened with: tarm/serial's
// resolution is 0.1 s, and a read that times out returns 0, io.EOF.
const readSlice = 100 * time.Millisecond

// maxPending bounds the bytes kept between two exchanges; a line that
// floods the driver loses its oldest bytes, never memory.
const maxPending = 4096

var (
	// errGone: the port vanished (adapter unplugged, cable side closed).
	errGone = errors.New("serial port gone")
	// errNoAnswer: the deadline passed before the byte arrived.
	errNoAnswer = errors.New("no answer")
	// errHangup: reads return at once with nothing, which a serial port
	// with a read timeout only does once the line has hung up.
	errHangup = errors.New("line hung up")
)

// line is one open serial port and the goroutine that reads it. Bytes
// are collected as they arrive, so an exchange can wait for them with a
// context and a deadline, stale bytes can be dropped before a request,
// and a vanished port is noticed even while nobody is talking.
type line struct {
	port io.ReadWriteCloser

	mu      sync.Mutex
	pending []byte
	err     error // why the line is gone; set before gone is closed

	wake   chan struct{} // capacity 1: bytes arrived or the line went
	gone   chan struct{} // closed once the line is unusable
	exited chan struct{} // closed when the reader returns
	once   sync.Once
}

// openLine opens path as a serial port at baud, 8N1.
func openLine(path string, baud int) (*line, error) {
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: readSlice})
	if err != nil {
		return nil, err
	}
	return startLine(p), nil
}

// startLine starts the reader on an open port.
func startLine(p io.ReadWriteCloser) *line {
	l := &line{
		port:   p,
		wake:   make(chan struct{}, 1),
		gone:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go l.read()
	return l
}

// read collects bytes until the port fails. A timed-out read (0, io.EOF)
// is "no data yet"; three reads in a row that return nothing long before
// the timeout mean the line hung up.
func (l *line) read() {
	defer close(l.exited)
	buf := make([]byte, 256)
	instant := 0
	for {
		start := time.Now()
		n, err := l.port.Read(buf)
		if n > 0 {
			instant = 0
			l.mu.Lock()
			l.pending = append(l.pending, buf[:n]...)
			if over := len(l.pending) - maxPending; over > 0 {
				l.pending = l.pending[over:]
			}
			l.mu.Unlock()
			l.signal()
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			l.fail(err)
			return
		}
		if time.Since(start) < readSlice/2 {
			if instant++; instant >= 3 {
				l.fail(errHangup)
				return
			}
		} else {
			instant = 0
		}
	}
}

func (l *line) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// fail marks the line gone with cause err (the first cause wins).
func (l *line) fail(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.gone)
		l.signal()
	})
}

// cause returns why the line is gone, wrapping errGone.
func (l *line) cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Errorf("%w: %v", errGone, l.err)
}

// isGone reports whether the line failed.
func (l *line) isGone() bool {
	select {
	case <-l.gone:
		return true
	default:
		return false
	}
}

// write sends b. A failed write means the port is gone.
func (l *line) write(b []byte) error {
	if l.isGone() {
		return l.cause()
	}
	if _, err := l.port.Write(b); err != nil {
		l.fail(err)
		return l.cause()
	}
	return nil
}

// drain drops and returns the bytes received so far.
func (l *line) drain() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.pending
	l.pending = nil
	return b
}

// next returns the next received byte, waiting until deadline. It fails
// with errNoAnswer at the deadline, with an error wrapping errGone when
// the port vanished, and with ctx's error when ctx ends.
func (l *line) next(ctx context.Context, deadline time.Time) (byte, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l.mu.Lock()
		if len(l.pending) > 0 {
			b := l.pending[0]
			l.pending = l.pending[1:]
			l.mu.Unlock()
			return b, nil
		}
		l.mu.Unlock()
		if l.isGone() {
			return 0, l.cause()
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if timer == nil {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, errNoAnswer
			}
			timer = time.NewTimer(d)
		}
		select {
		case <-l.wake:
		case <-timer.C:
			return 0, errNoAnswer
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// close closes the port and waits for the reader (at most one read
// timeout).
func (l *line) close() error {
	err := l.port.Close()
	l.fail(errors.New("closed by the driver"))
	<-l.exited
	return err
}
