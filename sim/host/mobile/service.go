package mobile

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/otp"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Errors of the Go API. The HTTP API maps them to status codes.
var (
	// ErrConfig wraps every configuration error.
	ErrConfig = errors.New("mobile: bad config")
	// ErrNoApp: the card's customer has no app login.
	ErrNoApp = errors.New("mobile: customer is not an app user")
	// ErrNotNew: a default PIN was asked for a card that is not awaiting
	// activation.
	ErrNotNew = errors.New("mobile: card is not awaiting activation")
	// ErrNoPINSource: the service was built without WithPINSource.
	ErrNoPINSource = errors.New("mobile: no default PIN source")
	// ErrUnknownCard: no such card.
	ErrUnknownCard = errors.New("mobile: unknown card")
	// ErrChannel: a channel other than push or sms.
	ErrChannel = errors.New("mobile: channel must be push or sms")
)

// Config configures the mobile-banking service; zero fields take the
// defaults below. It is the `mobile:` section of the host config.
type Config struct {
	Listen        string        `yaml:"listen"`          // host:port of the HTTP API; "" means the API is not served by atmd host
	Simulator     bool          `yaml:"simulator"`       // enables /v1/sim/... (the SMS outbox); never in production
	SessionTTL    time.Duration `yaml:"session_ttl"`     // how long a login lasts
	IntentTTL     time.Duration `yaml:"intent_ttl"`      // how long an "activate my card" choice in the app lasts
	CodeTTL       time.Duration `yaml:"code_ttl"`        // verification code lifetime
	ChallengeTTL  time.Duration `yaml:"challenge_ttl"`   // QR challenge lifetime
	MaxCodeTries  int           `yaml:"max_code_tries"`  // wrong codes (or wrong QR payloads in a session) before locking
	MaxLoginTries int           `yaml:"max_login_tries"` // wrong passwords in a row before the login locks
	LoginLockout  time.Duration `yaml:"login_lockout"`   // how long a locked login stays locked
}

// Defaults of Config.
const (
	DefaultSessionTTL    = 30 * time.Minute
	DefaultIntentTTL     = 5 * time.Minute
	DefaultMaxLoginTries = 5
	DefaultLoginLockout  = 15 * time.Minute
)

// Validate fills in the defaults and checks c; every error wraps
// ErrConfig and names the key.
func (c *Config) Validate() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionTTL, DefaultSessionTTL)
	def(&c.IntentTTL, DefaultIntentTTL)
	def(&c.CodeTTL, otp.DefaultCodeTTL)
	def(&c.ChallengeTTL, otp.DefaultChallengeTTL)
	def(&c.LoginLockout, DefaultLoginLockout)
	if c.MaxCodeTries == 0 {
		c.MaxCodeTries = otp.DefaultMaxTries
	}
	if c.MaxLoginTries == 0 {
		c.MaxLoginTries = DefaultMaxLoginTries
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: mobile.%s", ErrConfig, fmt.Sprintf(format, args...)))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("listen %q is not host:port", c.Listen)
		}
	}
	for _, d := range []struct {
		name     string
		v, limit time.Duration
	}{{"session_ttl", c.SessionTTL, 24 * time.Hour}, {"intent_ttl", c.IntentTTL, time.Hour},
		{"code_ttl", c.CodeTTL, time.Hour}, {"challenge_ttl", c.ChallengeTTL, time.Hour},
		{"login_lockout", c.LoginLockout, 24 * time.Hour}} {
		if d.v < time.Second || d.v > d.limit {
			bad("%s %v is out of range 1s–%v", d.name, d.v, d.limit)
		}
	}
	if c.MaxCodeTries < 1 || c.MaxCodeTries > 10 {
		bad("max_code_tries %d is out of range 1–10", c.MaxCodeTries)
	}
	if c.MaxLoginTries < 1 || c.MaxLoginTries > 20 {
		bad("max_login_tries %d is out of range 1–20", c.MaxLoginTries)
	}
	return errors.Join(errs...)
}

