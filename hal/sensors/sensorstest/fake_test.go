package sensorstest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/atmd/atmd/hal/sensors"
)

func TestFakeConformance(t *testing.T) {
	Run(t, func(t *testing.T) Harness {
		f := NewFake()
		return Harness{Dev: f, Set: f.Set, Light: f.Light}
	})
}

func TestFakeScriptsAndRecords(t *testing.T) {
	f := NewFake()
	boom := errors.New("boom")
	f.Fail("SetLight", boom)
	ctx := context.Background()
	if err := f.SetLight(ctx, sensors.CashLight, true); !errors.Is(err, boom) {
		t.Fatalf("scripted SetLight = %v, want boom", err)
	}
	if f.Light(sensors.CashLight) {
		t.Error("failed SetLight switched the light")
	}
	if err := f.SetLight(ctx, sensors.CashLight, true); err != nil {
		t.Fatalf("second SetLight: %v (the script is one-shot)", err)
	}
	want := []string{"SetLight cash on", "SetLight cash on"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls = %q, want %q", got, want)
	}
}
