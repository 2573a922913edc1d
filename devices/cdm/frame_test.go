package cdm

import (
	"bytes"
	"slices"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
)

func TestCRC16(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x29B1 {
		t.Errorf("check value = %04X, want 29B1", got)
	}
	// framing.md's example: STATUS to the EPP, SEQ 1.
	if got, want := appendFrame(nil, 1, 0x01, nil), []byte{0x02, 0x01, 0x00, 0x01, 0x01, 0xD1, 0x64, 0x03}; !bytes.Equal(got, want) {
		t.Errorf("frame = % X, want % X", got, want)
	}
}

func TestScan(t *testing.T) {
	good := appendFrame(nil, 7, 0x81, []byte{0x00})
	dataLikeLine := appendFrame(nil, 8, 0x84, []byte{bACK, bNAK, bSTX, bETX})
	damaged := slices.Clone(dataLikeLine)
	damaged[6] ^= 0x40 // ETX stays in place: only the CRC fails
	// No 02 byte anywhere inside, so the hunt finds no STX in it.
	misframed := appendFrame(nil, 9, 0x85, []byte{0x00, 0x00, 0x04})
	misframed[len(misframed)-1] = 0x00
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		want []token
	}{
		{"frame", good, []token{tokFrame}},
		{"ACK NAK", []byte{bACK, bNAK}, []token{tokACK, tokNAK}},
		{"noise then frame", cat([]byte{0x00, 0xFF, bETX}, good), []token{tokNoise, tokFrame}},
		{"frame carrying line bytes", dataLikeLine, []token{tokFrame}},
		{"damaged frame dropped whole, ACK after it counts", cat(damaged, []byte{bACK}), []token{tokBad, tokACK}},
		{"misplaced ETX then frame", cat(misframed, good), []token{tokBad, tokFrame}},
		{"LEN 0", cat([]byte{bSTX, 1, 0, 0}, good), []token{tokBad, tokFrame}},
		{"LEN over 1024", cat([]byte{bSTX, 1, 0x04, 0x01}, good), []token{tokBad, tokFrame}},
		{"partial", good[:6], []token{tokMore}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []token
			buf := tc.in
			for len(buf) > 0 {
				tok, f, n := scan(buf)
				got = append(got, tok)
				if tok == tokMore {
					break
				}
				if tok == tokFrame && !bytes.Equal(appendFrame(nil, f.Seq, f.Cmd, f.Data), buf[:n]) {
					t.Errorf("frame % X re-encodes differently", buf[:n])
				}
				buf = buf[n:]
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("tokens %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEncodeRefusesWhatTheFrameCannotCarry(t *testing.T) {
	long := make([]byte, 256)
	for _, q := range []dispenser.DispenseRequest{
		{Txn: string(long)},
		{Token: long},
		{Mix: []dispenser.Notes{{Cassette: 70000, Count: 1}}},
		{Mix: []dispenser.Notes{{Cassette: -1, Count: 1}}},
		{Mix: make([]dispenser.Notes, 256)},
	} {
		if _, err := encodeDispense(q); err == nil {
			t.Errorf("encodeDispense(%.40v) accepted", q)
		}
	}
	if _, err := encodeLoad([]dispenser.Cassette{{ID: 1, Denomination: 100, Currency: "NTD$"}}); err == nil {
		t.Error("encodeLoad accepted a 4-letter currency")
	}
}

// FuzzScan: scan never panics, always makes progress unless it needs
// more bytes, and a frame it finds is exactly the bytes it took.
func FuzzScan(f *testing.F) {
	good := appendFrame(nil, 1, 0x83, append([]byte{0, 16}, make([]byte, 16)...))
	f.Add(good)
	f.Add(append([]byte{0x00, bACK, bSTX, 0x05}, good...))
	f.Add([]byte{bSTX, 1, 0, 0})
	f.Add([]byte{bSTX, 1, 0x04, 0x01, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			tok, fr, n := scan(b)
			if tok == tokMore {
				if n != 0 || b[0] != bSTX {
					t.Fatalf("tokMore with n=%d on % X", n, b)
				}
				return
			}
			if n <= 0 || n > len(b) {
				t.Fatalf("token %v consumed %d of %d bytes", tok, n, len(b))
			}
			if tok == tokFrame && !bytes.Equal(appendFrame(nil, fr.Seq, fr.Cmd, fr.Data), b[:n]) {
				t.Fatalf("frame % X re-encodes differently", b[:n])
			}
			b = b[n:]
		}
	})
}

// FuzzParseResponses runs every response parser on arbitrary DATA: no
// panic, and what parses is self-consistent.
func FuzzParseResponses(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x28, 0x01, 0x00, 0x01, 0x00})
	f.Add([]byte{0x06, 0x08, 'D', 'S', 'P', '-', 'P', 'I', 'C', 'K', 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02})
	f.Add([]byte{0x00, 0x04, 0x01, 0x06, 'T', '0', '0', '0', '0', '1', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseReply(data)
		if err != nil {
			return
		}
		if ds, err := parseStatus(r.rest); err == nil && ds.state > 3 {
			t.Fatalf("state %d accepted", ds.state)
		}
		if _, cs, err := parseCassettes(r.rest); err == nil {
			for _, c := range cs {
				if c.Count < 0 || c.Denomination < 0 || len(c.Currency) != 3 {
					t.Fatalf("cassette %+v accepted", c)
				}
			}
		}
		_, _ = parseLast(r.rest)
		d := &decoder{p: r.rest}
		res := parseResult(d)
		if d.done() == nil {
			for _, n := range res.Dispensed {
				if n.Count < 0 || n.Cassette < 0 {
					t.Fatalf("notes %+v accepted", n)
				}
			}
		}
	})
}
