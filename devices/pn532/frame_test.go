package pn532

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeFrame(t *testing.T) {
	tests := []struct {
		data string
		want string
	}{
		{"14 01 14 01", "00 00 FF 05 FB D4 14 01 14 01 02 00"},
		{"02", "00 00 FF 02 FE D4 02 2A 00"},
		{"86", "00 00 FF 02 FE D4 86 A6 00"},
		{"8E 90 00", "00 00 FF 04 FC D4 8E 90 00 0E 00"},
	}
	for _, tc := range tests {
		got, err := encodeFrame(tfiHost, unhex(t, tc.data))
		if err != nil || !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("encodeFrame(%s) = % X, %v; want %s", tc.data, got, err, tc.want)
		}
	}
}

func TestEncodeExtendedFrame(t *testing.T) {
	data := append([]byte{0x8E}, bytes.Repeat([]byte{0xA5}, 257)...)
	got, err := encodeFrame(tfiHost, data)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "00 00 FF FF FF 01 03 FC D4 8E"); !bytes.Equal(got[:10], want) {
		t.Fatalf("header % X, want % X", got[:10], want)
	}
	if len(got) != 8+259+2 {
		t.Fatalf("length %d", len(got))
	}
	f, n, err := parseFrame(got)
	if err != nil || n != len(got) || f.tfi != tfiHost || !bytes.Equal(f.data, data) {
		t.Fatalf("parse back: %v %d %v", f, n, err)
	}
	// Exactly 254 is still a normal frame; 255 is extended.
	n254, _ := encodeFrame(tfiHost, make([]byte, 253))
	n255, _ := encodeFrame(tfiHost, make([]byte, 254))
	if n254[3] != 254 || n255[3] != 0xFF || n255[4] != 0xFF {
		t.Errorf("LEN 254 → % X, LEN 255 → % X", n254[:5], n255[:5])
	}
	if _, err := encodeFrame(tfiHost, make([]byte, maxFrameLen)); !errors.Is(err, ErrFrame) {
		t.Errorf("oversized frame: %v", err)
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind frameKind
		data string
		n    int
	}{
		{"ACK", "00 00 FF 00 FF 00", kindACK, "", 5},
		{"NACK", "00 00 FF FF 00 00", kindNACK, "", 5},
		{"error frame", "00 00 FF 01 FF 7F 81 00", kindError, "", 8},
		{"firmware", "00 00 FF 06 FA D5 03 32 01 06 07 E8 00", kindInfo, "03 32 01 06 07", 13},
		{"no preamble", "00 FF 02 FE D5 15 16 00", kindInfo, "15", 8},
		{"garbage first", "55 13 00 37 00 00 FF 02 FE D5 15 16 00", kindInfo, "15", 13},
		{"LEN FF normal", "00 00 FF FF 01 D5" + strings.Repeat(" 00", 254) + " 2B 00", kindInfo, strings.Repeat("00 ", 254), 5 + 255 + 2},
	}
	for _, tc := range tests {
		f, n, err := parseFrame(unhex(t, tc.in))
		if err != nil || f.kind != tc.kind || n != tc.n || !bytes.Equal(f.data, unhex(t, tc.data)) {
			t.Errorf("%s: parseFrame = %+v, %d, %v", tc.name, f, n, err)
		}
	}
}

func TestParseFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		is   error
		n    int
	}{
		{"nothing", "", errIncomplete, 0},
		{"noise", "13 37 55", errIncomplete, 3},
		{"noise then zero", "13 37 00", errIncomplete, 2},
		{"start only", "13 00 FF", errIncomplete, 1},
		{"truncated", "00 00 FF 06 FA D5 03 32", errIncomplete, 1},
		{"truncated extended header", "00 00 FF FF FF 01", errIncomplete, 1},
		{"bad LCS", "00 00 FF 06 FB D5 03 32 01 06 07 E8 00", ErrChecksum, 3},
		{"bad extended LCS", "00 00 FF FF FF 01 03 FD D5", ErrChecksum, 3},
		{"zero length", "00 00 FF FF FF 00 00 00 D5", ErrFrame, 3},
		{"extended too long", "00 00 FF FF FF 01 0A F5 D5", ErrFrame, 3},
		{"bad DCS", "00 00 FF 06 FA D5 03 32 01 06 07 E9 00", ErrChecksum, 13},
		{"bad postamble", "00 00 FF 06 FA D5 03 32 01 06 07 E8 01", ErrFrame, 13},
	}
	for _, tc := range tests {
		_, n, err := parseFrame(unhex(t, tc.in))
		if !errors.Is(err, tc.is) || n != tc.n {
			t.Errorf("%s: parseFrame = %d, %v; want %d, %v", tc.name, n, err, tc.n, tc.is)
		}
	}
}

// After a frame with a bad LCS the parser finds the good frame behind it.
func TestParseFrameResyncs(t *testing.T) {
	in := unhex(t, "00 FF 05 00 C0 FF EE 00 00 FF 02 FE D5 15 16 00")
	var got []frame
	for len(in) > 0 {
		f, n, err := parseFrame(in)
		in = in[n:]
		if errors.Is(err, errIncomplete) {
			break
		}
		if err == nil {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].data[0] != 0x15 {
		t.Fatalf("frames = %+v", got)
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		"00 00 FF 00 FF 00",
		"00 00 FF FF 00 00",
		"00 00 FF 01 FF 7F 81 00",
		"00 00 FF 06 FA D5 03 32 01 06 07 E8 00",
		"00 00 FF FF FF 00 03 FD D5 8F 00 9C 00",
		"55 55 00 00 00 00 FF 05 FB D5 8D 08 E0 80 36 00",
		"00 FF 05 00 C0 FF EE",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rest := in
		for len(rest) > 0 {
			fr, n, err := parseFrame(rest)
			if n < 0 || n > len(rest) {
				t.Fatalf("n = %d of %d", n, len(rest))
			}
			if errors.Is(err, errIncomplete) {
				if len(rest)-n > maxFrameLen+10 {
					t.Fatalf("incomplete keeps %d bytes", len(rest)-n)
				}
				return
			}
			if n == 0 {
				t.Fatal("no progress")
			}
			if err == nil && fr.kind == kindInfo {
				enc, eerr := encodeFrame(fr.tfi, fr.data)
				if eerr != nil {
					t.Fatalf("re-encode: %v", eerr)
				}
				back, m, perr := parseFrame(enc)
				if perr != nil || m != len(enc) || back.tfi != fr.tfi || !bytes.Equal(back.data, fr.data) {
					t.Fatalf("round trip % X: %v", enc, perr)
				}
			}
			rest = rest[n:]
		}
	})
}
