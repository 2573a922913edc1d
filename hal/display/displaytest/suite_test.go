package displaytest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/display/displaytest"
)

func TestFakeConformance(t *testing.T) {
	displaytest.Run(t, func(t *testing.T) displaytest.Harness {
		f := displaytest.NewFake()
		return displaytest.Harness{Dev: f, Current: f.Current, Touch: f.Touch}
	})
}

func TestFakeRecordsAndScripts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	f := displaytest.NewFake()
	broken := errors.New("browser gone")
	f.FailNext("Show", broken)
	a, b := display.Screen{ID: "a"}, display.Screen{ID: "b"}
	if err := f.Show(ctx, a); err != broken {
		t.Fatalf("first Show = %v, want the scripted error", err)
	}
	for _, s := range []display.Screen{a, b} {
		if err := f.Show(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.Screens(); len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("Screens = %v, want a then b", got)
	}
}
