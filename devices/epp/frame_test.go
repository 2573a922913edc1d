package epp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/rs/zerolog"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestCRC(t *testing.T) {
	if c := crcCCITT([]byte("123456789")); c != 0x29B1 {
		t.Fatalf("check value %04X, want 29B1 (framing.md)", c)
	}
	raw, err := pkt{seq: 1, cmd: cmdGetStatus}.marshal()
	if err != nil || !bytes.Equal(raw, unhex("02 01 00 01 01 D1 64 03")) {
		t.Fatalf("GET-STATUS SEQ 1 = % X, %v; want framing.md's example", raw, err)
	}
	if _, err := (pkt{seq: 1, cmd: 1, data: make([]byte, lenMax)}).marshal(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("oversized frame: %v", err)
	}
}

// feedAll decodes b as it would arrive at once and returns the tokens.
func feedAll(d *decoder, b []byte, now time.Time) []token {
	var out []token
	for _, x := range b {
		if t := d.feed(x, now); t.kind != tokNone {
			out = append(out, t)
		}
	}
	return out
}

func TestDecoder(t *testing.T) {
	now := time.Now()
	good := unhex("02 03 00 0C 90 00 00 08 AC 07 08 A3 C9 23 D3 4D 16 A9 03")
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-2] ^= 1
	noETX := append([]byte(nil), good...)
	noETX[len(noETX)-1] = 0
	tests := []struct {
		name string
		in   []byte
		want []tokKind
	}{
		{"frame", good, []tokKind{tokFrame}},
		{"ack-nak", []byte{bACK, bNAK}, []tokKind{tokACK, tokNAK}},
		{"noise-then-frame", append([]byte{0x00, 0x41, 0xFF}, good...), []tokKind{tokNoise, tokNoise, tokNoise, tokFrame}},
		{"bad-crc", badCRC, []tokKind{tokBad}},
		{"no-etx", noETX, []tokKind{tokBad}},
		{"len-0", []byte{bSTX, 1, 0, 0, bACK}, []tokKind{tokBad, tokACK}},
		{"len-1025", []byte{bSTX, 1, 0x04, 0x01}, []tokKind{tokBad}},
		{"ack-inside-frame", unhex("02 00 00 02 40 06"), nil},
	}
	for _, tc := range tests {
		var d decoder
		var got []tokKind
		for _, tok := range feedAll(&d, tc.in, now) {
			got = append(got, tok.kind)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: tokens %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: tokens %v, want %v", tc.name, got, tc.want)
			}
		}
	}
	// A partial frame times out after the gap, not before.
	var d decoder
	feedAll(&d, good[:7], now)
	if _, ok := d.expire(now.Add(byteGap), byteGap); ok {
		t.Error("partial frame expired at the gap")
	}
	if tok, ok := d.expire(now.Add(byteGap+time.Millisecond), byteGap); !ok || tok.kind != tokBad || !bytes.Equal(tok.raw, good[:7]) {
		t.Errorf("partial frame after the gap: %v %+v", ok, tok)
	}
	if toks := feedAll(&d, good, now); len(toks) != 1 || toks[0].kind != tokFrame || toks[0].p.cmd != 0x90 || toks[0].p.seq != 3 {
		t.Errorf("frame after a truncated one: %+v", toks)
	}
}

// FuzzDecoder feeds arbitrary line bytes to the driver's decoder, byte by
// byte with time passing: it never panics, accounts for every byte, and
// a frame it accepts marshals back to the very bytes it came from.
func FuzzDecoder(f *testing.F) {
	f.Add(unhex("02 01 00 0A 81 00 00 00 00 02 00 04 08 01 E5 E8 03"), uint8(0))
	f.Add(unhex("06 15 02 00 00 02 40 2A F7 88 03"), uint8(3))
	f.Add(unhex("02 01 04 01"), uint8(1))
	f.Add(unhex("02 01 00 05 10 00 00"), uint8(200))
	f.Fuzz(func(t *testing.T, b []byte, every uint8) {
		var d decoder
		now := time.Unix(0, 0)
		consumed := 0
		for i, x := range b {
			if every != 0 && i%int(every) == 0 {
				now = now.Add(byteGap + time.Millisecond)
				if tok, ok := d.expire(now, byteGap); ok {
					consumed += len(tok.raw)
				}
			}
			tok := d.feed(x, now)
			switch tok.kind {
			case tokACK, tokNAK, tokNoise:
				consumed++
			case tokBad:
				consumed += len(tok.raw)
			case tokFrame:
				consumed += len(tok.raw)
				raw, err := tok.p.marshal()
				if err != nil || !bytes.Equal(raw, tok.raw) {
					t.Fatalf("frame % X marshals to % X, %v", tok.raw, raw, err)
				}
			}
		}
		if consumed+len(d.buf) != len(b) {
			t.Fatalf("%d bytes accounted for, %d pending, of %d", consumed, len(d.buf), len(b))
		}
	})
}

// FuzzParseStatus feeds arbitrary device status bytes (GET-STATUS, STATUS
// event) to the driver: an error or a status within the contract.
func FuzzParseStatus(f *testing.F) {
	f.Add(unhex("00 00 00 02 00 04 08 01"))
	f.Add(append(append([]byte{0x02, 0x00, 10}, "PIN-TAMPER"...), 0x01, 0x00, 0x04, 0x00))
	f.Add(unhex("01 10 00 01 00 08 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStatus(b)
		if err != nil {
			if hal.FaultCode(err) != FaultProtocol {
				t.Fatalf("error without PIN-PROTOCOL: %v", err)
			}
			return
		}
		if s.caps.FDKs < 0 || s.caps.FDKs > 8 || (s.state == 2) != (s.fault != "") || !printable(s.fault) {
			t.Fatalf("accepted %+v from % X", s, b)
		}
	})
}

// FuzzAnswer feeds arbitrary response DATA to the status mapping: never
// a panic, never a nil error for a non-OK status.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte{0x07, 0x01})
	f.Add(append([]byte{0x06}, "PIN-TAMPER"...))
	f.Add([]byte{0x09})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] == statusOK {
			return
		}
		if err := answerError(cmdPINEntry, b, true); err == nil {
			t.Fatalf("no error for % X", b)
		}
	})
}

// hungPort is a port whose reads return nothing at once, as a line that
// hung up does.
type hungPort struct {
	mu     sync.Mutex
	closed bool
}

func (p *hungPort) Read([]byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("closed")
	}
	return 0, io.EOF
}
func (p *hungPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *hungPort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

func TestHungUpLine(t *testing.T) {
	down := make(chan error, 1)
	l := newLink(&hungPort{}, zerolog.Nop(), func(_ *link, err error) { down <- err }, func([]byte) {})
	go l.read()
	select {
	case err := <-down:
		if hal.FaultCode(err) != FaultOffline || !errors.Is(err, hal.ErrOffline) {
			t.Fatalf("hung-up line: %v, want PIN-OFFLINE", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a hung-up line was not noticed")
	}
}
