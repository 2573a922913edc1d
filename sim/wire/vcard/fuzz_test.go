package vcard

import (
	"bytes"
	"testing"
)

// FuzzParseFrame: ParseFrame never panics and what it accepts re-frames
// to the input's prefix.
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0, 1, 4})
	f.Add([]byte{0, 2, 0x90, 0x00, 0, 1})
	f.Add([]byte{0})
	f.Add([]byte{0xFF, 0xFF, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, rest, err := ParseFrame(b)
		if err != nil {
			if _, err2 := ReadFrame(bytes.NewReader(b)); err2 == nil {
				t.Fatal("ReadFrame accepts what ParseFrame refuses")
			}
			return
		}
		fr, err := AppendFrame(nil, p)
		if err != nil || !bytes.Equal(append(fr, rest...), b) {
			t.Fatalf("frame does not round trip: %v", err)
		}
		q, err := ReadFrame(bytes.NewReader(b))
		if err != nil || !bytes.Equal(p, q) {
			t.Fatalf("ReadFrame disagrees with ParseFrame: %v", err)
		}
	})
}

// FuzzParseCommand: ParseCommand never panics; accepted commands hold
// what the bytes say.
func FuzzParseCommand(f *testing.F) {
	for _, s := range [][]byte{
		{0, 0xA4, 4, 0}, {0, 0xB2, 1, 0x0C, 0}, {0, 0xA4, 4, 0, 2, 0xAA, 0xBB}, {0, 0xA4, 4, 0, 2, 0xAA, 0xBB, 0}, {0, 0xA4, 4, 0, 0, 0, 2},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		if c.CLA != b[0] || c.INS != b[1] || len(c.Data) > 255 || c.Le > 256 {
			t.Fatalf("ParseCommand(% X) = %+v", b, c)
		}
	})
}

// FuzzCard: any sequence of frames leaves the card answering with a
// response APDU (at least a status word) or nothing, never a panic.
func FuzzCard(f *testing.F) {
	f.Add([]byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0, 0, 0, 3, 0x10, 0x10, 0x00}, true)
	f.Add([]byte{0x80, 0xA8, 0x00, 0x00, 0x08, 0x83, 0x06, 0x01, 0x58, 0x14, 0x20, 0x40, 0x00, 0x00}, false)
	f.Add([]byte{0x00, 0xC0, 0x00, 0x00, 0x00}, true)
	f.Fuzz(func(t *testing.T, apdu []byte, t0 bool) {
		p := alice
		p.T0 = t0
		c, err := New(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Select the application first so that later commands reach
		// deeper states, then the fuzzed command twice.
		for _, cmd := range [][]byte{
			{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0, 0, 0, 3, 0x10, 0x10, 0x00},
			apdu, apdu,
			{0x80, 0xA8, 0x00, 0x00, 0x08, 0x83, 0x06, 0x01, 0x58, 0x14, 0x20, 0x40, 0x00, 0x00},
			apdu,
		} {
			out, err := c.handle(cmd)
			if err != nil {
				t.Fatalf("handle(% X): %v", cmd, err)
			}
			if len(cmd) != 1 && len(out) < 2 {
				t.Fatalf("handle(% X) = % X: no status word", cmd, out)
			}
		}
	})
}
