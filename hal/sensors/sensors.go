// Package sensors is the contract for the door, switch and tamper inputs
// and the guidance lights, wired to GPIO lines on a real ATM.
package sensors

import (
	"context"

	"github.com/atmd/atmd/hal"
)

// Input names a sensor.
type Input string

// Inputs every ATM has.
const (
	VaultDoor  Input = "vault-door" // true: open
	Supervisor Input = "supervisor" // true: supervisor switch on
	Tamper     Input = "tamper"     // true: tamper detected
	Cabinet    Input = "cabinet"    // true: upper cabinet open
)

// Light names a guidance light.
type Light string

// Lights.
const (
	CardLight    Light = "card"
	CashLight    Light = "cash"
	ReceiptLight Light = "receipt"
)

// Readings is the state of every input.
type Readings map[Input]bool

// Change is one input changing.
type Change struct {
	Input Input
	On    bool
}

// Capabilities lists the inputs and lights present.
type Capabilities struct {
	Inputs []Input
	Lights []Light
}

// Sensors reads inputs and drives lights.
type Sensors interface {
	hal.Device
	Capabilities() Capabilities
	// Read returns the current state of every input.
	Read(ctx context.Context) (Readings, error)
	// Watch blocks until an input changes and returns the change.
	Watch(ctx context.Context) (Change, error)
	// SetLight switches a guidance light; blinking is the driver's business.
	SetLight(ctx context.Context, l Light, on bool) error
}
