package devsim

import (
	"context"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/atmd/atmd/devices/gpiosensors"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/sensors"
)

// SensorsOptions configure the sensors simulator.
type SensorsOptions struct {
	Inputs []sensors.Input
	Lights []sensors.Light
	// Driver configures the GPIO driver the simulator runs.
	Driver gpiosensors.Options
}

// DefaultSensorsOptions wire every standard input and light, with the
// driver's default debounce.
var DefaultSensorsOptions = SensorsOptions{
	Inputs: []sensors.Input{sensors.VaultDoor, sensors.Supervisor, sensors.Tamper, sensors.Cabinet},
	Lights: []sensors.Light{sensors.CardLight, sensors.CashLight, sensors.ReceiptLight},
	Driver: gpiosensors.Options{
		Name:     "sim",
		Debounce: gpiosensors.DefaultOptions.Debounce,
		Poll:     gpiosensors.DefaultOptions.Poll,
	},
}

// Sensors is the real GPIO driver (devices/gpiosensors) running on
// gpiotest pins: Set plays the machine by moving a line and signalling
// its edge, Light reads an output line back. Every input is wired
// active-high.
//
// Faults: SEN-OFFLINE makes every command fail with hal.ErrOffline;
// SEN-TAMPER sets the tamper input, which the driver reports as fault
// SEN-TAMPER. Clear undoes both.
type Sensors struct {
	dev    *gpiosensors.Dev
	inputs map[sensors.Input]*gpiotest.Pin
	lights map[sensors.Light]*gpiotest.Pin

	mu       sync.Mutex // serialises Set and guards the flags
	offline  bool
	tampered bool // SEN-TAMPER injected
}

var (
	_ sensors.Sensors = (*Sensors)(nil)
	_ Faulty          = (*Sensors)(nil)
)

// NewSensors wires gpiotest pins for opts' inputs and lights and opens the
// GPIO driver on them. Every input starts off and every light off.
func NewSensors(opts SensorsOptions) (*Sensors, error) {
	s := &Sensors{inputs: map[sensors.Input]*gpiotest.Pin{}, lights: map[sensors.Light]*gpiotest.Pin{}}
	pins := gpiosensors.Pins{Inputs: map[sensors.Input]gpiosensors.InputPin{}, Lights: map[sensors.Light]gpio.PinOut{}}
	for i, in := range opts.Inputs {
		// One buffered edge is enough: Set drops a stale edge before
		// signalling a new one, so the queue never disagrees with the level.
		p := &gpiotest.Pin{N: "sim-" + string(in), Num: i, EdgesChan: make(chan gpio.Level, 1)}
		s.inputs[in] = p
		pins.Inputs[in] = gpiosensors.InputPin{Pin: p, Pull: gpio.PullDown}
	}
	for i, l := range opts.Lights {
		p := &gpiotest.Pin{N: "sim-" + string(l), Num: len(opts.Inputs) + i}
		s.lights[l] = p
		pins.Lights[l] = p
	}
	dev, err := gpiosensors.New(pins, opts.Driver)
	if err != nil {
		return nil, fmt.Errorf("devsim: sensors: %w", err)
	}
	s.dev = dev
	return s, nil
}

// Set moves an input's line and signals the edge, as the door or switch
// would. It never blocks: a sensor does not wait for anyone to watch it.
func (s *Sensors) Set(in sensors.Input, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(in, on)
}

func (s *Sensors) setLocked(in sensors.Input, on bool) error {
	p, ok := s.inputs[in]
	if !ok {
		return fmt.Errorf("devsim: sensors: no input %q: %w", in, hal.ErrInvalid)
	}
	select {
	case <-p.EdgesChan: // a stale edge nobody waited for
	default:
	}
	if err := p.Out(gpio.Level(on)); err != nil {
		return fmt.Errorf("devsim: sensors: input %q: %w", in, err)
	}
	p.EdgesChan <- gpio.Level(on) // cannot block: the queue was drained under s.mu
	return nil
}

// Light reports whether a light's line is driven high.
func (s *Sensors) Light(l sensors.Light) bool {
	p, ok := s.lights[l]
	return ok && bool(p.Read())
}

// Inject puts the simulator into SEN-OFFLINE or SEN-TAMPER.
func (s *Sensors) Inject(code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch code {
	case "SEN-OFFLINE":
		s.offline = true
	case "SEN-TAMPER":
		if err := s.setLocked(sensors.Tamper, true); err != nil {
			return err
		}
		s.tampered = true
	default:
		return fmt.Errorf("devsim: sensors: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	return nil
}

// Clear brings the simulator back online and, if SEN-TAMPER was
// injected, switches the tamper input off again.
func (s *Sensors) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offline = false
	if s.tampered {
		_ = s.setLocked(sensors.Tamper, false) // the input exists: Inject set it
		s.tampered = false
	}
}

func (s *Sensors) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline {
		return &hal.Fault{Device: "sensors", Code: "SEN-OFFLINE", Msg: "no answer from the GPIO lines", Recoverable: true, Err: hal.ErrOffline}
	}
	return nil
}

// String names the simulator after the driver it runs.
func (s *Sensors) String() string { return s.dev.String() }

// Status is the driver's status, or Offline with SEN-OFFLINE.
func (s *Sensors) Status() hal.Status {
	if s.check() != nil {
		return hal.Status{State: hal.Offline, Fault: "SEN-OFFLINE", Detail: "no answer from the GPIO lines"}
	}
	return s.dev.Status()
}

// Capabilities lists the simulated inputs and lights.
func (s *Sensors) Capabilities() sensors.Capabilities { return s.dev.Capabilities() }

// Read returns the inputs.
func (s *Sensors) Read(ctx context.Context) (sensors.Readings, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.dev.Read(ctx)
}

// Watch waits for an input to change.
func (s *Sensors) Watch(ctx context.Context) (sensors.Change, error) {
	if err := s.check(); err != nil {
		return sensors.Change{}, err
	}
	return s.dev.Watch(ctx)
}

// SetLight switches a light.
func (s *Sensors) SetLight(ctx context.Context, l sensors.Light, on bool) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.dev.SetLight(ctx, l, on)
}

// Halt turns every light off.
func (s *Sensors) Halt(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.dev.Halt(ctx)
}
