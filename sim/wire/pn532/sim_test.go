package pn532

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
	"github.com/atmd/atmd/sim/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// host plays the host controller on the slave side of the PTY.
type host struct {
	t    *testing.T
	f    *os.File
	sent int
}

var wakeUp = unhex(&testing.T{}, "55 55 00 00 00 00 00 00 00 00 00 00 00 00 00 00")

func newSim(t *testing.T) (*Sim, *host) {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	s := New(DefaultOptions)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, p.Master) }()
	f, err := os.OpenFile(p.Path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-served; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want Canceled", err)
		}
		f.Close()
		p.Close()
	})
	return s, &host{t: t, f: f}
}

func (h *host) send(b []byte) {
	h.t.Helper()
	if _, err := h.f.Write(b); err != nil {
		h.t.Fatal(err)
	}
	h.sent += len(b)
}

// received waits until the simulator has taken every byte sent.
func (h *host) received(s *Sim) {
	h.t.Helper()
	if _, err := s.WaitStats(ctxT(h.t, 5*time.Second), func(st Stats) bool { return st.Bytes >= h.sent }); err != nil {
		h.t.Fatal(err)
	}
}

// cmd sends a command frame built independently of encodeInfo.
func (h *host) cmd(body ...byte) {
	h.t.Helper()
	n := len(body) + 1
	f := []byte{0x00, 0x00, 0xFF, byte(n), byte(-n)}
	if n > 254 {
		f = []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, byte(n >> 8), byte(n), byte(-(n>>8 + n&0xFF))}
	}
	sum := 0xD4
	for _, b := range body {
		sum += int(b)
	}
	f = append(f, 0xD4)
	f = append(f, body...)
	h.send(append(f, byte(-sum), 0x00))
}

