package lcd

// Matrix Orbital LK command bytes: every command starts with FE.
const prefix = 0xFE

// setupBytes put a freshly opened display into the state the driver
// assumes: backlight on with no time-out (FE 42 00), underline and block
// cursors off (FE 4B, FE 54), no automatic line wrap (FE 44) and no
// automatic scrolling (FE 52), so text never moves by itself.
var setupBytes = []byte{
	prefix, 0x42, 0x00,
	prefix, 0x4B,
	prefix, 0x54,
	prefix, 0x44,
	prefix, 0x52,
}

// screen returns the bytes that show lines: clear (FE 58), then for each
// non-empty line the cursor to column 1 of its row (FE 47 col row,
// 1-based) and its text. The lines have been checked against the size.
func screen(lines []string, latin1 bool) []byte {
	out := []byte{prefix, 0x58}
	for i, l := range lines {
		if l == "" {
			continue
		}
		out = append(out, prefix, 0x47, 1, byte(i+1))
		for _, r := range l {
			out = append(out, char(r, latin1))
		}
	}
	return out
}

// char is the byte that shows r: ASCII as itself, with latin1 ISO 8859-1
// from A0 to FF but FE (the command prefix), anything else '?'. No
// character becomes a control byte or the prefix, so text can never be
// taken for a command.
func char(r rune, latin1 bool) byte {
	switch {
	case r >= 0x20 && r < 0x7F:
		return byte(r)
	case latin1 && r >= 0xA0 && r <= 0xFF && r != prefix:
		return byte(r)
	}
	return '?'
}
