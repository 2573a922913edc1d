package delegate

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Errors. Every error of Create and Cancel wraps one of them (or a store
// error).
var (
	// ErrConfig wraps every configuration error.
	ErrConfig = errors.New("delegate: bad config")
	// ErrInvalid: an amount or expiry out of range.
	ErrInvalid = errors.New("delegate: invalid")
	// ErrNotYours: the card or code is not the customer's.
	ErrNotYours = errors.New("delegate: not the customer's card or code")
	// ErrCard: the card cannot take delegated withdrawals (not active,
	// or expired).
	ErrCard = errors.New("delegate: card not usable")
	// ErrNotLive: the code was already used, cancelled, locked or is
	// expired.
	ErrNotLive = errors.New("delegate: code is no longer live")
)

// Config sets the bank's limits; zero fields take the defaults below. It
// is the `delegate:` section of the host config.
type Config struct {
	Digits        int           `yaml:"digits"`         // digits of a code, 6–8
	MaxTries      int           `yaml:"max_tries"`      // wrong codes that lock a code, 1–10
	MaxAmount     int64         `yaml:"max_amount"`     // largest cap, major units
	MaxExpiry     time.Duration `yaml:"max_expiry"`     // longest life of a code, 1m–30 days
	DefaultExpiry time.Duration `yaml:"default_expiry"` // life of a code created without one
}

// Defaults of Config.
const (
	DefaultDigits        = 6
	DefaultMaxTries      = 3
	DefaultMaxAmount     = 20000
	DefaultMaxExpiry     = 72 * time.Hour
	DefaultDefaultExpiry = 24 * time.Hour
	// MinExpiry is the shortest life a code may be given.
	MinExpiry = time.Minute
)

// Validate fills in the defaults and checks c; every error wraps
// ErrConfig and names the key.
func (c *Config) Validate() error {
	if c.Digits == 0 {
		c.Digits = DefaultDigits
	}
	if c.MaxTries == 0 {
		c.MaxTries = DefaultMaxTries
	}
	if c.MaxAmount == 0 {
		c.MaxAmount = DefaultMaxAmount
	}
	if c.MaxExpiry == 0 {
		c.MaxExpiry = DefaultMaxExpiry
	}
	if c.DefaultExpiry == 0 {
		c.DefaultExpiry = min(DefaultDefaultExpiry, c.MaxExpiry)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: delegate.%s", ErrConfig, fmt.Sprintf(format, args...)))
	}
	if c.Digits < 6 || c.Digits > 8 {
		bad("digits %d is out of range 6–8", c.Digits)
	}
	if c.MaxTries < 1 || c.MaxTries > 10 {
		bad("max_tries %d is out of range 1–10", c.MaxTries)
	}
	if c.MaxAmount < 1 || c.MaxAmount > seed.MaxAmount/10000 {
		bad("max_amount %d is out of range 1–%d", c.MaxAmount, seed.MaxAmount/10000)
	}
	if c.MaxExpiry < MinExpiry || c.MaxExpiry > 30*24*time.Hour {
		bad("max_expiry %v is out of range 1m–720h", c.MaxExpiry)
	}
	if c.DefaultExpiry < MinExpiry || c.DefaultExpiry > c.MaxExpiry {
		bad("default_expiry %v is out of range 1m–max_expiry", c.DefaultExpiry)
	}
	return errors.Join(errs...)
}

// MACFunc keys the stored form of a code: hsm.CodeMAC.
type MACFunc func(parts ...[]byte) []byte

// Book is the bank's book of delegate codes, on the host database. It is
// safe for concurrent use.
type Book struct {
	cfg   Config
	db    *store.Store
	mac   MACFunc
	clock clock.Clock
	log   zerolog.Logger
}

// New returns a book on an open store; cfg is validated (defaults filled
// in). mac keys the stored codes; c nil means the wall clock.
func New(db *store.Store, cfg Config, mac MACFunc, c clock.Clock, log zerolog.Logger) (*Book, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || mac == nil {
		return nil, fmt.Errorf("%w: a store and a MAC function are required", ErrConfig)
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Book{cfg: cfg, db: db, mac: mac, clock: c, log: log.With().Str("component", "delegate").Logger()}, nil
}

// Config returns the limits in force, defaults filled in.
func (b *Book) Config() Config { return b.cfg }

// purpose goes into every code's MAC, so a delegate code's MAC can never
// stand for another kind of secret.
const purpose = "delegate-code"

func (b *Book) codeMAC(id, cardID string, digits []byte) []byte {
	return b.mac([]byte(purpose), []byte(id), []byte(cardID), digits)
}

// newID returns a code id: "D" and 10 upper-case hex digits (40 random
// bits). It names the code in the app, the host's log and the ATM's
// journal; it is not a secret and opens nothing.
func newID() (string, error) {
	var r [5]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("delegate: random id: %w", err)
	}
	return "D" + strings.ToUpper(hex.EncodeToString(r[:])), nil
}

// digits returns n uniform random digits.
func digits(n int) ([]byte, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		return nil, fmt.Errorf("delegate: random code: %w", err)
	}
	return []byte(fmt.Sprintf("%0*d", n, v)), nil
}

