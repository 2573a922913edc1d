package sensorstest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/sensors"
)

// Fake is an in-memory sensors.Sensors with every standard input and
// light. Set plays the machine; Fail scripts errors; Calls records what
// the code under test asked for. It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	levels   sensors.Readings
	reported sensors.Readings // what the last Watch reported
	lights   map[sensors.Light]bool
	fails    map[string]error
	calls    []string
	wake     chan struct{} // closed and replaced on every input change
}

var _ sensors.Sensors = (*Fake)(nil)

var (
	fakeInputs = []sensors.Input{sensors.Cabinet, sensors.Supervisor, sensors.Tamper, sensors.VaultDoor}
	fakeLights = []sensors.Light{sensors.CardLight, sensors.CashLight, sensors.ReceiptLight}
)

// NewFake returns a fake with every input off and every light off.
func NewFake() *Fake {
	f := &Fake{
		levels:   sensors.Readings{},
		reported: sensors.Readings{},
		lights:   map[sensors.Light]bool{},
		fails:    map[string]error{},
		wake:     make(chan struct{}),
	}
	for _, in := range fakeInputs {
		f.levels[in], f.reported[in] = false, false
	}
	for _, l := range fakeLights {
		f.lights[l] = false
	}
	return f
}

// Set changes an input, waking a pending Watch.
func (f *Fake) Set(in sensors.Input, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.levels[in]; !ok {
		return fmt.Errorf("sensorstest: no input %q: %w", in, hal.ErrInvalid)
	}
	f.levels[in] = on
	close(f.wake)
	f.wake = make(chan struct{})
	return nil
}

// Light reports whether a light is on.
func (f *Fake) Light(l sensors.Light) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lights[l]
}

// Fail makes the next call of method ("Read", "Watch", "SetLight",
// "Halt") return err.
func (f *Fake) Fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[method] = err
}

// Calls returns the methods called so far, in order, e.g. "SetLight card on".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// call records a call and returns its scripted error; f.mu must be held.
func (f *Fake) call(method, desc string) error {
	f.calls = append(f.calls, desc)
	err := f.fails[method]
	delete(f.fails, method)
	return err
}

// String names the fake.
func (f *Fake) String() string { return "sensors:fake" }

// Status is Online, with fault SEN-TAMPER while the tamper input is on.
func (f *Fake) Status() hal.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.levels[sensors.Tamper] {
		return hal.Status{State: hal.Online, Fault: "SEN-TAMPER", Detail: "tamper input active"}
	}
	return hal.Status{State: hal.Online}
}

// Capabilities lists every standard input and light.
func (f *Fake) Capabilities() sensors.Capabilities {
	return sensors.Capabilities{Inputs: slices.Clone(fakeInputs), Lights: slices.Clone(fakeLights)}
}

// Read returns the inputs.
func (f *Fake) Read(ctx context.Context) (sensors.Readings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Read", "Read"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sensorstest: read: %w", err)
	}
	r := make(sensors.Readings, len(f.levels))
	for in, on := range f.levels {
		r[in] = on
	}
	return r, nil
}

// Watch blocks until an input differs from what the previous Watch
// reported.
func (f *Fake) Watch(ctx context.Context) (sensors.Change, error) {
	f.mu.Lock()
	err := f.call("Watch", "Watch")
	f.mu.Unlock()
	if err != nil {
		return sensors.Change{}, err
	}
	for {
		f.mu.Lock()
		for _, in := range fakeInputs {
			if on := f.levels[in]; on != f.reported[in] {
				f.reported[in] = on
				f.mu.Unlock()
				return sensors.Change{Input: in, On: on}, nil
			}
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return sensors.Change{}, fmt.Errorf("sensorstest: watch: %w", ctx.Err())
		}
	}
}

// SetLight switches a light.
func (f *Fake) SetLight(ctx context.Context, l sensors.Light, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("SetLight", fmt.Sprintf("SetLight %s %s", l, onOff(on))); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sensorstest: light %q: %w", l, err)
	}
	if _, ok := f.lights[l]; !ok {
		return fmt.Errorf("sensorstest: no light %q: %w", l, hal.ErrInvalid)
	}
	f.lights[l] = on
	return nil
}

// Halt turns every light off.
func (f *Fake) Halt(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Halt", "Halt"); err != nil {
		return err
	}
	for l := range f.lights {
		f.lights[l] = false
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
