package atm

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/atmd/atmd/devices/cdm"
	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/devices/escpos"
	"github.com/atmd/atmd/devices/lcd"
	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/devices/snapcam"
	"github.com/atmd/atmd/hal/sensors"
)

// drivers lists, per device, the drivers it can have; the first is the
// in-process simulator.
var drivers = map[string][]string{
	"cardreader": {DriverSim, DriverPCSC},
	"pinpad":     {DriverSim, DriverEPP},
	"display":    {DriverSim, DriverWeb},
	"opdisplay":  {DriverSim, DriverLCD},
	"nfctag":     {DriverSim, DriverPN532},
	"dispenser":  {DriverSim, DriverCDM},
	"printer":    {DriverSim, DriverESCPOS},
	"camera":     {DriverSim, DriverSnapcam},
	"sensors":    {DriverSim, DriverGPIO},
}

// bauds are the line speeds a serial port can be set to (Linux termios).
var bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// codePages are the escpos code tables (devices/escpos Options.CodePage).
var codePages = []string{"cp437", "cp850", "cp852", "cp858", "cp866", "windows-1252"}

// defaults fills a real driver's unset options from its package's
// DefaultOptions, so that what runs is what `atmd smoke` prints.
func (d *DevicesConfig) defaults() {
	baud := func(s *SerialConfig, b int) {
		if s.Baud == 0 {
			s.Baud = b
		}
	}
	if p := d.PinPad; p != nil && p.Driver == DriverEPP {
		baud(&p.SerialConfig, epp.DefaultOptions.Baud)
	}
	if n := d.NFCTag; n != nil && n.Driver == DriverPN532 {
		baud(&n.SerialConfig, pn532.DefaultOptions.Baud)
	}
	if x := d.Dispenser; x != nil && x.Driver == DriverCDM {
		baud(&x.SerialConfig, cdm.DefaultOptions.Baud)
	}
	if p := d.Printer; p != nil && p.Driver == DriverESCPOS {
		def := escpos.DefaultOptions
		baud(&p.SerialConfig, def.Baud)
		if p.Cols == 0 {
			p.Cols = def.Cols
		}
		if p.CodePage == "" {
			p.CodePage = def.CodePage
		}
		if p.Big5 == nil {
			b := def.Big5
			p.Big5 = &b
		}
	}
	if o := d.OpDisplay; o != nil && o.Driver == DriverLCD {
		def := lcd.DefaultOptions
		baud(&o.SerialConfig, def.Baud)
		if o.Rows == 0 && o.Cols == 0 {
			o.Rows, o.Cols = def.Rows, def.Cols
		}
	}
	if c := d.Camera; c != nil && c.Driver == DriverSnapcam && c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = snapcam.DefaultOptions.Width, snapcam.DefaultOptions.Height
	}
}

