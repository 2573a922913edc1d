package gpiosensors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"periph.io/x/conn/v3/gpio"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/sensors"
)

// FaultTamper is the fault catalogue code Status reports while the tamper
// input is active.
const FaultTamper = "SEN-TAMPER"

// InputPin is one input line and how to read it.
type InputPin struct {
	Pin gpio.PinIn
	// ActiveLow: the input is on when the line is low (a switch to ground
	// with a pull-up). Otherwise a high line means on.
	ActiveLow bool
	// Pull is the pull resistor New applies; the zero value,
	// gpio.PullNoChange, keeps the board's setting.
	Pull gpio.Pull
}

// Pins is the wiring: which line serves which input and light.
type Pins struct {
	Inputs map[sensors.Input]InputPin
	Lights map[sensors.Light]gpio.PinOut
}

// Options tune the driver.
type Options struct {
	// Name tells instances apart in String ("sensors:gpio:<Name>").
	Name string
	// Debounce is how long a line must stay quiet after an edge before its
	// level is believed; 0 disables debouncing.
	Debounce time.Duration
	// Poll is the longest Watch waits for edges before it checks its
	// context again; it is shared between the inputs. 0 means
	// DefaultOptions.Poll.
	Poll time.Duration
	// Log receives input changes and light switching; the zero value
	// discards.
	Log zerolog.Logger
}

// DefaultOptions suit reed switches and microswitches on an ATM: 20 ms of
// debounce, context checked every 100 ms.
var DefaultOptions = Options{Debounce: 20 * time.Millisecond, Poll: 100 * time.Millisecond}

// Dev is a set of GPIO inputs and lights.
type Dev struct {
	opts   Options
	inputs []line // sorted by input name, so reports are deterministic
	lights map[sensors.Light]gpio.PinOut
	caps   sensors.Capabilities

	watching atomic.Bool
	mu       sync.Mutex
	reported sensors.Readings // the state the last Watch reported
}

type line struct {
	in        sensors.Input
	pin       gpio.PinIn
	activeLow bool
}

func (l line) on() bool { return bool(l.pin.Read()) != l.activeLow }

var _ sensors.Sensors = (*Dev)(nil)

// New configures the input lines for edge detection on both edges, turns
// every light off and returns the device. Pins must name at least one
// input and no nil pin.
func New(pins Pins, opts Options) (*Dev, error) {
	if len(pins.Inputs) == 0 {
		return nil, fmt.Errorf("gpiosensors: no inputs wired: %w", hal.ErrInvalid)
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultOptions.Poll
	}
	d := &Dev{opts: opts, lights: map[sensors.Light]gpio.PinOut{}, reported: sensors.Readings{}}
	for in, p := range pins.Inputs {
		if p.Pin == nil {
			return nil, fmt.Errorf("gpiosensors: input %q has no pin: %w", in, hal.ErrInvalid)
		}
		if err := p.Pin.In(p.Pull, gpio.BothEdges); err != nil {
			return nil, fmt.Errorf("gpiosensors: input %q on %s: %w", in, p.Pin, err)
		}
		d.inputs = append(d.inputs, line{in: in, pin: p.Pin, activeLow: p.ActiveLow})
		d.caps.Inputs = append(d.caps.Inputs, in)
	}
	slices.SortFunc(d.inputs, func(a, b line) int { return cmp.Compare(a.in, b.in) })
	slices.Sort(d.caps.Inputs)
	for l, p := range pins.Lights {
		if p == nil {
			return nil, fmt.Errorf("gpiosensors: light %q has no pin: %w", l, hal.ErrInvalid)
		}
		if err := p.Out(gpio.Low); err != nil {
			return nil, fmt.Errorf("gpiosensors: light %q on %s: %w", l, p, err)
		}
		d.lights[l] = p
		d.caps.Lights = append(d.caps.Lights, l)
	}
	slices.Sort(d.caps.Lights)
	for _, l := range d.inputs {
		d.reported[l.in] = l.on()
	}
	return d, nil
}

