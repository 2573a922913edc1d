package atm

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/keymat"
	"github.com/atmd/atmd/internal/strictyaml"
	"github.com/atmd/atmd/sim/host"
)

// Config is the whole atmd configuration file. Decoding is strict: an
// unknown key or a value of the wrong type is an error naming the key
// and its line. Relative paths are relative to the file's directory.
type Config struct {
	ATM      ATMConfig      `yaml:"atm"`
	HostLink HostLinkConfig `yaml:"host_link"`
	Devices  DevicesConfig  `yaml:"devices"`
	// Host, when present, runs the reference host in the same process
	// (`atmd run`), or alone (`atmd host`).
	Host *host.Config `yaml:"host"`
	Log  LogConfig    `yaml:"log"`
	// Maint is supervisor mode: technicians and limits (maint.go).
	Maint MaintConfig `yaml:"maint"`

	dir string // the config file's directory
}

// ATMConfig describes the terminal.
type ATMConfig struct {
	ID            string         `yaml:"id"`             // terminal id, 8 characters (field 41)
	Institution   string         `yaml:"institution"`    // card acceptor id (field 42)
	Currency      string         `yaml:"currency"`       // ISO 4217 alpha
	FastAmounts   []int64        `yaml:"fast_amounts"`   // major units
	MaxAmount     int64          `yaml:"max_amount"`     // major units
	MaxNotes      int            `yaml:"max_notes"`      // per dispense
	MaxPINTries   int            `yaml:"max_pin_tries"`  // per session before the card is retained
	PINFormat     string         `yaml:"pin_format"`     // "iso0"
	Timeouts      TimeoutsConfig `yaml:"timeouts"`       // customer timers
	Services      ServicesConfig `yaml:"services"`       // optional customer services
	StateDir      string         `yaml:"state_dir"`      // journal, STAN counter, device state
	ControlSocket string         `yaml:"control_socket"` // local socket for `atmd status`
}

// ServicesConfig switches on the customer services beyond card + PIN
// withdrawal and balance, each of which needs the host's support.
type ServicesConfig struct {
	// Activation offers "Activate a new card" on the PIN screen
	// (docs/flows/activation.md).
	Activation bool `yaml:"activation"`
	// Delegated offers "Delegated withdrawal" on the PIN screen: a
	// helper withdraws with the card and a delegate code
	// (docs/flows/delegated.md).
	Delegated bool `yaml:"delegated"`
	// FaceCheck photographs the cardholder at their own withdrawals; the
	// host compares the face with the one enrolled and alerts the
	// cardholder when it does not match.
	FaceCheck bool `yaml:"face_check"`
}

// TimeoutsConfig are the customer timers; zero means the default.
type TimeoutsConfig struct {
	Entry    time.Duration `yaml:"entry"`
	MoreTime time.Duration `yaml:"more_time"`
	TakeCard time.Duration `yaml:"take_card"`
	TakeCash time.Duration `yaml:"take_cash"`
	Message  time.Duration `yaml:"message"`
	Host     time.Duration `yaml:"host"`
}

// HostLinkConfig is the connection to the host.
type HostLinkConfig struct {
	Addr         string        `yaml:"addr"`
	TLS          *TLSConfig    `yaml:"tls"` // mutual TLS; absent: plain TCP
	Timeout      time.Duration `yaml:"timeout"`
	EchoInterval time.Duration `yaml:"echo_interval"`
	MinBackoff   time.Duration `yaml:"min_backoff"`
	MaxBackoff   time.Duration `yaml:"max_backoff"`
}

// TLSConfig names the files for mutual TLS: the CA that signed the
// peer's certificate, and this side's certificate and key (PEM).
// ServerName (client side) is the name in the host's certificate;
// default: the host part of the address.
type TLSConfig struct {
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// LogConfig sets logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal, else JSON), console, json
}

// DevicesConfig has one entry per device; every one is required. Each
// names its driver: "sim" is the in-process simulator (sim/devsim); the
// others are real drivers (devices/...). A real serial driver with port
// "sim" (a camera with url "sim") runs against its wire simulator
// (sim/wire/...), started in-process on a fresh pseudo-terminal (or
// loopback HTTP listener); the simulator's control surface then drives
// scenarios and `atmd step` as the in-process simulators do.
type DevicesConfig struct {
	CardReader *CardReaderConfig `yaml:"cardreader"`
	PinPad     *PinPadConfig     `yaml:"pinpad"`
	Display    *DisplayConfig    `yaml:"display"`
	OpDisplay  *OpDisplayConfig  `yaml:"opdisplay"`
	NFCTag     *NFCTagConfig     `yaml:"nfctag"`
	Dispenser  *DispenserConfig  `yaml:"dispenser"`
	Printer    *PrinterConfig    `yaml:"printer"`
	Camera     *CameraConfig     `yaml:"camera"`
	Sensors    *SensorsConfig    `yaml:"sensors"`
}

