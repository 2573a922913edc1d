package emv

import (
	"bytes"
	"testing"
)

// FuzzParse: Parse never panics, and what it accepts re-encodes to the
// input minus padding.
func FuzzParse(f *testing.F) {
	for _, s := range [][]byte{
		{}, {0x5A, 0x01, 0x47}, {0x6F, 0x05, 0x84, 0x03, 1, 2, 3}, {0x9F, 0x36, 0x02, 0, 1},
		{0x70, 0x81, 0x01, 0xAA}, {0x00, 0xFF, 0x82, 0x02, 0x18, 0x00}, {0x9F}, {0x70, 0x80},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tlvs, err := Parse(b)
		if err != nil {
			return
		}
		enc := Encode(tlvs...)
		again, err := Parse(enc)
		if err != nil || len(again) != len(tlvs) {
			t.Fatalf("re-encoding % X does not parse: %v", enc, err)
		}
		for i := range again {
			if again[i].Tag != tlvs[i].Tag || !bytes.Equal(again[i].Value, tlvs[i].Value) {
				t.Fatalf("round trip changed object %d", i)
			}
		}
		_, _ = Flatten(b)
	})
}

// FuzzParseDOL: ParseDOL never panics; accepted lists round trip and
// Build always yields Size bytes.
func FuzzParseDOL(f *testing.F) {
	f.Add([]byte{0x9F, 0x02, 0x06, 0x9F, 0x37, 0x04})
	f.Add([]byte{0x9F, 0x1A, 0x02, 0x95, 0x05})
	f.Add([]byte{0x9F})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDOL(b)
		if err != nil {
			return
		}
		again, err := ParseDOL(d.Encode())
		if err != nil || len(again) != len(d) {
			t.Fatalf("DOL does not round trip: %v", err)
		}
		data := d.Build(map[Tag][]byte{TagAmount: {1, 2, 3, 4, 5, 6, 7}, TagUN: {1}})
		if len(data) != d.Size() {
			t.Fatalf("Build gave %d bytes, Size %d", len(data), d.Size())
		}
		if _, err := d.Split(data); err != nil {
			t.Fatalf("Split of built data: %v", err)
		}
	})
}

// FuzzParseAFL: ParseAFL never panics and accepted AFLs round trip.
func FuzzParseAFL(f *testing.F) {
	f.Add([]byte{0x08, 0x01, 0x02, 0x00})
	f.Add([]byte{0x08, 0x01, 0x02, 0x00, 0x10, 0x01, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		afl, err := ParseAFL(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeAFL(afl...), b) {
			t.Fatal("AFL does not round trip")
		}
	})
}

// FuzzParseTrack2: ParseTrack2 never panics and accepted data round
// trips through Bytes.
func FuzzParseTrack2(f *testing.F) {
	f.Add([]byte{0x47, 0x61, 0x73, 0x00, 0x00, 0x00, 0x10, 0x19, 0xD2, 0x91, 0x22, 0x01})
	f.Add([]byte{0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x01, 0x19, 0xD2, 0x71, 0x22, 0x01, 0x1F})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParseTrack2(b)
		if err != nil {
			return
		}
		enc, err := tr.Bytes()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("track 2 % X re-encodes to % X (%v)", b, enc, err)
		}
	})
}
