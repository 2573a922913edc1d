package hsm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/pinblock"
)

// MinPVKLen is the shortest PIN verification key, in bytes.
const MinPVKLen = 16

// Errors.
var (
	// ErrKey: a configured key has the wrong length or form.
	ErrKey = errors.New("hsm: bad key")
	// ErrBlock: the PIN block does not decrypt to a well-formed format 0
	// block for this PAN (wrong key, or not a PIN block at all).
	ErrBlock = errors.New("hsm: malformed PIN block")
	// ErrPIN: a PIN given for seeding is not 4–12 digits.
	ErrPIN = errors.New("hsm: PIN must be 4 to 12 digits")
	// ErrUnknownTerminal: no TMK is configured for the terminal.
	ErrUnknownTerminal = errors.New("hsm: terminal has no master key")
	// ErrTMKCheck: the terminal's TMK check value is not the host's.
	ErrTMKCheck = errors.New("hsm: TMK check value mismatch")
	// ErrStoredKey: a stored working key does not open under the LMK for
	// its terminal and role (altered, moved, or stored under another LMK).
	ErrStoredKey = errors.New("hsm: stored key does not open under the LMK")
	// ErrMAC: a MAC does not verify.
	ErrMAC = errors.New("hsm: MAC does not verify")
)

// Keys are the HSM's configured keys; see the package documentation.
type Keys struct {
	PVK  []byte            // PIN verification key, at least MinPVKLen bytes
	LMK  []byte            // local master key, AES: 16, 24 or 32 bytes
	TMKs map[string][]byte // terminal id → terminal master key (TDES, 16 or 24 bytes)
}

// HSM holds the keys. It is safe for concurrent use.
type HSM struct {
	pvk      []byte
	lmk      cipher.AEAD
	lmkCheck []byte
	tmks     map[string][]byte
	codeKey  []byte // keys the MACs of stored one-time codes (codes.go)
}

// New checks the keys and returns an HSM holding copies of them.
func New(k Keys) (*HSM, error) {
	if len(k.PVK) < MinPVKLen {
		return nil, fmt.Errorf("%w: PVK must be at least %d bytes", ErrKey, MinPVKLen)
	}
	switch len(k.LMK) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("%w: LMK must be an AES key of 16, 24 or 32 bytes", ErrKey)
	}
	block, err := aes.NewCipher(k.LMK)
	if err != nil {
		return nil, fmt.Errorf("%w: LMK: %w", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: LMK: %w", ErrKey, err)
	}
	check, err := pinblock.KCVAES(k.LMK)
	if err != nil {
		return nil, fmt.Errorf("%w: LMK: %w", ErrKey, err)
	}
	h := &HSM{pvk: bytes.Clone(k.PVK), lmk: aead, lmkCheck: check, tmks: make(map[string][]byte, len(k.TMKs)),
		codeKey: deriveCodeKey(k.LMK)}
	for id, tmk := range k.TMKs {
		if id == "" {
			return nil, fmt.Errorf("%w: TMK for an empty terminal id", ErrKey)
		}
		if err := keyexchange.CheckTDESKey(tmk); err != nil {
			return nil, fmt.Errorf("%w: TMK of %s: %w", ErrKey, id, err)
		}
		h.tmks[id] = bytes.Clone(tmk)
	}
	return h, nil
}

// LMKCheck returns the LMK's check value: the first 3 bytes of the LMK
// encrypting 16 zero bytes (AES).
func (h *HSM) LMKCheck() []byte { return bytes.Clone(h.lmkCheck) }

// Terminals returns the ids of the terminals with a TMK, sorted.
func (h *HSM) Terminals() []string {
	ids := make([]string, 0, len(h.tmks))
	for id := range h.tmks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// TMKCheck returns the check value of a terminal's TMK.
func (h *HSM) TMKCheck(terminal string) ([]byte, error) {
	tmk, ok := h.tmks[terminal]
	if !ok {
		return nil, ErrUnknownTerminal
	}
	return keyexchange.TDESCheck(tmk)
}

// CheckTMK returns nil when the terminal has a TMK whose check value is
// check, ErrUnknownTerminal when it has none, ErrTMKCheck otherwise.
func (h *HSM) CheckTMK(terminal string, check []byte) error {
	want, err := h.TMKCheck(terminal)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, check) {
		return ErrTMKCheck
	}
	return nil
}

// Working key roles, bound into their stored form.
const (
	roleTPK = "TPK"
	roleTAK = "TAK"
	roleTDK = "TDK"
)

// WorkingKeys are one terminal's working keys in the form the database
// keeps them: each encrypted under the LMK and bound to the terminal and
// its role (see the package documentation), with the check values the
// terminal was given.
type WorkingKeys struct {
	Terminal      string
	TPK, TAK, TDK []byte // LMK cryptograms
	TPKCheck      []byte // TDES check value
	TAKCheck      []byte // TDES check value
	TDKCheck      []byte // keyexchange.TDKCheck
}

