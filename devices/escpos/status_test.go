package escpos

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		name  string
		b     []byte
		state hal.State
		fault string
		paper string
		err   error // the fault wraps it
	}{
		{"ready", []byte{0x12, 0x12, 0x12, 0x12}, hal.Online, "", "ok", nil},
		{"drawer pin high is not a fault", []byte{0x16, 0x12, 0x12, 0x12}, hal.Online, "", "ok", nil},
		{"near end", []byte{0x12, 0x12, 0x12, 0x1E}, hal.Online, "", "low", nil},
		{"near end, one sensor", []byte{0x12, 0x12, 0x12, 0x16}, hal.Online, "", "low", nil},
		{"paper out", []byte{0x1A, 0x32, 0x12, 0x7E}, hal.UserError, FaultPaperOut, "out", printer.ErrPaperOut},
		{"paper end stop only", []byte{0x1A, 0x32, 0x12, 0x12}, hal.UserError, FaultPaperOut, "out", printer.ErrPaperOut},
		{"cover open", []byte{0x1A, 0x16, 0x12, 0x12}, hal.UserError, FaultCoverOpen, "ok", nil},
		{"cutter", []byte{0x1A, 0x52, 0x1A, 0x12}, hal.HardwareError, FaultJam, "ok", nil},
		{"cutter beats paper out", []byte{0x1A, 0x72, 0x1A, 0x7E}, hal.HardwareError, FaultJam, "out", nil},
		{"unrecoverable", []byte{0x1A, 0x52, 0x32, 0x12}, hal.HardwareError, FaultHardware, "ok", nil},
		{"head hot", []byte{0x1A, 0x52, 0x52, 0x12}, hal.HardwareError, FaultHardware, "ok", nil},
		{"error without cause", []byte{0x1A, 0x52, 0x12, 0x12}, hal.HardwareError, FaultHardware, "ok", nil},
		{"feed button", []byte{0x1A, 0x1A, 0x12, 0x12}, hal.Busy, "", "ok", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseStatus(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			st, f := s.status()
			if st.State != tc.state || st.Fault != tc.fault || st.Extra["paper"] != tc.paper {
				t.Errorf("status %v %v, want %v %q paper %s", st, st.Extra, tc.state, tc.fault, tc.paper)
			}
			if (f != nil) != (tc.fault != "") {
				t.Fatalf("fault %v for status %v", f, st)
			}
			if f != nil {
				if f.Code != tc.fault || !reflect.DeepEqual(f.Raw, tc.b) || f.Device != "printer" {
					t.Errorf("fault %+v", f)
				}
				if tc.err != nil && !errors.Is(f, tc.err) {
					t.Errorf("fault %v does not wrap %v", f, tc.err)
				}
			}
		})
	}
}

func TestStatusGarbage(t *testing.T) {
	for _, b := range [][]byte{
		{0xFF, 0x12, 0x12, 0x12},
		{0x12, 0x13, 0x12, 0x12}, // bit 0 on
		{0x12, 0x12, 0x02, 0x12}, // bit 4 off
		{0x12, 0x12, 0x12, 0x92}, // bit 7 on
		{0x12, 0x12, 0x12},
	} {
		if _, err := parseStatus(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("parseStatus(% X) = %v, want ErrProtocol", b, err)
		}
	}
}

func TestPaperSensor(t *testing.T) {
	for b, want := range map[byte]paperSensor{
		0x00: {},
		0x03: {nearEnd: true},
		0x0F: {nearEnd: true, paperEnd: true},
		0x60: {}, // reserved bits
	} {
		got, err := parsePaperSensor(b)
		if err != nil || got != want {
			t.Errorf("parsePaperSensor(%02X) = %+v, %v; want %+v", b, got, err, want)
		}
	}
	for _, b := range []byte{0x10, 0x12, 0x80, 0xFF} {
		if _, err := parsePaperSensor(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("parsePaperSensor(%02X) = %v, want ErrProtocol", b, err)
		}
	}
}

// FuzzParseStatus: any four bytes either fail with ErrProtocol or give a
// status whose fault, if any, matches it; a real-time answer is never
// also a GS r answer.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte{0x12, 0x12, 0x12, 0x12})
	f.Add([]byte{0x1A, 0x32, 0x12, 0x7E})
	f.Add([]byte{0x1A, 0x52, 0x1A, 0x12})
	f.Add([]byte{0xFF, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range b {
			if isRealtime(c) && isPaperSensor(c) {
				t.Fatalf("%02X reads as both kinds of answer", c)
			}
			if _, err := parsePaperSensor(c); (err == nil) != isPaperSensor(c) {
				t.Fatalf("parsePaperSensor(%02X) = %v", c, err)
			}
		}
		s, err := parseStatus(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		st, fl := s.status()
		if (fl == nil) != (st.Fault == "") || (fl != nil && fl.Code != st.Fault) {
			t.Fatalf("status %v, fault %v", st, fl)
		}
		if p := st.Extra["paper"]; p != "ok" && p != "low" && p != "out" {
			t.Fatalf("paper %q", p)
		}
	})
}

func TestWrap(t *testing.T) {
	e := newEncoder(codePages["cp437"], true)
	lines, replaced := e.wrap("ab提款c😀", 4)
	var got []string
	for _, gs := range lines {
		var b strings.Builder
		w := 0
		for _, g := range gs {
			b.Write(g.b)
			w += g.width
		}
		got = append(got, b.String())
		if w > 4 {
			t.Errorf("line %q is %d columns wide", b.String(), w)
		}
	}
	want := []string{"ab\xb4\xa3", "\xb4\xdac?"} // an emoji is neither CP437 nor Big5
	if !reflect.DeepEqual(got, want) || replaced != 1 {
		t.Errorf("wrap = %q (%d replaced), want %q (1)", got, replaced, want)
	}
}

// FuzzEncode: any valid receipt encodes without panicking; every wrapped
// line fits; the text carries no byte below 0x20 but LF.
func FuzzEncode(f *testing.F) {
	f.Add("ATMD BANK", "提款 1,500 元", 42, true)
	f.Add("Café €", "", 8, false)
	f.Fuzz(func(t *testing.T, a, b string, cols int, big5 bool) {
		r := printer.Receipt{Lines: []string{a, b}, Cut: true}
		if r.Validate() != nil {
			return
		}
		cols = 8 + int(uint(cols)%64)
		e := newEncoder(codePages["cp858"], big5)
		out, _, err := e.encode(r, job{cols: cols, cut: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{a, b} {
			lines, _ := e.wrap(l, cols)
			n := 0
			for _, gs := range lines {
				w := 0
				for _, g := range gs {
					w += g.width
					if g.b[0] < 0x20 {
						t.Fatalf("text byte %02X", g.b[0])
					}
				}
				if w > cols && len(gs) > 1 {
					t.Fatalf("line of %d columns, limit %d", w, cols)
				}
				n += len(gs)
			}
			if n != utf8.RuneCountInString(l) {
				t.Fatalf("%d glyphs for %d characters", n, utf8.RuneCountInString(l))
			}
		}
		if len(out) < 10 {
			t.Fatalf("job of %d bytes", len(out))
		}
	})
}
