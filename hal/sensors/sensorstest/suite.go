package sensorstest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/sensors"
)

// Harness is a device under test plus the far side that plays the
// machine: Set changes an input as the hardware would, Light reads a
// light back.
type Harness struct {
	Dev   sensors.Sensors
	Set   func(in sensors.Input, on bool) error
	Light func(l sensors.Light) bool
}

// timeout bounds every step of the suite.
const timeout = 5 * time.Second

// Run runs the conformance suite. open is called for every subtest and
// must return a fresh device with every input off and every light off.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"ReadReflectsSet", testReadReflectsSet},
		{"WatchReportsEachChange", testWatchReportsEachChange},
		{"WatchWakesOnChange", testWatchWakesOnChange},
		{"FlipBackIsNoChange", testFlipBackIsNoChange},
		{"WatchHonoursContext", testWatchHonoursContext},
		{"SetLight", testSetLight},
		{"UnknownLightRejected", testUnknownLightRejected},
		{"HaltTurnsLightsOff", testHaltTurnsLightsOff},
		{"TamperFault", testTamperFault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func set(t *testing.T, h Harness, in sensors.Input, on bool) {
	t.Helper()
	if err := h.Set(in, on); err != nil {
		t.Fatalf("Set(%s, %v): %v", in, on, err)
	}
}

func read(t *testing.T, h Harness) sensors.Readings {
	t.Helper()
	r, err := h.Dev.Read(ctxT(t))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func watch(t *testing.T, h Harness, want sensors.Change) {
	t.Helper()
	got, err := h.Dev.Watch(ctxT(t))
	if err != nil {
		t.Fatalf("Watch: %v, want %+v", err, want)
	}
	if got != want {
		t.Fatalf("Watch = %+v, want %+v", got, want)
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
	if len(caps.Inputs) == 0 {
		t.Fatal("Capabilities lists no inputs")
	}
	r := read(t, h)
	if len(r) != len(caps.Inputs) {
		t.Errorf("Read has %d inputs, Capabilities %d", len(r), len(caps.Inputs))
	}
	for _, in := range caps.Inputs {
		on, ok := r[in]
		if !ok {
			t.Errorf("Read lacks input %q", in)
		}
		if on {
			t.Errorf("fresh input %q is on", in)
		}
	}
}

func testReadReflectsSet(t *testing.T, h Harness) {
	for _, in := range h.Dev.Capabilities().Inputs {
		set(t, h, in, true)
		for other, on := range read(t, h) {
			if on != (other == in) {
				t.Errorf("after Set(%s, true): Read[%s] = %v", in, other, on)
			}
		}
		set(t, h, in, false)
		if read(t, h)[in] {
			t.Errorf("after Set(%s, false): still on", in)
		}
	}
}

func testWatchReportsEachChange(t *testing.T, h Harness) {
	for _, in := range h.Dev.Capabilities().Inputs {
		set(t, h, in, true)
		watch(t, h, sensors.Change{Input: in, On: true})
		set(t, h, in, false)
		watch(t, h, sensors.Change{Input: in, On: false})
	}
}

func testWatchWakesOnChange(t *testing.T, h Harness) {
	in := h.Dev.Capabilities().Inputs[0]
	type result struct {
		c   sensors.Change
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := h.Dev.Watch(ctxT(t))
		done <- result{c, err}
	}()
	set(t, h, in, true)
	select {
	case r := <-done:
		if r.err != nil || r.c != (sensors.Change{Input: in, On: true}) {
			t.Fatalf("Watch = %+v, %v; want %s on", r.c, r.err, in)
		}
	case <-time.After(timeout):
		t.Fatal("Watch did not return after Set")
	}
}

func testFlipBackIsNoChange(t *testing.T, h Harness) {
	in := h.Dev.Capabilities().Inputs[0]
	set(t, h, in, true)
	set(t, h, in, false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := h.Dev.Watch(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch after on/off = %+v, %v; want no change until the deadline", c, err)
	}
}

func testWatchHonoursContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Dev.Watch(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch with nothing changing = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Watch took %v to notice its deadline", d)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := h.Dev.Watch(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch with cancelled ctx = %v, want Canceled", err)
	}
	if _, err := h.Dev.Read(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with cancelled ctx = %v, want Canceled", err)
	}
}

func testSetLight(t *testing.T, h Harness) {
	lights := h.Dev.Capabilities().Lights
	if len(lights) == 0 {
		t.Skip("no lights")
	}
	for _, l := range lights {
		if err := h.Dev.SetLight(ctxT(t), l, true); err != nil {
			t.Fatalf("SetLight(%s, on): %v", l, err)
		}
		for _, other := range lights {
			if got := h.Light(other); got != (other == l) {
				t.Errorf("after SetLight(%s, on): light %s on = %v", l, other, got)
			}
		}
		if err := h.Dev.SetLight(ctxT(t), l, false); err != nil {
			t.Fatalf("SetLight(%s, off): %v", l, err)
		}
		if h.Light(l) {
			t.Errorf("after SetLight(%s, off): still on", l)
		}
	}
}

func testUnknownLightRejected(t *testing.T, h Harness) {
	lights := h.Dev.Capabilities().Lights
	const bogus = sensors.Light("no-such-light")
	if slices.Contains(lights, bogus) {
		t.Fatalf("Capabilities lists %q", bogus)
	}
	for _, l := range lights {
		if err := h.Dev.SetLight(ctxT(t), l, true); err != nil {
			t.Fatalf("SetLight(%s, on): %v", l, err)
		}
	}
	if err := h.Dev.SetLight(ctxT(t), bogus, false); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("SetLight(%q) = %v, want ErrInvalid", bogus, err)
	}
	for _, l := range lights {
		if !h.Light(l) {
			t.Errorf("light %s changed by a rejected request", l)
		}
	}
}

func testHaltTurnsLightsOff(t *testing.T, h Harness) {
	lights := h.Dev.Capabilities().Lights
	for _, l := range lights {
		if err := h.Dev.SetLight(ctxT(t), l, true); err != nil {
			t.Fatalf("SetLight(%s, on): %v", l, err)
		}
	}
	for i := range 2 {
		if err := h.Dev.Halt(ctxT(t)); err != nil {
			t.Fatalf("Halt #%d: %v", i+1, err)
		}
		for _, l := range lights {
			if h.Light(l) {
				t.Errorf("after Halt #%d light %s is on", i+1, l)
			}
		}
	}
	in := h.Dev.Capabilities().Inputs[0]
	set(t, h, in, true)
	if !read(t, h)[in] {
		t.Error("device unusable after Halt: Read does not reflect Set")
	}
}

func testTamperFault(t *testing.T, h Harness) {
	if !slices.Contains(h.Dev.Capabilities().Inputs, sensors.Tamper) {
		t.Skip("no tamper input")
	}
	set(t, h, sensors.Tamper, true)
	if st := h.Dev.Status(); st.Fault != "SEN-TAMPER" || !st.State.Usable() {
		t.Errorf("Status with tamper on = %v, want usable with fault SEN-TAMPER", st)
	}
	set(t, h, sensors.Tamper, false)
	if st := h.Dev.Status(); st.Fault != "" {
		t.Errorf("Status with tamper off = %v, want no fault", st)
	}
}
