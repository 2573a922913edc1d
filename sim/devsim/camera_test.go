package devsim

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera/cameratest"
	"github.com/atmd/atmd/internal/clock"
)

func newCamera(t *testing.T, opts CameraOptions) *Camera {
	t.Helper()
	c, err := NewCamera(opts)
	if err != nil {
		t.Fatalf("NewCamera: %v", err)
	}
	return c
}

func TestCameraConformance(t *testing.T) {
	cameratest.Run(t, func(t *testing.T) cameratest.Harness {
		return cameratest.Harness{Dev: newCamera(t, DefaultCameraOptions)}
	})
}

// captureNumber reads the capture number from the strip along the top.
func captureNumber(t *testing.T, img image.Image) uint32 {
	t.Helper()
	w := img.Bounds().Dx() / 32
	var n uint32
	for bit := range 32 {
		r, _, _, _ := img.At(bit*w+w/2, 1).RGBA()
		if r < 0x8000 {
			n |= 1 << (31 - bit)
		}
	}
	return n
}

func TestCameraStillsAreNumberedAndStamped(t *testing.T) {
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	clk := clock.NewFake(start)
	opts := DefaultCameraOptions
	opts.Clock = clk
	c := newCamera(t, opts)
	ctx := context.Background()
	for want := uint32(1); want <= 3; want++ {
		shot, err := c.Capture(ctx)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot.Data))
		if err != nil {
			t.Fatal(err)
		}
		if got := captureNumber(t, img); got != want {
			t.Errorf("still %d carries number %d", want, got)
		}
		if wantAt := start.Add(time.Duration(want-1) * time.Minute); !shot.Taken.Equal(wantAt) {
			t.Errorf("still %d taken at %v, want %v", want, shot.Taken, wantAt)
		}
		clk.Advance(time.Minute)
	}
	if c.Captures() != 3 {
		t.Errorf("Captures = %d, want 3", c.Captures())
	}
}

func TestCameraOffline(t *testing.T) {
	c := newCamera(t, DefaultCameraOptions)
	ctx := context.Background()
	if err := c.Inject("CAM-OFFLINE"); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.State != hal.Offline || st.Fault != "CAM-OFFLINE" {
		t.Errorf("Status = %v, want offline CAM-OFFLINE", st)
	}
	if _, err := c.Capture(ctx); !errors.Is(err, hal.ErrOffline) || hal.FaultCode(err) != "CAM-OFFLINE" {
		t.Errorf("Capture offline = %v, want ErrOffline with code CAM-OFFLINE", err)
	}
	if err := c.Halt(ctx); !errors.Is(err, hal.ErrOffline) {
		t.Errorf("Halt offline = %v, want ErrOffline", err)
	}
	if c.Captures() != 0 {
		t.Errorf("Captures = %d after an offline capture", c.Captures())
	}
	c.Clear()
	if st := c.Status(); !st.OK() {
		t.Errorf("Status after Clear = %v", st)
	}
	if _, err := c.Capture(ctx); err != nil {
		t.Errorf("Capture after Clear: %v", err)
	}
	if err := c.Inject("CAM-BLUR"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(CAM-BLUR) = %v, want ErrInvalid", err)
	}
}

func TestCameraRejectsTinySize(t *testing.T) {
	if _, err := NewCamera(CameraOptions{Width: 16, Height: 240}); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("NewCamera(16x240) = %v, want ErrInvalid", err)
	}
}