// validate checks every device's driver and options and names the key
// at fault. An option that the device's driver does not take is an
// error, so a config never says more than what runs.
func (d DevicesConfig) validate(bad func(key, format string, args ...any)) {
	driver := func(dev, drv string) bool {
		if !slices.Contains(drivers[dev], drv) {
			bad("devices."+dev+".driver", "unknown driver %q (available: %s)", drv, strings.Join(drivers[dev], ", "))
			return false
		}
		return true
	}
	// only reports an option set for a driver that does not take it.
	only := func(dev, key string, set bool, drv string) {
		if set {
			bad("devices."+dev+"."+key, "only with driver %s", drv)
		}
	}
	serial := func(dev, drv string, s SerialConfig) {
		if drv == DriverSim {
			only(dev, "port", s.Port != "", "other than sim")
			only(dev, "baud", s.Baud != 0, "other than sim")
			return
		}
		if s.Port == "" {
			bad("devices."+dev+".port", "missing: a serial device path, or %q for the wire simulator", SimPort)
		}
		if s.Baud != 0 && !slices.Contains(bauds, s.Baud) {
			bad("devices."+dev+".baud", "%d is not a serial line speed", s.Baud)
		}
	}

	if d.Display == nil {
		bad("devices.display", "missing")
	} else {
		if driver("display", d.Display.Driver) {
			c := d.Display
			if c.Addr != "" {
				if _, _, err := net.SplitHostPort(c.Addr); err != nil {
					bad("devices.display.addr", "must be host:port, got %q", c.Addr)
				}
			}
			if c.Driver == DriverWeb && c.Addr == "" {
				bad("devices.display.addr", "the web display needs an address")
			}
			if c.Panel && (c.Driver != DriverSim || c.Addr == "") {
				bad("devices.display.panel", "the virtual front panel needs driver sim and an addr")
			}
			only("display", "require_viewer", c.RequireViewer, DriverWeb)
		}
	}

	if c := d.CardReader; c == nil {
		bad("devices.cardreader", "missing")
	} else if driver("cardreader", c.Driver) {
		pcsc := c.Driver == DriverPCSC
		only("cardreader", "reader", !pcsc && c.Reader != "", DriverPCSC)
		only("cardreader", "vpcd", !pcsc && c.VPCD != "", DriverPCSC)
		only("cardreader", "aids", !pcsc && len(c.AIDs) > 0, DriverPCSC)
		if c.VPCD != "" {
			if _, _, err := net.SplitHostPort(c.VPCD); err != nil {
				bad("devices.cardreader.vpcd", "must be host:port, got %q", c.VPCD)
			}
		}
		for i, a := range c.AIDs {
			if b, err := hex.DecodeString(a); err != nil || len(b) < 5 || len(b) > 16 {
				bad(fmt.Sprintf("devices.cardreader.aids[%d]", i), "an AID is 5 to 16 bytes in hex, got %q", a)
			}
		}
	}

	if p := d.PinPad; p == nil {
		bad("devices.pinpad", "missing")
	} else if driver("pinpad", p.Driver) {
		serial("pinpad", p.Driver, p.SerialConfig)
		// A simulated EPP starts blank: it needs the master key at
		// every start. A real one keeps its own.
		if p.Driver == DriverSim || p.Sim() || len(p.MasterKey) > 0 {
			masterKey(bad, "devices.pinpad.master_key", p.MasterKey)
		}
	}

	if n := d.NFCTag; n == nil {
		bad("devices.nfctag", "missing")
	} else if driver("nfctag", n.Driver) {
		serial("nfctag", n.Driver, n.SerialConfig)
	}

	if x := d.Dispenser; x == nil {
		bad("devices.dispenser", "missing")
	} else if driver("dispenser", x.Driver) {
		serial("dispenser", x.Driver, x.SerialConfig)
		simulated := x.Driver == DriverSim || x.Sim()
		if x.Driver == DriverSim || len(x.MasterKey) > 0 {
			masterKey(bad, "devices.dispenser.master_key", x.MasterKey)
		}
		if !simulated {
			only("dispenser", "cassettes", len(x.Cassettes) > 0, "sim or port sim: a real dispenser counts its own cassettes")
			only("dispenser", "pick_delay", x.PickDelay != 0, "sim or port sim")
		} else if len(x.Cassettes) == 0 {
			bad("devices.dispenser.cassettes", "no cassettes")
		}
		if x.PickDelay < 0 {
			bad("devices.dispenser.pick_delay", "must not be negative")
		}
		seen := map[int]bool{}
		for i, cs := range x.Cassettes {
			if cs.ID <= 0 || seen[cs.ID] || cs.Denomination <= 0 || cs.Count < 0 || cs.Low < 0 {
				bad(fmt.Sprintf("devices.dispenser.cassettes[%d]", i), "need a unique positive id, a positive denomination and counts >= 0")
			}
			seen[cs.ID] = true
		}
	}

	if p, x := d.PinPad, d.Dispenser; p != nil && x != nil && len(p.MasterKey) == 0 && (x.Driver == DriverSim || x.Sim()) {
		// The PIN pad's components are the ones loaded into both.
		bad("devices.pinpad.master_key", "a simulated dispenser starts without the master key: give its components here")
	}

	if p := d.Printer; p == nil {
		bad("devices.printer", "missing")
	} else if driver("printer", p.Driver) {
		serial("printer", p.Driver, p.SerialConfig)
		if p.Driver != DriverESCPOS {
			only("printer", "cols", p.Cols != 0, DriverESCPOS)
			only("printer", "code_page", p.CodePage != "", DriverESCPOS)
			only("printer", "big5", p.Big5 != nil, DriverESCPOS)
		} else {
			if p.Cols < 8 || p.Cols > 255 {
				bad("devices.printer.cols", "%d, want 8 to 255", p.Cols)
			}
			if !slices.Contains(codePages, p.CodePage) {
				bad("devices.printer.code_page", "unknown code page %q (available: %s)", p.CodePage, strings.Join(codePages, ", "))
			}
		}
	}

	if o := d.OpDisplay; o == nil {
		bad("devices.opdisplay", "missing")
	} else if driver("opdisplay", o.Driver) {
		serial("opdisplay", o.Driver, o.SerialConfig)
		if o.Driver != DriverLCD {
			only("opdisplay", "rows", o.Rows != 0, DriverLCD)
			only("opdisplay", "cols", o.Cols != 0, DriverLCD)
		} else if o.Rows < 1 || o.Rows > 255 || o.Cols < 1 || o.Cols > 255 {
			bad("devices.opdisplay.rows/cols", "%d×%d characters, want 1 to 255 each", o.Rows, o.Cols)
		}
	}

	if c := d.Camera; c == nil {
		bad("devices.camera", "missing")
	} else if driver("camera", c.Driver) {
		if c.Driver != DriverSnapcam {
			only("camera", "url", c.URL != "", DriverSnapcam)
			only("camera", "width", c.Width != 0, DriverSnapcam)
			only("camera", "height", c.Height != 0, DriverSnapcam)
		} else {
			if u, err := url.Parse(c.URL); c.URL != SimPort && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				// Never quote the URL: it may carry credentials.
				bad("devices.camera.url", "must be http(s)://host/path or %q", SimPort)
			}
			if c.Width <= 0 || c.Height <= 0 {
				bad("devices.camera.width/height", "must be positive")
			}
		}
	}

	if x := d.Sensors; x == nil {
		bad("devices.sensors", "missing")
	} else if driver("sensors", x.Driver) {
		if x.Driver != DriverGPIO {
			only("sensors", "pins", len(x.Pins) > 0, DriverGPIO)
			only("sensors", "active_low", len(x.ActiveLow) > 0, DriverGPIO)
			only("sensors", "pull", x.Pull != "", DriverGPIO)
			only("sensors", "lights", len(x.Lights) > 0, DriverGPIO)
		} else {
			x.validateGPIO(bad)
		}
	}
}

