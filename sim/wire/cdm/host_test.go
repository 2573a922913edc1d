package cdm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/dispenser"
)

// deadline bounds every wait for bytes expected to arrive.
const deadline = 3 * time.Second

var testKey = []byte("0123456789abcdef0123456789abcdef")

// pipeRW joins the two pipes the test host and the device talk through.
type pipeRW struct {
	io.Reader
	io.Writer
}

// host plays the host computer on raw bytes.
type host struct {
	t    *testing.T
	s    *Sim
	w    *io.PipeWriter
	in   chan []byte
	buf  []byte
	rx   receiver
	evs  []rxEvent
	seq  byte
	done chan error
}

// serve starts s on a pipe pair and returns the host end.
func serve(t *testing.T, s *Sim) *host {
	t.Helper()
	hr, hw := io.Pipe()
	dr, dw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	h := &host{t: t, s: s, w: hw, in: make(chan []byte, 64), done: make(chan error, 1)}
	go func() { h.done <- s.Serve(ctx, pipeRW{hr, dw}) }()
	go func() {
		b := make([]byte, 512)
		for {
			n, err := dr.Read(b)
			if n > 0 {
				h.in <- bytes.Clone(b[:n])
			}
			if err != nil {
				close(h.in)
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		err := <-h.done
		hw.Close()
		dw.Close()
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

func newSim(t *testing.T, opts Options) *Sim {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// testOptions: the defaults with the test key and a state file in a
// fresh directory.
func testOptions(t *testing.T) Options {
	o := DefaultOptions
	o.Key = testKey
	o.StateFile = filepath.Join(t.TempDir(), "cdm.json")
	return o
}

func (h *host) send(b []byte) {
	h.t.Helper()
	if _, err := h.w.Write(b); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

// bytesN reads exactly n bytes from the device.
func (h *host) bytesN(n int) []byte {
	h.t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for len(h.buf) < n {
		select {
		case b, ok := <-h.in:
			if !ok {
				h.t.Fatalf("line closed after % X", h.buf)
			}
			h.buf = append(h.buf, b...)
		case <-timer.C:
			h.t.Fatalf("waited %v for %d bytes, got % X", deadline, n, h.buf)
		}
	}
	got := h.buf[:n:n]
	h.buf = h.buf[n:]
	return got
}

// expect reads len(want) bytes and compares them with want.
func (h *host) expect(want []byte, what string) {
	h.t.Helper()
	if got := h.bytesN(len(want)); !bytes.Equal(got, want) {
		h.t.Fatalf("%s: device sent\n% X\nwant\n% X", what, got, want)
	}
}

// next returns the next thing the device sent: ACK, NAK, frame or bad.
func (h *host) next() rxEvent {
	h.t.Helper()
	for len(h.evs) == 0 {
		h.evs = append(h.evs, h.rx.feed(h.bytesN(1))...)
	}
	ev := h.evs[0]
	h.evs = h.evs[1:]
	return ev
}

// quiet checks that the device sends nothing for d.
func (h *host) quiet(d time.Duration) {
	h.t.Helper()
	if len(h.buf) > 0 {
		h.t.Fatalf("device sent % X", h.buf)
	}
	select {
	case b := <-h.in:
		h.t.Fatalf("device sent % X, want silence", b)
	case <-time.After(d):
	}
}

func (h *host) nextSeq() byte {
	h.seq++
	if h.seq == 0 {
		h.seq = 1
	}
	return h.seq
}

// frameOf sends a raw command frame, expects ACK, reads the response
// frame and ACKs it.
func (h *host) frameOf(raw []byte) frame {
	h.t.Helper()
	h.send(raw)
	if ev := h.next(); ev.kind != rxAck {
		h.t.Fatalf("got %v, want ACK", ev.kind)
	}
	return h.response()
}

// response reads the next frame and ACKs it.
func (h *host) response() frame {
	h.t.Helper()
	ev := h.next()
	if ev.kind != rxFrame {
		h.t.Fatalf("got %v (% X), want a frame", ev.kind, ev.raw)
	}
	h.send([]byte{ack})
	return ev.f
}

// do runs one command with the next SEQ and returns the response DATA.
func (h *host) do(cmd byte, data []byte) []byte {
	h.t.Helper()
	seq := h.nextSeq()
	f := h.frameOf(frame{seq: seq, cmd: cmd, data: data}.encode())
	if f.seq != seq || f.cmd != cmd|respBit {
		h.t.Fatalf("response SEQ %d CMD %02X to SEQ %d CMD %02X", f.seq, f.cmd, seq, cmd)
	}
	return f.data
}

// status of a response DATA, and its reason.
func status(t *testing.T, data []byte) (byte, string) {
	t.Helper()
	r := &reader{b: data}
	st := r.u8()
	var reason string
	if st != stOK {
		reason = string(r.str())
	}
	if r.err != nil {
		t.Fatalf("response % X: %v", data, r.err)
	}
	return st, reason
}

func wantStatus(t *testing.T, data []byte, st byte, reason string) {
	t.Helper()
	got, why := status(t, data)
	if got != st || (reason != "" && why != reason) {
		t.Fatalf("response status %02X %q, want %02X %q (data % X)", got, why, st, reason, data)
	}
}

// nonce runs NONCE and returns the nonce.
func (h *host) nonce() []byte {
	h.t.Helper()
	data := h.do(cmdNonce, nil)
	wantStatus(h.t, data, stOK, "")
	r := &reader{b: data[1:]}
	n := r.str()
	if err := r.end(); err != nil || len(n) != 16 {
		h.t.Fatalf("NONCE response % X", data)
	}
	return n
}

// request is a signed DISPENSE for mix from the default cassettes.
func request(s *Sim, txn string, nonce []byte, mix ...dispenser.Notes) dispenser.DispenseRequest {
	q := dispenser.DispenseRequest{ATM: s.opts.ATM, Txn: txn, Currency: "TWD", Mix: mix, Nonce: nonce}
	q.Amount = dispenser.MixAmount(mix, s.Counters())
	q.Token = dispenser.SignToken(s.opts.Key, dispenser.TokenData{ATM: q.ATM, Txn: txn, Amount: q.Amount, Currency: "TWD", Nonce: nonce})
	return q
}

// encodeRequest lays out DISPENSE DATA as the protocol page says.
func encodeRequest(q dispenser.DispenseRequest) []byte {
	w := writer{}
	w.str([]byte(q.ATM))
	w.str([]byte(q.Txn))
	w = binary.BigEndian.AppendUint64(w, uint64(q.Amount))
	w.str([]byte(q.Currency))
	w.mix(q.Mix)
	w.str(q.Nonce)
	w.str(q.Token)
	return w
}

func (w *writer) mix(mix []dispenser.Notes) {
	w.u8(byte(len(mix)))
	for _, n := range mix {
		w.u16(n.Cassette)
		w.u32(int64(n.Count))
	}
}

// parseResultBlock reads a RESULT block that ends the data.
func parseResultBlock(t *testing.T, b []byte) result {
	t.Helper()
	r := &reader{b: b}
	res := result{rejected: int(r.u16())}
	n := int(r.u8())
	for range n {
		res.notes = append(res.notes, dispenser.Notes{Cassette: int(r.u16()), Count: int(r.u16())})
	}
	if err := r.end(); err != nil {
		t.Fatalf("RESULT % X: %v", b, err)
	}
	return res
}

// step is one line of the protocol page's example: bytes in one
// direction.
type step struct {
	toDevice bool
	b        []byte
}

// docExample reads the byte-level example exchange from
// docs/devices/dispenser.md: every "host → device" and "device → host"
// line with its indented continuation lines, hex up to the first word
// that is not a byte.
func docExample(t *testing.T) []step {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "docs", "devices", "dispenser.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	in, block := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## Example exchange"):
			in = true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "```"):
			if block {
				return steps
			}
			block = true
			continue
		case !block:
			continue
		}
		rest, cont := line, false
		switch {
		case strings.HasPrefix(line, "host → device"):
			steps = append(steps, step{toDevice: true})
			rest = strings.TrimPrefix(line, "host → device")
		case strings.HasPrefix(line, "device → host"):
			steps = append(steps, step{})
			rest = strings.TrimPrefix(line, "device → host")
		case strings.HasPrefix(line, " ") && len(steps) > 0:
			cont = true
		default:
			continue
		}
		for i, tok := range strings.Fields(rest) {
			b, err := hex.DecodeString(tok)
			if err != nil || len(b) != 1 {
				break
			}
			if cont && i == 0 && len(steps[len(steps)-1].b) == 0 {
				break
			}
			steps[len(steps)-1].b = append(steps[len(steps)-1].b, b[0])
		}
	}
	t.Fatal("no example exchange in docs/devices/dispenser.md")
	return nil
}

// The page's example, byte for byte: the device must send exactly the
// device → host lines in answer to the host → device lines.
func TestDocExample(t *testing.T) {
	steps := docExample(t)
	if len(steps) != 18 {
		t.Fatalf("example has %d lines, want 18", len(steps))
	}
	opts := testOptions(t)
	opts.ATM = "ATM00001"
	opts.Rand = bytes.NewReader([]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88})
	s := newSim(t, opts)
	h := serve(t, s)
	for i, st := range steps {
		if st.toDevice {
			h.send(st.b)
			continue
		}
		if len(st.b) > 4 && st.b[0] == stx && st.b[1] == 0 && st.b[4] == evCashTaken {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			if err := s.Take(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
		h.expect(st.b, fmt.Sprintf("example line %d", i+1))
	}
	h.quiet(400 * time.Millisecond) // every frame was ACKed: nothing is sent again
	if got := s.Taken(); len(got) != 1 || got[0] != (dispenser.Notes{Cassette: 1, Count: 3}) {
		t.Errorf("customer took %v", got)
	}
	if c := s.Counters()[0]; c.Count != 1997 || c.Dispensed != 3 {
		t.Errorf("cassette 1 after the example: %+v", c)
	}
}
