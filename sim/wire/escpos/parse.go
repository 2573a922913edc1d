package escpos

import "fmt"

// Op is the kind of one element of an ESC/POS byte stream.
type Op int

// Stream elements.
const (
	// OpText is printable bytes (Data), single-byte or, when Kanji is
	// set, ASCII mixed with two-byte Big5 characters.
	OpText Op = iota
	// OpControl is a one-byte control code (Code): HT, LF, FF, CR, CAN.
	OpControl
	// OpCommand is a command (Name, Code, Args); Bulk counts the data
	// bytes that follow it and are skipped (images, bar codes, ...).
	OpCommand
	// OpUnknown is bytes the parser does not know (Data): an unknown
	// command (prefix and command byte) or a stray control byte.
	OpUnknown
)

// Cmd is one parsed element of the stream.
type Cmd struct {
	Op    Op
	Name  string // command name, e.g. "DLE EOT", "GS V"
	Code  [2]byte
	Args  []byte // the command's fixed parameters
	Bulk  int    // data bytes following the parameters, skipped; -1: up to a NUL
	Data  []byte // OpText and OpUnknown bytes
	Kanji bool   // OpText in two-byte mode
}

// String formats the element for logs and test failures.
func (c Cmd) String() string {
	switch c.Op {
	case OpText:
		return fmt.Sprintf("text(kanji=%v % X)", c.Kanji, c.Data)
	case OpControl:
		return fmt.Sprintf("ctl %02X", c.Code[0])
	case OpCommand:
		switch {
		case c.Bulk > 0:
			return fmt.Sprintf("%s % X +%d", c.Name, c.Args, c.Bulk)
		case c.Bulk < 0:
			return fmt.Sprintf("%s % X +NUL", c.Name, c.Args)
		}
		return fmt.Sprintf("%s % X", c.Name, c.Args)
	}
	return fmt.Sprintf("unknown % X", c.Data)
}

// Prefix bytes.
const (
	dle = 0x10
	esc = 0x1B
	fs  = 0x1C
	gs  = 0x1D
)

// spec describes a command: args is the number of parameter bytes known
// up front; size, when set, is asked with the parameters seen so far
// and returns how many parameters the command really has (more than
// len(a) means: read that many, then ask again) and how many data bytes
// follow them (-1: up to and including a NUL).
type spec struct {
	name string
	args int
	size func(a []byte) (args, bulk int)
}

func le16(lo, hi byte) int { return int(lo) | int(hi)<<8 }