// Driver names, the value of a device's driver key.
const (
	DriverSim     = "sim"     // in-process simulator, every device
	DriverPCSC    = "pcsc"    // card reader through pcscd (devices/pcsc)
	DriverEPP     = "epp"     // PIN pad on a serial line (devices/epp)
	DriverPN532   = "pn532"   // NFC tag on a serial line (devices/pn532)
	DriverCDM     = "cdm"     // dispenser on a serial line (devices/cdm)
	DriverESCPOS  = "escpos"  // receipt printer on a serial line (devices/escpos)
	DriverLCD     = "lcd"     // operator display on a serial line (devices/lcd)
	DriverWeb     = "web"     // customer screen as a local web page (devices/webscreen)
	DriverSnapcam = "snapcam" // camera with a snapshot URL (devices/snapcam)
	DriverGPIO    = "gpio"    // sensors and lights on GPIO lines (devices/gpiosensors)
)

// SimPort, as a serial device's port or the camera's url, runs the
// device's wire simulator in-process and points the real driver at it.
const SimPort = "sim"

// DeviceConfig is a device with no options beyond its driver.
type DeviceConfig struct {
	Driver string `yaml:"driver"` // "sim"
}

// DisplayConfig configures the customer screen. Driver web serves it as a
// local web page for the kiosk browser (devices/webscreen). With driver
// sim, Addr (optional) serves a live copy of the simulated screen as a
// page too, and Panel adds the virtual front panel around it: the card
// slot, PIN pad, cash tray, receipt slot, NFC tap and technician
// controls, so the whole ATM can be used by clicking.
type DisplayConfig struct {
	Driver        string `yaml:"driver"`
	Addr          string `yaml:"addr"`           // host:port of the page; loopback unless you mean otherwise
	Panel         bool   `yaml:"panel"`          // sim only: the virtual front panel
	Phone         string `yaml:"phone"`          // sim only: address shown in the phone pane
	RequireViewer bool   `yaml:"require_viewer"` // web: offline (SCR-NO-VIEWER) when no browser shows the page
}

// SerialConfig is the serial line of a device on a serial driver.
type SerialConfig struct {
	// Port is the device path (/dev/ttyUSB0, /dev/serial/by-id/...), or
	// "sim" for the device's wire simulator on a pseudo-terminal.
	Port string `yaml:"port"`
	// Baud is the line speed; 0 takes the driver's default.
	Baud int `yaml:"baud"`
}

// Sim reports whether the port is the in-process wire simulator.
func (s SerialConfig) Sim() bool { return s.Port == SimPort }

// CardReaderConfig configures the card reader. Seed, for a simulated
// card reader (driver sim, or pcsc with vpcd), is the seed file whose
// cards `atmd step "insert card ID"` can insert (default: the host
// section's seed).
type CardReaderConfig struct {
	Driver string `yaml:"driver"` // sim, pcsc
	Seed   string `yaml:"seed"`
	// Reader (pcsc) is the PC/SC reader's name or a prefix of it; ""
	// takes the first reader pcscd lists.
	Reader string `yaml:"reader"`
	// VPCD (pcsc, simulation only) is the host:port of pcscd's vpcd
	// virtual reader: simulated cards are inserted there, as virtual
	// EMV cards (sim/wire/vcard).
	VPCD string `yaml:"vpcd"`
	// AIDs (pcsc) are the EMV applications the terminal supports, in
	// hex, in order of preference; none: devices/pcsc's defaults.
	AIDs []string `yaml:"aids"`
}

// PinPadConfig configures the PIN pad. MasterKey holds the terminal
// master key's components, loaded at every start; a simulated PIN pad
// (driver sim, or epp on port sim) needs it. A real EPP keeps its master
// key, loaded once under dual control: leave MasterKey out. Working keys
// always come from the host.
type PinPadConfig struct {
	Driver       string   `yaml:"driver"` // sim, epp
	MasterKey    []HexKey `yaml:"master_key"`
	SerialConfig `yaml:",inline"`
}

