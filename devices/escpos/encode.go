package escpos

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Command bytes the driver sends (ESC/POS names).
var (
	cmdInit       = []byte{0x1B, 0x40}       // ESC @: initialise
	cmdNoASB      = []byte{0x1D, 0x61, 0x00} // GS a 0: no automatic status back
	cmdKanjiOn    = []byte{0x1C, 0x26}       // FS &: two-byte (Big5) mode
	cmdKanjiOff   = []byte{0x1C, 0x2E}       // FS .: back to the code table
	cmdPaperQuery = []byte{0x1D, 0x72, 0x01} // GS r 1: paper sensor, after the job
)

const (
	lf        = 0x0A
	replaceCh = '?'
)

// codePage is a character code table as ESC t n selects it.
type codePage struct {
	n  byte
	cm *charmap.Charmap
}

// codePages are the tables Options.CodePage may name, with their ESC t
// numbers (Epson numbering).
var codePages = map[string]codePage{
	"cp437":        {0, charmap.CodePage437},
	"cp850":        {2, charmap.CodePage850},
	"windows-1252": {16, charmap.Windows1252},
	"cp866":        {17, charmap.CodePage866},
	"cp852":        {18, charmap.CodePage852},
	"cp858":        {19, charmap.CodePage858},
}

// glyph is one character as the printer receives it.
type glyph struct {
	b     []byte
	width int  // columns taken: 1, or 2 for a Big5 character
	kanji bool // sent in two-byte (FS &) mode
}

// encoder turns receipt text into printer bytes: single-byte characters
// through the code table, Traditional Chinese through the printer's Big5
// mode, anything else as '?'.
type encoder struct {
	cp   codePage
	big5 *encoding.Encoder // nil: the printer has no Big5 mode
}

func newEncoder(cp codePage, big5 bool) *encoder {
	e := &encoder{cp: cp}
	if big5 {
		e.big5 = traditionalchinese.Big5.NewEncoder()
	}
	return e
}

// glyph encodes r; ok is false when r had to be replaced by '?'.
func (e *encoder) glyph(r rune) (g glyph, ok bool) {
	if r >= 0x20 && r < 0x7F {
		return glyph{b: []byte{byte(r)}, width: 1}, true
	}
	if b, ok := e.cp.cm.EncodeRune(r); ok && b >= 0x80 {
		return glyph{b: []byte{b}, width: 1}, true
	}
	if e.big5 != nil {
		if out, err := e.big5.Bytes([]byte(string(r))); err == nil && len(out) == 2 && out[0] >= 0x81 {
			return glyph{b: out, width: 2, kanji: true}, true
		}
	}
	return glyph{b: []byte{replaceCh}, width: 1}, false
}

// wrap cuts l into printed lines of at most cols columns. A Big5
// character takes two columns, as on the paper; every other character
// one, so a line of single-width characters wraps after exactly cols
// characters. replaced counts the characters printed as '?'.
func (e *encoder) wrap(l string, cols int) (lines [][]glyph, replaced int) {
	var cur []glyph
	used := 0
	for _, r := range l {
		g, ok := e.glyph(r)
		if !ok {
			replaced++
		}
		if used+g.width > cols && len(cur) > 0 {
			lines = append(lines, cur)
			cur, used = nil, 0
		}
		cur = append(cur, g)
		used += g.width
	}
	return append(lines, cur), replaced
}

// job is how one receipt is printed.
type job struct {
	cols      int
	cut       bool // GS V 66 n after the text; otherwise ESC d feed
	cutFeed   byte // n of GS V 66 n
	feedLines byte // n of ESC d n when not cutting
}

// encode returns the bytes of receipt r (already validated), ending with
// GS r 1 so the printer answers once it has processed the job.
func (e *encoder) encode(r printer.Receipt, j job) (out []byte, replaced int, err error) {
	if j.cols < 1 {
		return nil, 0, fmt.Errorf("escpos: %d columns: %w", j.cols, hal.ErrInvalid)
	}
	out = slices.Concat(cmdInit, []byte{0x1B, 0x74, e.cp.n})
	if e.big5 != nil {
		out = append(out, cmdKanjiOff...) // the power-on mode of a Chinese model is not ours to guess
	}
	kanji := false
	for _, l := range r.Lines {
		if !utf8.ValidString(l) {
			return nil, 0, fmt.Errorf("escpos: line is not UTF-8: %w", hal.ErrInvalid)
		}
		lines, n := e.wrap(l, j.cols)
		replaced += n
		for _, gs := range lines {
			for _, g := range gs {
				switch {
				case g.kanji && !kanji:
					out, kanji = append(out, cmdKanjiOn...), true
				case !g.kanji && kanji && g.b[0] >= 0x80:
					out, kanji = append(out, cmdKanjiOff...), false
				}
				out = append(out, g.b...)
			}
			out = append(out, lf)
		}
	}
	if kanji {
		out = append(out, cmdKanjiOff...)
	}
	if j.cut {
		out = append(out, 0x1D, 0x56, 0x42, j.cutFeed) // GS V 66 n: feed to the cutter + n, partial cut
	} else {
		out = append(out, 0x1B, 0x64, j.feedLines) // ESC d n: print and feed n lines
	}
	return append(out, cmdPaperQuery...), replaced, nil
}
