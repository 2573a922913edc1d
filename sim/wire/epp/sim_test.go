package epp

import (
	"bytes"
	"context"
	"crypto/aes"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/pinpad/pinpadtest"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/wire"
)

func exampleSim() *Sim {
	return New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}, "kek": {TDES, kekKey}, "mac": {TDES, macKey}}})
}

// The example exchange of docs/devices/epp.md, byte for byte, with the
// simulator as the EPP.
func TestDocExample(t *testing.T) {
	playExample(t, exampleSim(), readExample(t, exampleExchange))
}

// The example of a PIN entry ended by a function key, byte for byte.
func TestDocExampleTerminated(t *testing.T) {
	playExample(t, exampleSim(), readExample(t, exampleTerminated))
}

// playExample plays the host and the customer of an example exchange
// and checks every byte the simulator sends.
func playExample(t *testing.T, sim *Sim, steps []exampleStep) {
	t.Helper()
	h := start(t, sim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var pressed chan error
	waitPress := func() {
		if pressed != nil {
			if err := <-pressed; err != nil {
				t.Fatalf("Press: %v", err)
			}
			pressed = nil
		}
	}
	for i, st := range steps {
		switch st.dir {
		case "host":
			h.send(st.bytes)
		case "epp":
			h.expect(st.bytes)
		case "customer":
			waitPress()
			pressed = make(chan error, 1)
			go func() { pressed <- sim.Press(ctx, st.key) }()
		}
		if t.Failed() {
			t.Fatalf("step %d", i)
		}
	}
	waitPress()
	h.quiet(50 * time.Millisecond)
	if a := sim.Active(); a != "" {
		t.Errorf("Active after the example = %q, want none", a)
	}
}

func TestFraming(t *testing.T) {
	h := start(t, exampleSim())
	status := frame{seq: 1, cmd: cmdGetStatus}.encode()

	bad := bytes.Clone(status)
	bad[5] ^= 0x01 // CRC
	h.send(bad)
	h.expect([]byte{nak})

	noEtx := bytes.Clone(status)
	noEtx[len(noEtx)-1] = 0x04
	h.send(noEtx)
	h.expect([]byte{nak})

	h.send([]byte{stx, 0x01, 0x00, 0x00}) // LEN 0
	h.expect([]byte{nak})
	h.send([]byte{stx, 0x01, 0x04, 0x01}) // LEN 1025
	h.expect([]byte{nak})

	start := time.Now()
	h.send(status[:5]) // truncated: NAK after the gap
	h.expect([]byte{nak})
	if d := time.Since(start); d < byteGap {
		t.Errorf("truncated frame NAKed after %v, want at least the %v gap", d, byteGap)
	}

	h.send([]byte{0x00, 0xFF, 0x41, 0x03, 0x99}) // garbage: ignored
	h.quiet(50 * time.Millisecond)

	h.seq = 0
	if d := h.command(cmdGetStatus, nil); !bytes.Equal(d, []byte{stOK, 0, 0, 0, 2, fmtISO0, fmtISO4, 8, 1}) {
		t.Fatalf("GET-STATUS = % X", d)
	}
	if d := h.command(0x3F, nil); !bytes.Equal(d, []byte{stUnknown}) {
		t.Errorf("unknown command = % X, want 01", d)
	}
	if d := h.command(cmdGetStatus, []byte{0}); !bytes.Equal(d, []byte{stBadParam}) {
		t.Errorf("GET-STATUS with data = % X, want 02", d)
	}
	// Not a command (SEQ 0, an event code): ACKed, ignored.
	h.send(frame{seq: 0, cmd: cmdGetStatus}.encode())
	h.expect([]byte{ack})
	h.send(frame{seq: 9, cmd: evKey, data: []byte{'1'}}.encode())
	h.expect([]byte{ack})
	h.quiet(50 * time.Millisecond)
}

func TestRetransmission(t *testing.T) {
	sim := exampleSim()
	h := start(t, sim)

	// The host NAKs a response: the EPP sends the same bytes again.
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdGetStatus}.encode())
	h.expect([]byte{ack})
	first := h.frame().encode()
	h.send([]byte{nak})
	h.expect(first)
	h.send([]byte{ack})

	// The host stays silent: three transmissions 300 ms apart, then none.
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdGetStatus}.encode())
	h.expect([]byte{ack})
	start := time.Now()
	resp := h.frame().encode()
	h.expect(resp)
	h.expect(resp)
	if d := time.Since(start); d < 2*ackWait {
		t.Errorf("three transmissions within %v, want %v apart", d, ackWait)
	}
	h.quiet(ackWait + 100*time.Millisecond)

	// Garble: a bad CRC, then the good frame after the NAK.
	sim.Garble(1)
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdGetStatus}.encode())
	h.expect([]byte{ack})
	raw := h.read(len(resp))
	if u, _, _ := scan(raw); u != unitBad {
		t.Fatalf("garbled frame % X scans as %v", raw, u)
	}
	h.send([]byte{nak})
	if d := h.response(cmdGetStatus); d[0] != stOK {
		t.Fatalf("response after NAK = % X", d)
	}

	// Truncate: half a frame, then the whole frame after the NAK.
	sim.Truncate(1)
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdGetStatus}.encode())
	h.expect([]byte{ack})
	half := h.read(len(resp) / 2)
	h.quiet(50 * time.Millisecond)
	h.send([]byte{nak})
	if half[0] != stx || half[1] != h.seq {
		t.Fatalf("truncated frame % X", half)
	}
	if d := h.response(cmdGetStatus); d[0] != stOK {
		t.Fatalf("response after NAK = % X", d)
	}

	// Noise between frames.
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := sim.Noise(ctx, []byte{0xAA, 0x55}); err != nil {
		t.Fatal(err)
	}
	h.expect([]byte{0xAA, 0x55})
}