// NFCTagConfig configures the NFC tag.
type NFCTagConfig struct {
	Driver       string `yaml:"driver"` // sim, pn532
	SerialConfig `yaml:",inline"`
}

// DispenserConfig configures the dispenser and its cassettes.
type DispenserConfig struct {
	Driver string `yaml:"driver"` // sim, cdm
	// MasterKey (simulated dispenser) is the terminal master key's
	// components; the dispense key arrives from the host under it.
	MasterKey []HexKey `yaml:"master_key"`
	// Cassettes are what a simulated dispenser is loaded with (driver
	// sim, or cdm on port sim). A real dispenser counts its own.
	Cassettes []CassetteConfig `yaml:"cassettes"`
	// PickDelay (simulated dispenser) makes picking take this long per
	// note, for the fault-injection suite.
	PickDelay    time.Duration `yaml:"pick_delay"`
	SerialConfig `yaml:",inline"`
}

// PrinterConfig configures the receipt printer.
type PrinterConfig struct {
	Driver       string `yaml:"driver"` // sim, escpos
	SerialConfig `yaml:",inline"`
	// Cols (escpos) is the line width in characters: 42 on 80 mm
	// paper, 32 on 58 mm.
	Cols int `yaml:"cols"`
	// CodePage (escpos) is the single-byte table: cp437, cp850, cp852,
	// cp858, cp866 or windows-1252.
	CodePage string `yaml:"code_page"`
	// Big5 (escpos): the printer's two-byte mode takes Big5, so
	// Traditional Chinese prints.
	Big5 *bool `yaml:"big5"`
}

// OpDisplayConfig configures the operator display.
type OpDisplayConfig struct {
	Driver       string `yaml:"driver"` // sim, lcd
	SerialConfig `yaml:",inline"`
	Rows         int `yaml:"rows"` // lcd: characters
	Cols         int `yaml:"cols"`
}

// CameraConfig configures the camera.
type CameraConfig struct {
	Driver string `yaml:"driver"` // sim, snapcam
	// URL (snapcam) is the camera's snapshot URL, http(s)://host/path,
	// or "sim" for the wire simulator on a loopback listener.
	URL    string `yaml:"url"`
	Width  int    `yaml:"width"` // size of the stills, as set in the camera
	Height int    `yaml:"height"`
}

// SensorsConfig configures the door, switch and tamper inputs and the
// guidance lights.
type SensorsConfig struct {
	Driver string `yaml:"driver"` // sim, gpio
	// Pins (gpio) maps each input (vault-door, supervisor, tamper,
	// cabinet) to its GPIO line, by the name periph.io knows it by
	// (GPIO17, P1_11, ...).
	Pins map[string]string `yaml:"pins"`
	// ActiveLow (gpio) lists the inputs that are on when their line is
	// low (a switch to ground with a pull-up).
	ActiveLow []string `yaml:"active_low"`
	// Pull (gpio) is the pull resistor set on every input line: up, down
	// or float; "" keeps the board's setting.
	Pull string `yaml:"pull"`
	// Lights (gpio) maps each guidance light (card, cash, receipt) to
	// its GPIO line.
	Lights map[string]string `yaml:"lights"`
}

// CassetteConfig is one cash unit as loaded.
type CassetteConfig struct {
	ID           int   `yaml:"id"`
	Denomination int64 `yaml:"denomination"` // major units
	Count        int   `yaml:"count"`
	Low          int   `yaml:"low"`
}

// HexKey is key material written in hex; it never prints itself.
type HexKey = keymat.Key

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.dir = abs
	if c.Host != nil {
		c.Host.DB = c.Path(c.Host.DB)
		c.Host.Seed = c.Path(c.Host.Seed)
		if t := c.Host.TLS; t != nil {
			t.CA, t.Cert, t.Key = c.Path(t.CA), c.Path(t.Cert), c.Path(t.Key)
		}
	}
	if t := c.HostLink.TLS; t != nil {
		t.CA, t.Cert, t.Key = c.Path(t.CA), c.Path(t.Cert), c.Path(t.Key)
	}
	if cr := c.Devices.CardReader; cr != nil {
		if cr.Seed != "" {
			cr.Seed = c.Path(cr.Seed)
		} else if c.Host != nil {
			cr.Seed = c.Host.Seed
		}
	}
	return c, nil
}

