package devsim_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/opdisplay"
	"github.com/atmd/atmd/hal/opdisplay/opdisplaytest"
	"github.com/atmd/atmd/sim/devsim"
)

func TestOpDisplayConformance(t *testing.T) {
	for name, caps := range map[string]opdisplay.Capabilities{"4x20": {}, "2x16": {Rows: 2, Cols: 16}} {
		t.Run(name, func(t *testing.T) {
			opdisplaytest.Run(t, func(t *testing.T) opdisplaytest.Harness {
				o := devsim.NewOpDisplay(devsim.OpDisplayOptions{Caps: caps})
				return opdisplaytest.Harness{Dev: o, Lines: o.Lines}
			})
		})
	}
}

func TestOpDisplayNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		o := devsim.NewOpDisplay(devsim.DefaultOpDisplayOptions)
		type next struct {
			lines []string
			i     int
			err   error
		}
		got := make(chan next, 1)
		go func() {
			l, i, err := o.Next(ctx, -1)
			got <- next{l, i, err}
		}()
		synctest.Wait() // Next waits: nothing has been shown
		if err := o.Show(ctx, []string{"SUPERVISOR", "1 STATUS"}); err != nil {
			t.Fatal(err)
		}
		if n := <-got; n.err != nil || n.i != 0 || !slices.Equal(n.lines, []string{"SUPERVISOR", "1 STATUS"}) {
			t.Fatalf("Next(-1) = %q, %d, %v", n.lines, n.i, n.err)
		}
		if err := o.Halt(ctx); err != nil {
			t.Fatal(err)
		}
		if l, i, err := o.Next(ctx, 0); err != nil || i != 1 || len(l) != 0 {
			t.Fatalf("Next(0) after Halt = %q, %d, %v; want no lines at 1", l, i, err)
		}
		if h := o.History(); len(h) != 2 {
			t.Fatalf("History = %q, want two entries", h)
		}
	})
}

func TestOpDisplayOffline(t *testing.T) {
	ctx := ctxT(t)
	o := devsim.NewOpDisplay(devsim.DefaultOpDisplayOptions)
	if err := o.Inject(devsim.OpDisplayOffline); err != nil {
		t.Fatal(err)
	}
	if st := o.Status(); st.State != hal.Offline || st.Fault != devsim.OpDisplayOffline {
		t.Fatalf("Status = %v, want offline %s", st, devsim.OpDisplayOffline)
	}
	if err := o.Show(ctx, []string{"X"}); !errors.Is(err, hal.ErrOffline) || hal.FaultCode(err) != devsim.OpDisplayOffline {
		t.Fatalf("Show while offline = %v, want hal.ErrOffline with the fault code", err)
	}
	if o.Lines() != nil {
		t.Fatalf("Lines = %q, want nothing shown while offline", o.Lines())
	}
	o.Clear()
	if err := o.Show(ctx, []string{"X"}); err != nil || !o.Status().OK() {
		t.Fatalf("Show after Clear = %v, status %v", err, o.Status())
	}
	if err := o.Inject("SCR-OFFLINE"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Inject(SCR-OFFLINE) = %v, want hal.ErrInvalid", err)
	}
}