// A repeated SEQ is not executed again: a clear component is XORed in
// once, and the EPP sends its last response again.
func TestRepeatedSEQ(t *testing.T) {
	h := start(t, New(Options{}))
	comp := mustHex("11111111111111112222222222222222")
	load := frame{seq: 1, cmd: cmdLoadKey, data: append([]byte{byte(TDES), 3, 'k', 'e', 'y', 0, 16}, comp...)}.encode()
	h.send(load)
	h.expect([]byte{ack})
	h.seq = 1
	first := h.response(cmdLoadKey)
	h.send(load)
	h.expect([]byte{ack})
	if again := h.response(cmdLoadKey); !bytes.Equal(again, first) {
		t.Fatalf("repeated LOAD-KEY answered % X, first % X", again, first)
	}
	kcv, _ := pinblock.KCV(comp)
	if !bytes.Equal(first, append([]byte{stOK}, kcv...)) {
		t.Fatalf("LOAD-KEY = % X, want KCV % X of the component", first, kcv)
	}
	// A new SEQ with the same component XORs it in: the key is all zero.
	h.seq = 1
	second := h.command(cmdLoadKey, load[5:len(load)-3])
	zero, _ := pinblock.KCV(make([]byte, 16))
	if !bytes.Equal(second, append([]byte{stOK}, zero...)) {
		t.Fatalf("second component: % X, want KCV of a zero key % X", second, zero)
	}
}