// PINSource returns the clear default PIN of a new card. The caller
// wipes the slice. The reference host reads it from its seed file at the
// moment of sending: it is never stored.
type PINSource func(ctx context.Context, cardID string) ([]byte, error)

// Service is the bank side of the phone-based flows: app logins and
// sessions, device binding, the push inbox, the HTTP API for the app
// (Handler, Serve), and the Go API the ATM-side flows call through the
// host (Activation, Challenges, Codes, Notify). It is safe for
// concurrent use.
type Service struct {
	// Go API for the ATM-side flows. Set by New; do not replace.
	Activation *Activation
	Challenges *Challenges
	Codes      *Codes
	Notify     *Notify

	cfg      Config
	db       *store.Store
	book     *otp.Book
	notifier *notify.Notifier
	clock    clock.Clock
	log      zerolog.Logger
	pins     PINSource
	app      http.Handler // the banking-app page under /app/, or nil
	iter     int          // password hash iterations for dummy checks
	// delegates is the host's book of delegate codes (delegate.go);
	// nil: the /v1/delegates endpoints are not served.
	delegates *delegate.Book

	mu       sync.Mutex
	sessions map[[32]byte]*session // by SHA-256 of the token
	qrFails  map[string]int        // wrong QR payloads per user since the last good one
}

// session is one app login.
type session struct {
	user, customer, device string
	expires                time.Time
	intent                 *intent
}

