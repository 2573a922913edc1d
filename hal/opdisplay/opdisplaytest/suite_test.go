package opdisplaytest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/atmd/atmd/hal/opdisplay"
	"github.com/atmd/atmd/hal/opdisplay/opdisplaytest"
)

func TestFakeConformance(t *testing.T) {
	for _, caps := range []opdisplay.Capabilities{{}, {Rows: 2, Cols: 16}, {Rows: 1, Cols: 1}} {
		t.Run("", func(t *testing.T) {
			opdisplaytest.Run(t, func(t *testing.T) opdisplaytest.Harness {
				f := opdisplaytest.NewFake(caps)
				return opdisplaytest.Harness{Dev: f, Lines: f.Lines}
			})
		})
	}
}

func TestFakeRecordsAndScripts(t *testing.T) {
	f := opdisplaytest.NewFake(opdisplay.Capabilities{})
	broken := errors.New("cable")
	f.FailNext("Show", broken)
	if err := f.Show(context.Background(), []string{"A"}); err != broken {
		t.Fatalf("first Show = %v, want the scripted error", err)
	}
	for _, l := range []string{"A", "B"} {
		if err := f.Show(context.Background(), []string{l}); err != nil {
			t.Fatal(err)
		}
	}
	if h := f.History(); len(h) != 2 || h[0][0] != "A" || h[1][0] != "B" {
		t.Fatalf("History = %q, want A then B", h)
	}
}