func TestLoadKey(t *testing.T) {
	aes256 := mustHex("603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4")
	h := start(t, New(Options{Keys: map[string]Key{"kek": {TDES, kekKey}, "kek-aes": {AES, aes256}}}))
	load := func(al Alg, name, kek string, value []byte) []byte {
		d := []byte{byte(al), byte(len(name))}
		d = append(d, name...)
		d = append(d, byte(len(kek)))
		d = append(d, kek...)
		d = append(d, byte(len(value)))
		return h.command(cmdLoadKey, append(d, value...))
	}
	wrapTDES := func(k []byte) []byte {
		c, _ := pinblock.TDES(kekKey)
		out := make([]byte, len(k))
		for i := 0; i < len(k); i += 8 {
			c.Encrypt(out[i:], k[i:])
		}
		return out
	}
	wrapAES := func(k []byte) []byte {
		c, _ := aes.NewCipher(aes256)
		out := make([]byte, len(k))
		for i := 0; i < len(k); i += 16 {
			c.Encrypt(out[i:], k[i:])
		}
		return out
	}
	tdesKCV, _ := pinblock.KCV(pinKey)
	aesKCV, _ := pinblock.KCVAES(aesKey)
	aes256KCV, _ := pinblock.KCVAES(aes256)
	tests := []struct {
		name  string
		al    Alg
		key   string
		kek   string
		value []byte
		want  []byte
	}{
		{"tdes-under-tdes", TDES, "pin", "kek", wrapTDES(pinKey), append([]byte{stOK}, tdesKCV...)},
		{"kek-algorithm", 0, "pin2", "kek", wrapTDES(pinKey), append([]byte{stOK}, tdesKCV...)},
		{"aes-under-tdes", AES, "pin-aes", "kek", wrapTDES(aesKey), append([]byte{stOK}, aesKCV...)},
		{"aes256-under-aes", AES, "k256", "kek-aes", wrapAES(aes256), append([]byte{stOK}, aes256KCV...)},
		{"same-length-other-alg", TDES, "t", "kek-aes", wrapAES(aesKey), nil}, // TDES KCV of the same bytes
		{"clear-aes", AES, "c-aes", "", aesKey, append([]byte{stOK}, aesKCV...)},
		{"tdes-32", TDES, "x", "", aes256, []byte{stBadParam}},
		{"no-kek", TDES, "x", "nokek", pinKey, []byte{stSecurity, reasonNoKey}},
		{"clear-kek-alg", 0, "x", "", pinKey, []byte{stBadParam}},
		{"bad-alg", 3, "x", "", pinKey, []byte{stBadParam}},
		{"bad-length", TDES, "x", "", pinKey[:8], []byte{stBadParam}},
		{"aes-kek-24", AES, "x", "kek-aes", make([]byte, 24), []byte{stBadParam}},
		{"component-other-alg", AES, "pin", "", pinKey, []byte{stBadParam}},
	}
	for _, tc := range tests {
		got := load(tc.al, tc.key, tc.kek, tc.value)
		want := tc.want
		if want == nil {
			kcv, _ := pinblock.KCV(aesKey)
			want = append([]byte{stOK}, kcv...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: LOAD-KEY = % X, want % X", tc.name, got, want)
		}
	}
	if d := h.command(cmdLoadKey, []byte{1, 0, 0, 16}); !bytes.Equal(d, []byte{stBadParam}) {
		t.Errorf("truncated LOAD-KEY = % X, want 02", d)
	}
	if d := h.command(cmdDeleteKey, []byte{4, 'p', 'i', 'n', '2'}); !bytes.Equal(d, []byte{stOK}) {
		t.Errorf("DELETE-KEY = % X", d)
	}
	if d := h.command(cmdDeleteKey, []byte{4, 'p', 'i', 'n', '2'}); !bytes.Equal(d, []byte{stSecurity, reasonNoKey}) {
		t.Errorf("DELETE-KEY of a deleted key = % X, want 07 01", d)
	}
}

func pinEntryData(fm byte, minLen, maxLen int, pan, key string) []byte {
	d := []byte{fm, byte(minLen), byte(maxLen), byte(len(pan))}
	d = append(d, pan...)
	d = append(d, byte(len(key)))
	return append(d, key...)
}

func TestEntries(t *testing.T) {
	sim := New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}, "pin-aes": {AES, aesKey}}})
	h := start(t, sim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	press := func(keys ...pinpad.Key) <-chan error {
		c := make(chan error, 1)
		go func() { c <- sim.Press(ctx, keys...) }()
		return c
	}
	pan := pinpadtest.TestPAN

	refused := []struct {
		name string
		cmd  byte
		data []byte
		want []byte
	}{
		{"no-key", cmdPINEntry, pinEntryData(fmtISO0, 4, 12, pan, "nokey"), []byte{stSecurity, reasonNoKey}},
		{"aes-key-iso0", cmdPINEntry, pinEntryData(fmtISO0, 4, 12, pan, "pin-aes"), []byte{stSecurity, reasonKeyUnfit}},
		{"tdes-key-iso4", cmdPINEntry, pinEntryData(fmtISO4, 4, 12, pan, "pin"), []byte{stSecurity, reasonKeyUnfit}},
		{"min-3", cmdPINEntry, pinEntryData(fmtISO0, 3, 12, pan, "pin"), []byte{stBadParam}},
		{"max-13", cmdPINEntry, pinEntryData(fmtISO0, 4, 13, pan, "pin"), []byte{stBadParam}},
		{"format-1", cmdPINEntry, pinEntryData(1, 4, 12, pan, "pin"), []byte{stBadParam}},
		{"short-pan", cmdPINEntry, pinEntryData(fmtISO0, 4, 12, "47617390", "pin"), []byte{stBadParam}},
		{"pan-letters", cmdPINEntry, pinEntryData(fmtISO0, 4, 12, "47617390010101AB", "pin"), []byte{stBadParam}},
		{"data-max-0", cmdDataEntry, []byte{0, 0}, []byte{stBadParam}},
		{"data-digit-terminator", cmdDataEntry, []byte{4, 1, '5'}, []byte{stBadParam}},
		{"keys-none", cmdKeyEntry, []byte{0}, []byte{stBadParam}},
		{"keys-masked", cmdKeyEntry, []byte{1, kMasked}, []byte{stBadParam}},
		{"cancel-nothing", cmdCancelEntry, nil, []byte{stNotReady}},
		{"beep", cmdBeep, []byte{1}, []byte{stOK}},
		{"beep-tone-3", cmdBeep, []byte{3}, []byte{stBadParam}},
	}
	for _, tc := range refused {
		if d := h.command(tc.cmd, tc.data); !bytes.Equal(d, tc.want) {
			t.Errorf("%s: % X, want % X", tc.name, d, tc.want)
		}
	}
	if a := sim.Active(); a != "" {
		t.Fatalf("Active after refused entries = %q", a)
	}

	// ISO 4 PIN entry: masked events, CLEAR, ignored keys, a block that
	// opens to the PIN.
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdPINEntry, data: pinEntryData(fmtISO4, 4, 6, pan, "pin-aes")}.encode())
	h.expect([]byte{ack})
	p := press("9", pinpad.KeyClear, pinpad.KeyBackspace, "1", "2", "3", "4", "5", "6", "7", pinpad.KeyEnter)
	var events []byte
	for range 8 { // 9, CLEAR, 1..6
		events = append(events, h.event().data...)
	}
	if want := []byte{kMasked, kClear, kMasked, kMasked, kMasked, kMasked, kMasked, kMasked}; !bytes.Equal(events, want) {
		t.Errorf("KEY events % X, want % X", events, want)
	}
	d := h.response(cmdPINEntry)
	if err := <-p; err != nil {
		t.Fatal(err)
	}
	if len(d) != 19 || d[0] != stOK || d[1] != fmtISO4 || d[2] != 16 {
		t.Fatalf("PIN-ENTRY response % X", d)
	}
	if clear, err := pinblock.DecryptFormat4(aesKey, d[3:], []byte(pan)); err != nil || string(clear) != "123456" {
		t.Fatalf("block opens to %q, %v", clear, err)
	}
}

