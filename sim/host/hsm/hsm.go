package hsm

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/pinblock"
)

// Minimum key lengths, in bytes.
const (
	MinPVKLen      = 16
	MinDispenseLen = 32
)

// Errors.
var (
	// ErrKey: a key has the wrong length.
	ErrKey = errors.New("hsm: bad key")
	// ErrBlock: the PIN block does not decrypt to a well-formed format 0
	// block for this PAN (wrong key, or not a PIN block at all).
	ErrBlock = errors.New("hsm: malformed PIN block")
	// ErrPIN: a PIN given for seeding is not 4–12 digits.
	ErrPIN = errors.New("hsm: PIN must be 4 to 12 digits")
)

// Keys are the HSM's keys; see the package documentation.
type Keys struct {
	PIN      []byte // TDES PIN encryption key, 16 or 24 bytes
	PVK      []byte // PIN verification key, at least MinPVKLen bytes
	Dispense []byte // dispense token key, at least MinDispenseLen bytes
}

// HSM holds the keys. It is safe for concurrent use.
type HSM struct {
	pin, pvk, dispense []byte
}

// New checks the keys and returns an HSM holding copies of them.
func New(k Keys) (*HSM, error) {
	if _, err := pinblock.TDES(k.PIN); err != nil {
		return nil, fmt.Errorf("%w: PIN key must be 16 or 24 bytes", ErrKey)
	}
	if len(k.PVK) < MinPVKLen {
		return nil, fmt.Errorf("%w: PVK must be at least %d bytes", ErrKey, MinPVKLen)
	}
	if len(k.Dispense) < MinDispenseLen {
		return nil, fmt.Errorf("%w: dispense key must be at least %d bytes", ErrKey, MinDispenseLen)
	}
	clone := func(b []byte) []byte { return append([]byte(nil), b...) }
	return &HSM{pin: clone(k.PIN), pvk: clone(k.PVK), dispense: clone(k.Dispense)}, nil
}

// PVV returns the PIN verification value of pin for pan. It is used when
// a card is seeded; the caller wipes pin.
func (h *HSM) PVV(pan string, pin []byte) ([]byte, error) {
	if len(pin) < 4 || len(pin) > 12 {
		return nil, ErrPIN
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return nil, ErrPIN
		}
	}
	return h.pvv(pan, pin), nil
}

func (h *HSM) pvv(pan string, pin []byte) []byte {
	m := hmac.New(sha256.New, h.pvk)
	m.Write([]byte(pan))
	m.Write([]byte{0})
	m.Write(pin)
	return m.Sum(nil)
}

// VerifyPIN opens a format 0 PIN block for pan under the PIN key and
// reports whether the PIN matches pvv. It returns ErrBlock when the block
// is not a well-formed PIN block for pan.
func (h *HSM) VerifyPIN(pan string, block, pvv []byte) (bool, error) {
	pin, err := pinblock.DecryptFormat0(h.pin, block, []byte(pan))
	if err != nil {
		return false, ErrBlock
	}
	got := h.pvv(pan, pin)
	pinblock.Wipe(pin)
	return hmac.Equal(got, pvv), nil
}

// DispenseToken signs the dispense token for an approved withdrawal.
func (h *HSM) DispenseToken(d dispenser.TokenData) []byte {
	return dispenser.SignToken(h.dispense, d)
}
