package host

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/hsm"
	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
	"github.com/atmd/atmd/sim/phone/webapp"
)

// Errors.
var (
	// ErrNotOpen: the host's database is not open (Open was not called or
	// failed, or Close was called).
	ErrNotOpen = errors.New("host: not open")
	// ErrLMKMismatch: the database's working keys were stored under
	// another LMK than the configured one.
	ErrLMKMismatch = errors.New("host: database was made with another LMK")
	// ErrNoWorkingKeys: the terminal has not exchanged keys yet.
	ErrNoWorkingKeys = errors.New("host: terminal has no working keys")
)

// LedgerEntry is one row of the host's ledger.
type LedgerEntry = store.Entry

// Tombstone is a reversal that arrived before its original.
type Tombstone = store.Tombstone

// Host is the reference bank host. Create it with New, then Open its
// database, then Serve terminals; Close releases it. Handle may be called
// directly (tests, in-process use) once the host is open.
type Host struct {
	cfg       Config
	hsm       *hsm.HSM
	terminals map[string]bool // the configured terminal ids
	clock     clock.Clock
	log       zerolog.Logger
	reset     bool
	tls       *tls.Config // set by Open when cfg.TLS is

	notifier *notify.Notifier // made by New: its outbox outlives Close/Open

	mu     sync.Mutex
	db     *store.Store    // nil until Open
	mobile *mobile.Service // made by Open on db
	acts   *activations    // made by Open: the card activation dialogues, in memory
	// delegates is the book of delegate codes, made by Open (delegated.go).
	delegates *delegate.Book

	// keys caches each terminal's stored working keys (still under the
	// LMK: nothing clear) so that checking and signing MACs does not read
	// the database for every message. Open and Close empty it.
	keysMu sync.RWMutex
	keys   map[string]cachedKeys

	status statusBook // the terminals' last status reports (status.go)
}

// cachedKeys are a terminal's working keys as stored, and their
// generation: an older read never replaces a newer exchange.
type cachedKeys struct {
	wk  hsm.WorkingKeys
	gen int64
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
	tmks := make(map[string][]byte, len(cfg.Terminals))
	h.terminals = make(map[string]bool, len(cfg.Terminals))
	for _, t := range cfg.Terminals {
		tmks[t.ID] = t.TMK
		h.terminals[t.ID] = true
	}
	var err error
	h.hsm, err = hsm.New(hsm.Keys{PVK: cfg.PVK, LMK: cfg.LMK, TMKs: tmks})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	h.log = h.log.With().Str("component", "host").Str("institution", cfg.Institution).Logger()
	h.notifier = notify.New(notify.NewOutbox(0, h.clock))
	return h, nil
}

// Open loads the TLS files when the config has them, then opens the
// database, first re-creating it from the seed when the host was made
// WithReset. A database made under another LMK is refused with
// ErrLMKMismatch: its working keys would not open (reset it, or start
// with the LMK it was made with).
func (h *Host) Open(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db != nil {
		return errors.New("host: already open")
	}
	if t := h.cfg.TLS; t != nil {
		c, err := hostlink.LoadServerTLS(t.CA, t.Cert, t.Key)
		if err != nil {
			return fmt.Errorf("host: %w", err)
		}
		h.tls = c
	}
	lmkCheck := h.hsm.LMKCheck()
	var db *store.Store
	if h.reset {
		sd, err := seed.Load(h.cfg.Seed)
		if err != nil {
			return fmt.Errorf("host: %w", err)
		}
		if db, err = store.Create(ctx, h.cfg.DB, sd, h.hsm.PVV, lmkCheck, store.WithPasswordHasher(mobile.HashPassword)); err != nil {
			return fmt.Errorf("host: %w", err)
		}
		h.log.Info().Str("db", h.cfg.DB).Str("seed", h.cfg.Seed).Msg("database created from seed")
	} else {
		var err error
		if db, err = store.Open(ctx, h.cfg.DB); err != nil {
			return fmt.Errorf("host: %w", err)
		}
		got, err := db.LMKCheck(ctx)
		if err == nil && !bytes.Equal(got, lmkCheck) {
			err = fmt.Errorf("%w: the database has LMK check value %X, the config %X", ErrLMKMismatch, got, lmkCheck)
		}
		if err != nil {
			_ = db.Close()
			return fmt.Errorf("host: %s: %w", h.cfg.DB, err)
		}
		h.log.Info().Str("db", h.cfg.DB).Msg("database opened")
	}
	kcvs := make([]string, 0, len(h.cfg.Terminals))
	for _, id := range h.hsm.Terminals() {
		c, _ := h.hsm.TMKCheck(id)
		kcvs = append(kcvs, id+":"+strings.ToUpper(hex.EncodeToString(c)))
	}
	h.log.Info().Str("lmk_kcv", strings.ToUpper(hex.EncodeToString(lmkCheck))).Strs("tmk_kcv", kcvs).
		Bool("tls", h.tls != nil).Msg("keys loaded")
	var mc mobile.Config
	if h.cfg.Mobile != nil {
		mc = *h.cfg.Mobile
	}
	mopts := []mobile.Option{mobile.WithClock(h.clock), mobile.WithLogger(h.log), mobile.WithNotifier(h.notifier),
		mobile.WithPINSource(h.defaultPIN)}
	if mc.Simulator {
		// The banking-app simulator's page under /app/, with the seed's
		// demo logins as quick picks (sim/phone/webapp).
		var demo webapp.Demo
		if sd, err := seed.Load(h.cfg.Seed); err == nil {
			demo = webapp.DemoFromSeed(sd)
		}
		mopts = append(mopts, mobile.WithApp(webapp.Handler(webapp.Options{Demo: demo})))
	}
	var dc delegate.Config
	if h.cfg.Delegate != nil {
		dc = *h.cfg.Delegate
	}
	book, err := delegate.New(db, dc, h.hsm.CodeMAC, h.clock, h.log)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("host: %w", err)
	}
	mopts = append(mopts, mobile.WithDelegates(book))
	ms, err := mobile.New(db, mc, mopts...)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("host: %w", err)
	}
	h.db, h.mobile, h.delegates = db, ms, book
	h.acts = newActivations(h.cfg.ActivationTTL, ms.Config())
	h.forgetKeys()
	return nil
}

