package escpos

import (
	"bytes"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"init and text", []byte("\x1b@AB\nC"), []string{"ESC @ ", "text(kanji=false 41 42)", "ctl 0A", "text(kanji=false 43)"}},
		{"status requests", []byte{0x10, 0x04, 0x01, 0x10, 0x04, 0x04}, []string{"DLE EOT 01", "DLE EOT 04"}},
		{"cut function A", []byte{0x1D, 0x56, 0x01, 'X'}, []string{"GS V 01", "text(kanji=false 58)"}},
		{"cut function B", []byte{0x1D, 0x56, 0x42, 0x03, 'X'}, []string{"GS V 42 03", "text(kanji=false 58)"}},
		{"kanji", []byte{0x1C, 0x26, 'A', 0xB4, 0xA3, 0x1C, 0x2E, 0x82}, []string{"FS & ", "text(kanji=true 41 B4 A3)", "FS . ", "text(kanji=false 82)"}},
		{"kanji lead without trail", []byte{0x1C, 0x26, 0xB4, 0x0A}, []string{"FS & ", "unknown B4", "ctl 0A"}},
		{"unknown command", []byte{0x1B, 0x01, 'A'}, []string{"unknown 1B 01", "text(kanji=false 41)"}},
		{"stray control", []byte{0x07, 'A'}, []string{"unknown 07", "text(kanji=false 41)"}},
		{"raster image skipped", append([]byte{0x1D, 0x76, 0x30, 0x00, 0x02, 0x00, 0x02, 0x00, 0x1B, 0x40, 0x0A, 0x10}, 'Z'),
			[]string{"GS v 30 00 02 00 02 00 +4", "text(kanji=false 5A)"}},
		{"2D code skipped", []byte{0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x03, 'Z'}, []string{"GS ( 6B 03 00 +3", "text(kanji=false 5A)"}},
		{"barcode to NUL", []byte{0x1D, 0x6B, 0x04, '1', '2', 0x00, 'Z'}, []string{"GS k 04 +NUL", "text(kanji=false 5A)"}},
		{"barcode counted", []byte{0x1D, 0x6B, 0x45, 0x02, '1', '2', 'Z'}, []string{"GS k 45 02 +2", "text(kanji=false 5A)"}},
		{"tab stops", []byte{0x1B, 0x44, 0x08, 0x10, 0x00, 'Z'}, []string{"ESC D  +NUL", "text(kanji=false 5A)"}},
		{"bit image 24-dot", []byte{0x1B, 0x2A, 0x21, 0x01, 0x00, 1, 2, 3, 'Z'}, []string{"ESC * 21 01 00 +3", "text(kanji=false 5A)"}},
		{"incomplete", []byte{0x1B, 0x74}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Parser
			var got []string
			for _, c := range p.Feed(tc.in) {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parsed %q\nwant   %q", got, tc.want)
			}
		})
	}
}

// A huge declared image costs no memory: its bytes are skipped as they
// come.
func TestParseHugeBulkIsNotBuffered(t *testing.T) {
	var p Parser
	cmds := p.Feed([]byte{0x1D, 0x76, 0x30, 0x00, 0xFF, 0xFF, 0xFF, 0xFF})
	if len(cmds) != 1 || cmds[0].Bulk != 0xFFFF*0xFFFF {
		t.Fatalf("parsed %v", cmds)
	}
	chunk := bytes.Repeat([]byte{0x1B}, 4096)
	for range 16 {
		if got := p.Feed(chunk); len(got) != 0 {
			t.Fatalf("image data parsed as %v", got[0])
		}
	}
	if len(p.pending) != 0 {
		t.Fatalf("parser buffered %d bytes", len(p.pending))
	}
}

// normalise merges adjacent text of the same mode, which chunking may
// split.
func normalise(cmds []Cmd) []Cmd {
	var out []Cmd
	for _, c := range cmds {
		if n := len(out); n > 0 && c.Op == OpText && out[n-1].Op == OpText && out[n-1].Kanji == c.Kanji {
			out[n-1].Data = append(out[n-1].Data, c.Data...)
			continue
		}
		out = append(out, c)
	}
	return out
}

// FuzzParser feeds any stream in one piece and in two, at any cut: the
// parser must not panic, must not hold more than one element's worth of
// bytes, and must parse both ways alike.
func FuzzParser(f *testing.F) {
	f.Add([]byte("\x1b@\x1bt\x00\x1c.ATMD\n\x1c&\xb4\xa3\x1d\x56\x42\x00\x1d\x72\x01"), 5)
	f.Add([]byte{0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x03, 0x10, 0x04, 0x04}, 2)
	f.Add([]byte{0x1D, 0x76, 0x30, 0x00, 0x02, 0x00, 0x02, 0x00, 1, 2, 3, 4, 'Z'}, 7)
	f.Add([]byte{0x1D, 0x6B, 0x04, '1', 0x00, 0x1D, 0x6B, 0x45, 0x01, '1'}, 3)
	f.Add([]byte{0x1C, 0x26, 0xB4, 0x0A, 0xFF, 0x81}, 1)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		var whole Parser
		one := normalise(whole.Feed(data))
		if cut < 0 {
			cut = -cut
		}
		if len(data) > 0 {
			cut %= len(data) + 1
		} else {
			cut = 0
		}
		var split Parser
		two := normalise(append(split.Feed(data[:cut]), split.Feed(data[cut:])...))
		if len(one) != len(two) {
			t.Fatalf("one piece: %v\ntwo pieces at %d: %v", one, cut, two)
		}
		for i := range one {
			if one[i].String() != two[i].String() {
				t.Fatalf("element %d: %v vs %v", i, one[i], two[i])
			}
		}
		if len(whole.pending) > 2+8 {
			t.Fatalf("parser holds %d bytes", len(whole.pending))
		}
	})
}