// intent is the customer's "activate my card" choice in the app.
type intent struct {
	last4   string
	expires time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (clock.Real{} by default).
func WithClock(c clock.Clock) Option {
	return func(s *Service) {
		if c != nil {
			s.clock = c
		}
	}
}

// WithLogger sets the logger; the default discards everything. Nothing
// logged carries a password, token, code, payload or message text.
func WithLogger(l zerolog.Logger) Option { return func(s *Service) { s.log = l } }

// WithNotifier sets the notifier (a fresh notify.New(nil) by default).
func WithNotifier(n *notify.Notifier) Option { return func(s *Service) { s.notifier = n } }

// WithPINSource sets where Notify.DefaultPIN gets a new card's PIN.
func WithPINSource(p PINSource) Option { return func(s *Service) { s.pins = p } }

// WithApp serves h under /app/ beside the API (h sees paths without the
// /app prefix): the banking-app simulator's page (sim/phone/webapp), so
// that its calls to the API are same-origin. Simulation only; nil serves
// nothing.
func WithApp(h http.Handler) Option { return func(s *Service) { s.app = h } }

// New returns a service on an open store. cfg is validated (defaults
// filled in).
func New(db *store.Store, cfg Config, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	}
	s := &Service{cfg: cfg, db: db, clock: clock.Real{}, log: zerolog.Nop(), iter: PasswordIterations,
		sessions: map[[32]byte]*session{}, qrFails: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	if s.notifier == nil {
		s.notifier = notify.New(nil)
	}
	var err error
	s.book, err = otp.New(otp.Config{CodeTTL: cfg.CodeTTL, ChallengeTTL: cfg.ChallengeTTL, MaxTries: cfg.MaxCodeTries}, s.clock)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.Activation = &Activation{s}
	s.Challenges = &Challenges{s}
	s.Codes = &Codes{s}
	s.Notify = &Notify{s}
	s.log = s.log.With().Str("component", "mobile").Logger()
	return s, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Outbox returns the notifier's outbox (tests and the simulator read it).
func (s *Service) Outbox() *notify.Outbox { return s.notifier.Outbox() }

// newToken returns a fresh bearer token and its hash.
func newToken() (string, [32]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [32]byte{}, fmt.Errorf("mobile: token: %w", err)
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, sha256.Sum256([]byte(t)), nil
}

// login errors.
var (
	// ErrBadLogin: unknown user or wrong password (deliberately the same).
	ErrBadLogin = errors.New("mobile: wrong user or password")
	// ErrLoginLocked: too many wrong passwords; see LockedError.
	ErrLoginLocked = errors.New("mobile: login locked")
)

// LockedError is a locked login, with when it unlocks.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return "mobile: login locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Unwrap returns ErrLoginLocked.
func (e *LockedError) Unwrap() error { return ErrLoginLocked }

// Login checks user's password and opens a session for device; it
// returns the bearer token and its expiry. Wrong passwords count; the
// MaxLoginTries-th in a row locks the login for LoginLockout. The
// password slice is not kept (the caller wipes it).
func (s *Service) Login(ctx context.Context, user string, password []byte, device string) (string, time.Time, error) {
	now := s.clock.Now()
	u, err := s.db.AppUser(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		// Same work as for a real user, so timing does not tell.
		dummy, _ := hashPassword([]byte("dummy-password"), s.iter)
		_ = CheckPassword(dummy, password)
		return "", time.Time{}, ErrBadLogin
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mobile: login: %w", err)
	}
	if now.Before(u.LockedUntil) {
		return "", time.Time{}, &LockedError{Until: u.LockedUntil}
	}
	if err := CheckPassword(u.Password, password); err != nil {
		if errors.Is(err, ErrBadHash) {
			return "", time.Time{}, fmt.Errorf("mobile: login %s: %w", user, err)
		}
		failed, until := u.Failed+1, time.Time{}
		if failed >= s.cfg.MaxLoginTries {
			failed, until = 0, now.Add(s.cfg.LoginLockout)
		}
		if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetAppUserFailures(ctx, user, failed, until) }); err != nil {
			return "", time.Time{}, fmt.Errorf("mobile: login: %w", err)
		}
		if !until.IsZero() {
			s.log.Warn().Str("user", user).Time("until", until).Msg("login locked after wrong passwords")
			return "", time.Time{}, &LockedError{Until: until}
		}
		s.log.Info().Str("user", user).Int("failed", failed).Msg("wrong password")
		return "", time.Time{}, ErrBadLogin
	}
	if u.Failed != 0 || !u.LockedUntil.IsZero() {
		if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetAppUserFailures(ctx, user, 0, time.Time{}) }); err != nil {
			return "", time.Time{}, fmt.Errorf("mobile: login: %w", err)
		}
	}
	tok, h, err := newToken()
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(s.cfg.SessionTTL)
	s.mu.Lock()
	for k, se := range s.sessions {
		if !now.Before(se.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[h] = &session{user: u.ID, customer: u.CustomerID, device: device, expires: exp}
	delete(s.qrFails, u.ID)
	s.mu.Unlock()
	s.log.Info().Str("user", user).Str("device", device).Msg("logged in")
	return tok, exp, nil
}

// Logout ends the session of token; an unknown token is no error.
func (s *Service) Logout(token string) {
	h := sha256.Sum256([]byte(token))
	s.mu.Lock()
	delete(s.sessions, h)
	s.mu.Unlock()
}

// authenticate returns a copy of the live session of token.
func (s *Service) authenticate(token string) (session, bool) {
	h := sha256.Sum256([]byte(token))
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[h]
	if !ok {
		return session{}, false
	}
	if !now.Before(se.expires) {
		delete(s.sessions, h)
		return session{}, false
	}
	return *se, true
}

// Binding errors.
var (
	// ErrNotYours: the account or card is not the user's.
	ErrNotYours = errors.New("mobile: not the user's account")
	// ErrPhoneMismatch: the phone is not the one the bank has on file.
	ErrPhoneMismatch = errors.New("mobile: phone does not match the customer's phone on file")
)

// Bind binds the session's device to one of its user's accounts, with
// the phone the bank has on file for the customer.
func (s *Service) bind(ctx context.Context, se session, accountID, phone string) (store.Device, error) {
	a, err := s.db.Account(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.CustomerID != se.customer) {
		return store.Device{}, fmt.Errorf("%w: %s", ErrNotYours, accountID)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("mobile: bind: %w", err)
	}
	cu, err := s.db.Customer(ctx, se.customer)
	if err != nil {
		return store.Device{}, fmt.Errorf("mobile: bind: %w", err)
	}
	if cu.Phone != phone {
		return store.Device{}, ErrPhoneMismatch
	}
	d := store.Device{UserID: se.user, DeviceID: se.device, AccountID: accountID, Phone: phone, Bound: s.clock.Now()}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.BindDevice(ctx, d) }); err != nil {
		return store.Device{}, fmt.Errorf("mobile: bind: %w", err)
	}
	s.log.Info().Str("user", se.user).Str("device", se.device).Str("account", accountID).Msg("device bound")
	return d, nil
}