func TestPINTerminators(t *testing.T) {
	sim := New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}}})
	h := start(t, sim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pin := pinEntryData(fmtISO0, 4, 12, pinpadtest.TestPAN, "pin")
	with := func(tail ...byte) []byte { return append(slices.Clone(pin), tail...) }

	refused := []struct {
		name string
		data []byte
	}{
		{"digit", with(1, '5')},
		{"enter", with(1, kEnter)},
		{"cancel", with(1, kCancel)},
		{"f9", with(1, 0xF9)},
		{"f0", with(1, 0xF0)},
		{"twice", with(3, 0xF4, 0xF5, 0xF4)},
		{"nine", with(9, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF1)},
		{"nt-too-big", with(2, 0xF4)},
		{"nt-too-small", with(1, 0xF4, 0xF5)},
	}
	for _, tc := range refused {
		if d := h.command(cmdPINEntry, tc.data); !bytes.Equal(d, []byte{stBadParam}) {
			t.Errorf("%s: % X, want 02", tc.name, d)
		}
	}
	if a := sim.Active(); a != "" {
		t.Fatalf("Active after refused entries = %q", a)
	}

	// NT 0 is no terminators: a function key is not taken.
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdPINEntry, data: with(0)}.encode())
	h.expect([]byte{ack})
	waitActive(t, sim, "pin")
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := sim.Press(short, pinpad.F4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Press F4 with NT 0 = %v, want deadline exceeded", err)
	}
	stop()
	pinSeq := h.seq
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdCancelEntry}.encode())
	h.expect([]byte{ack})
	if f := h.frame(); f.seq != pinSeq || !bytes.Equal(f.data, []byte{stCancelled}) {
		t.Fatalf("cancelled PIN-ENTRY: SEQ %02X % X", f.seq, f.data)
	}
	h.send([]byte{ack})
	if d := h.response(cmdCancelEntry); !bytes.Equal(d, []byte{stOK}) {
		t.Fatalf("CANCEL-ENTRY = % X", d)
	}

	// F4 and F5 end the entry; F2 is ignored; the digits are wiped.
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdPINEntry, data: with(2, 0xF4, 0xF5)}.encode())
	h.expect([]byte{ack})
	waitActive(t, sim, "pin:F4,F5")
	p := make(chan error, 1)
	go func() { p <- sim.Press(ctx, "1", "2", "3") }()
	for range 3 {
		if ev := h.event(); !bytes.Equal(ev.data, []byte{kMasked}) {
			t.Fatalf("KEY event % X, want 2A", ev.data)
		}
	}
	if err := <-p; err != nil {
		t.Fatal(err)
	}
	sim.mu.Lock()
	buf := sim.entry.digits[:cap(sim.entry.digits)]
	taken := string(sim.entry.digits)
	sim.mu.Unlock()
	if taken != "123" {
		t.Fatalf("digits taken %q, want 123", taken)
	}
	short, stop = context.WithTimeout(ctx, 50*time.Millisecond)
	if err := sim.Press(short, pinpad.F2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Press F2 (not a terminator) = %v, want deadline exceeded", err)
	}
	stop()
	go func() { p <- sim.Press(ctx, pinpad.F5) }()
	if d := h.response(cmdPINEntry); !bytes.Equal(d, []byte{stOK, fmtTerminated, 0xF5}) {
		t.Fatalf("PIN-ENTRY ended by F5 = % X, want 00 FF F5", d)
	}
	if err := <-p; err != nil {
		t.Fatal(err)
	}
	sim.mu.Lock()
	wiped := !slices.ContainsFunc(buf, func(b byte) bool { return b != 0 })
	sim.mu.Unlock()
	if !wiped {
		t.Errorf("digits after a terminator: % X, want them wiped", buf)
	}
	if a := sim.Active(); a != "" {
		t.Errorf("Active after a terminator = %q, want none", a)
	}

	// A terminator before any digit.
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdPINEntry, data: with(1, 0xF1)}.encode())
	h.expect([]byte{ack})
	go func() { p <- sim.Press(ctx, pinpad.F1) }()
	if d := h.response(cmdPINEntry); !bytes.Equal(d, []byte{stOK, fmtTerminated, 0xF1}) {
		t.Fatalf("PIN-ENTRY ended by F1 = % X, want 00 FF F1", d)
	}
	if err := <-p; err != nil {
		t.Fatal(err)
	}
}