// ParseConfig decodes and validates a config document.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := strictyaml.Decode(data, &c); err != nil {
		return nil, err
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Path resolves a path from the config against the file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *Config) defaults() {
	a := &c.ATM
	if a.Currency == "" {
		a.Currency = "TWD"
	}
	if a.MaxNotes == 0 {
		a.MaxNotes = 40
	}
	if a.MaxPINTries == 0 {
		a.MaxPINTries = 3
	}
	if a.PINFormat == "" {
		a.PINFormat = "iso0"
	}
	if a.StateDir == "" {
		a.StateDir = "var"
	}
	if a.ControlSocket == "" {
		a.ControlSocket = filepath.Join(a.StateDir, "atmd.sock")
	}
	t := &a.Timeouts
	d := flows.DefaultTimeouts
	for _, p := range []struct {
		v *time.Duration
		d time.Duration
	}{{&t.Entry, d.Entry}, {&t.MoreTime, d.MoreTime}, {&t.TakeCard, d.TakeCard}, {&t.TakeCash, d.TakeCash}, {&t.Message, d.Message}, {&t.Host, d.Host}} {
		if *p.v == 0 {
			*p.v = p.d
		}
	}
	c.Devices.defaults()
	c.Maint.defaults()
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
}

// Validate checks the configuration and names the first key at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	a := c.ATM
	if len(a.ID) != 8 {
		bad("atm.id", "must be 8 characters, got %q", a.ID)
	}
	if a.Institution == "" || len(a.Institution) > 15 {
		bad("atm.institution", "must be 1 to 15 characters")
	}
	if _, err := currency.ByAlpha(a.Currency); err != nil {
		bad("atm.currency", "unknown currency %q", a.Currency)
	}
	if len(a.FastAmounts) == 0 || len(a.FastAmounts) > 6 {
		bad("atm.fast_amounts", "need 1 to 6 amounts")
	}
	if a.MaxAmount <= 0 {
		bad("atm.max_amount", "must be positive")
	}
	for _, f := range a.FastAmounts {
		if f <= 0 || f > a.MaxAmount {
			bad("atm.fast_amounts", "%d is not within 1..max_amount", f)
		}
	}
	if a.PINFormat != "iso0" {
		bad("atm.pin_format", "only iso0 fits field 52, got %q", a.PINFormat)
	}
	if a.MaxNotes <= 0 || a.MaxPINTries <= 0 {
		bad("atm.max_notes/max_pin_tries", "must be positive")
	}
	if _, _, err := net.SplitHostPort(c.HostLink.Addr); err != nil {
		bad("host_link.addr", "must be host:port, got %q", c.HostLink.Addr)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		bad("log.format", "must be auto, console or json")
	}
	c.Devices.validate(bad)
	c.Maint.validate(bad)
	if t := c.HostLink.TLS; t != nil && (t.CA == "" || t.Cert == "" || t.Key == "") {
		bad("host_link.tls", "needs ca, cert and key")
	}
	if c.Host != nil {
		if err := c.Host.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("host: %w", err))
		}
	}
	return errors.Join(errs...)
}

// masterKey checks a simulated device's master key components: at least
// two (dual control), each a double- or triple-length TDES key, all the
// same length.
func masterKey(bad func(string, string, ...any), key string, comps []HexKey) {
	if len(comps) < 2 {
		bad(key, "need at least two components (dual control)")
		return
	}
	for i, c := range comps {
		if (len(c) != 16 && len(c) != 24) || len(c) != len(comps[0]) {
			bad(fmt.Sprintf("%s[%d]", key, i), "need a 16- or 24-byte component, all of one length")
		}
	}
}

// FlowConfig is the flows' view of the configuration.
func (c *Config) FlowConfig() flows.Config {
	cur, _ := currency.ByAlpha(c.ATM.Currency)
	fc := flows.Config{
		ATM: c.ATM.ID, Currency: cur, MaxAmount: c.ATM.MaxAmount * cur.Major(),
		MaxNotes: c.ATM.MaxNotes, MaxPINTries: c.ATM.MaxPINTries,
		PINFormat: pinpad.ISO0, PINKey: keyPIN,
		Timeouts:   flows.Timeouts(c.ATM.Timeouts),
		Activation: c.ATM.Services.Activation,
		Delegated:  c.ATM.Services.Delegated, FaceCheck: c.ATM.Services.FaceCheck,
	}
	for _, f := range c.ATM.FastAmounts {
		fc.FastAmounts = append(fc.FastAmounts, f*cur.Major())
	}
	return fc
}
