package epp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/hal/pinpad"
)

// The tests play the host on the slave side of a PTY, byte by byte.

const wait = 3 * time.Second // bounds every step expected to finish

var (
	pinKey = mustHex("0123456789ABCDEFFEDCBA9876543210")
	kekKey = mustHex("00112233445566778899AABBCCDDEEFF")
	aesKey = mustHex("000102030405060708090A0B0C0D0E0F")
	macKey = mustHex("89ABCDEF0123456776543210FEDCBA98")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// testHost is the host end of the line.
type testHost struct {
	t   *testing.T
	f   *os.File
	seq byte
}

// start serves sim on a fresh line and returns the host end. Serve
// stops at cleanup, and the test fails if it returned an error.
//
// The line is a socket pair, not a PTY: nothing else can open it by path.
// (A driver elsewhere that keeps reopening a /dev/pts/N it lost can open
// a later PTY that reuses the number, and steal its bytes.) The PTY
// itself is exercised by TestServeLifecycle and by the driver's tests.
func start(t *testing.T, sim *Sim) *testHost {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	line := os.NewFile(uintptr(fds[0]), "epp-line")
	f := os.NewFile(uintptr(fds[1]), "epp-host")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, line) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Serve did not return after its context ended")
		}
		f.Close()
		line.Close()
	})
	return &testHost{t: t, f: f}
}

func (h *testHost) send(b []byte) {
	h.t.Helper()
	if _, err := h.f.Write(b); err != nil {
		h.t.Fatalf("host write: %v", err)
	}
}

// read reads exactly n bytes within wait.
func (h *testHost) read(n int) []byte {
	h.t.Helper()
	out := make([]byte, n)
	h.f.SetReadDeadline(time.Now().Add(wait))
	got := 0
	for got < n {
		k, err := h.f.Read(out[got:])
		got += k
		if err != nil {
			h.t.Fatalf("host read after %d of %d bytes (% X): %v", got, n, out[:got], err)
		}
	}
	return out
}

func (h *testHost) expect(want []byte) {
	h.t.Helper()
	if got := h.read(len(want)); !bytes.Equal(got, want) {
		h.t.Fatalf("EPP sent\n% X\nwant\n% X", got, want)
	}
}

// quiet checks that the EPP sends nothing for d.
func (h *testHost) quiet(d time.Duration) {
	h.t.Helper()
	h.f.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, 64)
	n, err := h.f.Read(b)
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		h.t.Fatalf("EPP sent % X (%v), want nothing", b[:n], err)
	}
}

// frame reads one whole frame and checks its CRC.
func (h *testHost) frame() frame {
	h.t.Helper()
	head := h.read(4)
	if head[0] != stx {
		h.t.Fatalf("EPP sent % X, want a frame", head)
	}
	l := int(head[2])<<8 | int(head[3])
	raw := append(head, h.read(l+3)...)
	u, _, f := scan(raw)
	if u != unitFrame {
		h.t.Fatalf("EPP sent a malformed frame % X", raw)
	}
	return f
}

// command sends a command with the next SEQ, expects its ACK, reads the
// response (ACKing it) and returns its DATA.
func (h *testHost) command(cmd byte, data []byte) []byte {
	h.t.Helper()
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmd, data: data}.encode())
	h.expect([]byte{ack})
	return h.response(cmd)
}

// response reads the response to the last command sent and ACKs it.
func (h *testHost) response(cmd byte) []byte {
	h.t.Helper()
	f := h.frame()
	h.send([]byte{ack})
	if f.seq != h.seq || f.cmd != cmd|respBit {
		h.t.Fatalf("response SEQ %02X CMD %02X, want %02X %02X", f.seq, f.cmd, h.seq, cmd|respBit)
	}
	return f.data
}

// event reads an event frame and ACKs it.
func (h *testHost) event() frame {
	h.t.Helper()
	f := h.frame()
	h.send([]byte{ack})
	if f.seq != 0 || f.cmd < 0x40 || f.cmd > 0x7F {
		h.t.Fatalf("got SEQ %02X CMD %02X, want an event", f.seq, f.cmd)
	}
	return f
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
	f, err := os.Open("../../../docs/devices/epp.md")
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
		var st exampleStep
		var rest string
		switch {
		case strings.HasPrefix(line, "host → epp"):
			st.dir, rest = "host", strings.TrimPrefix(line, "host → epp")
		case strings.HasPrefix(line, "epp → host"):
			st.dir, rest = "epp", strings.TrimPrefix(line, "epp → host")
		case strings.HasPrefix(line, "customer"):
			fields := strings.Fields(line)
			if len(fields) != 3 || fields[1] != "presses" {
				t.Fatalf("epp.md: bad customer line %q", line)
			}
			steps = append(steps, exampleStep{dir: "customer", key: pinpad.Key(fields[2])})
			continue
		default:
			continue
		}
		for _, tok := range strings.Fields(rest) {
			b, err := hex.DecodeString(tok)
			if err != nil || len(b) != 1 {
				break
			}
			st.bytes = append(st.bytes, b[0])
		}
		if len(st.bytes) == 0 {
			t.Fatalf("epp.md: no bytes in %q", line)
		}
		steps = append(steps, st)
	}
	if len(steps) < 10 {
		t.Fatalf("epp.md: %q has only %d steps", heading, len(steps))
	}
	return steps
}
