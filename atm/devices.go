package atm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/atmd/atmd/devices/webscreen"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/atmd/atmd/devices/cdm"
	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/devices/escpos"
	"github.com/atmd/atmd/devices/gpiosensors"
	"github.com/atmd/atmd/devices/lcd"
	"github.com/atmd/atmd/devices/pcsc"
	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/devices/snapcam"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/sensors"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/devsim"
	"github.com/atmd/atmd/sim/wire"
	cdmsim "github.com/atmd/atmd/sim/wire/cdm"
	eppsim "github.com/atmd/atmd/sim/wire/epp"
	escpossim "github.com/atmd/atmd/sim/wire/escpos"
	lcdsim "github.com/atmd/atmd/sim/wire/lcd"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
	snapcamsim "github.com/atmd/atmd/sim/wire/snapcam"
)

// DeviceOptions adjust OpenDevices.
type DeviceOptions struct {
	// Clock dates card reads and stamps stills; default clock.Real.
	Clock clock.Clock
	// Log receives the drivers' and simulators' logs; the zero value
	// discards.
	Log zerolog.Logger
	// StateDir is where simulated devices keep what outlives a restart
	// (the dispenser's nonce counter, counters and last dispense);
	// default: the config's state dir.
	StateDir string
	// Record, when set, is a directory: the traffic of every serial
	// device (real or on port sim) is written there, one file per device
	// (see RecordFile). The bytes are recorded as they are, so use it
	// only for exchanges that carry no secret: `atmd smoke`, whose
	// exercises load no key and take no PIN.
	Record string
	// Poll, when positive, is how often the drivers of devices on their
	// wire simulators (port sim, url sim) check the device and reach for
	// one that went away; 0 keeps each driver's default. For tests that
	// wait for a recovery.
	Poll time.Duration
}

// DeviceSet is the ATM's devices as a config describes them, open: the
// drivers, the in-process and wire simulators, and what closes them.
type DeviceSet struct {
	// Devices are the devices, one per hal contract.
	Devices Devices
	// Sim holds the control surfaces of the simulated devices (never
	// nil: the customer screen is always simulated for now). A real
	// device's control answers ErrNotSimulated.
	Sim *SimDevices
	// Drivers describes each device's driver by device name, e.g.
	// "epp on sim (/dev/pts/3)", for `atmd smoke` and logs.
	Drivers map[string]string
	// Web is the customer screen's web page when the display driver is
	// web (nil otherwise).
	Web *webscreen.Dev

	mu      sync.Mutex
	closers []namedCloser
	log     zerolog.Logger
}

type namedCloser struct {
	name  string
	close func() error
}

// ErrDevices: a device could not be set up from its config (a bad GPIO
// line, a simulator that could not start). A device that is merely
// absent or silent is not an error: its driver starts offline, with a
// fault code, and keeps trying.
var ErrDevices = errors.New("atm: devices")

