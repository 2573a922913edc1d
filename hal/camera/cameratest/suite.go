package cameratest

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/jpeg" // decode the stills a camera may return
	_ "image/png"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera"
)

// Harness is a camera under test. A camera has no far side to play: the
// scene is whatever is in front of it.
type Harness struct {
	Dev camera.Camera
}

// wait bounds every capture.
const wait = 5 * time.Second

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online camera; it should register its own cleanup with
// t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"CaptureMatchesCapabilities", testCaptureMatchesCapabilities},
		{"CaptureTimesAdvance", testCaptureTimesAdvance},
		{"EndedContext", testEndedContext},
		{"Halt", testHalt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// formats maps MIME types to the names image.Decode reports.
var formats = map[string]string{"image/png": "png", "image/jpeg": "jpeg"}

func capture(t *testing.T, h Harness) camera.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	img, err := h.Dev.Capture(ctx)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	return img
}

// checkStill checks that img is a still the capabilities promise.
func checkStill(t *testing.T, h Harness, img camera.Image) {
	t.Helper()
	caps := h.Dev.Capabilities()
	if !slices.Contains(caps.Formats, img.Format) {
		t.Errorf("Capture format %q, Capabilities offer %q", img.Format, caps.Formats)
	}
	cfg, name, err := image.DecodeConfig(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatalf("still does not decode: %v", err)
	}
	if name != formats[img.Format] {
		t.Errorf("still is %s, labelled %q", name, img.Format)
	}
	if cfg.Width != caps.Width || cfg.Height != caps.Height {
		t.Errorf("still is %dx%d, Capabilities say %dx%d", cfg.Width, cfg.Height, caps.Width, caps.Height)
	}
	if img.Taken.IsZero() {
		t.Error("still has no capture time")
	}
}

func testIdentity(t *testing.T, h Harness) {
	if h.Dev.String() == "" {
		t.Error("String is empty")
	}
	if st := h.Dev.Status(); st.State != hal.Online || st.Fault != "" {
		t.Errorf("fresh Status = %v, want online without fault", st)
	}
	caps := h.Dev.Capabilities()
	if len(caps.Formats) == 0 || caps.Width <= 0 || caps.Height <= 0 {
		t.Fatalf("Capabilities %+v: want a format and a positive size", caps)
	}
	for _, f := range caps.Formats {
		if formats[f] == "" {
			t.Errorf("Capabilities offer %q; the contract knows image/png and image/jpeg", f)
		}
	}
}

func testCaptureMatchesCapabilities(t *testing.T, h Harness) {
	checkStill(t, h, capture(t, h))
}

func testCaptureTimesAdvance(t *testing.T, h Harness) {
	first := capture(t, h)
	second := capture(t, h)
	checkStill(t, h, second)
	if second.Taken.Before(first.Taken) {
		t.Errorf("second still taken at %v, before the first at %v", second.Taken, first.Taken)
	}
}

func testEndedContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Dev.Capture(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Capture with cancelled ctx = %v, want Canceled", err)
	}
}

func testHalt(t *testing.T, h Harness) {
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := h.Dev.Halt(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Halt #%d: %v", i+1, err)
		}
	}
	checkStill(t, h, capture(t, h))
}
