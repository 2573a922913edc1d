package gpiosensors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/sensors"
	"github.com/atmd/atmd/hal/sensors/sensorstest"
)

// rig is a set of gpiotest lines wired like an ATM: the door and cabinet
// switches active-low with pull-ups, the others active-high.
type rig struct {
	inputs    map[sensors.Input]*gpiotest.Pin
	activeLow map[sensors.Input]bool
	lights    map[sensors.Light]*gpiotest.Pin
}

func newRig() *rig {
	r := &rig{
		inputs:    map[sensors.Input]*gpiotest.Pin{},
		activeLow: map[sensors.Input]bool{sensors.VaultDoor: true, sensors.Cabinet: true},
		lights:    map[sensors.Light]*gpiotest.Pin{},
	}
	for i, in := range []sensors.Input{sensors.VaultDoor, sensors.Supervisor, sensors.Tamper, sensors.Cabinet} {
		r.inputs[in] = &gpiotest.Pin{N: string(in), Num: i, EdgesChan: make(chan gpio.Level, 8)}
	}
	for i, l := range []sensors.Light{sensors.CardLight, sensors.CashLight, sensors.ReceiptLight} {
		r.lights[l] = &gpiotest.Pin{N: string(l), Num: 10 + i}
	}
	return r
}

func (r *rig) pins() Pins {
	p := Pins{Inputs: map[sensors.Input]InputPin{}, Lights: map[sensors.Light]gpio.PinOut{}}
	for in, pin := range r.inputs {
		ip := InputPin{Pin: pin, ActiveLow: r.activeLow[in], Pull: gpio.PullDown}
		if ip.ActiveLow {
			ip.Pull = gpio.PullUp
		}
		p.Inputs[in] = ip
	}
	for l, pin := range r.lights {
		p.Lights[l] = pin
	}
	return p
}

// set drives an input's line as the hardware would: stale edges are
// dropped, the level changes and one edge is signalled.
func (r *rig) set(in sensors.Input, on bool) error {
	p, ok := r.inputs[in]
	if !ok {
		return fmt.Errorf("no input %q", in)
	}
	for len(p.EdgesChan) > 0 {
		<-p.EdgesChan
	}
	level := gpio.Level(on != r.activeLow[in])
	if err := p.Out(level); err != nil {
		return err
	}
	p.EdgesChan <- level
	return nil
}

func (r *rig) open(t *testing.T, opts Options) *Dev {
	t.Helper()
	d, err := New(r.pins(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func TestConformance(t *testing.T) {
	sensorstest.Run(t, func(t *testing.T) sensorstest.Harness {
		r := newRig()
		return sensorstest.Harness{
			Dev:   r.open(t, DefaultOptions),
			Set:   r.set,
			Light: func(l sensors.Light) bool { return bool(r.lights[l].Read()) },
		}
	})
}

func TestPolarity(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		level     gpio.Level
		want      bool
	}{
		{"active-high line high", false, gpio.High, true},
		{"active-high line low", false, gpio.Low, false},
		{"active-low line low", true, gpio.Low, true},
		{"active-low line high", true, gpio.High, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &gpiotest.Pin{N: "door", EdgesChan: make(chan gpio.Level, 1)}
			d, err := New(Pins{Inputs: map[sensors.Input]InputPin{sensors.VaultDoor: {Pin: p, ActiveLow: tc.activeLow}}}, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Out(tc.level); err != nil {
				t.Fatal(err)
			}
			r, err := d.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r[sensors.VaultDoor] != tc.want {
				t.Errorf("door on = %v, want %v", r[sensors.VaultDoor], tc.want)
			}
		})
	}
}

func TestNewAppliesPullAndSwitchesLightsOff(t *testing.T) {
	r := newRig()
	for _, p := range r.lights {
		_ = p.Out(gpio.High)
	}
	r.open(t, DefaultOptions)
	if got := r.inputs[sensors.VaultDoor].Pull(); got != gpio.PullUp {
		t.Errorf("vault door pull = %v, want PullUp", got)
	}
	for l, p := range r.lights {
		if p.Read() != gpio.Low {
			t.Errorf("light %s left on by New", l)
		}
	}
}

func TestNewRejectsBadWiring(t *testing.T) {
	noEdges := &gpiotest.Pin{N: "no-edges"} // gpiotest refuses edge detection without EdgesChan
	tests := []struct {
		name    string
		pins    Pins
		invalid bool
	}{
		{"no inputs", Pins{}, true},
		{"nil input pin", Pins{Inputs: map[sensors.Input]InputPin{sensors.Tamper: {}}}, true},
		{"nil light pin", Pins{
			Inputs: map[sensors.Input]InputPin{sensors.Tamper: {Pin: &gpiotest.Pin{EdgesChan: make(chan gpio.Level)}}},
			Lights: map[sensors.Light]gpio.PinOut{sensors.CashLight: nil},
		}, true},
		{"pin without edge detection", Pins{Inputs: map[sensors.Input]InputPin{sensors.Tamper: {Pin: noEdges}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.pins, DefaultOptions)
			if err == nil {
				t.Fatalf("New = %v, want an error", d)
			}
			if errors.Is(err, hal.ErrInvalid) != tc.invalid {
				t.Errorf("New error %v: ErrInvalid = %v, want %v", err, !tc.invalid, tc.invalid)
			}
		})
	}
}

func TestDebounce(t *testing.T) {
	tests := []struct {
		name  string
		burst []gpio.Level // edges as the line bounces, last one is where it settles
		want  *sensors.Change
	}{
		{"bounce back to off", []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low}, nil},
		{"bounce then settle on", []gpio.Level{gpio.High, gpio.Low, gpio.High}, &sensors.Change{Input: sensors.Supervisor, On: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig()
			d := r.open(t, DefaultOptions)
			for _, l := range tc.burst {
				r.inputs[sensors.Supervisor].EdgesChan <- l
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			got, err := d.Watch(ctx)
			switch {
			case tc.want == nil && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Watch = %+v, %v; want no change", got, err)
			case tc.want != nil && (err != nil || got != *tc.want):
				t.Fatalf("Watch = %+v, %v; want %+v", got, err, *tc.want)
			}
			if tc.want == nil {
				return
			}
			ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel2()
			if got, err := d.Watch(ctx2); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("second Watch = %+v, %v; a bounce must be one change", got, err)
			}
		})
	}
}

// waitingPin tells when someone waits for an edge on it.
type waitingPin struct {
	*gpiotest.Pin
	waiting chan struct{}
}

func (p *waitingPin) WaitForEdge(d time.Duration) bool {
	select {
	case p.waiting <- struct{}{}:
	default:
	}
	return p.Pin.WaitForEdge(d)
}

func TestConcurrentWatchIsBusy(t *testing.T) {
	p := &waitingPin{Pin: &gpiotest.Pin{N: "tamper", EdgesChan: make(chan gpio.Level, 1)}, waiting: make(chan struct{}, 1)}
	d, err := New(Pins{Inputs: map[sensors.Input]InputPin{sensors.Tamper: {Pin: p}}}, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := d.Watch(ctx)
		first <- err
	}()
	select {
	case <-p.waiting:
	case <-ctx.Done():
		t.Fatal("first Watch never waited for an edge")
	}
	if _, err := d.Watch(ctx); !errors.Is(err, hal.ErrBusy) {
		t.Errorf("second Watch = %v, want ErrBusy", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first Watch after cancel = %v, want Canceled", err)
	}
}