// specs is the command set the simulator knows, by prefix and command
// byte, with lengths from the ESC/POS command reference.
var specs = map[[2]byte]spec{
	{esc, ' '}: {name: "ESC SP", args: 1},
	{esc, '!'}: {name: "ESC !", args: 1},
	{esc, '$'}: {name: "ESC $", args: 2},
	{esc, '%'}: {name: "ESC %", args: 1},
	{esc, '*'}: {name: "ESC *", args: 3, size: func(a []byte) (int, int) {
		n := le16(a[1], a[2])
		if a[0] == 32 || a[0] == 33 {
			n *= 3
		}
		return 3, n
	}},
	{esc, '-'}:  {name: "ESC -", args: 1},
	{esc, '2'}:  {name: "ESC 2"},
	{esc, '3'}:  {name: "ESC 3", args: 1},
	{esc, '='}:  {name: "ESC =", args: 1},
	{esc, '?'}:  {name: "ESC ?", args: 1},
	{esc, '@'}:  {name: "ESC @"},
	{esc, 'D'}:  {name: "ESC D", size: func(a []byte) (int, int) { return 0, -1 }},
	{esc, 'E'}:  {name: "ESC E", args: 1},
	{esc, 'G'}:  {name: "ESC G", args: 1},
	{esc, 'J'}:  {name: "ESC J", args: 1},
	{esc, 'L'}:  {name: "ESC L"},
	{esc, 'M'}:  {name: "ESC M", args: 1},
	{esc, 'R'}:  {name: "ESC R", args: 1},
	{esc, 'S'}:  {name: "ESC S"},
	{esc, 'T'}:  {name: "ESC T", args: 1},
	{esc, 'V'}:  {name: "ESC V", args: 1},
	{esc, 'W'}:  {name: "ESC W", args: 8},
	{esc, '\\'}: {name: "ESC \\", args: 2},
	{esc, 'a'}:  {name: "ESC a", args: 1},
	{esc, 'c'}:  {name: "ESC c", args: 2},
	{esc, 'd'}:  {name: "ESC d", args: 1},
	{esc, 'e'}:  {name: "ESC e", args: 1},
	{esc, 'i'}:  {name: "ESC i"},
	{esc, 'm'}:  {name: "ESC m"},
	{esc, 'p'}:  {name: "ESC p", args: 3},
	{esc, 'r'}:  {name: "ESC r", args: 1},
	{esc, 't'}:  {name: "ESC t", args: 1},
	{esc, '{'}:  {name: "ESC {", args: 1},

	{gs, '!'}: {name: "GS !", args: 1},
	{gs, '$'}: {name: "GS $", args: 2},
	{gs, '('}: {name: "GS (", args: 3, size: func(a []byte) (int, int) { return 3, le16(a[1], a[2]) }},
	{gs, '*'}: {name: "GS *", args: 2, size: func(a []byte) (int, int) { return 2, int(a[0]) * int(a[1]) * 8 }},
	{gs, '/'}: {name: "GS /", args: 1},
	{gs, ':'}: {name: "GS :"},
	{gs, 'B'}: {name: "GS B", args: 1},
	{gs, 'H'}: {name: "GS H", args: 1},
	{gs, 'I'}: {name: "GS I", args: 1},
	{gs, 'L'}: {name: "GS L", args: 2},
	{gs, 'P'}: {name: "GS P", args: 2},
	{gs, 'V'}: {name: "GS V", args: 1, size: func(a []byte) (int, int) {
		if a[0] == 65 || a[0] == 66 || a[0] >= 97 {
			return 2, 0 // function B, C, D: m n
		}
		return 1, 0
	}},
	{gs, 'W'}:  {name: "GS W", args: 2},
	{gs, '\\'}: {name: "GS \\", args: 2},
	{gs, '^'}:  {name: "GS ^", args: 3},
	{gs, 'a'}:  {name: "GS a", args: 1},
	{gs, 'b'}:  {name: "GS b", args: 1},
	{gs, 'f'}:  {name: "GS f", args: 1},
	{gs, 'h'}:  {name: "GS h", args: 1},
	{gs, 'k'}: {name: "GS k", args: 1, size: func(a []byte) (int, int) {
		if a[0] <= 6 {
			return 1, -1 // function A: data up to NUL
		}
		if len(a) < 2 {
			return 2, 0 // function B: m n d1...dn
		}
		return 2, int(a[1])
	}},
	{gs, 'r'}: {name: "GS r", args: 1},
	{gs, 'v'}: {name: "GS v", args: 6, size: func(a []byte) (int, int) {
		return 6, le16(a[2], a[3]) * le16(a[4], a[5])
	}},
	{gs, 'w'}: {name: "GS w", args: 1},

	{dle, 0x04}: {name: "DLE EOT", args: 1},
	{dle, 0x05}: {name: "DLE ENQ", args: 1},
	{dle, 0x14}: {name: "DLE DC4", args: 1, size: func(a []byte) (int, int) {
		if a[0] == 8 {
			return 8, 0 // fn 8: d1..d7
		}
		return 3, 0 // fn 1 (pulse), 2 (power off): m t / m n
	}},

	{fs, '!'}: {name: "FS !", args: 1},
	{fs, '&'}: {name: "FS &"},
	{fs, '-'}: {name: "FS -", args: 1},
	{fs, '.'}: {name: "FS ."},
	{fs, '2'}: {name: "FS 2", args: 2, size: func(a []byte) (int, int) { return 2, 72 }},
	{fs, '?'}: {name: "FS ?", args: 2},
	{fs, 'C'}: {name: "FS C", args: 1},
	{fs, 'S'}: {name: "FS S", args: 2},
	{fs, 'W'}: {name: "FS W", args: 1},
	{fs, 'p'}: {name: "FS p", args: 2},
}

