package host

import (
	"errors"
	"fmt"
	"github.com/atmd/atmd/internal/keymat"
	"net"
	"os"

	"github.com/atmd/atmd/internal/strictyaml"
	"github.com/atmd/atmd/sim/host/hsm"
)

// Defaults for the zero fields of Config.
const (
	DefaultListen      = "127.0.0.1:5800"
	DefaultMaxPINTries = 3
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("host: bad config")

// Config configures the reference host. Zero Listen and MaxPINTries take
// the defaults above.
type Config struct {
	Listen      string `yaml:"listen"`        // host:port of the ISO 8583 server
	DB          string `yaml:"db"`            // path of the SQLite database
	Seed        string `yaml:"seed"`          // seed YAML the database is reset from
	PINKey      Key    `yaml:"pin_key"`       // TDES PIN encryption key, hex, 16 or 24 bytes
	PVK         Key    `yaml:"pvk"`           // PIN verification key, hex, at least 16 bytes
	DispenseKey Key    `yaml:"dispense_key"`  // dispense token key, hex, at least 32 bytes
	MaxPINTries int    `yaml:"max_pin_tries"` // wrong PINs in a row that block a card
	Institution string `yaml:"institution"`   // acquirer institution id this host plays (up to 11 digits); tags its log
}

// LoadConfig reads a config file; see ParseConfig.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return ParseConfig(data)
}

// ParseConfig decodes a YAML config strictly (unknown keys and mistyped
// values are errors naming the line and key) and validates it, defaults
// applied.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := strictyaml.Decode(data, &c); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate fills in the defaults for a zero Listen and MaxPINTries, then
// checks c and reports every problem, each wrapping ErrConfig. Seed may
// be empty unless the database is to be reset.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxPINTries == 0 {
		c.MaxPINTries = DefaultMaxPINTries
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q is not host:port", c.Listen)
	}
	if c.DB == "" {
		bad("db is required")
	}
	if n := len(c.PINKey); n != 16 && n != 24 {
		bad("pin_key must be 16 or 24 bytes, is %d", n)
	}
	if len(c.PVK) < hsm.MinPVKLen {
		bad("pvk must be at least %d bytes, is %d", hsm.MinPVKLen, len(c.PVK))
	}
	if len(c.DispenseKey) < hsm.MinDispenseLen {
		bad("dispense_key must be at least %d bytes, is %d", hsm.MinDispenseLen, len(c.DispenseKey))
	}
	if c.MaxPINTries < 1 || c.MaxPINTries > 9 {
		bad("max_pin_tries %d is out of range 1–9", c.MaxPINTries)
	}
	if len(c.Institution) > 11 || !isDigits(c.Institution) {
		bad("institution %q must be up to 11 digits", c.Institution)
	}
	return errors.Join(errs...)
}

// Key is key material, written in YAML as a hex string; it never prints
// its bytes (see internal/keymat).
type Key = keymat.Key

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
