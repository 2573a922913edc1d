package cameratest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atmd/atmd/internal/clock"
)

func TestFakeConformance(t *testing.T) {
	Run(t, func(t *testing.T) Harness {
		return Harness{Dev: NewFake(clock.Real{})}
	})
}

func TestFakeScriptsAndCounts(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f := NewFake(clock.NewFake(at))
	boom := errors.New("boom")
	f.Fail("Capture", boom)
	ctx := context.Background()
	if _, err := f.Capture(ctx); !errors.Is(err, boom) {
		t.Fatalf("scripted Capture = %v, want boom", err)
	}
	img, err := f.Capture(ctx)
	if err != nil {
		t.Fatalf("second Capture: %v (the script is one-shot)", err)
	}
	if !img.Taken.Equal(at) {
		t.Errorf("Taken = %v, want the clock's %v", img.Taken, at)
	}
	if f.Captures() != 1 {
		t.Errorf("Captures = %d, want 1 (failed captures do not count)", f.Captures())
	}
}
