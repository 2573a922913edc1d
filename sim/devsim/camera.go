package devsim

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/sim/face"
)

// CameraOptions configure the camera simulator.
type CameraOptions struct {
	// Width and Height of the stills; at least 32×24 so the capture
	// number fits.
	Width, Height int
	// Clock stamps the stills; nil means clock.Real.
	Clock clock.Clock
	// Log receives captures; the zero value discards.
	Log zerolog.Logger
}

// DefaultCameraOptions take 320×240 stills stamped by the wall clock.
var DefaultCameraOptions = CameraOptions{Width: 320, Height: 240, Clock: clock.Real{}}

// Camera simulates the evidence camera. Each still is a generated PNG: a
// grey gradient with a bright oval where a face would be, and along the
// top a strip of 32 black-or-white blocks that spell the capture number
// (most significant bit first, black for 1), so a test can tell which
// capture it is looking at. The face shows the person SetSubject names
// (sim/face: a pattern the reference host can compare with a customer's
// enrolled face); nobody by default, a blank face. The only fault is
// CAM-OFFLINE.
type Camera struct {
	status
	opts CameraOptions

	mu       sync.Mutex
	captures int
	offline  bool
	subject  string
}

var (
	_ camera.Camera = (*Camera)(nil)
	_ Faulty        = (*Camera)(nil)
)

// NewCamera returns an online camera simulator. A size smaller than
// 32×24 is invalid.
func NewCamera(opts CameraOptions) (*Camera, error) {
	if opts.Width < 32 || opts.Height < 24 {
		return nil, fmt.Errorf("devsim: camera: %dx%d is smaller than 32x24: %w", opts.Width, opts.Height, hal.ErrInvalid)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	c := &Camera{opts: opts}
	c.set(hal.Online, "", "")
	return c, nil
}

// Captures returns how many stills were taken.
func (c *Camera) Captures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.captures
}

// SetSubject puts the person called name in front of the camera ("":
// nobody in particular, a blank face).
func (c *Camera) SetSubject(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subject = name
}

// Inject puts the camera into CAM-OFFLINE.
func (c *Camera) Inject(code string) error {
	if code != "CAM-OFFLINE" {
		return fmt.Errorf("devsim: camera: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offline = true
	c.set(hal.Offline, code, "no answer from the camera")
	return nil
}

// Clear brings the camera back online.
func (c *Camera) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offline = false
	c.set(hal.Online, "", "")
}

// String names the simulator.
func (c *Camera) String() string { return "camera:sim" }

// Capabilities declare PNG stills of the configured size.
func (c *Camera) Capabilities() camera.Capabilities {
	return camera.Capabilities{Formats: []string{"image/png"}, Width: c.opts.Width, Height: c.opts.Height}
}

// Capture takes the next still.
func (c *Camera) Capture(ctx context.Context) (camera.Image, error) {
	if err := ctx.Err(); err != nil {
		return camera.Image{}, fmt.Errorf("devsim: camera: capture: %w", err)
	}
	c.mu.Lock()
	if c.offline {
		c.mu.Unlock()
		return camera.Image{}, &hal.Fault{Device: "camera", Code: "CAM-OFFLINE", Msg: "no answer from the camera", Recoverable: true, Err: hal.ErrOffline}
	}
	c.captures++
	n, who := c.captures, c.subject
	c.mu.Unlock()
	var buf bytes.Buffer
	if err := png.Encode(&buf, c.render(uint32(n), who)); err != nil {
		return camera.Image{}, fmt.Errorf("devsim: camera: encode: %w", err)
	}
	taken := c.opts.Clock.Now()
	c.opts.Log.Info().Int("capture", n).Int("bytes", buf.Len()).Msg("still captured")
	return camera.Image{Format: "image/png", Data: buf.Bytes(), Taken: taken}, nil
}

// render draws still number n, showing who.
func (c *Camera) render(n uint32, who string) image.Image {
	w, h := c.opts.Width, c.opts.Height
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{Y: uint8(64 + 96*(x+y)/(w+h))})
		}
	}
	// The face: an ellipse in the middle, half the height tall.
	cx, cy, rx, ry := w/2, h/2+h/16, w/6, h/4
	for y := cy - ry; y <= cy+ry; y++ {
		for x := cx - rx; x <= cx+rx; x++ {
			dx, dy := float64(x-cx)/float64(rx), float64(y-cy)/float64(ry)
			if dx*dx+dy*dy <= 1 {
				img.SetGray(x, y, color.Gray{Y: 200})
			}
		}
	}
	if who != "" {
		face.Draw(img, who)
	}
	// The capture number, in the top rows.
	bw, bh := w/32, h/16
	for bit := range 32 {
		v := uint8(255)
		if n&(1<<(31-bit)) != 0 {
			v = 0
		}
		for y := range bh {
			for x := bit * bw; x < (bit+1)*bw; x++ {
				img.SetGray(x, y, color.Gray{Y: v})
			}
		}
	}
	return img
}

// Halt has nothing to stop: the simulator holds no stream open.
func (c *Camera) Halt(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offline {
		return &hal.Fault{Device: "camera", Code: "CAM-OFFLINE", Msg: "no answer from the camera", Recoverable: true, Err: hal.ErrOffline}
	}
	return nil
}
