package lcd

import "fmt"

// Prefix starts every command.
const Prefix = 0xFE

// Cmd is one element of the byte stream: text bytes, a command with its
// parameters, or an unknown command.
type Cmd struct {
	// Text holds bytes to print at the cursor; empty for a command.
	Text []byte
	// Op is the command byte after FE; Name its name ("" if unknown).
	Op   byte
	Name string
	Args []byte
}

// String formats the element for logs and test failures.
func (c Cmd) String() string {
	switch {
	case c.Text != nil:
		return fmt.Sprintf("text % X", c.Text)
	case c.Name == "":
		return fmt.Sprintf("unknown FE %02X", c.Op)
	}
	return fmt.Sprintf("%s % X", c.Name, c.Args)
}

type spec struct {
	name string
	args int // parameter bytes; -1: one per character cell (start-up screen)
}

// specs is the Matrix Orbital LK command set (FE prefix) the parser
// knows, with parameter counts from the LK user manuals.
var specs = map[byte]spec{
	0x58: {"clear", 0},
	0x48: {"home", 0},
	0x47: {"set cursor", 2}, // column, row; 1-based
	0x4C: {"cursor left", 0},
	0x4D: {"cursor right", 0},
	0x42: {"backlight on", 1}, // minutes; 0 = stay on
	0x46: {"backlight off", 0},
	0x4A: {"underline cursor on", 0},
	0x4B: {"underline cursor off", 0},
	0x53: {"block cursor on", 0},
	0x54: {"block cursor off", 0},
	0x43: {"line wrap on", 0},
	0x44: {"line wrap off", 0},
	0x51: {"auto scroll on", 0},
	0x52: {"auto scroll off", 0},
	0x50: {"contrast", 1},
	0x91: {"contrast and save", 1},
	0x99: {"brightness", 1},
	0x98: {"brightness and save", 1},
	0x4E: {"custom character", 9}, // index, 8 rows
	0x40: {"start-up screen", -1},
	0x36: {"read version", 0},
	0x37: {"read module type", 0},
	0x26: {"poll keypad", 0},
	0x41: {"auto transmit keys on", 0},
	0x4F: {"auto transmit keys off", 0},
	0x45: {"clear key buffer", 0},
	0x55: {"debounce time", 1},
	0x7E: {"auto repeat mode", 1},
	0x60: {"auto repeat off", 0},
	0x56: {"GPO off", 1},
	0x57: {"GPO on", 1},
	0x39: {"baud rate", 1},
	0x33: {"I2C address", 1},
}

// Parser splits the byte stream sent to the display into elements. Feed
// it bytes as they arrive, in chunks of any size: a command cut by a
// chunk boundary is completed by the next chunk. Cells is the number of
// character cells (rows × columns), the length of the start-up screen
// command; zero means 80 (4×20).
type Parser struct {
	Cells   int
	pending []byte
}

// Feed parses b after whatever came before and returns the elements
// completed. Adjacent text may come out as several elements.
func (p *Parser) Feed(b []byte) []Cmd {
	var out []Cmd
	data := append(p.pending, b...)
	p.pending = nil
	for i := 0; i < len(data); {
		if data[i] != Prefix {
			j := i
			for j < len(data) && data[j] != Prefix {
				j++
			}
			out = append(out, Cmd{Text: append([]byte{}, data[i:j]...)})
			i = j
			continue
		}
		if i+1 == len(data) {
			p.pending = []byte{Prefix}
			break
		}
		op := data[i+1]
		s, ok := specs[op]
		if !ok {
			out = append(out, Cmd{Op: op})
			i += 2
			continue
		}
		n := s.args
		if n < 0 {
			n = p.Cells
			if n <= 0 {
				n = 80
			}
		}
		if i+2+n > len(data) {
			p.pending = append([]byte(nil), data[i:]...)
			break
		}
		out = append(out, Cmd{Op: op, Name: s.name, Args: append([]byte{}, data[i+2:i+2+n]...)})
		i += 2 + n
	}
	return out
}