func (h *host) read(n int) []byte {
	h.t.Helper()
	b := make([]byte, n)
	_ = h.f.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(h.f, b); err != nil {
		h.t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

func (h *host) expect(want []byte) {
	h.t.Helper()
	if got := h.read(len(want)); !bytes.Equal(got, want) {
		h.t.Fatalf("PN532 sent\n% X\nwant\n% X", got, want)
	}
}

func (h *host) expectHex(s string) { h.t.Helper(); h.expect(unhex(h.t, s)) }

// response reads the ACK and a response frame, and returns the response
// data after the response code.
func (h *host) response(code byte) []byte {
	h.t.Helper()
	h.expect(ackFrame)
	return h.frame(code)
}

// frame reads one response frame of code (normal or extended) and
// checks its checksums.
func (h *host) frame(code byte) []byte {
	h.t.Helper()
	hd := h.read(5)
	if !bytes.Equal(hd[:3], []byte{0, 0, 0xFF}) {
		h.t.Fatalf("frame header % X", hd)
	}
	var n int
	if hd[3] == 0xFF && hd[4] == 0xFF {
		x := h.read(3)
		if x[0]+x[1]+x[2] != 0 {
			h.t.Fatalf("extended LCS % X", x)
		}
		n = int(x[0])<<8 | int(x[1])
	} else {
		if hd[3]+hd[4] != 0 {
			h.t.Fatalf("LCS % X", hd)
		}
		n = int(hd[3])
	}
	body := h.read(n + 2)
	var sum byte
	for _, b := range body[:n+1] {
		sum += b
	}
	if sum != 0 || body[n+1] != 0 || body[0] != 0xD5 || body[1] != code+1 {
		h.t.Fatalf("bad response frame % X", body)
	}
	return body[2:n]
}

// start wakes the chip and configures it.
func (h *host) start() {
	h.t.Helper()
	h.send(wakeUp)
	h.cmd(0x14, 0x01, 0x14, 0x01)
	h.response(0x14)
}

// targetParams are TgInitAsTarget's: PICC only, ISO-DEP.
func targetParams(selRes byte) []byte {
	p := []byte{0x8C, 0x04, 0x04, 0x00, 0x12, 0x34, 0x56, selRes}
	p = append(p, make([]byte, 28)...)
	return append(p, 0x00, 0x00)
}

// step is one line of the protocol document's example exchange.
type step struct {
	host bool
	b    []byte
	note string
}

// readExchange reads the example exchange from docs/devices/pn532.md.
func readExchange(t *testing.T) []step {
	t.Helper()
	doc, err := os.ReadFile("../../../docs/devices/pn532.md")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte("```pn532-exchange\n"))
	if i < 0 {
		t.Fatal("no pn532-exchange block")
	}
	block := doc[i+len("```pn532-exchange\n"):]
	block = block[:bytes.Index(block, []byte("```"))]
	var steps []step
	for _, line := range strings.Split(string(block), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		rest := line
		switch {
		case strings.HasPrefix(line, "host "):
			steps, rest = append(steps, step{host: true}), line[5:]
		case strings.HasPrefix(line, "pn532 "):
			steps, rest = append(steps, step{}), line[6:]
		case line[0] != ' ' || len(steps) == 0:
			t.Fatalf("bad line %q", line)
		}
		s := &steps[len(steps)-1]
		words := strings.Fields(rest)
		for j, w := range words {
			b, err := hex.DecodeString(w)
			if err != nil || len(b) != 1 {
				s.note += strings.Join(words[j:], " ")
				break
			}
			s.b = append(s.b, b[0])
		}
	}
	return steps
}

// The document's example exchange: the simulator, its phone holding the
// tag, answers the host's bytes with exactly the PN532's.
func TestDocExample(t *testing.T) {
	steps := readExchange(t)
	if len(steps) < 10 {
		t.Fatalf("%d steps", len(steps))
	}
	s, h := newSim(t)
	ctx, cancel := context.WithCancel(context.Background())
	tapped := make(chan error, 1)
	go func() { _, err := s.Tap(ctx); tapped <- err }()
	for i, st := range steps {
		if st.host {
			h.send(st.b)
			continue
		}
		if got := h.read(len(st.b)); !bytes.Equal(got, st.b) {
			t.Fatalf("step %d (%s): PN532 sent\n% X\nwant\n% X", i, st.note, got, st.b)
		}
	}
	cancel()
	if err := <-tapped; !errors.Is(err, context.Canceled) {
		t.Errorf("Tap = %v", err)
	}
	// The phone left: the next TgGetData finds the target released.
	h.cmd(0x86)
	if got := h.response(0x86); !bytes.Equal(got, []byte{0x29}) {
		t.Errorf("TgGetData after the phone left = % X", got)
	}
}

// Asleep at power-on, the chip ignores a frame until it is woken with 55.
func TestWakeUp(t *testing.T) {
	s, h := newSim(t)
	h.cmd(0x02) // not heard
	h.send(wakeUp)
	h.cmd(0x02)
	h.expectHex("00 00 FF 00 FF 00  00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
	if st := s.Stats(); st.Commands != 1 || st.Wakeups != 1 {
		t.Errorf("stats %+v", st)
	}
	// PowerDown puts it to sleep again.
	h.cmd(0x16, 0x20)
	if got := h.response(0x16); !bytes.Equal(got, []byte{0x00}) {
		t.Errorf("PowerDown = % X", got)
	}
	h.cmd(0x02) // not heard
	h.send(wakeUp)
	h.cmd(0x02)
	h.response(0x02)
}

func TestNACKResendsLastResponse(t *testing.T) {
	s, h := newSim(t)
	h.start()
	h.cmd(0x02)
	first := h.response(0x02)
	h.send(unhex(t, "00 00 FF FF 00 00"))
	if again := h.frame(0x02); !bytes.Equal(again, first) {
		t.Errorf("resent % X, want % X", again, first)
	}
	if st := s.Stats(); st.NACKs != 1 || st.Resends != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Frames with a bad LCS, DCS or length get no ACK; the next good frame
// does.
func TestBadFramesIgnored(t *testing.T) {
	s, h := newSim(t)
	h.start()
	h.send(unhex(t, "00 00 FF 02 FD D4 02 2A 00"))          // bad LCS
	h.send(unhex(t, "00 00 FF 02 FE D4 02 2B 00"))          // bad DCS
	h.send(unhex(t, "00 00 FF FF FF 02 00 FE D4 02 2A 00")) // extended LEN 512
	h.send(unhex(t, "00 00 FF 02 FE D5 02 29 00"))          // TFI D5 from the host
	h.cmd(0x02)
	h.expect(ackFrame)
	h.frame(0x02)
	if st := s.Stats(); st.BadFrames != 4 || st.Commands != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestErrorFrame(t *testing.T) {
	_, h := newSim(t)
	h.start()
	for _, body := range [][]byte{
		{0x58},             // RFRegulationTest: not simulated
		{0x14, 0x00},       // SAMConfiguration mode 0
		{0x8C, 0x04, 0x04}, // TgInitAsTarget too short
		{0x00, 0x01},       // Diagnose other than the line test
		{0x12},             // SetParameters without flags
	} {
		h.cmd(body...)
		h.expect(ackFrame)
		h.expect(errorFrame)
	}
	h.send(unhex(t, "00 00 FF 01 FF D4 2C 00")) // no command code at all
	h.expect(ackFrame)
	h.expect(errorFrame)
	h.send(nackFrame) // NACK resends the error frame too
	h.expect(errorFrame)
}

// Extended frames both ways: a Diagnose line test of 260 bytes.
func TestExtendedFrames(t *testing.T) {
	s, h := newSim(t)
	h.start()
	data := make([]byte, 260)
	for i := range data {
		data[i] = byte(i)
	}
	h.cmd(append([]byte{0x00, 0x00}, data...)...)
	h.expect(ackFrame)
	// LEN = D5 01 00 + 260 = 263 = 0x0107, LCS = -(01+07) = F8.
	h.expectHex("00 00 FF FF FF 01 07 F8 D5 01 00")
	got := h.read(262)
	if !bytes.Equal(got[:260], data) || got[261] != 0 {
		t.Errorf("echo differs")
	}
	// One byte more than the PN532's buffer: dropped.
	h.cmd(append([]byte{0x00, 0x00}, make([]byte, 263)...)...)
	h.cmd(0x02)
	h.response(0x02)
	if st := s.Stats(); st.Extended != 1 || st.BadFrames != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMiscCommands(t *testing.T) {
	_, h := newSim(t)
	h.start()
	h.cmd(0x12, 0x24)
	h.response(0x12)
	h.cmd(0x08, 0x63, 0x3D, 0x07, 0x63, 0x02, 0x80)
	h.response(0x08)
	h.cmd(0x06, 0x63, 0x3D, 0x63, 0x02, 0x63, 0x03)
	if got := h.response(0x06); !bytes.Equal(got, []byte{0x07, 0x80, 0x00}) {
		t.Errorf("ReadRegister = % X", got)
	}
	h.cmd(0x04)
	if got := h.response(0x04); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("GetGeneralStatus = % X", got)
	}
	h.cmd(0x32, 0x05, 0xFF, 0x01, 0x02)
	h.response(0x32)
	h.cmd(0x4A, 0x01, 0x00)
	if got := h.response(0x4A); !bytes.Equal(got, []byte{0}) {
		t.Errorf("InListPassiveTarget = % X", got)
	}
	h.cmd(0x52, 0x00)
	h.response(0x52)
	h.cmd(0x8A)
	if got := h.response(0x8A); !bytes.Equal(got, []byte{0, 0}) {
		t.Errorf("TgGetTargetStatus = % X", got)
	}
	h.cmd(0x86) // no target
	if got := h.response(0x86); !bytes.Equal(got, []byte{0x27}) {
		t.Errorf("TgGetData without a target = % X", got)
	}
	h.cmd(0x8E, 0x90, 0x00)
	if got := h.response(0x8E); !bytes.Equal(got, []byte{0x27}) {
		t.Errorf("TgSetData without a target = % X", got)
	}
}

// An ACK aborts a pending TgInitAsTarget — once the sleeping chip is
// woken; so does a new command.
func TestAbort(t *testing.T) {
	s, h := newSim(t)
	h.start()
	h.cmd(targetParams(0x20)...)
	h.expect(ackFrame)
	h.send(ackFrame) // asleep: not heard
	h.send(wakeUp)
	h.send(ackFrame)
	h.cmd(0x02)
	h.response(0x02)
	st := s.Stats()
	if st.Aborts != 1 || st.ACKs != 1 {
		t.Errorf("stats %+v", st)
	}
	h.cmd(targetParams(0x20)...)
	h.expect(ackFrame)
	h.send(wakeUp)
	h.cmd(0x02)
	h.response(0x02)
	if st := s.Stats(); st.Aborts != 2 {
		t.Errorf("stats %+v", st)
	}
	// Nothing is pending: a phone waits.
	if _, err := s.Tap(ctxT(t, 50*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Tap with no target = %v", err)
	}
}

// tag is a test Type 4 Tag, written from the specification.
type tag struct {
	mle    int
	ndef   []byte // NLEN + message
	cc     []byte
	noApp  bool
	file   []byte
	reads  []int // Le of each READ BINARY of the NDEF file
	capdus int
}

func newTag(msg []byte, mle int) *tag {
	t := &tag{mle: mle}
	t.ndef = binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	t.ndef = append(t.ndef, msg...)
	t.cc = []byte{0x00, 0x0F, 0x20, 0x00, byte(mle), 0x00, 0xFF, 0x04, 0x06, 0xE1, 0x04, 0x04, 0x02, 0x00, 0xFF}
	return t
}

func (g *tag) answer(c []byte) []byte {
	g.capdus++
	switch {
	case bytes.HasPrefix(c, []byte{0x00, 0xA4, 0x04, 0x00, 0x07}):
		if g.noApp {
			return []byte{0x6A, 0x82}
		}
		return []byte{0x90, 0x00}
	case bytes.Equal(c, []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0xE1, 0x03}):
		g.file = g.cc
		return []byte{0x90, 0x00}
	case bytes.Equal(c, []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0xE1, 0x04}):
		g.file = g.ndef
		return []byte{0x90, 0x00}
	case len(c) == 5 && c[1] == 0xB0:
		off, le := int(c[2])<<8|int(c[3]), int(c[4])
		if &g.file[0] == &g.ndef[0] && off >= 2 {
			g.reads = append(g.reads, le)
		}
		return append(append([]byte(nil), g.file[off:off+le]...), 0x90, 0x00)
	}
	return []byte{0x6D, 0x00}
}

// serveTag runs the host side of a tap: TgInitAsTarget, then TgGetData
// and TgSetData with the test tag until the target is released.
func (h *host) serveTag(g *tag, selRes byte) {
	h.t.Helper()
	h.cmd(targetParams(selRes)...)
	h.expect(ackFrame)
	act := h.frame(0x8C)
	if !bytes.Equal(act, []byte{0x08, 0xE0, 0x80}) {
		h.t.Fatalf("activation % X", act)
	}
	for {
		h.cmd(0x86)
		r := h.response(0x86)
		if r[0] == 0x29 {
			return
		}
		if r[0] != 0 {
			h.t.Fatalf("TgGetData status %02X", r[0])
		}
		h.cmd(append([]byte{0x8E}, g.answer(r[1:])...)...)
		if st := h.response(0x8E); !bytes.Equal(st, []byte{0}) {
			h.t.Fatalf("TgSetData status % X", st)
		}
	}
}

func TestTapReadsTag(t *testing.T) {
	s, h := newSim(t)
	h.start()
	msg := bytes.Repeat([]byte{0xAB}, 100)
	g := newTag(msg, 0x20)
	tapped := make(chan []byte, 1)
	go func() {
		got, err := s.Tap(ctxT(t, 10*time.Second))
		if err != nil {
			t.Error(err)
		}
		tapped <- got
	}()
	h.serveTag(g, 0x20)
	if got := <-tapped; !bytes.Equal(got, msg) {
		t.Fatalf("Tap = % X", got)
	}
	if want := []int{32, 32, 32, 4}; !equalInts(g.reads, want) {
		t.Errorf("READ BINARY sizes %v, want %v", g.reads, want)
	}
	if g.capdus != 9 {
		t.Errorf("%d C-APDUs", g.capdus)
	}
	if st := s.Stats(); st.Taps != 1 {
		t.Errorf("stats %+v", st)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTapNoMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    *tag
	}{
		{"no application", &tag{noApp: true}},
		{"NLEN 0", newTag(nil, 0x3B)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newSim(t)
			h.start()
			tapped := make(chan error, 1)
			go func() { _, err := s.Tap(ctxT(t, 10*time.Second)); tapped <- err }()
			h.serveTag(tc.g, 0x20)
			if err := <-tapped; !errors.Is(err, nfctag.ErrNoMessage) {
				t.Errorf("Tap = %v, want ErrNoMessage", err)
			}
		})
	}
}

func TestTapNotISODEP(t *testing.T) {
	s, h := newSim(t)
	h.start()
	h.cmd(targetParams(0x00)...) // SEL_RES without ISO/IEC 14443-4
	h.expect(ackFrame)
	if _, err := s.Tap(ctxT(t, 5*time.Second)); !errors.Is(err, ErrBadTag) {
		t.Errorf("Tap = %v, want ErrBadTag", err)
	}
}

// A session the host cuts short (a new TgInitAsTarget) starts again; the
// phone keeps trying until it has read the tag.
func TestSessionCutShortRestarts(t *testing.T) {
	s, h := newSim(t)
	h.start()
	msg := []byte{0xD0, 0x00, 0x00}
	tapped := make(chan []byte, 1)
	go func() {
		got, err := s.Tap(ctxT(t, 10*time.Second))
		if err != nil {
			t.Error(err)
		}
		tapped <- got
	}()
	h.cmd(targetParams(0x20)...)
	h.expect(ackFrame)
	h.frame(0x8C)
	h.cmd(0x86)
	h.response(0x86) // SELECT; never answered
	h.serveTag(newTag(msg, 0xFF), 0x20)
	if got := <-tapped; !bytes.Equal(got, msg) {
		t.Fatalf("Tap = % X", got)
	}
	if st := s.Stats(); st.Taps != 2 {
		t.Errorf("stats %+v", st)
	}
}

// A repeated TgGetData (its ACK was lost and the host sent it again)
// hands out the same C-APDU; TgSetData before TgGetData is refused.
func TestRepeatedTgGetData(t *testing.T) {
	s, h := newSim(t)
	h.start()
	go func() { _, _ = s.Tap(ctxT(t, 10*time.Second)) }()
	h.cmd(targetParams(0x20)...)
	h.expect(ackFrame)
	h.frame(0x8C)
	h.cmd(0x8A)
	if got := h.response(0x8A); got[0] != 0x01 {
		t.Errorf("TgGetTargetStatus = % X", got)
	}
	h.cmd(0x8E, 0x90, 0x00)
	if got := h.response(0x8E); !bytes.Equal(got, []byte{0x27}) {
		t.Errorf("TgSetData before TgGetData = % X", got)
	}
	h.cmd(0x86)
	a := h.response(0x86)
	h.cmd(0x86)
	if b := h.response(0x86); !bytes.Equal(a, b) {
		t.Errorf("second TgGetData % X, first % X", b, a)
	}
	h.cmd(append([]byte{0x8E}, make([]byte, 263)...)...)
	if got := h.response(0x8E); !bytes.Equal(got, []byte{0x0E}) {
		t.Errorf("oversized TgSetData = % X", got)
	}
}

func TestFaults(t *testing.T) {
	s, h := newSim(t)
	if err := s.Inject("NFC-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(unknown) = %v", err)
	}
	h.start()

	// Hung: silent; Clear carries on without a new wake-up.
	if err := s.Inject(FaultTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tap(ctxT(t, time.Second)); !errors.Is(err, hal.ErrOffline) {
		t.Errorf("Tap while hung = %v", err)
	}
	h.cmd(0x02) // not heard
	h.received(s)
	s.Clear()
	h.cmd(0x02)
	h.response(0x02)

	// Power lost: silent; Clear powers it up asleep.
	if err := s.Inject(FaultOffline); err != nil {
		t.Fatal(err)
	}
	h.cmd(0x02) // not heard
	h.received(s)
	s.Clear()
	h.cmd(0x02) // asleep: not heard
	h.send(wakeUp)
	h.cmd(0x02)
	h.response(0x02)

	// Garbled: every information frame has a bad DCS, resends too.
	if err := s.Inject(FaultProtocol); err != nil {
		t.Fatal(err)
	}
	h.cmd(0x02)
	h.expect(ackFrame)
	want := unhex(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
	want[11] ^= 0xFF
	h.expect(want)
	h.send(nackFrame)
	h.expect(want)
	s.Clear()
	h.send(nackFrame)
	h.expect(unhex(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00"))
}

func TestMisbehave(t *testing.T) {
	fw := unhex(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
	tests := []struct {
		m    Misbehaviour
		want []byte
	}{
		{BadDCS, append(append([]byte(nil), ackFrame...), unhex(t, "00 00 FF 06 FA D5 03 32 01 06 07 B2 00")...)},
		{BadLCS, append(append([]byte(nil), ackFrame...), unhex(t, "00 00 FF 06 A0 D5 03 32 01 06 07 E8 00")...)},
		{Truncate, append(append([]byte(nil), ackFrame...), fw[:6]...)},
		{Garbage, append(append(append([]byte(nil), ackFrame...), garbage...), fw...)},
		{DropACK, fw},
	}
	for _, tc := range tests {
		s, h := newSim(t)
		h.start()
		s.Misbehave(tc.m, 1)
		h.cmd(0x02)
		h.expect(tc.want)
		h.send(nackFrame)
		h.expect(fw)
	}
	s, h := newSim(t)
	h.start()
	s.Misbehave(DropCommand, 1)
	h.cmd(0x02) // lost
	h.cmd(0x02)
	h.expect(ackFrame)
	h.expect(fw)
	s.Misbehave(BadDCS, 5)
	s.Clear() // clears misbehaviours too
	h.cmd(0x02)
	h.expect(ackFrame)
	h.expect(fw)
}

func TestServe(t *testing.T) {
	s, h := newSim(t)
	h.start()
	if err := s.Serve(context.Background(), &bytes.Buffer{}); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v", err)
	}
	// Serve returns when its line fails.
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	s2 := New(Options{})
	done := make(chan error, 1)
	go func() { done <- s2.Serve(context.Background(), p.Master) }()
	p.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Serve = nil after its line closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not notice its line closed")
	}
	if s2.opts.Firmware != DefaultOptions.Firmware {
		t.Errorf("default firmware %X", s2.opts.Firmware)
	}
}

func TestTapBusyAndCancelled(t *testing.T) {
	s := New(DefaultOptions)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := s.Tap(ctx); first <- err }()
	if _, err := s.WaitStats(ctxT(t, 5*time.Second), func(Stats) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.tap != nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tap(ctxT(t, time.Second)); !errors.Is(err, ErrTapBusy) {
		t.Errorf("second Tap = %v", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Tap = %v", err)
	}
	if _, err := s.Tap(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Tap with an ended context = %v", err)
	}
}

func FuzzDeframer(f *testing.F) {
	for _, s := range []string{
		"00 00 FF 05 FB D4 14 01 14 01 02 00",
		"00 00 FF 00 FF 00 00 00 FF FF 00 00",
		"00 00 FF FF FF 00 03 FD D4 8E 90 00 0E 00",
		"00 FF 05 00 C0 FF EE 00 00 FF 02 FE D4 02 2A 00",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d deframer
		d.prev = 0xFF
		for _, b := range in {
			fr, ok, err := d.feed(b)
			if !ok || err != nil || fr.kind != frameInfo {
				continue
			}
			if len(fr.body)+1 > maxLen {
				t.Fatalf("frame of %d bytes", len(fr.body)+1)
			}
			// Re-encoded, the frame reads back the same.
			var e deframer
			e.prev = 0xFF
			n := 0
			for _, x := range encodeInfo(fr.tfi, fr.body) {
				g, ok, err := e.feed(x)
				if ok {
					n++
					if err != nil || g.tfi != fr.tfi || !bytes.Equal(g.body, fr.body) {
						t.Fatalf("round trip: %v %v", g, err)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d frames from one", n)
			}
		}
	})
}

// The whole chip takes any bytes from the host without panicking.
func FuzzChip(f *testing.F) {
	f.Add(append(wakeUp, unhex(f, "00 00 FF 05 FB D4 14 01 14 01 02 00")...))
	f.Add(append(wakeUp, unhex(f, "00 00 FF 27 D9 D4 8C 04 04 00 41 54 4D 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 96 00 55 00 00 FF 02 FE D4 86 A6 00")...))
	f.Add(unhex(f, "55 00 00 FF 02 FE D4 86 A6 00 00 00 FF FF 00 00 00 00 FF 00 FF 00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := New(DefaultOptions)
		s.mu.Lock()
		s.powerOn()
		s.tap = &tapReq{done: make(chan tapResult, 1)}
		s.mu.Unlock()
		out := s.receive(in)
		out = append(out, s.receive(in)...)
		if len(out) > 64*(len(in)+1)*maxLen {
			t.Fatalf("%d bytes out for %d in", len(out), len(in))
		}
	})
}