// Inputs and lights a gpio sensors config may name.
var (
	gpioInputs = []sensors.Input{sensors.VaultDoor, sensors.Supervisor, sensors.Tamper, sensors.Cabinet}
	gpioLights = []sensors.Light{sensors.CardLight, sensors.CashLight, sensors.ReceiptLight}
)

func (x *SensorsConfig) validateGPIO(bad func(key, format string, args ...any)) {
	if len(x.Pins) == 0 {
		bad("devices.sensors.pins", "no inputs wired")
	}
	for in, pin := range x.Pins {
		if !slices.Contains(gpioInputs, sensors.Input(in)) {
			bad("devices.sensors.pins."+in, "unknown input (inputs: vault-door, supervisor, tamper, cabinet)")
		}
		if pin == "" {
			bad("devices.sensors.pins."+in, "no GPIO line")
		}
	}
	for l, pin := range x.Lights {
		if !slices.Contains(gpioLights, sensors.Light(l)) {
			bad("devices.sensors.lights."+l, "unknown light (lights: card, cash, receipt)")
		}
		if pin == "" {
			bad("devices.sensors.lights."+l, "no GPIO line")
		}
	}
	for i, in := range x.ActiveLow {
		if _, ok := x.Pins[in]; !ok {
			bad(fmt.Sprintf("devices.sensors.active_low[%d]", i), "%q is not an input in pins", in)
		}
	}
	switch x.Pull {
	case "", "up", "down", "float":
	default:
		bad("devices.sensors.pull", "must be up, down or float, got %q", x.Pull)
	}
}
