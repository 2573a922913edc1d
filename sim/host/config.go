package host

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/atmd/atmd/internal/pinblock"
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

// Key is key material, written in YAML as a hex string. It never prints
// its bytes: String and every fmt verb give the TDES key check value of a
// 16- or 24-byte key ("KCV 1A2B3C") and "***" for any other length, and
// so does MarshalText, so a Key is safe in logs and dumps.
type Key []byte

// UnmarshalYAML decodes a hex string. Its errors give the line but never
// the value.
func (k *Key) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: key must be a hex string", n.Line)}}
	}
	if err := k.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: key must be a hex string", n.Line)}}
	}
	return nil
}

// UnmarshalText decodes a hex string.
func (k *Key) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return fmt.Errorf("%w: key is not hex", ErrConfig)
	}
	*k = out
	return nil
}

// String returns the key's check value or "***", never the key.
func (k Key) String() string {
	if kcv, err := pinblock.KCV(k); err == nil {
		return fmt.Sprintf("KCV %X", kcv)
	}
	return "***"
}

// Format writes String for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalText returns String, so encoders never write the key.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
