package pn532

import (
	"bytes"
	"testing"
)

type fakeStore struct {
	msg []byte
	gen uint64
}

func (s *fakeStore) snapshot() ([]byte, uint64) { return s.msg, s.gen }

// A reader's whole NDEF read, APDU by APDU.
func TestT4TRead(t *testing.T) {
	msg := bytes.Repeat([]byte{0xC3}, 300)
	st := &fakeStore{msg: msg, gen: 7}
	tag := newT4T(0xFF, 1026, st.snapshot)
	steps := []struct {
		c, r string
		done bool
	}{
		{"00 B0 00 00 02", "69 86", false}, // nothing selected
		{"00 A4 00 0C 02 E1 03", "6A 82", false},
		{"00 A4 04 00 07 D2 76 00 00 85 01 01 00", "90 00", false},
		{"00 A4 00 0C 02 E1 03", "90 00", false},
		{"00 B0 00 00 0F", "00 0F 20 00 FF 00 FF 04 06 E1 04 04 02 00 FF 90 00", false},
		{"00 A4 00 0C 02 E1 04", "90 00", false},
		{"00 B0 00 00 02", "01 2C 90 00", false},
	}
	for _, s := range steps {
		r, done, _ := tag.handle(unhex(t, s.c))
		if !bytes.Equal(r, unhex(t, s.r)) || done != s.done {
			t.Fatalf("%s → % X %v; want %s %v", s.c, r, done, s.r, s.done)
		}
	}
	r, done, _ := tag.handle(unhex(t, "00 B0 00 02 FF"))
	if len(r) != 257 || done || !bytes.Equal(r[:255], msg[:255]) {
		t.Fatalf("first chunk: %d bytes, done %v", len(r), done)
	}
	r, done, gen := tag.handle(unhex(t, "00 B0 01 01 2D"))
	if !bytes.Equal(r[:45], msg[255:]) || !bytes.Equal(r[45:], swOK) || !done || gen != 7 {
		t.Fatalf("last chunk: % X done %v gen %d", r[45:], done, gen)
	}
	// Done is reported once.
	if _, done, _ := tag.handle(unhex(t, "00 B0 00 00 02")); done {
		t.Error("done reported twice")
	}
}

// The session reads the snapshot taken at SELECT, not a later Publish.
func TestT4TSnapshot(t *testing.T) {
	st := &fakeStore{msg: []byte{1, 2, 3}, gen: 1}
	tag := newT4T(0x0F, 1026, st.snapshot)
	for _, c := range []string{"00 A4 04 00 07 D2 76 00 00 85 01 01", "00 A4 00 0C 02 E1 04"} {
		tag.handle(unhex(t, c))
	}
	st.msg, st.gen = []byte{9, 9, 9, 9}, 2
	r, done, gen := tag.handle(unhex(t, "00 B0 00 00 05"))
	if !bytes.Equal(r, unhex(t, "00 03 01 02 03 90 00")) || !done || gen != 1 {
		t.Fatalf("read % X done %v gen %d", r, done, gen)
	}
}

func TestT4TErrors(t *testing.T) {
	st := &fakeStore{}
	tag := newT4T(0x10, 1026, st.snapshot)
	tests := []struct{ c, r string }{
		{"00 A4 04 00 07 D2 76 00 00 85 01 01 00", "6A 82"}, // nothing published
		{"00 A4 04 00 07 D2 76 00 00 85 01 00 00", "6A 82"}, // mapping version 1 AID
		{"00", "67 00"},
		{"80 A4 04 00 07 D2 76 00 00 85 01 01 00", "6E 00"},
		{"00 CA 00 00 00", "6D 00"},
		{"00 D6 00 00 01 00", "69 82"},
		{"00 A4 04 00 09 D2 76", "67 00"},
		{"00 A4 02 0C 02 E1 03", "6A 86"},
	}
	for _, tc := range tests {
		if r, _, _ := tag.handle(unhex(t, tc.c)); !bytes.Equal(r, unhex(t, tc.r)) {
			t.Errorf("%s → % X, want %s", tc.c, r, tc.r)
		}
	}
	st.msg = []byte{1, 2, 3}
	tag.handle(unhex(t, "00 A4 04 00 07 D2 76 00 00 85 01 01 00"))
	more := []struct{ c, r string }{
		{"00 A4 00 0C 02 E1 05", "6A 82"},
		{"00 A4 00 0C 03 E1 04 00", "67 00"},
		{"00 A4 00 0C 02 E1 04", "90 00"},
		{"00 B0 00 00", "67 00"},
		{"00 B0 00 00 11", "67 00"},          // Le above MLe
		{"00 B0 00 06 01", "6B 00"},          // beyond the 5-byte file
		{"00 B0 00 03 05", "02 03 62 82"},    // end of file first
		{"00 B0 80 00 01", "6A 86"},          // short EF identifier
		{"00 B0 00 05 01", "62 82"},          // at the end: nothing left
		{"00 A4 00 00 02 E1 03", "90 00"},    // P2 00 accepted
		{"00 B0 00 00 02", "00 0F 90 00"},    // CC
		{"00 B0 00 0E 02", "FF 62 82"},       // CC end
		{"00 A4 00 0C 02 E1 04 00", "90 00"}, // with Le
	}
	for _, tc := range more {
		if r, _, _ := tag.handle(unhex(t, tc.c)); !bytes.Equal(r, unhex(t, tc.r)) {
			t.Errorf("%s → % X, want %s", tc.c, r, tc.r)
		}
	}
}

func FuzzT4T(f *testing.F) {
	for _, s := range []string{
		"00 A4 04 00 07 D2 76 00 00 85 01 01 00",
		"00 A4 00 0C 02 E1 03",
		"00 B0 00 00 0F",
		"00 A4 00 0C 02 E1 04",
		"00 B0 00 02 FF",
		"00 B0 7F FF FF",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		st := &fakeStore{msg: bytes.Repeat([]byte{7}, 40), gen: 3}
		tag := newT4T(0x20, 1026, st.snapshot)
		for _, c := range [][]byte{
			unhex(t, "00 A4 04 00 07 D2 76 00 00 85 01 01 00"),
			unhex(t, "00 A4 00 0C 02 E1 04"),
			in, in,
		} {
			r, _, _ := tag.handle(c)
			if len(r) < 2 || len(r) > 0x20+2 {
				t.Fatalf("R-APDU of %d bytes", len(r))
			}
		}
	})
}