// OpenDevices opens every device of cfg: the in-process simulators
// (driver sim), the real drivers, and for a real driver on port sim (url
// sim) its wire simulator, started on a fresh pseudo-terminal (loopback
// listener) before the driver opens it. Close stops everything; after an
// error, what was already open has been closed.
func OpenDevices(ctx context.Context, cfg *Config, o DeviceOptions) (_ *DeviceSet, err error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.StateDir == "" {
		o.StateDir = cfg.Path(cfg.ATM.StateDir)
	}
	// A config built in Go rather than loaded: hold it to the same rules.
	var errs []error
	cfg.Devices.defaults()
	cfg.Devices.validate(func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrDevices, errors.Join(errs...))
	}
	s := &DeviceSet{Drivers: map[string]string{}, log: o.Log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if o.Record != "" {
		if err := os.MkdirAll(o.Record, 0o700); err != nil {
			return nil, fmt.Errorf("%w: record: %w", ErrDevices, err)
		}
	}
	b := &builder{set: s, cfg: cfg, o: o, sim: &SimDevices{Faults: map[string]devsim.Faulty{}}}
	for _, step := range []func(context.Context) error{
		b.display, b.cardReader, b.pinPad, b.opDisplay, b.nfcTag, b.dispenser, b.printer, b.camera, b.sensors,
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	s.Sim = b.sim
	return s, nil
}

// Close stops what OpenDevices started, the last first: drivers, then
// the simulators behind them and their lines. It does not halt the
// devices: the runner does that. Close is safe to call twice.
func (s *DeviceSet) Close() error {
	s.mu.Lock()
	cs := s.closers
	s.closers = nil
	s.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].close(); err != nil {
			s.log.Warn().Err(err).Str("what", cs[i].name).Msg("close failed")
			errs = append(errs, fmt.Errorf("%s: %w", cs[i].name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *DeviceSet) onClose(name string, f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, namedCloser{name, f})
}

// RecordFile is the file DeviceOptions.Record writes a device's traffic
// to.
func RecordFile(dir, device string) string { return filepath.Join(dir, device+".hex") }

// builder opens the devices one by one.
type builder struct {
	set *DeviceSet
	cfg *Config
	o   DeviceOptions
	sim *SimDevices
}

// log is the logger of an in-process simulator or of a driver that does
// not name its device in its logs.
func (b *builder) log(name string) zerolog.Logger {
	return b.o.Log.With().Str("device", name).Logger()
}

// simLog is a wire simulator's logger.
func (b *builder) simLog(pkg string) zerolog.Logger {
	return b.o.Log.With().Str("component", pkg).Logger()
}

// poll is the driver poll period for a device on its wire simulator.
func (b *builder) poll(simulated bool, def time.Duration) time.Duration {
	if simulated && b.o.Poll > 0 {
		return b.o.Poll
	}
	return def
}

// serial gives a serial driver its port. On port sim it starts the
// device's wire simulator, serving the master side of a fresh
// pseudo-terminal, and returns the slave side's path; with
// DeviceOptions.Record it puts a recording relay in between. On a real
// port with Record, the relay sits between the port and a
// pseudo-terminal the driver opens; without, the driver opens the port.
func (b *builder) serial(name string, sc SerialConfig, serve func(context.Context, io.ReadWriter) error) (string, error) {
	if !sc.Sim() {
		if b.o.Record == "" {
			b.set.Drivers[name] += " on " + sc.Port
			return sc.Port, nil
		}
		r, err := relayPort(name, sc.Port, sc.Baud, RecordFile(b.o.Record, name), b.log(name))
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrDevices, name, err)
		}
		b.set.onClose(name+" recorder", r.Close)
		b.set.Drivers[name] += " on " + sc.Port + " (recorded)"
		return r.Path(), nil
	}
	var line io.ReadWriter
	var path string
	if b.o.Record == "" {
		p, err := wire.OpenPTY()
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrDevices, name, err)
		}
		line, path = p.Master, p.Path
		b.set.onClose(name+" line", p.Close)
		b.set.Drivers[name] += " on sim (" + p.Slave + ")"
	} else {
		r, simEnd, err := relaySim(name, RecordFile(b.o.Record, name), b.log(name))
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrDevices, name, err)
		}
		b.set.onClose(name+" recorder", r.Close)
		line, path = simEnd, r.Path()
		b.set.Drivers[name] += " on sim (recorded)"
	}
	b.run(name+" simulator", func(ctx context.Context) error { return serve(ctx, line) })
	return path, nil
}

// run runs a simulator until Close. Close (of the set) cancels it and
// waits for it, a bounded time.
func (b *builder) run(name string, serve func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	b.set.onClose(name, func() error {
		cancel()
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%w: %s did not stop", ErrDevices, name)
		}
	})
}

