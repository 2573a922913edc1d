package atm

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/maint"
)

// Supervisor mode (package maint) wired into the terminal: its config
// section, the runner as maint.Terminal, and the daemon's part.

// MaintConfig is the maint section: the technicians allowed into
// supervisor mode and its limits.
type MaintConfig struct {
	Technicians []TechnicianConfig `yaml:"technicians"`
	// MaxTries wrong PINs in a row lock a technician out for Lockout.
	MaxTries int           `yaml:"max_tries"`
	Lockout  time.Duration `yaml:"lockout"`
	// SessionTimeout logs a technician out after this long without a key.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// ExportDir is where the menu's journal export writes (a USB drive's
	// mount point); "" offers no export from the menu.
	ExportDir string `yaml:"export_dir"`
}

// TechnicianConfig is one technician: an id keyed on the PIN pad, a
// name for the journal reader, the PIN's hash (`atmd maint hash-pin`),
// never the PIN, and the roles (cash, keys) beyond the status, tests,
// journal and host test every technician may use.
type TechnicianConfig struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`
	PINHash string   `yaml:"pin_hash"`
	Roles   []string `yaml:"roles"`
}

func (m *MaintConfig) defaults() {
	if m.MaxTries == 0 {
		m.MaxTries = 3
	}
	if m.Lockout == 0 {
		m.Lockout = 15 * time.Minute
	}
	if m.SessionTimeout == 0 {
		m.SessionTimeout = maint.DefaultTimeout
	}
}

func (m *MaintConfig) validate(bad func(key, format string, args ...any)) {
	if m.MaxTries < 1 || m.MaxTries > 10 {
		bad("maint.max_tries", "must be 1 to 10")
	}
	if m.Lockout < time.Second || m.SessionTimeout < 10*time.Second {
		bad("maint.lockout/session_timeout", "must be at least 1s and 10s")
	}
	seen := map[string]bool{}
	for i, t := range m.Technicians {
		key := fmt.Sprintf("maint.technicians[%d]", i)
		if len(t.ID) == 0 || len(t.ID) > maint.MaxIDLen || !digits(t.ID) || seen[t.ID] {
			bad(key+".id", "must be 1 to %d digits, once each", maint.MaxIDLen)
		}
		seen[t.ID] = true
		if _, err := maint.ParseHash(t.PINHash); err != nil {
			bad(key+".pin_hash", "not a hash from `atmd maint hash-pin`")
		}
		for _, r := range t.Roles {
			if r != maint.RoleCash && r != maint.RoleKeys {
				bad(key+".roles", "unknown role %q (cash, keys)", r)
			}
		}
	}
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// technicians returns the configured technicians for maint.
func (m *MaintConfig) technicians() ([]maint.Technician, error) {
	var out []maint.Technician
	for _, t := range m.Technicians {
		h, err := maint.ParseHash(t.PINHash)
		if err != nil {
			return nil, fmt.Errorf("maint: technician %s: %w", t.ID, err)
		}
		out = append(out, maint.Technician{ID: t.ID, Name: t.Name, Hash: h, Roles: slices.Clone(t.Roles)})
	}
	return out, nil
}

// terminal is the runner as supervisor mode sees it.
type terminal struct{ d *Daemon }

func (t terminal) Status() maint.Status {
	s := t.d.Runner.Snapshot()
	return maint.Status{
		Service: s.Service, State: s.State, Reason: s.Reason, Host: s.Host, Devices: s.Devices,
		Faults: s.Faults, Degraded: s.Degraded, Cassettes: s.Cash, SAFPending: len(t.d.SAF.Pending()),
	}
}

func (t terminal) Operate(ctx context.Context, supervisor, outOfService bool) error {
	return t.d.Runner.Operate(ctx, flows.Operator{Supervisor: supervisor, OutOfService: outOfService})
}

func (t terminal) Rekey(ctx context.Context) error { return t.d.Runner.Rekey(ctx) }

func (t terminal) History(n int) []health.Fault { return t.d.Runner.FaultHistory(n) }

// newSupervisor builds supervisor mode for the daemon; the runner tells
// it when supervisor mode begins and ends through hook.
func (d *Daemon) newSupervisor(clk clock.Clock, log zerolog.Logger) (*maint.Supervisor, error) {
	cfg := d.Config
	techs, err := cfg.Maint.technicians()
	if err != nil {
		return nil, err
	}
	cur, err := currency.ByAlpha(cfg.ATM.Currency)
	if err != nil {
		return nil, err
	}
	dv := d.Devices
	return maint.NewSupervisor(maint.Options{
		ATM: cfg.ATM.ID, Institution: cfg.ATM.Institution, Currency: cur, Technicians: techs,
		MaxTries: cfg.Maint.MaxTries, LockFor: cfg.Maint.Lockout, Timeout: cfg.Maint.SessionTimeout,
		ExportDir: cfg.Path(cfg.Maint.ExportDir), StateFile: filepath.Join(cfg.Path(cfg.ATM.StateDir), "maint.json"),
		Devices: maint.Devices{
			CardReader: dv.CardReader, PinPad: dv.PinPad, Display: dv.Display, OpDisplay: dv.OpDisplay,
			NFCTag: dv.NFCTag, Dispenser: dv.Dispenser, Printer: dv.Printer, Camera: dv.Camera, Sensors: dv.Sensors,
		},
		Journal: d.Journal, Link: d.Link, Terminal: terminal{d}, Clock: clk,
		Log: log.With().Str("component", "maint").Logger(),
	})
}