// Create makes a delegate code for a customer's card: cap amount (minor
// units of the card's account currency, a whole number of major units,
// at most MaxAmount major units), valid for ttl (0: DefaultExpiry; at
// most MaxExpiry). It returns the code as stored and its clear digits,
// which the caller shows once and then wipes.
func (b *Book) Create(ctx context.Context, customerID, cardID string, amount int64, ttl time.Duration) (store.DelegateCode, []byte, error) {
	if ttl == 0 {
		ttl = b.cfg.DefaultExpiry
	}
	if ttl < MinExpiry || ttl > b.cfg.MaxExpiry {
		return store.DelegateCode{}, nil, fmt.Errorf("%w: expiry %v is out of range %v–%v", ErrInvalid, ttl, MinExpiry, b.cfg.MaxExpiry)
	}
	card, err := b.db.Card(ctx, cardID)
	if errors.Is(err, store.ErrNotFound) {
		return store.DelegateCode{}, nil, fmt.Errorf("%w: card %s", ErrNotYours, cardID)
	}
	if err != nil {
		return store.DelegateCode{}, nil, fmt.Errorf("delegate: %w", err)
	}
	acct, err := b.db.Account(ctx, card.AccountID)
	if err != nil {
		return store.DelegateCode{}, nil, fmt.Errorf("delegate: %w", err)
	}
	if acct.CustomerID != customerID {
		return store.DelegateCode{}, nil, fmt.Errorf("%w: card %s", ErrNotYours, cardID)
	}
	now := b.clock.Now()
	if card.Status != seed.StatusActive || expired(card.Expiry, now) {
		return store.DelegateCode{}, nil, fmt.Errorf("%w: card %s is %s", ErrCard, cardID, card.Status)
	}
	cur, err := currency.ByAlpha(acct.Currency)
	if err != nil {
		return store.DelegateCode{}, nil, fmt.Errorf("delegate: account %s: %w", acct.ID, err)
	}
	if amount <= 0 || amount%cur.Major() != 0 || amount > b.cfg.MaxAmount*cur.Major() {
		return store.DelegateCode{}, nil, fmt.Errorf("%w: amount must be a whole number of %s from 1 to %d", ErrInvalid, cur.Alpha, b.cfg.MaxAmount)
	}
	var c store.DelegateCode
	var d []byte
	err = b.db.Update(ctx, func(tx *store.Tx) error {
		live, err := tx.DelegateCodesOfCard(ctx, cardID)
		if err != nil {
			return err
		}
		for range 10 {
			id, err := newID()
			if err != nil {
				return err
			}
			if d, err = digits(b.cfg.Digits); err != nil {
				return err
			}
			// Two live codes of one card never share digits: a keyed
			// code must name one code.
			clash := false
			for _, o := range live {
				if o.StateAt(now) == store.DelegateLive && hmac.Equal(o.MAC, b.codeMAC(o.ID, cardID, d)) {
					clash = true
				}
			}
			if clash {
				clear(d)
				continue
			}
			c = store.DelegateCode{ID: id, CardID: cardID, CustomerID: customerID, MAC: b.codeMAC(id, cardID, d),
				Cap: amount, Currency: cur.Alpha, Created: now, Expires: now.Add(ttl), State: store.DelegateLive, Changed: now}
			return tx.AddDelegateCode(ctx, c)
		}
		return errors.New("delegate: no free code after 10 draws")
	})
	if err != nil {
		clear(d)
		return store.DelegateCode{}, nil, fmt.Errorf("delegate: create: %w", err)
	}
	b.log.Info().Str("code", c.ID).Str("card", cardID).Str("customer", customerID).Int64("cap", c.Cap).
		Time("expires", c.Expires).Msg("delegate code created")
	return c, d, nil
}

// List returns a customer's codes, newest first, states brought up to
// date (expired).
func (b *Book) List(ctx context.Context, customerID string) ([]store.DelegateCode, error) {
	cs, err := b.db.DelegateCodesOfCustomer(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("delegate: %w", err)
	}
	now := b.clock.Now()
	for i := range cs {
		cs[i].State = cs[i].StateAt(now)
	}
	return cs, nil
}

