package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/keymat"
	"github.com/atmd/atmd/internal/strictyaml"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/hsm"
	"github.com/atmd/atmd/sim/host/mobile"
)

// Defaults for the zero fields of Config.
const (
	DefaultListen        = "127.0.0.1:5800"
	DefaultMaxPINTries   = 3
	DefaultActivationTTL = 10 * time.Minute
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("host: bad config")

// Config configures the reference host. Zero Listen, MaxPINTries and
// ActivationTTL take the defaults above.
type Config struct {
	Listen      string     `yaml:"listen"`        // host:port of the ISO 8583 server
	DB          string     `yaml:"db"`            // path of the SQLite database
	Seed        string     `yaml:"seed"`          // seed YAML the database is reset from
	PVK         Key        `yaml:"pvk"`           // PIN verification key, hex, at least 16 bytes
	LMK         Key        `yaml:"lmk"`           // local master key the working keys are stored under: AES, hex, 16, 24 or 32 bytes
	Terminals   []Terminal `yaml:"terminals"`     // the ATMs this host serves, at least one
	MaxPINTries int        `yaml:"max_pin_tries"` // wrong PINs in a row that block a card
	Institution string     `yaml:"institution"`   // acquirer institution id this host plays (up to 11 digits); tags its log
	TLS         *TLS       `yaml:"tls"`           // mutual TLS; plain TCP when absent
	// ActivationTTL is how long a card activation dialogue (0100,
	// processing code 930000) may last from its start step: 1m–1h.
	ActivationTTL time.Duration `yaml:"activation_ttl"`
	// Mobile configures the mobile-banking service (sim/host/mobile);
	// absent means its defaults, with the HTTP API not served by
	// atmd host (ServeMobile can still serve it).
	Mobile *mobile.Config `yaml:"mobile"`
	// Delegate sets the bank's limits on delegate codes (delegated
	// withdrawal; sim/host/delegate); absent means its defaults.
	Delegate *delegate.Config `yaml:"delegate"`
}

// Terminal is one ATM the host serves.
type Terminal struct {
	ID  string `yaml:"id"`  // field 41: 1 to 8 printable characters, no spaces at the ends
	TMK Key    `yaml:"tmk"` // terminal master key, TDES, hex, 16 or 24 bytes with distinct halves
}

// TLS names the PEM files of the host's mutual TLS (hostlink.LoadServerTLS).
type TLS struct {
	CA   string `yaml:"ca"`   // CA certificates the terminals' client certificates must chain to
	Cert string `yaml:"cert"` // the host's certificate (chain)
	Key  string `yaml:"key"`  // the host's private key
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

// Validate fills in the defaults for a zero Listen, MaxPINTries and
// ActivationTTL, then checks c and reports every problem, each wrapping
// ErrConfig. Seed may be empty unless the database is to be reset.
// Errors name keys and terminals, never key material.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxPINTries == 0 {
		c.MaxPINTries = DefaultMaxPINTries
	}
	if c.ActivationTTL == 0 {
		c.ActivationTTL = DefaultActivationTTL
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
	if len(c.PVK) < hsm.MinPVKLen {
		bad("pvk must be at least %d bytes, is %d", hsm.MinPVKLen, len(c.PVK))
	}
	if n := len(c.LMK); n != 16 && n != 24 && n != 32 {
		bad("lmk must be an AES key of 16, 24 or 32 bytes, is %d", n)
	}
	if len(c.Terminals) == 0 {
		bad("terminals: at least one terminal is required")
	}
	seen := make(map[string]bool, len(c.Terminals))
	for i, t := range c.Terminals {
		switch {
		case !validTerminalID(t.ID):
			bad("terminals[%d]: id %q must be 1 to 8 printable characters without spaces at the ends", i, t.ID)
		case seen[t.ID]:
			bad("terminals[%d]: id %s appears twice", i, t.ID)
		}
		seen[t.ID] = true
		if err := keyexchange.CheckTDESKey(t.TMK); err != nil {
			bad("terminals[%d] (%s): tmk must be a TDES key of 16 or 24 bytes with distinct halves", i, t.ID)
		}
	}
	if c.MaxPINTries < 1 || c.MaxPINTries > 9 {
		bad("max_pin_tries %d is out of range 1–9", c.MaxPINTries)
	}
	if c.ActivationTTL < time.Minute || c.ActivationTTL > time.Hour {
		bad("activation_ttl %v is out of range 1m–1h", c.ActivationTTL)
	}
	if len(c.Institution) > 11 || !isDigits(c.Institution) {
		bad("institution %q must be up to 11 digits", c.Institution)
	}
	if c.TLS != nil && (c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "") {
		bad("tls needs ca, cert and key")
	}
	if c.Mobile != nil {
		if err := c.Mobile.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
		}
	}
	if c.Delegate != nil {
		if err := c.Delegate.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
		}
	}
	return errors.Join(errs...)
}

// validTerminalID reports whether id fits field 41 (ans8, space-padded)
// and survives the padding: 1–8 printable ASCII characters, no space at
// either end.
func validTerminalID(id string) bool {
	if len(id) == 0 || len(id) > 8 || id[0] == ' ' || id[len(id)-1] == ' ' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
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
