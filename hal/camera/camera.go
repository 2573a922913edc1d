// Package camera is the contract for the ATM's camera, used for evidence
// stills (the face of a delegate at a delegated withdrawal).
package camera

import (
	"context"
	"time"

	"github.com/atmd/atmd/hal"
)

// Image is one still.
type Image struct {
	Format string    // MIME type, "image/jpeg" or "image/png"
	Data   []byte    // encoded image
	Taken  time.Time // when it was captured (device clock)
}

// Capabilities of the camera.
type Capabilities struct {
	Formats []string
	Width   int
	Height  int
}

// Camera captures stills.
type Camera interface {
	hal.Device
	Capabilities() Capabilities
	Capture(ctx context.Context) (Image, error)
}