func (b *builder) display(context.Context) error {
	c := b.cfg.Devices.Display
	b.set.Drivers["display"] = c.Driver
	if c.Driver == DriverWeb {
		cur := b.cfg.ATM.Currency
		w, err := webscreen.New(webscreen.Options{Addr: c.Addr, Currency: cur, RequireViewer: c.RequireViewer, Log: b.log("display")})
		if err != nil {
			return fmt.Errorf("%w: display: %w", ErrDevices, err)
		}
		b.set.Devices.Display, b.set.Web = w, w
		b.run("web display", w.Serve)
		return nil
	}
	d := devsim.NewDisplay(devsim.DisplayOptions{})
	b.set.Devices.Display, b.sim.Display = d, d
	b.sim.Faults["display"] = d
	return nil
}

func (b *builder) cardReader(ctx context.Context) error {
	c := b.cfg.Devices.CardReader
	b.set.Drivers["cardreader"] = c.Driver
	if c.Driver == DriverSim {
		r := devsim.NewCardReader(devsim.CardReaderOptions{Log: b.log("cardreader")})
		b.set.Devices.CardReader, b.sim.CardReader = r, r
		b.sim.Faults["cardreader"] = r
		return nil
	}
	opts := pcsc.Options{Reader: c.Reader, Clock: b.o.Clock, Log: b.log("cardreader")}
	for _, a := range c.AIDs {
		aid, _ := hex.DecodeString(a) // checked by Validate
		opts.AIDs = append(opts.AIDs, aid)
	}
	if c.VPCD != "" && b.o.Poll > 0 {
		opts.Retry = b.o.Poll
	}
	r, err := pcsc.Open(ctx, opts)
	if err != nil {
		return fmt.Errorf("%w: cardreader: %w", ErrDevices, err)
	}
	b.set.onClose("cardreader driver", r.Close)
	b.set.Devices.CardReader = chipReader{r}
	name := c.Reader
	if name == "" {
		name = "the first reader"
	}
	b.set.Drivers["cardreader"] += " on " + name
	if c.VPCD == "" {
		b.sim.CardReader = notSimulated("cardreader")
		return nil
	}
	// Simulated cards go into pcscd's vpcd reader; the slot is emptied
	// (and the driver has seen it) before the driver closes.
	slot := newVCardSlot(r, c.VPCD, b.log("cardreader"))
	b.set.onClose("cardreader cards", slot.Close)
	b.set.Drivers["cardreader"] += ", cards through vpcd at " + c.VPCD
	b.sim.CardReader = slot
	b.sim.Faults["cardreader"] = slot
	return nil
}

func (b *builder) pinPad(context.Context) error {
	c := b.cfg.Devices.PinPad
	b.set.Drivers["pinpad"] = c.Driver
	if c.Driver == DriverSim {
		p := devsim.NewPinPad(devsim.PinPadOptions{Log: b.log("pinpad")})
		b.set.Devices.PinPad, b.sim.PinPad = p, p
		b.sim.Faults["pinpad"] = p
		return nil
	}
	b.sim.PinPad = notSimulated("pinpad")
	var s *eppsim.Sim
	if c.Sim() {
		s = eppsim.New(eppsim.Options{Name: "pinpad", Log: b.simLog("sim/wire/epp")})
		b.sim.PinPad, b.sim.Wire.PinPad = s, s
		b.sim.Faults["pinpad"] = s
	}
	port, err := b.serial("pinpad", c.SerialConfig, func(ctx context.Context, rw io.ReadWriter) error { return s.Serve(ctx, rw) })
	if err != nil {
		return err
	}
	d, err := epp.NewSerial(port, epp.Options{Name: c.Port, Baud: c.Baud,
		Poll: b.poll(c.Sim(), epp.DefaultOptions.Poll), Log: b.o.Log})
	if err != nil {
		return fmt.Errorf("%w: pinpad: %w", ErrDevices, err)
	}
	b.set.onClose("pinpad driver", d.Close)
	b.set.Devices.PinPad = d
	return nil
}

