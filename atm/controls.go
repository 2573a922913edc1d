package atm

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/sim/devsim"
	cdmsim "github.com/atmd/atmd/sim/wire/cdm"
	eppsim "github.com/atmd/atmd/sim/wire/epp"
	escpossim "github.com/atmd/atmd/sim/wire/escpos"
	lcdsim "github.com/atmd/atmd/sim/wire/lcd"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
	snapcamsim "github.com/atmd/atmd/sim/wire/snapcam"
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

// OpDisplayControl reads what the operator display shows.
type OpDisplayControl interface {
	Lines() []string
}

// CameraControl counts the stills the camera took.
type CameraControl interface {
	Captures() int
}

// SimDevices are the control surfaces of the simulated devices, and the
// faults each one can be given, by device name. A device on a real
// driver has a control that answers ErrNotSimulated (nil for the
// operator display, camera and sensors) and no entry in Faults.
type SimDevices struct {
	CardReader CardControl
	PinPad     KeypadControl
	Display    *devsim.Display
	OpDisplay  OpDisplayControl
	NFCTag     TagControl
	Dispenser  CashControl
	Printer    ReceiptControl
	Camera     CameraControl
	Sensors    *devsim.Sensors
	Faults     map[string]devsim.Faulty
	// Wire holds the wire simulators behind the drivers of devices on
	// port sim (url sim), for tests that make a device misbehave on the
	// line (mute, garbled or truncated frames).
	Wire WireSims
}

// WireSims are the wire simulators running behind real drivers; nil
// where a device is not on its wire simulator.
type WireSims struct {
	PinPad    *eppsim.Sim
	Dispenser *cdmsim.Sim
	Printer   *escpossim.Printer
	OpDisplay *lcdsim.Display
	NFCTag    *pn532sim.Sim
	Camera    *snapcamsim.Camera
}

// ErrNotSimulated: the device runs on a real driver; there is no
// simulated customer or machine to act on it.
var ErrNotSimulated = errors.New("atm: the device is real, not simulated")

// notSimulated is the control of a device on a real driver.
type notSimulated string

func (n notSimulated) err() error { return fmt.Errorf("%w: %s", ErrNotSimulated, string(n)) }

func (n notSimulated) Insert(context.Context, cardreader.Card) error { return n.err() }
func (n notSimulated) InsertUnreadable(context.Context) error        { return n.err() }
func (n notSimulated) Take(context.Context) error                    { return n.err() }
func (n notSimulated) State() string                                 { return "real" }
func (n notSimulated) Retained() []cardreader.Card                   { return nil }
func (n notSimulated) Press(context.Context, ...pinpad.Key) error    { return n.err() }
func (n notSimulated) Active() string                                { return "" }
func (n notSimulated) Tray() []dispenser.Notes                       { return nil }
func (n notSimulated) Taken() []dispenser.Notes                      { return nil }
func (n notSimulated) RetractBin() int                               { return 0 }
func (n notSimulated) Receipts() []printer.Receipt                   { return nil }
func (n notSimulated) Tap(context.Context) ([]byte, error)           { return nil, n.err() }

var (
	_ CardControl    = notSimulated("")
	_ KeypadControl  = notSimulated("")
	_ CashControl    = notSimulated("")
	_ ReceiptControl = notSimulated("")
	_ TagControl     = notSimulated("")

	_ KeypadControl    = (*eppsim.Sim)(nil)
	_ CashControl      = (*cdmsim.Sim)(nil)
	_ ReceiptControl   = (*escpossim.Printer)(nil)
	_ TagControl       = (*pn532sim.Sim)(nil)
	_ OpDisplayControl = (*lcdsim.Display)(nil)
	_ CameraControl    = (*snapcamsim.Camera)(nil)
	_ OpDisplayControl = (*devsim.OpDisplay)(nil)
	_ CameraControl    = (*devsim.Camera)(nil)
	_ devsim.Faulty    = (*eppsim.Sim)(nil)
	_ devsim.Faulty    = (*cdmsim.Sim)(nil)
	_ devsim.Faulty    = (*escpossim.Printer)(nil)
	_ devsim.Faulty    = (*lcdsim.Display)(nil)
	_ devsim.Faulty    = (*pn532sim.Sim)(nil)
	_ devsim.Faulty    = (*snapcamsim.Camera)(nil)
)
