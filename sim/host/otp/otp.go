package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/atmd/atmd/internal/clock"
)

// Errors. Every error of the package wraps one of them.
var (
	// ErrNotFound: no code was issued for that subject and purpose, or
	// no challenge has that payload or id.
	ErrNotFound = errors.New("otp: not found")
	// ErrExpired: the code or challenge is past its expiry.
	ErrExpired = errors.New("otp: expired")
	// ErrUsed: the code or challenge was already used once.
	ErrUsed = errors.New("otp: already used")
	// ErrLocked: too many wrong codes; a new code must be issued.
	ErrLocked = errors.New("otp: locked after too many wrong tries")
	// ErrWrongCode: the code does not match (see WrongCodeError).
	ErrWrongCode = errors.New("otp: wrong code")
	// ErrMismatch: the challenge was issued for another card, terminal
	// or purpose.
	ErrMismatch = errors.New("otp: challenge does not match")
	// ErrPending: the challenge has not been answered by the app yet.
	ErrPending = errors.New("otp: challenge not verified yet")
	// ErrInvalid: a malformed argument (empty subject, bad payload).
	ErrInvalid = errors.New("otp: invalid")
)

// WrongCodeError is a wrong code that did not lock the code yet.
type WrongCodeError struct {
	TriesLeft int // wrong tries left before the code locks
}

func (e *WrongCodeError) Error() string {
	return fmt.Sprintf("otp: wrong code, %d tries left", e.TriesLeft)
}

// Unwrap returns ErrWrongCode.
func (e *WrongCodeError) Unwrap() error { return ErrWrongCode }

// Config sets the limits. Zero fields take the Default values.
type Config struct {
	Digits       int           // digits of a code, 4–9
	CodeTTL      time.Duration // how long a code is valid
	ChallengeTTL time.Duration // how long a challenge is valid
	MaxTries     int           // wrong codes in a row that lock a code
}

// Defaults for the zero fields of Config.
const (
	DefaultDigits       = 6
	DefaultCodeTTL      = 5 * time.Minute
	DefaultChallengeTTL = 2 * time.Minute
	DefaultMaxTries     = 3
)

// withDefaults fills the zero fields and checks the ranges.
func (c Config) withDefaults() (Config, error) {
	if c.Digits == 0 {
		c.Digits = DefaultDigits
	}
	if c.CodeTTL == 0 {
		c.CodeTTL = DefaultCodeTTL
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = DefaultChallengeTTL
	}
	if c.MaxTries == 0 {
		c.MaxTries = DefaultMaxTries
	}
	switch {
	case c.Digits < 4 || c.Digits > 9:
		return c, fmt.Errorf("%w: digits %d is out of range 4–9", ErrInvalid, c.Digits)
	case c.CodeTTL < 0 || c.ChallengeTTL < 0:
		return c, fmt.Errorf("%w: negative TTL", ErrInvalid)
	case c.MaxTries < 1 || c.MaxTries > 10:
		return c, fmt.Errorf("%w: max tries %d is out of range 1–10", ErrInvalid, c.MaxTries)
	}
	return c, nil
}

// State is where a secret is in its life.
type State string

// States.
const (
	StatePending  State = "pending"  // issued, not yet used
	StateVerified State = "verified" // a challenge the app submitted, not yet redeemed
	StateUsed     State = "used"     // spent
	StateExpired  State = "expired"  // past its expiry, unused
	StateLocked   State = "locked"   // a code with too many wrong tries
)

// Book holds the live codes and challenges. It is safe for concurrent
// use.
type Book struct {
	cfg   Config
	clock clock.Clock
	key   []byte // HMAC key, made by New, lives only in memory

	mu         sync.Mutex
	codes      map[codeKey]*code
	challenges map[string]*challenge // by hex of the payload's HMAC
}

type codeKey struct{ subject, purpose string }

type code struct {
	mac     []byte
	expires time.Time
	wrong   int
	state   State
}

type challenge struct {
	Challenge
	mac []byte
}

// New returns an empty Book with a fresh HMAC key; c nil means the wall
// clock.
func New(cfg Config, c clock.Clock) (*Book, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = clock.Real{}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("otp: random key: %w", err)
	}
	return &Book{cfg: cfg, clock: c, key: key, codes: map[codeKey]*code{}, challenges: map[string]*challenge{}}, nil
}

// Config returns the limits in force, defaults filled in.
func (b *Book) Config() Config { return b.cfg }