func (b *builder) opDisplay(context.Context) error {
	c := b.cfg.Devices.OpDisplay
	b.set.Drivers["opdisplay"] = c.Driver
	if c.Driver == DriverSim {
		o := devsim.NewOpDisplay(devsim.OpDisplayOptions{})
		b.set.Devices.OpDisplay, b.sim.OpDisplay = o, o
		b.sim.Faults["opdisplay"] = o
		return nil
	}
	var s *lcdsim.Display
	if c.Sim() {
		s = lcdsim.New(lcdsim.Options{Name: "opdisplay", Rows: c.Rows, Cols: c.Cols, Log: b.simLog("sim/wire/lcd")})
		b.sim.OpDisplay, b.sim.Wire.OpDisplay = s, s
		b.sim.Faults["opdisplay"] = s
	}
	port, err := b.serial("opdisplay", c.SerialConfig, func(ctx context.Context, rw io.ReadWriter) error { return s.Serve(ctx, rw) })
	if err != nil {
		return err
	}
	d, err := lcd.NewSerial(port, lcd.Options{Name: c.Port, Baud: c.Baud, Rows: c.Rows, Cols: c.Cols,
		Poll: b.poll(c.Sim(), lcd.DefaultOptions.Poll), Log: b.o.Log})
	if err != nil {
		return fmt.Errorf("%w: opdisplay: %w", ErrDevices, err)
	}
	b.set.onClose("opdisplay driver", d.Close)
	b.set.Devices.OpDisplay = d
	return nil
}

func (b *builder) nfcTag(context.Context) error {
	c := b.cfg.Devices.NFCTag
	b.set.Drivers["nfctag"] = c.Driver
	if c.Driver == DriverSim {
		t := devsim.NewNFCTag(devsim.NFCTagOptions{Log: b.log("nfctag")})
		b.set.Devices.NFCTag, b.sim.NFCTag = t, t
		b.sim.Faults["nfctag"] = t.Faults()
		return nil
	}
	b.sim.NFCTag = notSimulated("nfctag")
	var s *pn532sim.Sim
	if c.Sim() {
		o := pn532sim.DefaultOptions
		o.Log = b.simLog("sim/wire/pn532")
		s = pn532sim.New(o)
		b.sim.NFCTag, b.sim.Wire.NFCTag = s, s
		b.sim.Faults["nfctag"] = s
	}
	port, err := b.serial("nfctag", c.SerialConfig, func(ctx context.Context, rw io.ReadWriter) error { return s.Serve(ctx, rw) })
	if err != nil {
		return err
	}
	d, err := pn532.NewSerial(port, pn532.Options{Name: c.Port, Baud: c.Baud,
		RetryInterval: b.poll(c.Sim(), pn532.DefaultOptions.RetryInterval), Log: b.o.Log})
	if err != nil {
		return fmt.Errorf("%w: nfctag: %w", ErrDevices, err)
	}
	b.set.onClose("nfctag driver", d.Close)
	b.set.Devices.NFCTag = d
	return nil
}

// cassettes are the configured cassettes in minor units.
func (b *builder) cassettes() []dispenser.Cassette {
	cur, _ := currency.ByAlpha(b.cfg.ATM.Currency)
	var cs []dispenser.Cassette
	for _, c := range b.cfg.Devices.Dispenser.Cassettes {
		cs = append(cs, dispenser.Cassette{ID: c.ID, Denomination: c.Denomination * cur.Major(), Currency: cur.Alpha,
			Count: c.Count, Initial: c.Count, Low: c.Low, Status: dispenser.CassetteOK})
	}
	return cs
}

