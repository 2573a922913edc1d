package atm

import (
	"context"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/sim/devsim"
)

// The control surfaces of simulated devices: what a scenario, `atmd
// step` or the virtual front panel use to play the customer and the
// machine. The in-process simulators (sim/devsim) and the wire-level
// simulators (sim/wire/...) behind real drivers both provide them, so a
// scenario runs unchanged against either.

// CardControl plays the customer at the card slot.
type CardControl interface {
	Insert(ctx context.Context, c cardreader.Card) error
	InsertUnreadable(ctx context.Context) error
	Take(ctx context.Context) error
	State() string // "empty", "inside" or "presented"
	Retained() []cardreader.Card
}

// KeypadControl plays the customer at the PIN pad.
type KeypadControl interface {
	Press(ctx context.Context, keys ...pinpad.Key) error
	Active() string // the entry in progress, "" when none
}

// CashControl plays the customer at the cash tray.
type CashControl interface {
	Take(ctx context.Context) error
	Tray() []dispenser.Notes  // notes presented now
	Taken() []dispenser.Notes // every note customers took
	RetractBin() int
}

// ReceiptControl reads what the printer printed.
type ReceiptControl interface {
	Receipts() []printer.Receipt
}

// TagControl plays a phone touching the NFC tag.
type TagControl interface {
	Tap(ctx context.Context) ([]byte, error)
}

// SimDevices are the control surfaces of the simulated devices, and the
// faults each one can be given, by device name.
type SimDevices struct {
	CardReader CardControl
	PinPad     KeypadControl
	Display    *devsim.Display
	OpDisplay  *devsim.OpDisplay
	NFCTag     TagControl
	Dispenser  CashControl
	Printer    ReceiptControl
	Camera     *devsim.Camera
	Sensors    *devsim.Sensors
	Faults     map[string]devsim.Faulty
}
