// Package printer is the contract for the receipt printer.
//
// Paper state is part of Status: Extra["paper"] is "ok", "low" or "out";
// a printer that is out of paper reports UserError with fault PRN-PAPER-OUT.
package printer

import (
	"context"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/atmd/atmd/hal"
)

// Receipt is the text of one receipt, one line per entry. Lines longer
// than the printer's width are wrapped by the driver.
type Receipt struct {
	Lines []string
	Cut   bool // cut the paper after printing
}

// Capabilities of the printer.
type Capabilities struct {
	Cols int // characters per line
	Cut  bool
}

// Printer prints receipts.
type Printer interface {
	hal.Device
	Capabilities() Capabilities
	Print(ctx context.Context, r Receipt) error
}

// ErrPaperOut: no paper; nothing was printed.
var ErrPaperOut = errors.New("printer: paper out")

// Validate checks a receipt above the driver: at least one line, and
// lines of printable UTF-8 only — a control character (ESC, GS, a
// newline) could smuggle printer commands into the text. Errors wrap
// hal.ErrInvalid.
func (r Receipt) Validate() error {
	if len(r.Lines) == 0 {
		return fmt.Errorf("printer: empty receipt: %w", hal.ErrInvalid)
	}
	for i, l := range r.Lines {
		if !utf8.ValidString(l) {
			return fmt.Errorf("printer: line %d is not UTF-8: %w", i+1, hal.ErrInvalid)
		}
		for _, c := range l {
			if unicode.IsControl(c) {
				return fmt.Errorf("printer: line %d has control character %U: %w", i+1, c, hal.ErrInvalid)
			}
		}
	}
	return nil
}
