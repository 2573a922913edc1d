package maint

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PIN hashing: PBKDF2-HMAC-SHA256, self-describing text
// "pbkdf2-sha256$<iterations>$<salt>$<key>", salt (16 bytes) and key (32
// bytes) in unpadded URL-safe base64. The iteration count travels in the
// hash, so a stronger count later leaves old hashes valid.
const (
	hashScheme = "pbkdf2-sha256"
	// DefaultIterations is what HashPIN uses: about 50 ms on an ATM PC.
	DefaultIterations = 200_000
	// MinIterations is the weakest count a hash may use (tests use it).
	MinIterations = 1_000
	maxIterations = 10_000_000
	saltLen       = 16
	keyLen        = 32
)

// Technician PINs are 4 to 12 digits, as on the PIN pad.
const (
	MinPINLen = 4
	MaxPINLen = 12
	// MaxIDLen bounds a technician id (digits, keyed on the PIN pad).
	MaxIDLen = 8
)

// Errors of the credential check. ErrBadCredentials never says whether
// the id or the PIN was wrong.
var (
	ErrBadHash        = errors.New("maint: malformed PIN hash")
	ErrBadPIN         = errors.New("maint: a technician PIN is 4 to 12 digits")
	ErrBadCredentials = errors.New("maint: wrong technician id or PIN")
	ErrLocked         = errors.New("maint: technician locked out after too many wrong PINs")
)

