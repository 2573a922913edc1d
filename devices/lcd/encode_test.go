package lcd

import (
	"bytes"
	"testing"
)

func TestScreen(t *testing.T) {
	got := screen([]string{"A", "", "þé"}, true)
	want := []byte{0xFE, 0x58, 0xFE, 0x47, 1, 1, 'A', 0xFE, 0x47, 1, 3, '?', 0xE9}
	if !bytes.Equal(got, want) {
		t.Errorf("screen = % X, want % X", got, want)
	}
	if got := screen(nil, true); !bytes.Equal(got, []byte{0xFE, 0x58}) {
		t.Errorf("empty screen = % X", got)
	}
}

// commandArgs are the parameter counts of the commands the driver sends.
var commandArgs = map[byte]int{0x58: 0, 0x47: 2, 0x42: 1, 0x4B: 0, 0x54: 0, 0x44: 0, 0x52: 0}

// FuzzScreen: whatever the text, the bytes are commands the driver
// means to send and characters that are neither control bytes nor the
// command prefix, and one character per rune.
func FuzzScreen(f *testing.F) {
	f.Add("IN SERVICE", "Café þ", true)
	f.Add("\x00\xfe\xff", "\u00fe\u0085", false)
	f.Fuzz(func(t *testing.T, a, b string, latin1 bool) {
		lines := []string{a, b}
		out := append(append([]byte{}, setupBytes...), screen(lines, latin1)...)
		chars := 0
		for i := 0; i < len(out); {
			if out[i] == prefix {
				n, ok := commandArgs[out[i+1]]
				if !ok {
					t.Fatalf("unexpected command FE %02X", out[i+1])
				}
				i += 2 + n
				continue
			}
			if out[i] < 0x20 || (out[i] >= 0x7F && out[i] < 0xA0) {
				t.Fatalf("character byte %02X", out[i])
			}
			chars++
			i++
		}
		want := 0
		for _, l := range lines {
			want += len([]rune(l))
		}
		if chars != want {
			t.Fatalf("%d characters sent for %d runes", chars, want)
		}
	})
}
