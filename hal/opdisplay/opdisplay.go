// Package opdisplay is the contract for the operator panel's character
// display, read by the field technician at the back of the ATM.
package opdisplay

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/hal"
)

// Capabilities gives the display's size in characters.
type Capabilities struct {
	Rows, Cols int
}

// Display is a character display.
type Display interface {
	hal.Device
	Capabilities() Capabilities
	// Show writes lines, one per row. More lines than Rows, or a line
	// longer than Cols, is ErrTooLong; nothing is shown then.
	Show(ctx context.Context, lines []string) error
}

// ErrTooLong: the text does not fit the display. It wraps hal.ErrInvalid.
var ErrTooLong = fmt.Errorf("opdisplay: text does not fit the display: %w", hal.ErrInvalid)

// Fit checks lines against the capabilities, above the driver.
func Fit(c Capabilities, lines []string) error {
	if len(lines) > c.Rows {
		return ErrTooLong
	}
	for _, l := range lines {
		if len([]rune(l)) > c.Cols {
			return ErrTooLong
		}
	}
	return nil
}