func TestKeyEntryAndBusy(t *testing.T) {
	sim := New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}}})
	h := start(t, sim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	h.seq++
	keySeq := h.seq
	h.send(frame{seq: keySeq, cmd: cmdKeyEntry, data: []byte{2, 0xF2, kCancel}}.encode())
	h.expect([]byte{ack})
	waitActive(t, sim, "keys:F2,CANCEL")
	if d := h.command(cmdDataEntry, []byte{4, 0}); !bytes.Equal(d, []byte{stBusy}) {
		t.Errorf("DATA-ENTRY during KEY-ENTRY = % X, want 03", d)
	}
	if d := h.command(cmdLoadKey, append([]byte{1, 1, 'k', 0, 16}, pinKey...)); !bytes.Equal(d, []byte{stBusy}) {
		t.Errorf("LOAD-KEY during KEY-ENTRY = % X, want 03", d)
	}
	if d := h.command(cmdGetStatus, nil); !bytes.Equal(d[:3], []byte{stOK, 0x01, cmdKeyEntry}) {
		t.Errorf("GET-STATUS during KEY-ENTRY = % X", d)
	}
	// An inactive key blocks; an active one ends the entry.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := sim.Press(short, pinpad.F1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Press of an inactive key = %v, want deadline exceeded", err)
	}
	stop()
	p := make(chan error, 1)
	go func() { p <- sim.Press(ctx, pinpad.KeyCancel) }()
	f := h.frame()
	h.send([]byte{ack})
	if f.seq != keySeq || f.cmd != cmdKeyEntry|respBit || !bytes.Equal(f.data, []byte{stOK, kCancel}) {
		t.Fatalf("KEY-ENTRY response SEQ %02X CMD %02X % X", f.seq, f.cmd, f.data)
	}
	if err := <-p; err != nil {
		t.Fatal(err)
	}

	// Data entry: clear digits, a terminator; CANCEL-ENTRY ends one.
	h.seq++
	dataSeq := h.seq
	h.send(frame{seq: dataSeq, cmd: cmdDataEntry, data: []byte{3, 1, 0xF4}}.encode())
	h.expect([]byte{ack})
	go func() { p <- sim.Press(ctx, "4", "2", "1", "0", pinpad.F4) }()
	var events []byte
	for range 3 {
		events = append(events, h.event().data...)
	}
	if !bytes.Equal(events, []byte("421")) {
		t.Errorf("data entry events %q, want 421", events)
	}
	f = h.frame()
	h.send([]byte{ack})
	if f.seq != dataSeq || !bytes.Equal(f.data, []byte{stOK, 0xF4, 3, '4', '2', '1'}) {
		t.Fatalf("DATA-ENTRY response % X", f.data)
	}
	if err := <-p; err != nil {
		t.Fatal(err)
	}

	h.seq++
	pinSeq := h.seq
	h.send(frame{seq: pinSeq, cmd: cmdPINEntry, data: pinEntryData(fmtISO0, 4, 12, pinpadtest.TestPAN, "pin")}.encode())
	h.expect([]byte{ack})
	go func() { p <- sim.Press(ctx, "1") }()
	h.event()
	if err := <-p; err != nil {
		t.Fatal(err)
	}
	// A repeated PIN-ENTRY while it runs: ACKed, ignored.
	h.send(frame{seq: pinSeq, cmd: cmdPINEntry, data: pinEntryData(fmtISO0, 4, 12, pinpadtest.TestPAN, "pin")}.encode())
	h.expect([]byte{ack})
	h.quiet(50 * time.Millisecond)
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdCancelEntry}.encode())
	h.expect([]byte{ack})
	f = h.frame()
	h.send([]byte{ack})
	if f.seq != pinSeq || !bytes.Equal(f.data, []byte{stCancelled}) {
		t.Fatalf("cancelled PIN-ENTRY: SEQ %02X % X", f.seq, f.data)
	}
	if d := h.response(cmdCancelEntry); !bytes.Equal(d, []byte{stOK}) {
		t.Fatalf("CANCEL-ENTRY = % X", d)
	}
	if a := sim.Active(); a != "" {
		t.Errorf("Active = %q after CANCEL-ENTRY", a)
	}
}

func waitActive(t *testing.T, sim *Sim, want string) {
	t.Helper()
	waitFor(t, sim, "Active "+want, func() bool { return sim.entry != nil && sim.entry.describe() == want })
}

// waitFor waits until cond, evaluated with sim.mu held, holds.
func waitFor(t *testing.T, sim *Sim, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(wait)
	sim.mu.Lock()
	defer sim.mu.Unlock()
	for !cond() {
		ch := sim.changed
		sim.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			sim.mu.Lock()
			t.Fatalf("no %s within %v", what, wait)
		}
		sim.mu.Lock()
	}
}

