package cameratest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera"
	"github.com/atmd/atmd/internal/clock"
)

// Fake size: small, so tests stay fast.
const (
	fakeWidth  = 8
	fakeHeight = 6
)

// Fake is an in-memory camera.Camera that returns the same small grey PNG
// on every capture, stamped by its clock. Fail scripts errors; Captures
// counts the stills taken. It is safe for concurrent use.
type Fake struct {
	clk   clock.Clock
	still []byte

	mu       sync.Mutex
	captures int
	fails    map[string]error
}

var _ camera.Camera = (*Fake)(nil)

// NewFake returns a fake camera whose stills are stamped by clk.
func NewFake(clk clock.Clock) *Fake {
	img := image.NewGray(image.Rect(0, 0, fakeWidth, fakeHeight))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 5)
	}
	img.SetGray(0, 0, color.Gray{Y: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("cameratest: encoding the fake still: " + err.Error()) // cannot happen for an in-memory image
	}
	return &Fake{clk: clk, still: buf.Bytes(), fails: map[string]error{}}
}

// Captures returns how many stills were taken.
func (f *Fake) Captures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.captures
}

// Fail makes the next call of method ("Capture", "Halt") return err.
func (f *Fake) Fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[method] = err
}

// fail returns and forgets method's scripted error; f.mu must be held.
func (f *Fake) fail(method string) error {
	err := f.fails[method]
	delete(f.fails, method)
	return err
}

// String names the fake.
func (f *Fake) String() string { return "camera:fake" }

// Status is always Online.
func (f *Fake) Status() hal.Status { return hal.Status{State: hal.Online} }

// Capabilities declares the fake's PNG size.
func (f *Fake) Capabilities() camera.Capabilities {
	return camera.Capabilities{Formats: []string{"image/png"}, Width: fakeWidth, Height: fakeHeight}
}

// Capture returns the fake still.
func (f *Fake) Capture(ctx context.Context) (camera.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("Capture"); err != nil {
		return camera.Image{}, err
	}
	if err := ctx.Err(); err != nil {
		return camera.Image{}, fmt.Errorf("cameratest: capture: %w", err)
	}
	f.captures++
	return camera.Image{Format: "image/png", Data: slices.Clone(f.still), Taken: f.clk.Now()}, nil
}

// Halt does nothing but honour a scripted error.
func (f *Fake) Halt(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail("Halt")
}
