package dispensertest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
)

var (
	testKey = []byte("0123456789abcdef0123456789abcdef")
	testCS  = []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Currency: "TWD", Count: 100, Initial: 100, Low: 10},
		{ID: 2, Denomination: 50000, Currency: "TWD", Count: 100, Initial: 100, Low: 10},
	}
)

func TestFakeConformance(t *testing.T) {
	Run(t, func(t *testing.T) Harness {
		f := NewFake(testKey, "ATM00001", testCS)
		return Harness{Dev: f, Key: testKey, ATM: "ATM00001", Take: f.Take, Tray: f.Tray, Taken: f.Taken}
	})
}

func TestFakeScriptsAndRecords(t *testing.T) {
	f := NewFake(testKey, "ATM00001", testCS)
	ctx := context.Background()
	partial := &dispenser.PartialError{Err: errors.New("pick failure")}
	f.Fail("Dispense", partial)
	var pe *dispenser.PartialError
	if _, err := f.Dispense(ctx, dispenser.DispenseRequest{}); !errors.As(err, &pe) {
		t.Fatalf("scripted Dispense = %v, want the PartialError", err)
	}
	if _, err := f.Dispense(ctx, dispenser.DispenseRequest{}); errors.As(err, &pe) {
		t.Errorf("second Dispense = %v; the script is one-shot", err)
	}
	if want := []string{"Dispense", "Dispense"}; !slices.Equal(f.Calls(), want) {
		t.Errorf("Calls = %q, want %q", f.Calls(), want)
	}
	if f.RetractBin() != 0 {
		t.Errorf("RetractBin = %d", f.RetractBin())
	}
}