func (b *builder) dispenser(context.Context) error {
	c := b.cfg.Devices.Dispenser
	b.set.Drivers["dispenser"] = c.Driver
	if c.Driver == DriverSim {
		d, err := devsim.NewDispenser(devsim.DispenserOptions{Cassettes: b.cassettes(), ATM: b.cfg.ATM.ID,
			StateFile: filepath.Join(b.o.StateDir, "dispenser.json"), MaxNotes: b.cfg.ATM.MaxNotes,
			Log: b.log("dispenser"), PickDelay: c.PickDelay})
		if err != nil {
			return err
		}
		b.set.Devices.Dispenser, b.sim.Dispenser = d, d
		b.sim.Faults["dispenser"] = d
		return nil
	}
	b.sim.Dispenser = notSimulated("dispenser")
	var s *cdmsim.Sim
	if c.Sim() {
		var err error
		// Its own state file: the wire simulator keeps its state in a
		// format of its own.
		s, err = cdmsim.New(cdmsim.Options{Cassettes: b.cassettes(), ATM: b.cfg.ATM.ID,
			StateFile: filepath.Join(b.o.StateDir, "dispenser-wire.json"), MaxNotes: b.cfg.ATM.MaxNotes,
			PickTime: c.PickDelay, Log: b.simLog("sim/wire/cdm")})
		if err != nil {
			return fmt.Errorf("%w: dispenser: %w", ErrDevices, err)
		}
		b.sim.Dispenser, b.sim.Wire.Dispenser = s, s
		b.sim.Faults["dispenser"] = s
	}
	port, err := b.serial("dispenser", c.SerialConfig, func(ctx context.Context, rw io.ReadWriter) error { return s.Serve(ctx, rw) })
	if err != nil {
		return err
	}
	d, err := cdm.NewSerial(port, cdm.Options{Name: c.Port, Baud: c.Baud,
		Poll: b.poll(c.Sim(), cdm.DefaultOptions.Poll), Log: b.o.Log})
	if err != nil {
		return fmt.Errorf("%w: dispenser: %w", ErrDevices, err)
	}
	b.set.onClose("dispenser driver", d.Close)
	b.set.Devices.Dispenser = d
	return nil
}

func (b *builder) printer(context.Context) error {
	c := b.cfg.Devices.Printer
	b.set.Drivers["printer"] = c.Driver
	if c.Driver == DriverSim {
		p := devsim.NewPrinter(devsim.PrinterOptions{Log: b.log("printer")})
		b.set.Devices.Printer, b.sim.Printer = p, p
		b.sim.Faults["printer"] = p
		return nil
	}
	b.sim.Printer = notSimulated("printer")
	var s *escpossim.Printer
	if c.Sim() {
		s = escpossim.New(escpossim.Options{Name: "printer", Cols: c.Cols, Log: b.simLog("sim/wire/escpos")})
		b.sim.Printer, b.sim.Wire.Printer = s, s
		b.sim.Faults["printer"] = s
	}
	port, err := b.serial("printer", c.SerialConfig, func(ctx context.Context, rw io.ReadWriter) error { return s.Serve(ctx, rw) })
	if err != nil {
		return err
	}
	o := escpos.DefaultOptions // its booleans are taken as given
	o.Name, o.Baud, o.Cols, o.CodePage = c.Port, c.Baud, c.Cols, c.CodePage
	if c.Big5 != nil {
		o.Big5 = *c.Big5
	}
	o.Poll, o.Log = b.poll(c.Sim(), o.Poll), b.o.Log
	d, err := escpos.NewSerial(port, o)
	if err != nil {
		return fmt.Errorf("%w: printer: %w", ErrDevices, err)
	}
	b.set.onClose("printer driver", d.Close)
	b.set.Devices.Printer = d
	return nil
}