// Cancel cancels a customer's live code. A code of another customer gets
// ErrNotYours, one that is not live (used, cancelled, locked, expired)
// ErrNotLive; the code is returned as it is then.
func (b *Book) Cancel(ctx context.Context, customerID, id string) (store.DelegateCode, error) {
	now := b.clock.Now()
	var c store.DelegateCode
	var notLive bool
	err := b.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		c, err = tx.DelegateCode(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.CustomerID != customerID) {
			return fmt.Errorf("%w: code %s", ErrNotYours, id)
		}
		if err != nil {
			return err
		}
		if c.StateAt(now) != store.DelegateLive {
			notLive = true
			return nil
		}
		if err := tx.CancelDelegateCode(ctx, id, now); err != nil {
			return err
		}
		c.State, c.Changed = store.DelegateCancelled, now
		return nil
	})
	switch {
	case err != nil && errors.Is(err, ErrNotYours):
		return store.DelegateCode{}, err
	case err != nil:
		return store.DelegateCode{}, fmt.Errorf("delegate: cancel: %w", err)
	case notLive:
		c.State = c.StateAt(now)
		return c, fmt.Errorf("%w: code %s is %s", ErrNotLive, id, c.State)
	}
	b.log.Info().Str("code", id).Str("card", c.CardID).Str("customer", customerID).Msg("delegate code cancelled")
	return c, nil
}

// Outcome is what a keyed code turned out to be.
type Outcome int

// Outcomes of Check.
const (
	Match  Outcome = iota // a live code of the card: Result.Code
	Dead                  // the code of the card, but used, cancelled, locked or expired: Result.Code, Result.State
	Wrong                 // no code of the card: counted against its live codes
	Locked                // no code of the card, and this try locked one or more of its codes
)

// Result is what Check found.
type Result struct {
	Outcome Outcome
	Code    store.DelegateCode  // Match, Dead: the code keyed
	State   store.DelegateState // Dead: why
	// Left (Wrong) is the wrong codes left before the live code closest
	// to its limit locks; -1 when the card has no live code at all.
	Left int
	// LockedIDs (Locked) are the codes this try locked.
	LockedIDs []string
}

// Check decides the digits keyed at an ATM for a card, inside tx (the
// caller's store update, which commits the count of a wrong code). It
// does not keep digits; the caller wipes them.
func (b *Book) Check(ctx context.Context, tx *store.Tx, cardID string, digits []byte, now time.Time) (Result, error) {
	codes, err := tx.DelegateCodesOfCard(ctx, cardID)
	if err != nil {
		return Result{}, fmt.Errorf("delegate: check: %w", err)
	}
	for _, c := range codes {
		if !hmac.Equal(c.MAC, b.codeMAC(c.ID, cardID, digits)) {
			continue
		}
		if st := c.StateAt(now); st != store.DelegateLive {
			return Result{Outcome: Dead, Code: c, State: st}, nil
		}
		return Result{Outcome: Match, Code: c}, nil
	}
	res := Result{Outcome: Wrong, Left: -1}
	for _, c := range codes {
		if c.StateAt(now) != store.DelegateLive {
			continue
		}
		wrong := c.Wrong + 1
		locked := wrong >= b.cfg.MaxTries
		if err := tx.DelegateWrong(ctx, c.ID, wrong, locked, now); err != nil {
			return Result{}, fmt.Errorf("delegate: check: %w", err)
		}
		if locked {
			res.LockedIDs = append(res.LockedIDs, c.ID)
			continue
		}
		if left := b.cfg.MaxTries - wrong; res.Left < 0 || left < res.Left {
			res.Left = left
		}
	}
	if len(res.LockedIDs) > 0 {
		res.Outcome = Locked
	}
	return res, nil
}

// Use spends a live code on the withdrawal of ledger entry ledgerID at
// terminal, inside tx. It fails (wrapping store.ErrNotLive) for a code
// that is not live any more: the caller's update must then be rolled
// back.
func (b *Book) Use(ctx context.Context, tx *store.Tx, id string, ledgerID int64, terminal string, now time.Time) error {
	if err := tx.UseDelegateCode(ctx, id, ledgerID, terminal, now); err != nil {
		return fmt.Errorf("delegate: use: %w", err)
	}
	return nil
}

// expired reports whether a card with expiry YYMM is past the end of
// that month at now (a malformed expiry counts as expired).
func expired(yymm string, now time.Time) bool {
	if len(yymm) != 4 {
		return true
	}
	for i := 0; i < 4; i++ {
		if yymm[i] < '0' || yymm[i] > '9' {
			return true
		}
	}
	y := 2000 + int(yymm[0]-'0')*10 + int(yymm[1]-'0')
	m := time.Month(int(yymm[2]-'0')*10 + int(yymm[3]-'0'))
	return !now.Before(time.Date(y, m+1, 1, 0, 0, 0, 0, now.Location()))
}
