package pinpadtest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/pinpad/pinpadtest"
)

func TestFakeScriptsAndRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	f := pinpadtest.NewFake()
	boom := errors.New("boom")
	f.FailNext("ReadKey", boom)
	if _, err := f.ReadKey(ctx, []pinpad.Key{pinpad.F1}); err != boom {
		t.Fatalf("first ReadKey = %v, want the scripted error", err)
	}
	got := make(chan pinpad.Key, 1)
	go func() {
		k, _ := f.ReadKey(ctx, []pinpad.Key{pinpad.F1})
		got <- k
	}()
	if err := f.Press(ctx, pinpad.F1); err != nil {
		t.Fatal(err)
	}
	if k := <-got; k != pinpad.F1 {
		t.Fatalf("second ReadKey = %q, want F1", k)
	}
	if c, want := f.Calls(), []string{"ReadKey", "ReadKey"}; !slices.Equal(c, want) {
		t.Fatalf("Calls = %v, want %v", c, want)
	}
}