func TestFaults(t *testing.T) {
	sim := New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}}})
	h := start(t, sim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sim.Inject("PIN-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(unknown) = %v, want hal.ErrInvalid", err)
	}

	// Tamper during PIN entry: the entry ends with 06, a STATUS event
	// follows, keys are gone, every command but GET-STATUS gets 06.
	h.seq++
	pinSeq := h.seq
	h.send(frame{seq: pinSeq, cmd: cmdPINEntry, data: pinEntryData(fmtISO0, 4, 12, pinpadtest.TestPAN, "pin")}.encode())
	h.expect([]byte{ack})
	waitActive(t, sim, "pin")
	if err := sim.Inject(FaultTamper); err != nil {
		t.Fatal(err)
	}
	f := h.frame()
	h.send([]byte{ack})
	if f.seq != pinSeq || !bytes.Equal(f.data, append([]byte{stFault}, FaultTamper...)) {
		t.Fatalf("PIN-ENTRY ended by tamper: % X", f.data)
	}
	ev := h.event()
	wantStatus := append(append([]byte{0x02, 0x00, byte(len(FaultTamper))}, FaultTamper...), 2, fmtISO0, fmtISO4, 8, 1)
	if ev.cmd != evStatus || !bytes.Equal(ev.data, wantStatus) {
		t.Fatalf("STATUS event % X, want % X", ev.data, wantStatus)
	}
	if d := h.command(cmdGetStatus, nil); !bytes.Equal(d, append([]byte{stOK}, wantStatus...)) {
		t.Errorf("GET-STATUS after tamper = % X", d)
	}
	if d := h.command(cmdBeep, []byte{0}); !bytes.Equal(d, append([]byte{stFault}, FaultTamper...)) {
		t.Errorf("BEEP after tamper = % X", d)
	}
	sim.Clear()
	if ev := h.event(); ev.cmd != evStatus || ev.data[0] != 0 {
		t.Fatalf("STATUS event after Clear: % X", ev.data)
	}
	if d := h.command(cmdPINEntry, pinEntryData(fmtISO0, 4, 12, pinpadtest.TestPAN, "pin")); !bytes.Equal(d, []byte{stSecurity, reasonNoKey}) {
		t.Errorf("PIN-ENTRY after tamper = % X, want 07 01: the keys stay erased", d)
	}

	// Offline: nothing answered, not even ACK; Clear powers it up.
	if err := sim.Inject(FaultOffline); err != nil {
		t.Fatal(err)
	}
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdGetStatus}.encode())
	h.quiet(ackWait)
	sim.Clear()
	if ev := h.event(); ev.cmd != evStatus {
		t.Fatalf("no STATUS event at power-up")
	}
	if d := h.command(cmdGetStatus, nil); d[0] != stOK {
		t.Errorf("GET-STATUS after power-up = % X", d)
	}

	// Mute keeps the state: an entry survives it.
	h.seq++
	dataSeq := h.seq
	h.send(frame{seq: dataSeq, cmd: cmdDataEntry, data: []byte{4, 0}}.encode())
	h.expect([]byte{ack})
	waitActive(t, sim, "data")
	sim.Mute(true)
	h.seq++
	h.send(frame{seq: h.seq, cmd: cmdGetStatus}.encode())
	h.quiet(ackWait)
	sim.Mute(false)
	if d := h.command(cmdGetStatus, nil); !bytes.Equal(d[:3], []byte{stOK, 0x01, cmdDataEntry}) {
		t.Errorf("GET-STATUS after unmute = % X, want the entry still running", d)
	}
	p := make(chan error, 1)
	go func() { p <- sim.Press(ctx, pinpad.KeyEnter) }()
	f = h.frame()
	h.send([]byte{ack})
	if f.seq != dataSeq || !bytes.Equal(f.data, []byte{stOK, kEnter, 0}) {
		t.Fatalf("DATA-ENTRY after mute: % X", f.data)
	}
	if err := <-p; err != nil {
		t.Fatal(err)
	}
}

func TestServeLifecycle(t *testing.T) {
	sim := New(Options{})
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, p.Master) }()
	waitServing(t, sim)
	if err := sim.Serve(ctx, p.Master); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v, want ErrServing", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v after its context ended, want nil", err)
	}
	// Served again on the same PTY, it answers: the first Serve's reader
	// is gone and steals no byte.
	ctx2, cancel2 := context.WithCancel(t.Context())
	go func() { served <- sim.Serve(ctx2, p.Master) }()
	slave, err := os.OpenFile(p.Path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &testHost{t: t, f: slave}
	for range 3 {
		if d := h.command(cmdGetStatus, nil); d[0] != stOK {
			t.Fatalf("GET-STATUS = % X", d)
		}
	}
	slave.Close()
	cancel2()
	if err := <-served; err != nil {
		t.Fatalf("second Serve = %v", err)
	}

	// The line going away ends Serve with an error.
	q, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	other := New(Options{})
	go func() { served <- other.Serve(context.Background(), q.Master) }()
	waitServing(t, other)
	q.Close()
	select {
	case err := <-served:
		if err == nil {
			t.Errorf("Serve on a closed line returned nil")
		}
	case <-time.After(wait):
		t.Fatal("Serve did not end when its line closed")
	}
}