// HashPIN returns a salted PBKDF2 hash of pin for the config's
// technicians (`atmd maint hash-pin`). iterations 0 means
// DefaultIterations.
func HashPIN(pin string, iterations int) (string, error) {
	if !validPIN(pin) {
		return "", ErrBadPIN
	}
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations || iterations > maxIterations {
		return "", fmt.Errorf("maint: %d iterations: want %d to %d", iterations, MinIterations, maxIterations)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("maint: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, pin, salt, iterations, keyLen)
	if err != nil {
		return "", fmt.Errorf("maint: hash: %w", err)
	}
	enc := base64.RawURLEncoding
	return hashScheme + "$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

// PINHash is a parsed PIN hash.
type PINHash struct {
	Iterations int
	salt, key  []byte
}

// ParseHash reads a hash HashPIN made; anything else is ErrBadHash.
func ParseHash(s string) (PINHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return PINHash{}, ErrBadHash
	}
	n := parts[1]
	iter, err := strconv.Atoi(n)
	if err != nil || len(n) == 0 || n[0] == '0' || n[0] == '+' || iter < MinIterations || iter > maxIterations {
		return PINHash{}, ErrBadHash
	}
	if !b64(parts[2]) || !b64(parts[3]) {
		return PINHash{}, ErrBadHash
	}
	enc := base64.RawURLEncoding.Strict()
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) != keyLen {
		return PINHash{}, ErrBadHash
	}
	return PINHash{Iterations: iter, salt: salt, key: key}, nil
}

// b64 reports whether s holds only the URL-safe base64 alphabet (the
// decoder would skip newlines).
func b64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// String gives the hash back in its text form.
func (h PINHash) String() string {
	enc := base64.RawURLEncoding
	return hashScheme + "$" + strconv.Itoa(h.Iterations) + "$" + enc.EncodeToString(h.salt) + "$" + enc.EncodeToString(h.key)
}

// Matches reports, in constant time, whether pin hashes to h.
func (h PINHash) Matches(pin string) bool {
	got, err := pbkdf2.Key(sha256.New, pin, h.salt, h.Iterations, keyLen)
	return err == nil && len(h.key) == keyLen && subtle.ConstantTimeCompare(got, h.key) == 1
}

func validPIN(pin string) bool {
	return len(pin) >= MinPINLen && len(pin) <= MaxPINLen && allDigits(pin)
}

func validID(id string) bool { return len(id) >= 1 && len(id) <= MaxIDLen && allDigits(id) }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// Roles a technician may hold. Status, faults, device tests, the journal
// and the host test need only a login; the others need their role.
const (
	RoleCash = "cash" // cash management: load, totals, clear, reconcile, test dispense
	RoleKeys = "keys" // key custodian: one component of a master key
)

// Technician is one person allowed into supervisor mode.
type Technician struct {
	ID    string
	Name  string
	Hash  PINHash
	Roles []string
}

// Has reports whether the technician holds role.
func (t Technician) Has(role string) bool {
	for _, r := range t.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Auth checks technician credentials and locks a technician id out for
// LockFor after MaxTries wrong PINs in a row (an unknown id counts as
// well, so trying ids teaches nothing). It keeps its counts in memory
// and reads no clock: the time comes with each call. It is safe for
// concurrent use, shared by every console.
type Auth struct {
	MaxTries int
	LockFor  time.Duration

	techs map[string]Technician
	dummy PINHash // checked for an unknown id, so both cost the same

	mu    sync.Mutex
	tries map[string]*tryCount
}

type tryCount struct {
	wrong int
	until time.Time // locked until, when wrong reached MaxTries
}

// maxTracked bounds the ids Auth keeps counts for.
const maxTracked = 1024

// NewAuth returns an Auth over techs (their ids must be distinct).
func NewAuth(techs []Technician, maxTries int, lockFor time.Duration) (*Auth, error) {
	if maxTries < 1 || lockFor <= 0 {
		return nil, fmt.Errorf("maint: lockout needs at least 1 try and a positive time")
	}
	a := &Auth{MaxTries: maxTries, LockFor: lockFor, techs: map[string]Technician{}, tries: map[string]*tryCount{}}
	iter := MinIterations
	for _, t := range techs {
		if _, dup := a.techs[t.ID]; dup {
			return nil, fmt.Errorf("maint: technician %s listed twice", t.ID)
		}
		a.techs[t.ID] = t
		iter = max(iter, t.Hash.Iterations)
	}
	a.dummy = PINHash{Iterations: iter, salt: make([]byte, saltLen), key: make([]byte, keyLen)}
	return a, nil
}

// Technician returns the technician with id.
func (a *Auth) Technician(id string) (Technician, bool) {
	t, ok := a.techs[id]
	return t, ok
}

// Locked reports whether id is locked out at now, and until when.
func (a *Auth) Locked(now time.Time, id string) (bool, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.tries[id]
	if c == nil || c.until.IsZero() || !now.Before(c.until) {
		return false, time.Time{}
	}
	return true, c.until
}

// Check verifies id and pin at now. It returns the technician, or
// ErrLocked (nothing checked) while id is locked out, or
// ErrBadCredentials; wrong is then the wrong tries in a row so far and
// locked tells whether this one locked id out. A right PIN clears the
// count.
func (a *Auth) Check(now time.Time, id, pin string) (t Technician, wrong int, locked bool, err error) {
	if l, _ := a.Locked(now, id); l {
		return Technician{}, 0, false, ErrLocked
	}
	t, known := a.techs[id]
	h := a.dummy
	if known {
		h = t.Hash
	}
	ok := h.Matches(pin) && known && validPIN(pin)
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.tries[id]
	if ok {
		delete(a.tries, id)
		return t, 0, false, nil
	}
	if c == nil {
		if len(a.tries) >= maxTracked {
			a.forgetOldest(now)
		}
		c = &tryCount{}
		a.tries[id] = c
	}
	if !c.until.IsZero() && !now.Before(c.until) {
		*c = tryCount{} // a lockout that ended starts the count again
	}
	c.wrong++
	if c.wrong >= a.MaxTries {
		c.until = now.Add(a.LockFor)
		return Technician{}, c.wrong, true, ErrBadCredentials
	}
	return Technician{}, c.wrong, false, ErrBadCredentials
}

// forgetOldest drops counts of ids not locked now; a.mu must be held.
func (a *Auth) forgetOldest(now time.Time) {
	for id, c := range a.tries {
		if c.until.IsZero() || !now.Before(c.until) {
			delete(a.tries, id)
		}
	}
}