// setIntent records the session's "activate my card" choice.
func (s *Service) setIntent(token, last4 string) (time.Time, bool) {
	h := sha256.Sum256([]byte(token))
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[h]
	if !ok || !now.Before(se.expires) {
		return time.Time{}, false
	}
	exp := now.Add(s.cfg.IntentTTL)
	se.intent = &intent{last4: last4, expires: exp}
	return exp, true
}

// cardOwner returns a card, its account and its customer id.
func (s *Service) cardOwner(ctx context.Context, cardID string) (store.Card, store.Account, error) {
	c, err := s.db.Card(ctx, cardID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Card{}, store.Account{}, fmt.Errorf("%w: %s", ErrUnknownCard, cardID)
	}
	if err != nil {
		return store.Card{}, store.Account{}, fmt.Errorf("mobile: %w", err)
	}
	a, err := s.db.Account(ctx, c.AccountID)
	if err != nil {
		return store.Card{}, store.Account{}, fmt.Errorf("mobile: %w", err)
	}
	return c, a, nil
}

// AppState is what the host knows about a card's customer in the app.
type AppState struct {
	User     string // the customer's app login; "" if not an app user
	LoggedIn bool   // a session of that user is live
	Intent   bool   // in a live session, the user chose card activation for this card
	Bound    bool   // that session's device is bound to the card's account
	Phone    string // the bound phone, when Bound
}

// Ready reports whether the bound-app path can be offered: logged in,
// chose activation for this card, on a device bound to its account.
func (a AppState) Ready() bool { return a.LoggedIn && a.Intent && a.Bound }

// Activation answers the ATM side's question "is the cardholder in the
// app, did they choose activation there, and is the phone bound?".
type Activation struct{ s *Service }

// Check returns the app state of a card's customer. Of several live
// sessions the best one counts (ready beats intent beats logged in).
func (a *Activation) Check(ctx context.Context, cardID string) (AppState, error) {
	s := a.s
	c, acct, err := s.cardOwner(ctx, cardID)
	if err != nil {
		return AppState{}, err
	}
	u, err := s.db.AppUserOfCustomer(ctx, acct.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return AppState{}, nil
	}
	if err != nil {
		return AppState{}, fmt.Errorf("mobile: %w", err)
	}
	st := AppState{User: u.ID}
	now := s.clock.Now()
	type cand struct {
		device string
		intent bool
	}
	var cands []cand
	s.mu.Lock()
	for _, se := range s.sessions {
		if se.user != u.ID || !now.Before(se.expires) {
			continue
		}
		st.LoggedIn = true
		in := se.intent != nil && now.Before(se.intent.expires) && se.intent.last4 == last4(c.PAN)
		cands = append(cands, cand{se.device, in})
	}
	s.mu.Unlock()
	for _, cd := range cands {
		d, err := s.db.Device(ctx, u.ID, cd.device, c.AccountID)
		bound := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return AppState{}, fmt.Errorf("mobile: %w", err)
		}
		switch {
		case cd.intent && bound:
			return AppState{User: u.ID, LoggedIn: true, Intent: true, Bound: true, Phone: d.Phone}, nil
		case cd.intent:
			st.Intent = true
		case bound && !st.Intent:
			st.Bound, st.Phone = true, d.Phone
		}
	}
	if st.Intent {
		st.Bound, st.Phone = false, ""
	}
	return st, nil
}

// AppReady reports whether the card's customer is logged into the app,
// chose card activation there for this card, on a device bound to the
// card's account, and if so the bound phone.
func (a *Activation) AppReady(ctx context.Context, cardID string) (ready bool, phone string, err error) {
	st, err := a.Check(ctx, cardID)
	if err != nil {
		return false, "", err
	}
	if !st.Ready() {
		return false, "", nil
	}
	return true, st.Phone, nil
}

