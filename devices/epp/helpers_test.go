package epp_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/sim/wire"
)

const wait = 5 * time.Second // bounds every step expected to finish

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// deviceEnd is the device side of a PTY, for tests that script the
// device byte by byte. Reads honour deadlines although wire.OpenPTY
// leaves the master in blocking mode: they wait in the runtime poller.
type deviceEnd struct {
	t  *testing.T
	p  *wire.PTY
	rc syscall.RawConn
}

func newDeviceEnd(t *testing.T) *deviceEnd {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := p.Master.SyscallConn()
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &deviceEnd{t: t, p: p, rc: rc}
}

// readFull reads exactly n bytes within d.
func (e *deviceEnd) readFull(n int, d time.Duration) ([]byte, error) {
	if err := e.p.Master.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		var k int
		var rerr error
		err := e.rc.Read(func(fd uintptr) bool {
			ready, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			if errors.Is(err, unix.EINTR) || (err == nil && ready == 0) {
				return false
			}
			if err != nil {
				rerr = err
				return true
			}
			k, rerr = unix.Read(int(fd), out[len(out):n])
			return true
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return out, err
		}
		out = out[:len(out)+max(k, 0)]
	}
	return out, nil
}

func (e *deviceEnd) write(b []byte) error {
	_, err := e.p.Master.Write(b)
	return err
}

// exampleStep is one line of epp.md's example exchange.
type exampleStep struct {
	dir   string // "host", "epp" or "customer"
	bytes []byte
	key   pinpad.Key
}

// Headings of docs/devices/epp.md's examples.
const (
	exampleExchange   = "## Example exchange"
	exampleTerminated = "## Example: a PIN entry ended by a function key"
)

// readExample reads an example exchange from docs/devices/epp.md: the
// first text block after the heading.
func readExample(t *testing.T, heading string) []exampleStep {
	t.Helper()
	f, err := os.Open("../../docs/devices/epp.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []exampleStep
	sc := bufio.NewScanner(f)
	section, block := false, false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == heading:
			section = true
			continue
		case !section:
			continue
		case !block:
			block = line == "```text"
			continue
		case line == "```":
			section = false
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 3 && fields[0] == "customer" && fields[1] == "presses" {
			steps = append(steps, exampleStep{dir: "customer", key: pinpad.Key(fields[2])})
			continue
		}
		if len(fields) < 4 || fields[1] != "→" {
			continue
		}
		var st exampleStep
		switch fields[0] + fields[2] {
		case "hostepp":
			st.dir = "host"
		case "epphost":
			st.dir = "epp"
		default:
			continue
		}
		for _, tok := range fields[3:] {
			if len(tok) != 2 {
				break
			}
			b, err := hex.DecodeString(tok)
			if err != nil {
				break
			}
			st.bytes = append(st.bytes, b...)
		}
		steps = append(steps, st)
	}
	if len(steps) < 10 {
		t.Fatalf("epp.md: %q has only %d steps", heading, len(steps))
	}
	return steps
}

// statusDev is what waitStatus needs.
type statusDev interface{ Status() hal.Status }

// waitStatus waits until the device's status satisfies ok, checking
// every 10 ms, and fails the test after d.
func waitStatus(t *testing.T, dev statusDev, d time.Duration, what string, ok func(hal.Status) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !ok(dev.Status()) {
		select {
		case <-deadline.C:
			t.Fatalf("status %v after %v, want %s", dev.Status(), d, what)
		case <-tick.C:
		}
	}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

type result[T any] struct {
	v   T
	err error
}

func async[T any](f func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := f()
		ch <- result[T]{v, err}
	}()
	return ch
}

func await[T any](t *testing.T, ch <-chan result[T]) (T, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(wait):
		t.Fatalf("no answer within %v", wait)
		var zero T
		return zero, nil
	}
}
