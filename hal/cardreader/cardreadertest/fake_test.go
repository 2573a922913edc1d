package cardreadertest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/cardreader/cardreadertest"
)

func TestFakeScriptsAndRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	f := cardreadertest.NewFake(cardreader.Capabilities{})
	jam := errors.New("jam")
	f.FailNext("Eject", jam)

	done := make(chan error, 1)
	go func() {
		_, err := f.Accept(ctx)
		done <- err
	}()
	if err := f.Insert(ctx, cardreadertest.TestCard); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := f.Eject(ctx); err != jam {
		t.Fatalf("first Eject = %v, want the scripted error", err)
	}
	if got := f.State(); got != cardreadertest.Inside {
		t.Fatalf("State after failed Eject = %q, want inside", got)
	}
	if err := f.Eject(ctx); err != nil {
		t.Fatalf("second Eject = %v, want nil", err)
	}
	if got := f.State(); got != cardreadertest.Presented {
		t.Fatalf("State = %q, want presented", got)
	}
	if got, want := f.Calls(), []string{"Accept", "Eject", "Eject"}; !slices.Equal(got, want) {
		t.Fatalf("Calls = %v, want %v", got, want)
	}
}