func waitServing(t *testing.T, sim *Sim) {
	t.Helper()
	waitFor(t, sim, "serving", func() bool { return sim.serving })
}

// macData is MAC's DATA: PT, the key name, DL and the part.
func macData(pt byte, key string, part []byte) []byte {
	d := []byte{pt, byte(len(key))}
	d = append(d, key...)
	d = append(d, byte(len(part)>>8), byte(len(part)))
	return append(d, part...)
}

func TestMAC(t *testing.T) {
	weak := mustHex("0123456789ABCDEF0123456789ABCDEF")
	sim := New(Options{Keys: map[string]Key{"mac": {TDES, macKey}, "pin": {TDES, pinKey},
		"aes": {AES, aesKey}, "weak": {TDES, weak}, "t24": {TDES, append(bytes.Clone(pinKey), kekKey[:8]...)}}})
	h := start(t, sim)
	ok := func(b []byte) []byte { return append([]byte{stOK}, b...) }
	ref := func(key, data []byte) []byte {
		m, err := mac.RetailMAC(key, data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	long := bytes.Repeat([]byte("0123456789abcdef-"), 150) // 2550 bytes: three parts

	// Known answer (the page's example) and the empty message.
	if got := h.command(cmdMAC, macData(partWhole, "mac", []byte("0200 ATM00001 000123"))); !bytes.Equal(got, ok(mustHex("3380E7A774048A23"))) {
		t.Errorf("MAC = % X, want 00 33 80 E7 A7 74 04 8A 23", got)
	}
	if got := h.command(cmdMAC, macData(partWhole, "mac", nil)); !bytes.Equal(got, ok(ref(macKey, nil))) {
		t.Errorf("MAC of nothing = % X", got)
	}

	// In parts: the same MAC as the whole, whatever the split.
	for _, split := range [][]int{{1000, 1000, 550}, {7, 1000, 1000, 543}, {1000, 1550 - 1000, 1000}} {
		rest, pt := long, byte(partFirst)
		var got []byte
		for i, n := range split {
			if i == len(split)-1 {
				pt = partLast
			}
			got = h.command(cmdMAC, macData(pt, "mac", rest[:n]))
			rest, pt = rest[n:], partMiddle
			if i < len(split)-1 && !bytes.Equal(got, []byte{stOK}) {
				t.Fatalf("split %v part %d = % X, want 00", split, i, got)
			}
		}
		if len(rest) != 0 {
			t.Fatalf("split %v leaves %d bytes", split, len(rest))
		}
		if !bytes.Equal(got, ok(ref(macKey, long))) {
			t.Errorf("split %v: MAC = % X, want % X", split, got, ref(macKey, long))
		}
	}

	for _, tc := range []struct {
		name  string
		steps [][]byte // all but the last must answer 00
		want  []byte
	}{
		{"middle without first", [][]byte{macData(partMiddle, "mac", long[:8])}, []byte{stBadParam}},
		{"last without first", [][]byte{macData(partLast, "mac", long[:8])}, []byte{stBadParam}},
		{"last naming another key", [][]byte{macData(partFirst, "mac", long[:8]), macData(partLast, "pin", long[:8])}, []byte{stBadParam}},
		{"parts discarded after a bad part", [][]byte{macData(partFirst, "mac", long[:8]), macData(partLast, "pin", nil), macData(partLast, "mac", nil)}, []byte{stBadParam}},
		{"first discards an unfinished MAC", [][]byte{macData(partFirst, "mac", long[:8]), macData(partFirst, "mac", long[8:16]), macData(partLast, "mac", nil)}, ok(ref(macKey, long[8:16]))},
		{"whole discards an unfinished MAC", [][]byte{macData(partFirst, "mac", long[:8]), macData(partWhole, "mac", nil), macData(partLast, "mac", nil)}, []byte{stBadParam}},
		{"LOAD-KEY discards", [][]byte{macData(partFirst, "mac", long[:8]), {0xFF /* LOAD-KEY below */}, macData(partLast, "mac", nil)}, []byte{stBadParam}},
		{"over 8192 bytes", [][]byte{macData(partFirst, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]),
			macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]),
			macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]), macData(partLast, "mac", long[:193])}, []byte{stBadParam}},
		{"8192 bytes", [][]byte{macData(partFirst, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]),
			macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]),
			macData(partMiddle, "mac", long[:1000]), macData(partMiddle, "mac", long[:1000]), macData(partLast, "mac", long[:192])},
			ok(ref(macKey, append(bytes.Repeat(long[:1000], 8), long[:192]...)))},
		{"part over 1000 bytes", [][]byte{macData(partWhole, "mac", long[:1001])}, []byte{stBadParam}},
		{"DL longer than the data", [][]byte{append(macData(partWhole, "mac", nil)[:5], 0x00, 0x09, 1, 2)}, []byte{stBadParam}},
		{"bad part", [][]byte{macData(4, "mac", nil)}, []byte{stBadParam}},
		{"no such key", [][]byte{macData(partWhole, "nokey", nil)}, []byte{stSecurity, reasonNoKey}},
		{"AES key", [][]byte{macData(partWhole, "aes", nil)}, []byte{stSecurity, reasonKeyUnfit}},
		{"triple-length key", [][]byte{macData(partWhole, "t24", nil)}, []byte{stSecurity, reasonKeyUnfit}},
		{"equal halves", [][]byte{macData(partWhole, "weak", nil)}, []byte{stSecurity, reasonKeyUnfit}},
	} {
		var got []byte
		for i, st := range tc.steps {
			if len(st) == 1 && st[0] == 0xFF {
				got = h.command(cmdLoadKey, append([]byte{byte(TDES), 1, 'z', 0, 16}, kekKey...))
				if got[0] != stOK {
					t.Fatalf("%s: LOAD-KEY = % X", tc.name, got)
				}
				continue
			}
			got = h.command(cmdMAC, st)
			if i < len(tc.steps)-1 && (st[0] == partFirst || st[0] == partMiddle) && !bytes.Equal(got, []byte{stOK}) {
				t.Fatalf("%s: step %d = % X, want 00", tc.name, i, got)
			}
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: MAC = % X, want % X", tc.name, got, tc.want)
		}
	}

	// MAC runs while an entry runs; a tamper discards a MAC in parts.
	h.send(frame{seq: h.seq + 1, cmd: cmdKeyEntry, data: []byte{1, 0xF1}}.encode())
	h.seq++
	h.expect([]byte{ack})
	keySeq := h.seq
	if got := h.command(cmdMAC, macData(partWhole, "mac", long[:20])); !bytes.Equal(got, ok(ref(macKey, long[:20]))) {
		t.Errorf("MAC during a key entry = % X", got)
	}
	if got := h.command(cmdMAC, macData(partFirst, "mac", long[:8])); !bytes.Equal(got, []byte{stOK}) {
		t.Fatalf("first part = % X", got)
	}
	if err := sim.Inject(FaultTamper); err != nil {
		t.Fatal(err)
	}
	// The key entry ends with the fault, then the STATUS event.
	if f := h.frame(); f.seq != keySeq || f.cmd != cmdKeyEntry|respBit || f.data[0] != stFault {
		t.Fatalf("after tamper: SEQ %02X CMD %02X % X", f.seq, f.cmd, f.data)
	}
	h.send([]byte{ack})
	if ev := h.event(); ev.cmd != evStatus {
		t.Fatalf("after tamper: event %02X", ev.cmd)
	}
	if got := h.command(cmdMAC, macData(partLast, "mac", nil)); !bytes.Equal(got, append([]byte{stFault}, FaultTamper...)) {
		t.Errorf("MAC in a tamper = % X", got)
	}
	sim.Clear()
	if ev := h.event(); ev.cmd != evStatus {
		t.Fatalf("after clear: event %02X", ev.cmd)
	}
	if got := h.command(cmdMAC, macData(partLast, "mac", nil)); !bytes.Equal(got, []byte{stBadParam}) {
		t.Errorf("last part after a tamper = % X, want 02", got)
	}
}

func TestKeyCheck(t *testing.T) {
	h := start(t, New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}, "pin-aes": {AES, aesKey}}}))
	tdes, _ := pinblock.KCV(pinKey)
	aesKCV, _ := pinblock.KCVAES(aesKey)
	for _, tc := range []struct {
		data []byte
		want []byte
	}{
		{[]byte{3, 'p', 'i', 'n'}, append([]byte{stOK}, tdes...)},
		{[]byte{7, 'p', 'i', 'n', '-', 'a', 'e', 's'}, append([]byte{stOK}, aesKCV...)},
		{[]byte{3, 'm', 'a', 'c'}, []byte{stSecurity, reasonNoKey}},
		{[]byte{3, 'p', 'i'}, []byte{stBadParam}},
		{[]byte{0}, []byte{stBadParam}},
		{[]byte{3, 'p', 'i', 'n', 0}, []byte{stBadParam}},
	} {
		if got := h.command(cmdKeyCheck, tc.data); !bytes.Equal(got, tc.want) {
			t.Errorf("KEY-CHECK % X = % X, want % X", tc.data, got, tc.want)
		}
	}
	if !bytes.Equal(tdes, mustHex("08D7B4")) {
		t.Errorf("TDES KCV % X", tdes)
	}
}