// mac is the HMAC of the parts, each length-prefixed so that no two
// different lists collide.
func (b *Book) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, b.key)
	for _, p := range parts {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(p)>>24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

// sweep forgets the secrets that expired more than a TTL ago; their
// state is no longer interesting. Called with mu held.
func (b *Book) sweep(now time.Time) {
	for k, c := range b.codes {
		if now.Sub(c.expires) > b.cfg.CodeTTL {
			delete(b.codes, k)
		}
	}
	for k, c := range b.challenges {
		if now.Sub(c.Expires) > b.cfg.ChallengeTTL {
			delete(b.challenges, k)
		}
	}
}

// IssueCode makes a new code for subject (e.g. a card id) and purpose
// (e.g. "activation"), replacing any earlier one, and returns its clear
// digits and expiry. The caller sends the digits and then wipes them.
func (b *Book) IssueCode(subject, purpose string) ([]byte, time.Time, error) {
	if subject == "" || purpose == "" {
		return nil, time.Time{}, fmt.Errorf("%w: subject and purpose are required", ErrInvalid)
	}
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(b.cfg.Digits)), nil)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("otp: random code: %w", err)
	}
	digits := []byte(fmt.Sprintf("%0*d", b.cfg.Digits, n))
	now := b.clock.Now()
	exp := now.Add(b.cfg.CodeTTL)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	b.codes[codeKey{subject, purpose}] = &code{
		mac: b.mac([]byte(subject), []byte(purpose), digits), expires: exp, state: StatePending,
	}
	return digits, exp, nil
}

// VerifyCode checks the digits keyed for subject and purpose. A right
// code is spent; a wrong one counts, and the MaxTries-th locks the code.
// The comparison is constant-time; digits is not kept (the caller wipes
// it).
func (b *Book) VerifyCode(subject, purpose string, digits []byte) error {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.codes[codeKey{subject, purpose}]
	if !ok {
		return fmt.Errorf("%w: no %s code for %s", ErrNotFound, purpose, subject)
	}
	switch {
	case c.state == StateUsed:
		return fmt.Errorf("%w: %s code for %s", ErrUsed, purpose, subject)
	case c.state == StateLocked:
		return fmt.Errorf("%w: %s code for %s", ErrLocked, purpose, subject)
	case !now.Before(c.expires):
		c.state = StateExpired
		return fmt.Errorf("%w: %s code for %s", ErrExpired, purpose, subject)
	}
	if subtle.ConstantTimeCompare(c.mac, b.mac([]byte(subject), []byte(purpose), digits)) == 1 {
		c.state = StateUsed
		return nil
	}
	c.wrong++
	if c.wrong >= b.cfg.MaxTries {
		c.state = StateLocked
		return fmt.Errorf("%w: %s code for %s", ErrLocked, purpose, subject)
	}
	return &WrongCodeError{TriesLeft: b.cfg.MaxTries - c.wrong}
}

// CodeState reports the state of the code for subject and purpose.
func (b *Book) CodeState(subject, purpose string) (State, error) {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.codes[codeKey{subject, purpose}]
	if !ok {
		return "", fmt.Errorf("%w: no %s code for %s", ErrNotFound, purpose, subject)
	}
	if c.state == StatePending && !now.Before(c.expires) {
		return StateExpired, nil
	}
	return c.state, nil
}

// PayloadScheme starts every challenge payload.
const PayloadScheme = "atmd://"

// MaxPayload is the longest payload ParsePayload accepts.
const MaxPayload = 256

// Challenge is one issued challenge, as the ATM side sees it.
type Challenge struct {
	ID       string    // public handle: hex of the first 8 bytes of the payload's HMAC
	Purpose  string    // e.g. "activate"
	Subject  string    // the card id it was issued for
	Terminal string    // the ATM that shows it
	Expires  time.Time // when it stops working
	State    State
	By       string // who submitted it (the app user), once verified
}

// IssueChallenge makes a challenge for purpose, subject (card id) and
// terminal and returns it with its payload, the text the ATM puts in
// the QR code: PayloadScheme + purpose + "?c=" + 43 URL-safe characters
// of a 256-bit random nonce. Only the payload's HMAC is kept.
func (b *Book) IssueChallenge(purpose, subject, terminal string) (Challenge, string, error) {
	if !validPurpose(purpose) || subject == "" || terminal == "" {
		return Challenge{}, "", fmt.Errorf("%w: purpose (lower-case letters), subject and terminal are required", ErrInvalid)
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return Challenge{}, "", fmt.Errorf("otp: random nonce: %w", err)
	}
	payload := PayloadScheme + purpose + "?c=" + base64.RawURLEncoding.EncodeToString(nonce)
	mac := b.mac([]byte(payload))
	now := b.clock.Now()
	ch := Challenge{ID: hex.EncodeToString(mac[:8]), Purpose: purpose, Subject: subject, Terminal: terminal,
		Expires: now.Add(b.cfg.ChallengeTTL), State: StatePending}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	b.challenges[ch.ID] = &challenge{Challenge: ch, mac: mac}
	return ch, payload, nil
}