// String names the device.
func (d *Dev) String() string {
	if d.opts.Name == "" {
		return "sensors:gpio"
	}
	return "sensors:gpio:" + d.opts.Name
}

// Status is Online, with fault SEN-TAMPER while the tamper input is active.
func (d *Dev) Status() hal.Status {
	for _, l := range d.inputs {
		if l.in == sensors.Tamper && l.on() {
			return hal.Status{State: hal.Online, Fault: FaultTamper, Detail: "tamper input active"}
		}
	}
	return hal.Status{State: hal.Online}
}

// Capabilities lists the wired inputs and lights, sorted by name.
func (d *Dev) Capabilities() sensors.Capabilities {
	return sensors.Capabilities{Inputs: slices.Clone(d.caps.Inputs), Lights: slices.Clone(d.caps.Lights)}
}

// Read returns the current state of every input.
func (d *Dev) Read(ctx context.Context) (sensors.Readings, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gpiosensors: read: %w", err)
	}
	r := make(sensors.Readings, len(d.inputs))
	for _, l := range d.inputs {
		r[l.in] = l.on()
	}
	return r, nil
}

// Watch blocks until an input differs from what the previous Watch
// reported, and reports that change.
func (d *Dev) Watch(ctx context.Context) (sensors.Change, error) {
	if !d.watching.CompareAndSwap(false, true) {
		return sensors.Change{}, fmt.Errorf("gpiosensors: watch: %w", hal.ErrBusy)
	}
	defer d.watching.Store(false)
	slice := max(d.opts.Poll/time.Duration(len(d.inputs)), time.Millisecond)
	for {
		if c, ok := d.changed(); ok {
			d.opts.Log.Info().Str("input", string(c.Input)).Bool("on", c.On).Msg("input changed")
			return c, nil
		}
		for _, l := range d.inputs {
			if err := ctx.Err(); err != nil {
				return sensors.Change{}, fmt.Errorf("gpiosensors: watch: %w", err)
			}
			if l.pin.WaitForEdge(slice) {
				if err := d.settle(ctx, l.pin); err != nil {
					return sensors.Change{}, err
				}
				break
			}
		}
	}
}

// changed compares the inputs with what was last reported and records the
// first difference as reported.
func (d *Dev) changed() (sensors.Change, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.inputs {
		if on := l.on(); on != d.reported[l.in] {
			d.reported[l.in] = on
			return sensors.Change{Input: l.in, On: on}, true
		}
	}
	return sensors.Change{}, false
}

// settle waits until pin has had no edge for the debounce time.
func (d *Dev) settle(ctx context.Context, pin gpio.PinIn) error {
	if d.opts.Debounce <= 0 {
		return nil
	}
	for pin.WaitForEdge(d.opts.Debounce) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gpiosensors: watch: %w", err)
		}
	}
	return nil
}

// SetLight drives a light's line high (on) or low (off). A light that is
// not wired is an invalid request.
func (d *Dev) SetLight(ctx context.Context, l sensors.Light, on bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gpiosensors: light %q: %w", l, err)
	}
	p, ok := d.lights[l]
	if !ok {
		return fmt.Errorf("gpiosensors: light %q not wired: %w", l, hal.ErrInvalid)
	}
	if err := p.Out(gpio.Level(on)); err != nil {
		return fmt.Errorf("gpiosensors: light %q on %s: %w", l, p, err)
	}
	d.opts.Log.Debug().Str("light", string(l)).Bool("on", on).Msg("light switched")
	return nil
}

// Halt turns every light off. It does not block, so it ignores ctx.
func (d *Dev) Halt(context.Context) error {
	var errs []error
	for l, p := range d.lights {
		if err := p.Out(gpio.Low); err != nil {
			errs = append(errs, fmt.Errorf("gpiosensors: light %q on %s: %w", l, p, err))
		}
	}
	return errors.Join(errs...)
}