// Challenges are the QR challenges the ATM shows and the app submits.
type Challenges struct{ s *Service }

// Issue makes a single-use challenge for purpose (lower-case letters,
// e.g. "activate"), bound to a card and a terminal, and returns it and
// the payload for the QR code (otp.PayloadScheme + purpose + "?c=" +
// nonce). Only its HMAC is kept. The payload is a secret until shown:
// the caller must not log it.
func (c *Challenges) Issue(ctx context.Context, purpose, cardID, terminal string) (otp.Challenge, string, error) {
	if _, _, err := c.s.cardOwner(ctx, cardID); err != nil {
		return otp.Challenge{}, "", err
	}
	ch, payload, err := c.s.book.IssueChallenge(purpose, cardID, terminal)
	if err != nil {
		return otp.Challenge{}, "", fmt.Errorf("mobile: %w", err)
	}
	c.s.log.Info().Str("challenge", ch.ID).Str("purpose", purpose).Str("card", cardID).Str("terminal", terminal).Msg("challenge issued")
	return ch, payload, nil
}

// Status returns a challenge by id, State up to date: pending, verified
// (the app submitted it), used (redeemed) or expired.
func (c *Challenges) Status(ctx context.Context, id string) (otp.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return otp.Challenge{}, fmt.Errorf("mobile: %w", err)
	}
	ch, err := c.s.book.ChallengeStatus(id)
	if err != nil {
		return otp.Challenge{}, fmt.Errorf("mobile: %w", err)
	}
	return ch, nil
}

// Redeem spends a verified challenge for the card and terminal it was
// issued for: it succeeds once (otp.ErrUsed afterwards, otp.ErrPending
// while the app has not answered, otp.ErrMismatch for another card,
// terminal or purpose).
func (c *Challenges) Redeem(ctx context.Context, id, purpose, cardID, terminal string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	if _, err := c.s.book.RedeemChallenge(id, purpose, cardID, terminal); err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	c.s.log.Info().Str("challenge", id).Str("card", cardID).Str("terminal", terminal).Msg("challenge redeemed")
	return nil
}

// submit checks a payload the app of se scanned: the challenge's card
// must belong to the user, on an account the session's device is bound
// to.
func (s *Service) submit(ctx context.Context, se session, payload string) (otp.Challenge, error) {
	return s.book.SubmitChallenge(payload, se.user, func(ch otp.Challenge) error {
		c, acct, err := s.cardOwner(ctx, ch.Subject)
		if err != nil {
			return err
		}
		if acct.CustomerID != se.customer {
			return fmt.Errorf("%w: challenge %s", ErrNotYours, ch.ID)
		}
		if _, err := s.db.Device(ctx, se.user, se.device, c.AccountID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: device %s is not bound to the card's account", ErrNotBound, se.device)
			}
			return fmt.Errorf("mobile: %w", err)
		}
		return nil
	})
}

// ErrNotBound: the session's device is not bound to the account.
var ErrNotBound = errors.New("mobile: device not bound")

// Codes are the verification codes sent to the phone and keyed on the
// ATM.
type Codes struct{ s *Service }

// recipient returns where a message about a card goes on channel ch:
// the customer's app user for push, the customer's phone on file for
// SMS.
func (s *Service) recipient(ctx context.Context, cardID string, ch notify.Channel) (string, store.Card, error) {
	c, acct, err := s.cardOwner(ctx, cardID)
	if err != nil {
		return "", store.Card{}, err
	}
	switch ch {
	case notify.Push:
		u, err := s.db.AppUserOfCustomer(ctx, acct.CustomerID)
		if errors.Is(err, store.ErrNotFound) {
			return "", store.Card{}, fmt.Errorf("%w: card %s", ErrNoApp, cardID)
		}
		if err != nil {
			return "", store.Card{}, fmt.Errorf("mobile: %w", err)
		}
		return u.ID, c, nil
	case notify.SMS:
		cu, err := s.db.Customer(ctx, acct.CustomerID)
		if err != nil {
			return "", store.Card{}, fmt.Errorf("mobile: %w", err)
		}
		return cu.Phone, c, nil
	}
	return "", store.Card{}, fmt.Errorf("%w: %q", ErrChannel, ch)
}

