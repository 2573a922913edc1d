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
	StateDir      string         `yaml:"state_dir"`      // journal, STAN counter, device state
	ControlSocket string         `yaml:"control_socket"` // local socket for `atmd status`
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

// DevicesConfig has one entry per device; every one is required.
type DevicesConfig struct {
	CardReader *CardReaderConfig `yaml:"cardreader"`
	PinPad     *PinPadConfig     `yaml:"pinpad"`
	Display    *DeviceConfig     `yaml:"display"`
	OpDisplay  *DeviceConfig     `yaml:"opdisplay"`
	NFCTag     *DeviceConfig     `yaml:"nfctag"`
	Dispenser  *DispenserConfig  `yaml:"dispenser"`
	Printer    *DeviceConfig     `yaml:"printer"`
	Camera     *DeviceConfig     `yaml:"camera"`
	Sensors    *DeviceConfig     `yaml:"sensors"`
}

// CardReaderConfig configures the card reader. Seed, for the simulated
// reader, is the seed file whose cards `atmd step "insert card ID"` can
// insert (default: the host section's seed).
type CardReaderConfig struct {
	Driver string `yaml:"driver"`
	Seed   string `yaml:"seed"`
}

// DeviceConfig is a device with no options beyond its driver.
type DeviceConfig struct {
	Driver string `yaml:"driver"` // "sim"
}

// PinPadConfig configures the PIN pad. MasterKey, for the simulated PIN
// pad only, holds the terminal master key's components, loaded at every
// start; a real EPP keeps its master key, loaded once under dual control
// from the maintenance menu. Working keys always come from the host.
type PinPadConfig struct {
	Driver    string   `yaml:"driver"`
	MasterKey []HexKey `yaml:"master_key"`
}

// DispenserConfig configures the dispenser and its cassettes.
type DispenserConfig struct {
	Driver string `yaml:"driver"`
	// MasterKey (simulated dispenser) is the terminal master key's
	// components; the dispense key arrives from the host under it.
	MasterKey []HexKey         `yaml:"master_key"`
	Cassettes []CassetteConfig `yaml:"cassettes"`
	// PickDelay (simulated dispenser) makes picking take this long per
	// note, for the fault-injection suite.
	PickDelay time.Duration `yaml:"pick_delay"`
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
	d := c.Devices
	driver := func(key, drv string) {
		if drv != "sim" {
			bad("devices."+key+".driver", "unknown driver %q (available: sim)", drv)
		}
	}
	for _, x := range []struct {
		key string
		dev *DeviceConfig
	}{{"display", d.Display}, {"opdisplay", d.OpDisplay}, {"nfctag", d.NFCTag},
		{"printer", d.Printer}, {"camera", d.Camera}, {"sensors", d.Sensors}} {
		if x.dev == nil {
			bad("devices."+x.key, "missing")
			continue
		}
		driver(x.key, x.dev.Driver)
	}
	if d.CardReader == nil {
		bad("devices.cardreader", "missing")
	} else {
		driver("cardreader", d.CardReader.Driver)
	}
	if d.PinPad == nil {
		bad("devices.pinpad", "missing")
	} else {
		driver("pinpad", d.PinPad.Driver)
		masterKey(bad, "devices.pinpad.master_key", d.PinPad.MasterKey)
	}
	if d.Dispenser == nil {
		bad("devices.dispenser", "missing")
	} else {
		driver("dispenser", d.Dispenser.Driver)
		masterKey(bad, "devices.dispenser.master_key", d.Dispenser.MasterKey)
		if len(d.Dispenser.Cassettes) == 0 {
			bad("devices.dispenser.cassettes", "no cassettes")
		}
		seen := map[int]bool{}
		for i, cs := range d.Dispenser.Cassettes {
			if cs.ID <= 0 || seen[cs.ID] || cs.Denomination <= 0 || cs.Count < 0 || cs.Low < 0 {
				bad(fmt.Sprintf("devices.dispenser.cassettes[%d]", i), "need a unique positive id, a positive denomination and counts >= 0")
			}
			seen[cs.ID] = true
		}
	}
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
		Timeouts: flows.Timeouts(c.ATM.Timeouts),
	}
	for _, f := range c.ATM.FastAmounts {
		fc.FastAmounts = append(fc.FastAmounts, f*cur.Major())
	}
	return fc
}
