// Package printer is the contract for the receipt printer.
//
// Paper state is part of Status: Extra["paper"] is "ok", "low" or "out";
// a printer that is out of paper reports UserError with fault PRN-PAPER-OUT.
package printer

import (
	"context"
	"errors"

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
