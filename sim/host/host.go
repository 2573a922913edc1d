package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/sim/host/hsm"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// ErrNotOpen: the host's database is not open (Open was not called or
// failed, or Close was called).
var ErrNotOpen = errors.New("host: not open")

// LedgerEntry is one row of the host's ledger.
type LedgerEntry = store.Entry

// Host is the reference bank host. Create it with New, then Open its
// database, then Serve terminals; Close releases it. Handle may be called
// directly (tests, in-process use) once the host is open.
type Host struct {
	cfg   Config
	hsm   *hsm.HSM
	clock clock.Clock
	log   zerolog.Logger
	reset bool

	mu sync.Mutex
	db *store.Store // nil until Open
}

// Option configures a Host.
type Option func(*Host)

// WithLogger sets the logger; the default discards everything.
func WithLogger(l zerolog.Logger) Option { return func(h *Host) { h.log = l } }

// WithClock sets the clock that dates ledger entries, decides the
// business day for daily limits and checks card expiry; clock.Real{} by
// default, also when c is nil. The business day is the date of Now in the
// clock's location.
func WithClock(c clock.Clock) Option {
	return func(h *Host) {
		if c != nil {
			h.clock = c
		}
	}
}

// WithReset makes Open delete the database and create a fresh one from
// Config.Seed.
func WithReset() Option { return func(h *Host) { h.reset = true } }

// New checks cfg and returns a host that is not yet open. It does no I/O.
func New(cfg Config, opts ...Option) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, clock: clock.Real{}, log: zerolog.Nop()}
	for _, o := range opts {
		o(h)
	}
	if h.reset && cfg.Seed == "" {
		return nil, fmt.Errorf("%w: seed is required to reset the database", ErrConfig)
	}
	var err error
	h.hsm, err = hsm.New(hsm.Keys{PIN: cfg.PINKey, PVK: cfg.PVK, Dispense: cfg.DispenseKey})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	h.log = h.log.With().Str("component", "host").Str("institution", cfg.Institution).Logger()
	return h, nil
}

// Open opens the database, first re-creating it from the seed when the
// host was made WithReset.
func (h *Host) Open(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db != nil {
		return errors.New("host: already open")
	}
	var db *store.Store
	if h.reset {
		sd, err := seed.Load(h.cfg.Seed)
		if err != nil {
			return fmt.Errorf("host: %w", err)
		}
		if db, err = store.Create(ctx, h.cfg.DB, sd, h.hsm.PVV); err != nil {
			return fmt.Errorf("host: %w", err)
		}
		h.log.Info().Str("db", h.cfg.DB).Str("seed", h.cfg.Seed).Msg("database created from seed")
	} else {
		var err error
		if db, err = store.Open(ctx, h.cfg.DB); err != nil {
			return fmt.Errorf("host: %w", err)
		}
		h.log.Info().Str("db", h.cfg.DB).Msg("database opened")
	}
	h.db = db
	return nil
}

// Close closes the database. It may be called at any point, more than
// once, also after a failed Open.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db == nil {
		return nil
	}
	err := h.db.Close()
	h.db = nil
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// store returns the open database.
func (h *Host) store() (*store.Store, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db == nil {
		return nil, ErrNotOpen
	}
	return h.db, nil
}

// Serve answers ISO 8583 terminals on ln until ctx ends; it closes ln.
// The host must be open.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	if _, err := h.store(); err != nil {
		_ = ln.Close()
		return err
	}
	h.log.Info().Str("addr", ln.Addr().String()).Msg("serving terminals")
	srv := &hostlink.Server{Handler: h, Log: h.log}
	if err := srv.Serve(ctx, ln); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// Balance returns an account's balance in minor units.
func (h *Host) Balance(ctx context.Context, accountID string) (int64, error) {
	db, err := h.store()
	if err != nil {
		return 0, err
	}
	a, err := db.Account(ctx, accountID)
	if err != nil {
		return 0, fmt.Errorf("host: %w", err)
	}
	return a.Balance, nil
}

// Ledger returns the whole ledger, oldest entry first.
func (h *Host) Ledger(ctx context.Context) ([]LedgerEntry, error) {
	db, err := h.store()
	if err != nil {
		return nil, err
	}
	l, err := db.Ledger(ctx)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return l, nil
}

// CardStatus returns a card's status by its seed id.
func (h *Host) CardStatus(ctx context.Context, cardID string) (seed.Status, error) {
	db, err := h.store()
	if err != nil {
		return "", err
	}
	c, err := db.Card(ctx, cardID)
	if err != nil {
		return "", fmt.Errorf("host: %w", err)
	}
	return c.Status, nil
}

// SignedOn reports whether a terminal's last network message signed it
// on (true) or off (false); it is false for a terminal never seen.
func (h *Host) SignedOn(ctx context.Context, terminalID string) (bool, error) {
	db, err := h.store()
	if err != nil {
		return false, err
	}
	t, err := db.Terminal(ctx, terminalID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("host: %w", err)
	}
	return t.SignedOn, nil
}
