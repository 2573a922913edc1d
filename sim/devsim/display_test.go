package devsim_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/display/displaytest"
	"github.com/atmd/atmd/sim/devsim"
)

func TestDisplayConformance(t *testing.T) {
	for name, caps := range map[string]display.Capabilities{
		"default": {},
		"plain":   {Langs: []string{"en"}},
	} {
		t.Run(name, func(t *testing.T) {
			displaytest.Run(t, func(t *testing.T) displaytest.Harness {
				d := devsim.NewDisplay(devsim.DisplayOptions{Caps: caps})
				h := displaytest.Harness{Dev: d, Current: d.Current}
				if d.Capabilities().Touch {
					h.Touch = d.Touch
				}
				return h
			})
		})
	}
}

func screens(ids ...string) []display.Screen {
	out := make([]display.Screen, len(ids))
	for i, id := range ids {
		out[i] = display.Screen{ID: id, Title: id}
	}
	return out
}

func TestDisplayNextAndHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		d := devsim.NewDisplay(devsim.DefaultDisplayOptions)
		type next struct {
			s   display.Screen
			i   int
			err error
		}
		got := make(chan next, 1)
		go func() {
			s, i, err := d.Next(ctx, -1)
			got <- next{s, i, err}
		}()
		synctest.Wait() // Next waits: nothing has been shown
		for _, s := range screens("welcome", "menu") {
			if err := d.Show(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n := <-got; n.err != nil || n.s.ID != "welcome" || n.i != 0 {
			t.Fatalf("Next(-1) = %q, %d, %v; want welcome at 0", n.s.ID, n.i, n.err)
		}
		if s, i, err := d.Next(ctx, 0); err != nil || s.ID != "menu" || i != 1 {
			t.Fatalf("Next(0) = %q, %d, %v; want menu at 1", s.ID, i, err)
		}
		if err := d.Halt(ctx); err != nil {
			t.Fatal(err)
		}
		h := d.History()
		if len(h) != 3 || h[2].ID != devsim.BlankScreen || d.Current().ID != devsim.BlankScreen {
			t.Fatalf("History = %v, want welcome, menu, blank", h)
		}
	})
}

func TestDisplaySubscribe(t *testing.T) {
	ctx := ctxT(t)
	d := devsim.NewDisplay(devsim.DefaultDisplayOptions)
	if err := d.Show(ctx, screens("welcome")[0]); err != nil {
		t.Fatal(err)
	}
	ch, cancel := d.Subscribe()
	if s := <-ch; s.ID != "welcome" {
		t.Fatalf("first screen on subscribing = %q, want the current one", s.ID)
	}
	// A viewer that does not read loses the oldest screens only.
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, string(rune('a'+i%26))+string(rune('0'+i/26)))
	}
	for _, s := range screens(ids...) {
		if err := d.Show(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var last display.Screen
	n := 0
	for len(ch) > 0 {
		last = <-ch
		n++
	}
	if last.ID != ids[len(ids)-1] || n == 0 || n > 16 {
		t.Fatalf("viewer got %d screens ending with %q, want at most 16 ending with %q", n, last.ID, ids[len(ids)-1])
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after cancel")
	}
	if err := d.Show(ctx, screens("after")[0]); err != nil {
		t.Fatalf("Show after a viewer left: %v", err)
	}
}

func TestDisplayOffline(t *testing.T) {
	ctx := ctxT(t)
	d := devsim.NewDisplay(devsim.DefaultDisplayOptions)
	menu := display.Screen{ID: "menu", Menu: []display.MenuItem{{Key: "F1", ID: "a", Label: "A"}}}
	if err := d.Show(ctx, menu); err != nil {
		t.Fatal(err)
	}
	if err := d.Inject(devsim.DisplayOffline); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.State != hal.Offline || st.Fault != devsim.DisplayOffline {
		t.Fatalf("Status = %v, want offline %s", st, devsim.DisplayOffline)
	}
	if err := d.Show(ctx, screens("x")[0]); !errors.Is(err, hal.ErrOffline) || hal.FaultCode(err) != devsim.DisplayOffline {
		t.Fatalf("Show while offline = %v, want hal.ErrOffline with the fault code", err)
	}
	if err := d.Touch(ctx, "F1"); !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("Touch while offline = %v, want hal.ErrOffline", err)
	}
	if got := len(d.History()); got != 1 {
		t.Fatalf("History has %d screens, want 1: nothing is shown while offline", got)
	}
	d.Clear()
	if err := d.Show(ctx, screens("x")[0]); err != nil || !d.Status().OK() {
		t.Fatalf("Show after Clear = %v, status %v", err, d.Status())
	}
	if err := d.Inject("PRN-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Inject(PRN-JAM) = %v, want hal.ErrInvalid", err)
	}
}
