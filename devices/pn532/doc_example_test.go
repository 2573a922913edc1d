package pn532_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/sim/wire"
)

// step is one line of the protocol document's example exchange.
type step struct {
	host bool // host → PN532; otherwise PN532 → host
	b    []byte
	note string
}

// readExchange reads the example exchange from docs/devices/pn532.md.
func readExchange(t *testing.T) []step {
	t.Helper()
	doc, err := os.ReadFile("../../docs/devices/pn532.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```pn532-exchange\n")
	if !ok {
		t.Fatal("no pn532-exchange block in the document")
	}
	block, _, _ = strings.Cut(block, "```")
	var steps []step
	for _, line := range strings.Split(block, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch {
		case fields[0] == "host" || fields[0] == "pn532":
			steps = append(steps, step{host: fields[0] == "host"})
			fields = fields[1:]
		case line[0] == ' ' && len(steps) > 0:
		default:
			t.Fatalf("bad exchange line %q", line)
		}
		s := &steps[len(steps)-1]
		for i, f := range fields {
			b, err := hex.DecodeString(f)
			if len(f) != 2 || err != nil {
				s.note = strings.Join(fields[i:], " ")
				break
			}
			s.b = append(s.b, b...)
		}
	}
	if len(steps) < 10 {
		t.Fatalf("only %d steps in the exchange", len(steps))
	}
	return steps
}

// The document's example exchange, played by a script on the PN532 side:
// the driver must send exactly the host's bytes.
func TestDocExample(t *testing.T) {
	steps := readExchange(t)
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	nonblock(t, p.Master)
	published := make(chan struct{})
	script := make(chan error, 1)
	go func() { script <- play(p.Master, steps, published) }()

	dev, err := pn532.NewSerial(p.Path, pn532.DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if st := dev.Status(); !online(st) || st.Extra["firmware"] != "PN532 1.6" {
		t.Fatalf("after start-up: %v %v", st, st.Extra)
	}
	if err := dev.Publish(ctxT(t, time.Second), []byte{0xD0, 0x00, 0x00}); err != nil {
		t.Fatal(err)
	}
	close(published)
	select {
	case err := <-script:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("script did not finish")
	}
}

// play answers the host as the document says; the activation waits for
// published (the phone comes after the message).
func play(m *os.File, steps []step, published <-chan struct{}) error {
	for i, s := range steps {
		if !s.host {
			if bytes.HasPrefix(s.b, []byte{0x00, 0x00, 0xFF, 0x05, 0xFB, 0xD5, 0x8D}) {
				<-published
			}
			if _, err := m.Write(s.b); err != nil {
				return err
			}
			continue
		}
		got := make([]byte, len(s.b))
		_ = m.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(m, got); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, s.note, err)
		}
		if !bytes.Equal(got, s.b) {
			return fmt.Errorf("step %d (%s): host sent\n% X\nwant\n% X", i, s.note, got, s.b)
		}
	}
	return nil
}

// nonblock lets deadlines and Close interrupt reads of a pseudo-terminal
// master (wire.OpenPTY leaves it in blocking mode).
func nonblock(t *testing.T, f *os.File) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), true) }); err != nil {
		t.Fatal(err)
	}
}
