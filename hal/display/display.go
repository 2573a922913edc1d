// Package display is the contract for the customer screen.
//
// The flows describe a screen as data (Screen): an id that scenario files
// and tests name, the text already in the session's language, the menu
// items bound to function keys, the entry field and an optional QR code.
// A display renders it — as a web page in a kiosk browser, or into a
// recorder in simulation. A display that also takes touch input
// implements Touch.
package display

import (
	"context"
	"fmt"
	"strings"

	"github.com/atmd/atmd/hal"
)

// Tone tells the renderer how to present a screen.
type Tone string

// Tones.
const (
	Info    Tone = "info"
	Success Tone = "success"
	Warning Tone = "warning"
	Error   Tone = "error"
)

// MenuItem binds a function key to a choice. Key is a pinpad key name
// ("F1".."F8"); ID is stable for tests and scenarios; Label is shown.
type MenuItem struct {
	Key   string `json:"key"`
	ID    string `json:"id"`
	Label string `json:"label"`
}

// InputKind says what the entry field on a screen takes.
type InputKind string

// Input kinds.
const (
	NoInput InputKind = ""
	Digits  InputKind = "digits" // clear digits, echoed
	Amount  InputKind = "amount" // clear digits, shown as money
	Secret  InputKind = "secret" // PIN or code, shown as '*'
)

// Input describes the entry field. Value is what the field shows: the
// digits for Digits/Amount, '*' per digit for Secret.
type Input struct {
	Kind  InputKind `json:"kind"`
	Label string    `json:"label,omitempty"`
	Value string    `json:"value"`
}

// Screen is one customer screen.
type Screen struct {
	ID    string     `json:"id"`
	Lang  string     `json:"lang"`
	Tone  Tone       `json:"tone,omitempty"`
	Title string     `json:"title"`
	Lines []string   `json:"lines,omitempty"`
	Menu  []MenuItem `json:"menu,omitempty"`
	Input *Input     `json:"input,omitempty"`
	QR    string     `json:"qr,omitempty"` // payload to render as a QR code
}

// Text returns the title and lines joined by newlines, for matching and
// for text-only renderers.
func (s Screen) Text() string {
	out := s.Title
	for _, l := range s.Lines {
		out += "\n" + l
	}
	for _, m := range s.Menu {
		out += "\n[" + m.Key + "] " + m.Label
	}
	if s.Input != nil {
		out += "\n" + s.Input.Label + " " + s.Input.Value
	}
	return out
}

// Capabilities declares what the display can show.
type Capabilities struct {
	QR    bool // renders QR codes
	Touch bool // takes touch input (implements Touch)
	Langs []string
}

// Display is the customer screen.
type Display interface {
	hal.Device
	Capabilities() Capabilities
	// Show replaces what is on the screen.
	Show(ctx context.Context, s Screen) error
}

// Touch is the optional ability to report touches on menu items. The
// channel yields the pinpad key name bound to the touched item.
type Touch interface {
	Touches() <-chan string
}

// Validate checks a screen against the contract, above the renderer: an
// ID; menu items with distinct IDs bound to distinct function keys
// "F1".."F8"; a known tone and input kind; and a Secret input whose Value
// is only '*' — a clear PIN or code never reaches a screen. Errors wrap
// hal.ErrInvalid.
func (s Screen) Validate() error {
	if s.ID == "" {
		return fmt.Errorf("display: screen without an ID: %w", hal.ErrInvalid)
	}
	switch s.Tone {
	case "", Info, Success, Warning, Error:
	default:
		return fmt.Errorf("display: screen %s: unknown tone %q: %w", s.ID, s.Tone, hal.ErrInvalid)
	}
	keys := map[string]bool{}
	ids := map[string]bool{}
	for _, m := range s.Menu {
		if len(m.Key) != 2 || m.Key[0] != 'F' || m.Key[1] < '1' || m.Key[1] > '8' {
			return fmt.Errorf("display: screen %s: menu key %q is not F1..F8: %w", s.ID, m.Key, hal.ErrInvalid)
		}
		if m.ID == "" || keys[m.Key] || ids[m.ID] {
			return fmt.Errorf("display: screen %s: menu item %q/%q missing or repeated: %w", s.ID, m.Key, m.ID, hal.ErrInvalid)
		}
		keys[m.Key], ids[m.ID] = true, true
	}
	if s.Input != nil {
		switch s.Input.Kind {
		case Digits, Amount:
		case Secret:
			if strings.Trim(s.Input.Value, "*") != "" {
				return fmt.Errorf("display: screen %s: secret input shows more than '*': %w", s.ID, hal.ErrInvalid)
			}
		default:
			return fmt.Errorf("display: screen %s: unknown input kind %q: %w", s.ID, s.Input.Kind, hal.ErrInvalid)
		}
	}
	return nil
}