func (b *builder) camera(context.Context) error {
	c := b.cfg.Devices.Camera
	b.set.Drivers["camera"] = c.Driver
	if c.Driver == DriverSim {
		cam, err := devsim.NewCamera(devsim.CameraOptions{Width: 320, Height: 240, Clock: b.o.Clock, Log: b.log("camera")})
		if err != nil {
			return err
		}
		b.set.Devices.Camera, b.sim.Camera = cam, cam
		b.sim.Faults["camera"] = cam
		return nil
	}
	url := c.URL
	if c.URL == SimPort {
		s, err := snapcamsim.New(snapcamsim.Options{Width: c.Width, Height: c.Height, Path: "/snapshot.jpg", Log: b.simLog("sim/wire/snapcam")})
		if err != nil {
			return fmt.Errorf("%w: camera: %w", ErrDevices, err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("%w: camera: %w", ErrDevices, err)
		}
		b.run("camera simulator", func(ctx context.Context) error { return s.Serve(ctx, ln) })
		url = "http://" + ln.Addr().String() + "/snapshot.jpg"
		b.sim.Camera, b.sim.Wire.Camera = s, s
		b.sim.Faults["camera"] = s
		b.set.Drivers["camera"] += " on sim (" + url + ")"
	} else {
		b.set.Drivers["camera"] += " on its snapshot URL"
	}
	d, err := snapcam.New(url, snapcam.Options{Name: "camera", Width: c.Width, Height: c.Height, Clock: b.o.Clock,
		Poll: b.poll(c.URL == SimPort, snapcam.DefaultOptions.Poll), Log: b.o.Log})
	if err != nil {
		return fmt.Errorf("%w: camera: %w", ErrDevices, err)
	}
	b.set.onClose("camera driver", d.Close)
	b.set.Devices.Camera = d
	return nil
}

func (b *builder) sensors(context.Context) error {
	c := b.cfg.Devices.Sensors
	b.set.Drivers["sensors"] = c.Driver
	if c.Driver == DriverSim {
		s, err := devsim.NewSensors(devsim.DefaultSensorsOptions)
		if err != nil {
			return err
		}
		b.set.Devices.Sensors, b.sim.Sensors = s, s
		b.sim.Faults["sensors"] = s
		return nil
	}
	// Real GPIO lines, through periph.io's host drivers.
	if _, err := host.Init(); err != nil {
		return fmt.Errorf("%w: sensors: GPIO: %w", ErrDevices, err)
	}
	pull := map[string]gpio.Pull{"": gpio.PullNoChange, "up": gpio.PullUp, "down": gpio.PullDown, "float": gpio.Float}[c.Pull]
	pins := gpiosensors.Pins{Inputs: map[sensors.Input]gpiosensors.InputPin{}, Lights: map[sensors.Light]gpio.PinOut{}}
	for in, name := range c.Pins {
		p := gpioreg.ByName(name)
		if p == nil {
			return fmt.Errorf("%w: devices.sensors.pins.%s: no GPIO line %q on this machine", ErrDevices, in, name)
		}
		low := false
		for _, a := range c.ActiveLow {
			low = low || a == in
		}
		pins.Inputs[sensors.Input(in)] = gpiosensors.InputPin{Pin: p, ActiveLow: low, Pull: pull}
	}
	for l, name := range c.Lights {
		p := gpioreg.ByName(name)
		if p == nil {
			return fmt.Errorf("%w: devices.sensors.lights.%s: no GPIO line %q on this machine", ErrDevices, l, name)
		}
		pins.Lights[sensors.Light(l)] = p
	}
	d, err := gpiosensors.New(pins, gpiosensors.Options{Name: "gpio", Debounce: gpiosensors.DefaultOptions.Debounce, Log: b.o.Log})
	if err != nil {
		return fmt.Errorf("%w: sensors: %w", ErrDevices, err)
	}
	b.set.Devices.Sensors = d
	b.set.Drivers["sensors"] += " on " + fmt.Sprint(len(c.Pins)) + " inputs"
	return nil
}

// LockStateDir takes the config's state directory for this process, as
// Start does, so that a smoke test never fights a running atmd over its
// devices (or two atmd over one journal). Close the result to release
// it.
func LockStateDir(cfg *Config) (io.Closer, error) {
	dir := cfg.Path(cfg.ATM.StateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("atm: state dir: %w", err)
	}
	return lockDir(dir)
}