// ParsePayload checks that payload has the shape IssueChallenge makes
// and returns its purpose. It is the only parser of untrusted payloads.
func ParsePayload(payload string) (purpose string, err error) {
	if len(payload) > MaxPayload {
		return "", fmt.Errorf("%w: payload longer than %d bytes", ErrInvalid, MaxPayload)
	}
	rest, ok := strings.CutPrefix(payload, PayloadScheme)
	if !ok {
		return "", fmt.Errorf("%w: payload does not start with %s", ErrInvalid, PayloadScheme)
	}
	purpose, nonce, ok := strings.Cut(rest, "?c=")
	if !ok || !validPurpose(purpose) {
		return "", fmt.Errorf("%w: payload is not %s<purpose>?c=<nonce>", ErrInvalid, PayloadScheme)
	}
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("%w: payload nonce is not 32 bytes of URL-safe base64", ErrInvalid)
	}
	return purpose, nil
}

func validPurpose(p string) bool {
	if len(p) == 0 || len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 'a' || p[i] > 'z' {
			return false
		}
	}
	return true
}

// SubmitChallenge records that the app of user submitted payload. check,
// when not nil, decides whether user may answer that challenge (it gets
// the challenge; its error is returned as is and leaves the challenge
// pending). A challenge is submitted once: again gets ErrUsed.
func (b *Book) SubmitChallenge(payload, user string, check func(Challenge) error) (Challenge, error) {
	if _, err := ParsePayload(payload); err != nil {
		return Challenge{}, err
	}
	mac := b.mac([]byte(payload))
	id := hex.EncodeToString(mac[:8])
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.challenges[id]
	if !ok || subtle.ConstantTimeCompare(c.mac, mac) != 1 {
		return Challenge{}, fmt.Errorf("%w: no such challenge", ErrNotFound)
	}
	if err := b.usable(c, now); err != nil {
		return c.Challenge, err
	}
	if check != nil {
		if err := check(c.Challenge); err != nil {
			return c.Challenge, err
		}
	}
	c.State, c.By = StateVerified, user
	return c.Challenge, nil
}

// usable reports why a pending challenge cannot be submitted.
func (b *Book) usable(c *challenge, now time.Time) error {
	switch {
	case c.State == StateVerified || c.State == StateUsed:
		return fmt.Errorf("%w: challenge %s", ErrUsed, c.ID)
	case !now.Before(c.Expires):
		c.State = StateExpired
		return fmt.Errorf("%w: challenge %s", ErrExpired, c.ID)
	}
	return nil
}

// ChallengeStatus returns the challenge with the given id, its State
// brought up to date.
func (b *Book) ChallengeStatus(id string) (Challenge, error) {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.challenges[id]
	if !ok {
		return Challenge{}, fmt.Errorf("%w: challenge %q", ErrNotFound, id)
	}
	if c.State == StatePending && !now.Before(c.Expires) {
		c.State = StateExpired
	}
	return c.Challenge, nil
}

// RedeemChallenge spends a verified challenge: it succeeds once, and
// only for the purpose, subject and terminal it was issued for and
// before it expires. A pending challenge (the app has not answered yet)
// gets ErrPending and stays pending.
func (b *Book) RedeemChallenge(id, purpose, subject, terminal string) (Challenge, error) {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.challenges[id]
	if !ok {
		return Challenge{}, fmt.Errorf("%w: challenge %q", ErrNotFound, id)
	}
	switch {
	case c.Purpose != purpose || c.Subject != subject || c.Terminal != terminal:
		return c.Challenge, fmt.Errorf("%w: challenge %s", ErrMismatch, id)
	case c.State == StateUsed:
		return c.Challenge, fmt.Errorf("%w: challenge %s", ErrUsed, id)
	case !now.Before(c.Expires):
		c.State = StateExpired
		return c.Challenge, fmt.Errorf("%w: challenge %s", ErrExpired, id)
	case c.State != StateVerified:
		return c.Challenge, fmt.Errorf("%w: challenge %s", ErrPending, id)
	}
	c.State = StateUsed
	return c.Challenge, nil
}
