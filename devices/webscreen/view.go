package webscreen

import (
	"strconv"
	"strings"

	"github.com/atmd/atmd/hal/display"
)

// view is a screen as the page gets it in a "screen" event: the Screen's
// fields, the QR code as an image instead of its payload, and the entry
// field's text ready to show.
type view struct {
	Seq   uint64             `json:"seq"`
	ID    string             `json:"id"`
	Lang  string             `json:"lang,omitempty"`
	Tone  display.Tone       `json:"tone,omitempty"`
	Title string             `json:"title,omitempty"`
	Lines []string           `json:"lines,omitempty"`
	Menu  []display.MenuItem `json:"menu,omitempty"`
	Input *inputView         `json:"input,omitempty"`
	QR    *qrImage           `json:"qr,omitempty"`
}

// inputView is the entry field. For a Secret field only the number of
// digits keyed travels (Value is '*' per digit already; the page draws
// dots).
type inputView struct {
	Kind  display.InputKind `json:"kind"`
	Label string            `json:"label,omitempty"`
	Text  string            `json:"text"`  // what the field shows
	Count int               `json:"count"` // characters keyed
}

// render turns s into its view (without Seq) and draws its QR code.
func (d *Dev) render(s display.Screen) (view, error) {
	v := view{ID: s.ID, Lang: s.Lang, Tone: s.Tone, Title: s.Title, Lines: s.Lines, Menu: s.Menu}
	if in := s.Input; in != nil {
		iv := &inputView{Kind: in.Kind, Label: in.Label, Count: len(in.Value)}
		switch in.Kind {
		case display.Secret:
			iv.Text = strings.Repeat("•", len(in.Value))
		case display.Amount:
			iv.Text = d.amount(in.Value)
		default:
			iv.Text = in.Value
		}
		v.Input = iv
	}
	if s.QR != "" {
		img, _, err := renderQR(s.QR)
		if err != nil {
			return view{}, err
		}
		v.QR = img
	}
	return v, nil
}

// amount formats digits keyed on an amount screen, in major units, with
// the currency's symbol and thousands separators ("1500" → "NT$1,500").
// Anything but plain digits is shown as it is.
func (d *Dev) amount(digits string) string {
	if digits == "" {
		return ""
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 || strings.TrimLeft(digits, "0123456789") != "" {
		return digits
	}
	if d.cur == nil {
		return group(digits)
	}
	if n > (1<<62)/d.cur.Major() {
		return group(digits)
	}
	return d.cur.Format(n * d.cur.Major())
}

// group inserts thousands separators into a string of digits.
func group(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