// Send makes a new code for a card and purpose (replacing any earlier
// one) and sends it on channel ch: push to the customer's app, SMS to
// the customer's phone on file.
func (c *Codes) Send(ctx context.Context, cardID string, ch notify.Channel, purpose string) error {
	s := c.s
	to, card, err := s.recipient(ctx, cardID, ch)
	if err != nil {
		return err
	}
	digits, exp, err := s.book.IssueCode(cardID, purpose)
	if err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	text := fmt.Sprintf("atmd bank: your verification code for card ending %s is %s. It expires in %s. Never tell anyone this code.",
		last4(card.PAN), digits, exp.Sub(s.clock.Now()).Round(time.Second))
	clear(digits)
	if _, err := s.notifier.Send(ctx, notify.Message{Channel: ch, To: to, Kind: notify.KindCode, Subject: cardID, Text: text}); err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	s.log.Info().Str("card", cardID).Str("channel", string(ch)).Str("purpose", purpose).Msg("verification code sent")
	return nil
}

// Verify checks the clear digits keyed for a card and purpose (the
// caller decrypted them from the PIN block and wipes them afterwards).
// Errors wrap otp.ErrWrongCode (as *otp.WrongCodeError with the tries
// left), otp.ErrLocked, otp.ErrExpired, otp.ErrUsed or otp.ErrNotFound.
func (c *Codes) Verify(ctx context.Context, cardID, purpose string, code []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	if err := c.s.book.VerifyCode(cardID, purpose, code); err != nil {
		c.s.log.Info().Str("card", cardID).Str("purpose", purpose).Err(err).Msg("verification code refused")
		return fmt.Errorf("mobile: %w", err)
	}
	return nil
}

// Notify sends the host's other messages to a card's customer.
type Notify struct{ s *Service }

// DefaultPIN sends a new card's default PIN to its customer's phone on
// channel ch (push for app users, SMS otherwise). It is the only place
// a clear PIN leaves the host: the PIN comes from the PINSource, goes
// into the message text and nowhere else (no log, no database; the
// outbox keeps the text in memory for the phone). The card must be
// awaiting activation (seed.StatusNew).
func (n *Notify) DefaultPIN(ctx context.Context, cardID string, ch notify.Channel) error {
	s := n.s
	if s.pins == nil {
		return ErrNoPINSource
	}
	to, card, err := s.recipient(ctx, cardID, ch)
	if err != nil {
		return err
	}
	if card.Status != seed.StatusNew {
		return fmt.Errorf("%w: card %s is %s", ErrNotNew, cardID, card.Status)
	}
	pin, err := s.pins(ctx, cardID)
	if err != nil {
		return fmt.Errorf("mobile: default PIN of %s: %w", cardID, err)
	}
	text := fmt.Sprintf("atmd bank: the default PIN of your new card ending %s is %s. Key it at the ATM now; you will then choose your own PIN.",
		last4(card.PAN), pin)
	clear(pin)
	if _, err := s.notifier.Send(ctx, notify.Message{Channel: ch, To: to, Kind: notify.KindDefaultPIN, Subject: cardID, Text: text}); err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	s.log.Info().Str("card", cardID).Str("channel", string(ch)).Msg("default PIN sent")
	return nil
}

// Alert sends a security alert about a card (e.g. a wrong delegate
// code) to its customer on channel ch.
func (n *Notify) Alert(ctx context.Context, cardID string, ch notify.Channel, text string) error {
	to, _, err := n.s.recipient(ctx, cardID, ch)
	if err != nil {
		return err
	}
	if _, err := n.s.notifier.Send(ctx, notify.Message{Channel: ch, To: to, Kind: notify.KindAlert, Subject: cardID, Text: text}); err != nil {
		return fmt.Errorf("mobile: %w", err)
	}
	return nil
}

// last4 returns the last four digits of a PAN (the whole string when
// shorter): what the app and the messages name a card by.
func last4(pan string) string {
	if len(pan) < 4 {
		return pan
	}
	return pan[len(pan)-4:]
}