// defaultPIN reads a new card's default PIN from the seed file at the
// moment it is sent: the host keeps no PIN.
func (h *Host) defaultPIN(_ context.Context, cardID string) ([]byte, error) {
	if h.cfg.Seed == "" {
		return nil, errors.New("host: no seed file to read default PINs from")
	}
	sd, err := seed.Load(h.cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	c, ok := sd.Card(cardID)
	if !ok {
		return nil, fmt.Errorf("host: card %s is not in the seed", cardID)
	}
	return []byte(string(c.PIN)), nil
}

// Mobile returns the mobile-banking service (sim/host/mobile): the Go
// API the activation flow calls (Activation, Challenges, Codes, Notify)
// and the HTTP API for the app. It fails with ErrNotOpen before Open and
// after Close.
func (h *Host) Mobile() (*mobile.Service, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mobile == nil {
		return nil, ErrNotOpen
	}
	return h.mobile, nil
}

// Outbox returns the notifier's outbox: every push and SMS the host
// sent, in memory (see sim/host/notify).
func (h *Host) Outbox() *notify.Outbox { return h.notifier.Outbox() }

// ServeMobile serves the mobile-banking HTTP API on ln until ctx ends;
// it closes ln. The host must be open. The config's mobile.listen is the
// address a caller (atmd host) would listen on.
func (h *Host) ServeMobile(ctx context.Context, ln net.Listener) error {
	ms, err := h.Mobile()
	if err != nil {
		_ = ln.Close()
		return err
	}
	if err := ms.Serve(ctx, ln); err != nil {
		return fmt.Errorf("host: %w", err)
	}
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
	h.db, h.mobile, h.acts, h.delegates = nil, nil, nil, nil
	h.forgetKeys()
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
// The host must be open. With TLS configured, terminals must present a
// client certificate from the configured CA. MACs are on: every 0100,
// 0200, 0420 and 0421 must carry a MAC under its terminal's TAK, or it
// is answered 63 without reaching Handle, and every 0110, 0210 and 0430
// is signed (see MAC).
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	if _, err := h.store(); err != nil {
		_ = ln.Close()
		return err
	}
	h.log.Info().Str("addr", ln.Addr().String()).Bool("tls", h.tls != nil).Msg("serving terminals")
	srv := &hostlink.Server{Handler: h, Log: h.log, TLS: h.tls, MAC: h.MAC}
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

// MAC returns the MACer of a terminal: its Sign and Verify use the
// terminal's current TAK (as stored, under the LMK, cached in memory
// until the terminal's next key exchange; opened for each call), and fail
// (wrapping ErrNoWorkingKeys) until the terminal has exchanged keys. It
// returns nil for a terminal the config does not name. Serve passes it to
// hostlink.Server.MAC; in-process callers of Handle can use it to sign
// and check as the server would.
func (h *Host) MAC(terminalID string) hostlink.MACer {
	if !h.terminals[terminalID] {
		return nil
	}
	return terminalMAC{h: h, terminal: terminalID}
}

// terminalMAC is the MACer of one terminal.
type terminalMAC struct {
	h        *Host
	terminal string
}

// Sign returns the retail MAC of data under the terminal's TAK.
func (m terminalMAC) Sign(ctx context.Context, data []byte) ([]byte, error) {
	wk, err := m.h.workingKeys(ctx, m.terminal)
	if err != nil {
		return nil, err
	}
	out, err := m.h.hsm.MAC(wk, data)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return out, nil
}

// Verify checks mac against data under the terminal's TAK.
func (m terminalMAC) Verify(ctx context.Context, data, mac []byte) error {
	wk, err := m.h.workingKeys(ctx, m.terminal)
	if err != nil {
		return err
	}
	if err := m.h.hsm.VerifyMAC(wk, data, mac); err != nil {
		return fmt.Errorf("host: terminal %s: %w", m.terminal, err)
	}
	return nil
}

// workingKeys returns a terminal's current working keys (as stored, under
// the LMK): from the cache, or read from the database and cached.
func (h *Host) workingKeys(ctx context.Context, terminalID string) (hsm.WorkingKeys, error) {
	h.keysMu.RLock()
	c, ok := h.keys[terminalID]
	h.keysMu.RUnlock()
	if ok {
		return c.wk, nil
	}
	db, err := h.store()
	if err != nil {
		return hsm.WorkingKeys{}, err
	}
	k, err := db.TerminalKeys(ctx, terminalID)
	if errors.Is(err, store.ErrNotFound) {
		return hsm.WorkingKeys{}, fmt.Errorf("%w: %s", ErrNoWorkingKeys, terminalID)
	}
	if err != nil {
		return hsm.WorkingKeys{}, fmt.Errorf("host: %w", err)
	}
	wk := workingKeys(k)
	h.cacheKeys(wk, k.Generation)
	return wk, nil
}

// cacheKeys remembers a terminal's stored working keys of generation
// gen, unless the cache already has a newer generation.
func (h *Host) cacheKeys(wk hsm.WorkingKeys, gen int64) {
	h.keysMu.Lock()
	defer h.keysMu.Unlock()
	if h.keys == nil {
		h.keys = map[string]cachedKeys{}
	}
	if c, ok := h.keys[wk.Terminal]; !ok || c.gen <= gen {
		h.keys[wk.Terminal] = cachedKeys{wk: wk, gen: gen}
	}
}

// forgetKeys empties the working key cache.
func (h *Host) forgetKeys() {
	h.keysMu.Lock()
	defer h.keysMu.Unlock()
	h.keys = nil
}

// workingKeys converts a stored row for the HSM.
func workingKeys(k store.TerminalKeys) hsm.WorkingKeys {
	return hsm.WorkingKeys{Terminal: k.TerminalID, TPK: k.TPK, TAK: k.TAK, TDK: k.TDK,
		TPKCheck: k.TPKCheck, TAKCheck: k.TAKCheck, TDKCheck: k.TDKCheck}
}

// KeyInfo describes a terminal's current working keys without revealing
// them.
type KeyInfo struct {
	Terminal   string
	Generation int64 // 1 after the first exchange, one more after each
	// Check values as the 0810 sent them: 6 hex characters each.
	TPKCheck, TAKCheck, TDKCheck string
	Exchanged                    time.Time // when the host stored them
}

// TerminalKeys describes a terminal's current working keys; the error
// wraps ErrNoWorkingKeys when it has none.
func (h *Host) TerminalKeys(ctx context.Context, terminalID string) (KeyInfo, error) {
	db, err := h.store()
	if err != nil {
		return KeyInfo{}, err
	}
	k, err := db.TerminalKeys(ctx, terminalID)
	if errors.Is(err, store.ErrNotFound) {
		return KeyInfo{}, fmt.Errorf("%w: %s", ErrNoWorkingKeys, terminalID)
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("host: %w", err)
	}
	up := func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
	return KeyInfo{Terminal: k.TerminalID, Generation: k.Generation, TPKCheck: up(k.TPKCheck), TAKCheck: up(k.TAKCheck),
		TDKCheck: up(k.TDKCheck), Exchanged: k.Created}, nil
}

// Tombstones returns the reversals that arrived before their originals,
// oldest first.
func (h *Host) Tombstones(ctx context.Context) ([]Tombstone, error) {
	db, err := h.store()
	if err != nil {
		return nil, err
	}
	ts, err := db.Tombstones(ctx)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return ts, nil
}