// Single-byte control codes.
const (
	ht  = 0x09
	lf  = 0x0A
	ff  = 0x0C
	cr  = 0x0D
	can = 0x18
)

// Parser splits an ESC/POS byte stream into elements. Feed it bytes as
// they arrive, in chunks of any size: an element cut by a chunk boundary
// is completed by the next chunk. It tracks two-byte (Kanji) mode itself,
// as a printer does: FS & turns it on, FS . and ESC @ turn it off, and in
// it a byte from 0x81 to 0xFE starts a two-byte character. The zero
// value is ready to use. Bulk data (images, bar codes) is skipped without
// being buffered, so no length a stream declares makes the parser
// allocate it.
type Parser struct {
	pending []byte // an incomplete element
	kanji   bool
	skip    int  // bulk bytes still to skip
	skipNUL bool // skip up to and including a NUL
}

// Kanji reports whether the parser is in two-byte mode.
func (p *Parser) Kanji() bool { return p.kanji }

// Feed parses b after whatever came before and returns the elements
// completed. Adjacent text may come out as several OpText elements.
func (p *Parser) Feed(b []byte) []Cmd {
	var out []Cmd
	data := append(p.pending, b...)
	p.pending = nil
	i := 0
	for i < len(data) {
		if p.skip > 0 {
			n := min(p.skip, len(data)-i)
			p.skip -= n
			i += n
			continue
		}
		if p.skipNUL {
			for i < len(data) && p.skipNUL {
				p.skipNUL = data[i] != 0
				i++
			}
			continue
		}
		c, n := p.next(data[i:])
		if n == 0 {
			p.pending = append([]byte(nil), data[i:]...)
			break
		}
		i += n
		out = append(out, c)
	}
	return out
}

// next parses one element at the start of b; n is 0 when b holds only
// part of it.
func (p *Parser) next(b []byte) (c Cmd, n int) {
	switch x := b[0]; {
	case x == dle || x == esc || x == fs || x == gs:
		return p.command(b)
	case x == ht || x == lf || x == ff || x == cr || x == can:
		return Cmd{Op: OpControl, Code: [2]byte{x}}, 1
	case x < 0x20:
		return Cmd{Op: OpUnknown, Data: []byte{x}}, 1
	}
	return p.text(b)
}

// text takes printable bytes up to the next control byte.
func (p *Parser) text(b []byte) (Cmd, int) {
	i := 0
	for i < len(b) && b[i] >= 0x20 {
		if p.kanji && b[i] >= 0x81 && b[i] <= 0xFE {
			if i+1 == len(b) {
				break // the trail byte is still on its way
			}
			if b[i+1] < 0x40 {
				if i == 0 {
					return Cmd{Op: OpUnknown, Data: []byte{b[0]}}, 1 // a lead byte without a trail
				}
				break
			}
			i += 2
			continue
		}
		i++
	}
	if i == 0 {
		return Cmd{}, 0
	}
	return Cmd{Op: OpText, Data: append([]byte(nil), b[:i]...), Kanji: p.kanji}, i
}

// command parses a prefixed command.
func (p *Parser) command(b []byte) (Cmd, int) {
	if len(b) < 2 {
		return Cmd{}, 0
	}
	code := [2]byte{b[0], b[1]}
	s, ok := specs[code]
	if !ok {
		return Cmd{Op: OpUnknown, Data: []byte{b[0], b[1]}}, 2
	}
	args, bulk := s.args, 0
	for {
		if len(b) < 2+args {
			return Cmd{}, 0
		}
		if s.size == nil {
			break
		}
		a, bk := s.size(b[2 : 2+args])
		if a > args {
			args = a
			continue
		}
		bulk = bk
		break
	}
	c := Cmd{Op: OpCommand, Name: s.name, Code: code, Args: append([]byte(nil), b[2:2+args]...), Bulk: bulk}
	switch {
	case bulk < 0:
		p.skipNUL = true
	case bulk > 0:
		p.skip = bulk
	}
	switch c.Name {
	case "FS &":
		p.kanji = true
	case "FS .", "ESC @":
		p.kanji = false
	}
	return c, 2 + args
}
