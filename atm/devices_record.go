package atm

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/tarm/serial"
	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/sim/wire"
)

// A relay records a serial device's traffic: the driver opens one end
// of a pseudo-terminal, the relay copies bytes between its other end and
// the device (a real port, or a wire simulator on a socket pair) and
// writes every chunk to the record file, one line each:
//
//	2026-11-22T09:00:00.123456Z tx 02 01 00 01 01 D1 64 03
//
// "tx" is what the driver sent, "rx" what the device answered; the time
// is when the relay read the chunk.
type relay struct {
	pty  *wire.PTY
	dev  io.ReadWriteCloser
	log  zerolog.Logger
	file *os.File

	mu  sync.Mutex // one line at a time
	out *bufio.Writer

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// relayPort records a real serial port, opened at baud.
func relayPort(name, port string, baud int, file string, log zerolog.Logger) (*relay, error) {
	p, err := serial.OpenPort(&serial.Config{Name: port, Baud: baud, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("record %s: open %s: %w", name, port, err)
	}
	r, err := newRelay(p, file, log)
	if err != nil {
		p.Close()
		return nil, err
	}
	return r, nil
}

// relaySim records a wire simulator: it returns the relay and the end of
// a socket pair the simulator serves.
func relaySim(name, file string, log zerolog.Logger) (*relay, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("record: %w", err)
	}
	simEnd := os.NewFile(uintptr(fds[0]), name+"-sim")
	devEnd := os.NewFile(uintptr(fds[1]), name+"-line")
	r, err := newRelay(devEnd, file, log)
	if err != nil {
		simEnd.Close()
		devEnd.Close()
		return nil, nil, err
	}
	return r, simEnd, nil
}

func newRelay(dev io.ReadWriteCloser, file string, log zerolog.Logger) (*relay, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	p, err := wire.OpenPTY()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &relay{pty: p, dev: dev, log: log, file: f, out: bufio.NewWriter(f)}
	r.wg.Add(2)
	go r.copy("tx", dev, p.Master)
	go r.copy("rx", p.Master, dev)
	return r, nil
}

// Path is what the driver opens.
func (r *relay) Path() string { return r.pty.Path }

// copy moves bytes from src to dst and records them, until either side
// fails or the relay closes. A read that returns io.EOF with nothing is
// a serial port's read timeout: no data yet.
func (r *relay) copy(dir string, dst io.Writer, src io.Reader) {
	defer r.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.record(dir, buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				r.log.Debug().Err(werr).Str("dir", dir).Msg("record: write ended")
				return
			}
		}
		if errors.Is(err, io.EOF) && n == 0 {
			if r.closed() {
				return
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			r.log.Debug().Err(err).Str("dir", dir).Msg("record: read ended")
			return
		}
	}
}

func (r *relay) record(dir string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out == nil {
		return
	}
	fmt.Fprintf(r.out, "%s %s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), dir,
		strings.ToUpper(strings.TrimSpace(spacedHex(b))))
	r.out.Flush()
}

func (r *relay) closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out == nil
}

func spacedHex(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

// Close stops the relay and closes the file, the pseudo-terminal and the
// device side.
func (r *relay) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.out.Flush()
		r.out = nil
		r.mu.Unlock()
		r.pty.Close()
		r.dev.Close()
		r.wg.Wait()
		err = r.file.Close()
	})
	return err
}
