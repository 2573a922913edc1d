package lcd

import (
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

var (
	// errGone: the port vanished (adapter unplugged, cable side closed).
	errGone = errors.New("serial port gone")
	// errHangup: reads return at once with nothing, which a serial port
	// with a read timeout only does once the line has hung up.
	errHangup = errors.New("line hung up")
)

// line is one open serial port. The display has nothing to say, but a
// goroutine reads the port anyway: what it reads (keypad bytes on models
// with a keypad) is dropped, and a line that hangs up is noticed at once,
// not at the next write.
type line struct {
	port io.ReadWriteCloser

	mu     sync.Mutex
	err    error         // why the line is gone; set before gone is closed
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
	l := &line{port: p, gone: make(chan struct{}), exited: make(chan struct{})}
	go l.read()
	return l, nil
}

// read drains the port until it fails. A timed-out read (0, io.EOF) is
// "no data yet"; three reads in a row that return nothing long before
// the timeout mean the line hung up.
func (l *line) read() {
	defer close(l.exited)
	buf := make([]byte, 64)
	instant := 0
	for {
		start := time.Now()
		n, err := l.port.Read(buf)
		if n > 0 {
			instant = 0
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

// fail marks the line gone with cause err (the first cause wins).
func (l *line) fail(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.gone)
	})
}

// cause returns why the line is gone, wrapping errGone.
func (l *line) cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Errorf("%w: %v", errGone, l.err)
}

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

// close closes the port and waits for the reader (at most one read
// timeout).
func (l *line) close() error {
	err := l.port.Close()
	l.fail(errors.New("closed by the driver"))
	<-l.exited
	return err
}
