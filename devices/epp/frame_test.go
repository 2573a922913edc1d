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

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
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

func TestParsePINResult(t *testing.T) {
	block0 := unhex("AC 07 08 A3 C9 23 D3 4D")
	block4 := unhex("00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF")
	f4f5 := []byte{0xF4, 0xF5}
	tests := []struct {
		name  string
		resp  []byte
		fm    byte
		terms []byte
		block []byte
		term  pinpad.Key
		ok    bool
	}{
		{"iso0-block", append([]byte{0x00, 0x00, 0x08}, block0...), 0x00, nil, block0, "", true},
		{"iso4-block", append([]byte{0x00, 0x04, 0x10}, block4...), 0x04, f4f5, block4, "", true},
		{"terminated-f4", []byte{0x00, 0xFF, 0xF4}, 0x00, f4f5, nil, pinpad.F4, true},
		{"terminated-f5-iso4", []byte{0x00, 0xFF, 0xF5}, 0x04, f4f5, nil, pinpad.F5, true},
		{"terminated-not-a-terminator", []byte{0x00, 0xFF, 0xF6}, 0x00, f4f5, nil, "", false},
		{"terminated-without-terminators", []byte{0x00, 0xFF, 0xF4}, 0x00, nil, nil, "", false},
		{"terminated-enter", []byte{0x00, 0xFF, 0x0D}, 0x00, []byte{0x0D}, nil, "", false},
		{"terminated-too-long", []byte{0x00, 0xFF, 0xF4, 0x00}, 0x00, f4f5, nil, "", false},
		{"terminated-too-short", []byte{0x00, 0xFF}, 0x00, f4f5, nil, "", false},
		{"wrong-format", append([]byte{0x00, 0x04, 0x08}, block0...), 0x00, nil, nil, "", false},
		{"short-block", append([]byte{0x00, 0x00, 0x08}, block0[:7]...), 0x00, nil, nil, "", false},
		{"not-ok", []byte{0x04}, 0x00, f4f5, nil, "", false},
		{"empty", nil, 0x00, nil, nil, "", false},
	}
	for _, tc := range tests {
		block, term, ok := parsePINResult(tc.resp, tc.fm, tc.terms)
		if ok != tc.ok || term != tc.term || !bytes.Equal(block, tc.block) {
			t.Errorf("%s: parsePINResult = % X, %q, %v; want % X, %q, %v", tc.name, block, term, ok, tc.block, tc.term, tc.ok)
		}
	}
}

// FuzzPINResult feeds arbitrary PIN-ENTRY responses to the driver: a
// block of the requested format's length, a terminator the request
// named, or a refusal — never anything else.
func FuzzPINResult(f *testing.F) {
	f.Add(unhex("00 00 08 AC 07 08 A3 C9 23 D3 4D"), false, []byte(nil))
	f.Add(unhex("00 FF F4"), false, []byte{0xF4, 0xF5})
	f.Add(unhex("00 FF F6"), true, []byte{0xF4})
	f.Add(unhex("00 FF F4 00"), false, []byte{0xF4})
	f.Add(unhex("00 04 10 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF"), true, []byte{0xF1})
	f.Fuzz(func(t *testing.T, resp []byte, iso4 bool, terms []byte) {
		fm, want := byte(0x00), 8
		if iso4 {
			fm, want = 0x04, 16
		}
		block, term, ok := parsePINResult(resp, fm, terms)
		switch {
		case !ok:
			if block != nil || term != "" {
				t.Fatalf("refused % X but returned % X, %q", resp, block, term)
			}
		case term != "":
			if block != nil || len(resp) != 3 || resp[1] != fmTerminated || keyCodes[term] != resp[2] || !bytes.Contains(terms, resp[2:3]) {
				t.Fatalf("terminator %q from % X (terminators % X)", term, resp, terms)
			}
		default:
			if len(block) != want || !bytes.Equal(block, resp[3:]) || resp[1] != fm {
				t.Fatalf("block % X from % X", block, resp)
			}
			if &block[0] == &resp[3] {
				t.Fatal("the block is not a copy")
			}
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