// ExchangeKeys generates fresh working keys for a terminal and returns
// them twice: under its TMK, for the 0810 (field 48, keyexchange), and
// under the LMK, for the database. No clear key outlives the call.
func (h *HSM) ExchangeKeys(terminal string) (keyexchange.Response, WorkingKeys, error) {
	tmk, ok := h.tmks[terminal]
	if !ok {
		return keyexchange.Response{}, WorkingKeys{}, ErrUnknownTerminal
	}
	k, err := keyexchange.Generate(rand.Reader)
	if err != nil {
		return keyexchange.Response{}, WorkingKeys{}, fmt.Errorf("hsm: %w", err)
	}
	defer k.Wipe()
	resp, err := keyexchange.Wrap(tmk, k)
	if err != nil {
		return keyexchange.Response{}, WorkingKeys{}, fmt.Errorf("hsm: %w", err)
	}
	wk := WorkingKeys{Terminal: terminal, TPKCheck: resp.TPKCheck, TAKCheck: resp.TAKCheck, TDKCheck: resp.TDKCheck}
	for _, e := range []struct {
		dst  *[]byte
		role string
		key  []byte
	}{{&wk.TPK, roleTPK, k.TPK}, {&wk.TAK, roleTAK, k.TAK}, {&wk.TDK, roleTDK, k.TDK}} {
		if *e.dst, err = h.seal(terminal, e.role, e.key); err != nil {
			return keyexchange.Response{}, WorkingKeys{}, err
		}
	}
	return resp, wk, nil
}

// aad binds a stored key to its terminal and role.
func aad(terminal, role string) []byte {
	return []byte("atmd-host-working-key-v1\x00" + terminal + "\x00" + role)
}

// seal encrypts key under the LMK: a 12-byte random nonce followed by
// the AES-GCM ciphertext and tag.
func (h *HSM) seal(terminal, role string, key []byte) ([]byte, error) {
	nonce := make([]byte, h.lmk.NonceSize(), h.lmk.NonceSize()+len(key)+h.lmk.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("hsm: nonce: %w", err)
	}
	return h.lmk.Seal(nonce, nonce, key, aad(terminal, role)), nil
}

// open decrypts a key sealed for terminal and role; the caller wipes it.
func (h *HSM) open(terminal, role string, sealed []byte) ([]byte, error) {
	n := h.lmk.NonceSize()
	if len(sealed) < n+h.lmk.Overhead() {
		return nil, fmt.Errorf("%w: %s of %s", ErrStoredKey, role, terminal)
	}
	key, err := h.lmk.Open(nil, sealed[:n], sealed[n:], aad(terminal, role))
	if err != nil {
		return nil, fmt.Errorf("%w: %s of %s", ErrStoredKey, role, terminal)
	}
	return key, nil
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

// VerifyPIN opens a format 0 PIN block for pan under the terminal's TPK
// and reports whether the PIN matches pvv. It returns ErrBlock when the
// block is not a well-formed PIN block for pan under that TPK (a block
// made under a previous TPK is one), and ErrStoredKey when the TPK does
// not open.
func (h *HSM) VerifyPIN(wk WorkingKeys, pan string, block, pvv []byte) (bool, error) {
	tpk, err := h.open(wk.Terminal, roleTPK, wk.TPK)
	if err != nil {
		return false, err
	}
	defer pinblock.Wipe(tpk)
	pin, err := pinblock.DecryptFormat0(tpk, block, []byte(pan))
	if err != nil {
		return false, ErrBlock
	}
	got := h.pvv(pan, pin)
	pinblock.Wipe(pin)
	return hmac.Equal(got, pvv), nil
}

// OpenPINBlock opens a format 0 PIN block for pan under the terminal's
// TPK and returns the digits keyed: a one-time code the customer keyed
// as a PIN, or a new PIN to be checked against policy before its PVV is
// made. It is the only method that hands out clear digits; the caller
// compares or checks them at once, wipes them (pinblock.Wipe) and never
// logs or stores them. It returns ErrBlock when the block is not a
// well-formed PIN block for pan under that TPK, and ErrStoredKey when the
// TPK does not open.
func (h *HSM) OpenPINBlock(wk WorkingKeys, pan string, block []byte) ([]byte, error) {
	tpk, err := h.open(wk.Terminal, roleTPK, wk.TPK)
	if err != nil {
		return nil, err
	}
	defer pinblock.Wipe(tpk)
	digits, err := pinblock.DecryptFormat0(tpk, block, []byte(pan))
	if err != nil {
		return nil, ErrBlock
	}
	return digits, nil
}

// DispenseToken signs the dispense token for an approved withdrawal with
// the terminal's TDK. d.ATM must be the terminal the keys belong to.
func (h *HSM) DispenseToken(wk WorkingKeys, d dispenser.TokenData) ([]byte, error) {
	if d.ATM != wk.Terminal {
		return nil, fmt.Errorf("%w: token for %s signed with the keys of %s", ErrKey, d.ATM, wk.Terminal)
	}
	tdk, err := h.open(wk.Terminal, roleTDK, wk.TDK)
	if err != nil {
		return nil, err
	}
	defer pinblock.Wipe(tdk)
	return dispenser.SignToken(tdk, d), nil
}

// MAC returns the retail MAC (ISO 9797-1 algorithm 3, internal/mac) of
// data under the terminal's TAK.
func (h *HSM) MAC(wk WorkingKeys, data []byte) ([]byte, error) {
	tak, err := h.open(wk.Terminal, roleTAK, wk.TAK)
	if err != nil {
		return nil, err
	}
	defer pinblock.Wipe(tak)
	m, err := mac.RetailMAC(tak, data)
	if err != nil {
		return nil, fmt.Errorf("hsm: %w", err)
	}
	return m, nil
}

// VerifyMAC returns nil when m is the MAC of data under the terminal's
// TAK, and an error wrapping ErrMAC (or ErrStoredKey) otherwise.
func (h *HSM) VerifyMAC(wk WorkingKeys, data, m []byte) error {
	want, err := h.MAC(wk, data)
	if err != nil {
		return err
	}
	if !mac.Equal(want, m) {
		return ErrMAC
	}
	return nil
}
