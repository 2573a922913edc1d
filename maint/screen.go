package maint

import (
	"strings"
	"unicode/utf8"

	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
)

// OpLines fits a menu screen onto the operator panel's character
// display (rows × cols): the title, the entry field or the first menu
// items (F-key number and label), then the first lines, each cut to
// cols.
func OpLines(s display.Screen, rows, cols int) []string {
	if rows <= 0 || cols <= 0 {
		return nil
	}
	var out []string
	add := func(l string) {
		if len(out) < rows {
			out = append(out, cut(l, cols))
		}
	}
	add(s.Title)
	if s.Input != nil {
		// The entry field goes on the last row; the lines fill what is
		// between.
		for _, l := range s.Lines {
			if len(out) >= rows-1 {
				break
			}
			add(l)
		}
		for len(out) < rows-1 {
			out = append(out, "")
		}
		add(s.Input.Label + ": " + s.Input.Value)
		return out
	}
	for _, it := range s.Menu {
		add(it.Key[1:] + " " + it.Label)
	}
	for _, l := range s.Lines {
		add(l)
	}
	return out
}

// cut shortens l to n characters.
func cut(l string, n int) string {
	if utf8.RuneCountInString(l) <= n {
		return l
	}
	r := []rune(l)
	return string(r[:n])
}

// Width is the local console's text width.
const Width = 78

// Render draws a screen as text for the local console: a framed title,
// the lines wrapped to Width, the menu items as "[n] label" (n is the
// F-key's number, what the technician types) and the entry field.
func Render(s display.Screen, keys []pinpad.Key) string {
	var b strings.Builder
	bar := strings.Repeat("=", Width)
	b.WriteString(bar + "\n " + s.Title + "\n" + bar + "\n")
	for _, l := range s.Lines {
		for _, w := range wrap(l, Width-2) {
			b.WriteString(" " + w + "\n")
		}
	}
	if len(s.Menu) > 0 {
		b.WriteString("\n")
		for _, it := range s.Menu {
			b.WriteString(" [" + it.Key[1:] + "] " + it.Label + "\n")
		}
	}
	if s.Input != nil {
		b.WriteString("\n " + s.Input.Label + ": " + s.Input.Value + "\n")
	}
	b.WriteString(strings.Repeat("-", Width) + "\n")
	b.WriteString(" " + Hint(s, keys) + "\n")
	return b.String()
}

// Hint says what the local console takes on this screen.
func Hint(s display.Screen, keys []pinpad.Key) string {
	switch {
	case len(keys) == 0:
		return "(working; please wait)"
	case s.Input != nil && s.Input.Kind == display.Secret && hexEntry(keys):
		return "type the hex digits (0-9, A-F) and press Enter; Esc abandons"
	case s.Input != nil && s.Input.Kind == display.Secret:
		return "type the PIN (not echoed) and press Enter; Esc cancels"
	case s.Input != nil:
		return "type the value and press Enter; Esc cancels"
	case s.ID == "maint-key-test":
		return "type keys (digits, enter, clear, backspace) and Enter; Esc ends the test"
	default:
		return "type the number of a choice and press Enter; Esc goes back"
	}
}

func hexEntry(keys []pinpad.Key) bool {
	for _, k := range keys {
		if k == pinpad.F1 {
			return true
		}
	}
	return false
}

// wrap breaks l into lines of at most n characters at spaces.
func wrap(l string, n int) []string {
	var out []string
	for utf8.RuneCountInString(l) > n {
		r := []rune(l)
		i := n
		for i > n/2 && r[i] != ' ' {
			i--
		}
		if r[i] != ' ' {
			i = n
		}
		out = append(out, strings.TrimRight(string(r[:i]), " "))
		l = strings.TrimLeft(string(r[i:]), " ")
	}
	return append(out, l)
}
