// Package pinpad is the contract for an encrypting PIN pad (EPP) and the
// function keys beside the screen.
//
// A PIN, or any secret code (activation code, delegate code), never
// leaves the PIN pad in clear: GetPIN returns only an encrypted ISO 9564
// PIN block, and its echo reports '*' for each digit. GetData is for
// values that are not secret (amounts, phone numbers, birth dates) and
// echoes the digits. ReadKey waits for a function key or menu choice.
//
// A PIN entry may also be ended by a function key instead of a PIN (the
// screen asking for the PIN offers "Activate a new card" beside it, as
// XFS's terminate FDKs do): PINRequest.Terminators names those keys, and
// GetPIN then returns a *TerminatedError naming the key pressed, with no
// PIN block; the digits keyed so far are wiped inside the PIN pad.
package pinpad

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/atmd/atmd/hal"
)

// Key is a key on the PIN pad or a function display key (FDK).
type Key string

// Keys. Digits are "0".."9"; FDKs are "F1".."F8", numbered top to bottom,
// left side first.
const (
	KeyEnter     Key = "ENTER"
	KeyCancel    Key = "CANCEL"
	KeyClear     Key = "CLEAR"
	KeyBackspace Key = "BACKSPACE"
	KeyMasked    Key = "*" // echo of a secret digit
	F1           Key = "F1"
	F2           Key = "F2"
	F3           Key = "F3"
	F4           Key = "F4"
	F5           Key = "F5"
	F6           Key = "F6"
	F7           Key = "F7"
	F8           Key = "F8"
)

// IsDigit reports whether k is "0".."9".
func (k Key) IsDigit() bool { return len(k) == 1 && k[0] >= '0' && k[0] <= '9' }

// IsFDK reports whether k is a function display key F1..F8.
func (k Key) IsFDK() bool { return len(k) == 2 && k[0] == 'F' && k[1] >= '1' && k[1] <= '8' }

// Valid reports whether k names a key of this contract.
func (k Key) Valid() bool {
	switch k {
	case KeyEnter, KeyCancel, KeyClear, KeyBackspace:
		return true
	}
	return k.IsDigit() || k.IsFDK()
}

// Format is an ISO 9564 PIN block format.
type Format int

// PIN block formats.
const (
	// ISO0 is ISO 9564 format 0, 8 bytes, encrypted with TDES.
	ISO0 Format = 0
	// ISO4 is ISO 9564 format 4, 16 bytes, encrypted with AES.
	ISO4 Format = 4
)

// PINRequest asks for secure entry.
type PINRequest struct {
	PAN    string // account the block is bound to (clear; never logged)
	MinLen int    // shortest accepted entry, 4..12
	MaxLen int    // longest accepted entry, MinLen..12; entry stops there
	Format Format // ISO0 or ISO4
	Key    string // name of the loaded PIN key to encrypt under
	// Terminators are function display keys (F1..F8, at most eight,
	// none twice) that end the entry without a PIN block: GetPIN returns
	// a *TerminatedError naming the key. Other FDKs stay ignored.
	Terminators []Key
}

// PINBlock is an encrypted PIN block as it leaves the PIN pad.
type PINBlock struct {
	Format Format
	Key    string // name of the key it is encrypted under
	Block  []byte // 8 bytes (ISO0) or 16 bytes (ISO4) of ciphertext
}

// DataRequest asks for clear digit entry.
type DataRequest struct {
	MaxLen int // entry stops accepting digits at MaxLen
	// Terminators end entry and are returned with the digits, in
	// addition to ENTER (which ends entry) and CANCEL (ErrCancelled).
	Terminators []Key
}

// Data is the result of GetData.
type Data struct {
	Digits     string
	Terminator Key // ENTER or one of DataRequest.Terminators
}

// Capabilities declares what the PIN pad can do.
type Capabilities struct {
	Formats []Format // PIN block formats supported
	FDKs    int      // number of function display keys
	Beeper  bool
}

// PinPad is an encrypting PIN pad with function keys.
type PinPad interface {
	hal.Device
	Capabilities() Capabilities
	// GetPIN runs secure entry until ENTER with MinLen..MaxLen digits.
	// CLEAR empties the entry, BACKSPACE removes a digit, CANCEL returns
	// hal.ErrCancelled. One of req.Terminators, pressed at any time, ends
	// the entry with (PINBlock{}, &TerminatedError{Key: k}) and wipes the
	// digits keyed so far inside the PIN pad; function keys that are not
	// terminators are ignored. echo (may be nil) receives KeyMasked per
	// digit and the editing keys, never a digit nor the terminator.
	GetPIN(ctx context.Context, req PINRequest, echo func(Key)) (PINBlock, error)
	// GetData runs clear digit entry; echo receives each key.
	GetData(ctx context.Context, req DataRequest, echo func(Key)) (Data, error)
	// ReadKey waits for one of the active keys and returns it; other
	// keys are ignored.
	ReadKey(ctx context.Context, active []Key) (Key, error)
}

// KeyLoader is the optional ability to load keys. Keys arrive encrypted
// under a key-encryption key already in the PIN pad (or as clear
// components for the master key, under dual control); the PIN pad answers
// with the key check value.
type KeyLoader interface {
	// LoadKey stores a key encrypted under kek (kek "" loads a clear
	// component, XORed into name). It returns the key's check value.
	LoadKey(ctx context.Context, name, kek string, value []byte) (kcv []byte, err error)
}

// MACer is the optional ability to compute message authentication codes
// with a MAC key held in the PIN pad, so the key never leaves it: ISO
// 9797-1 MAC algorithm 3 (ANSI X9.19) for a double-length TDES key,
// 8 bytes. The host link signs and checks financial messages with it.
type MACer interface {
	MAC(ctx context.Context, key string, data []byte) ([]byte, error)
}

// KeyChecker is the optional ability to report a loaded key's check
// value (never the key).
type KeyChecker interface {
	KCV(ctx context.Context, name string) ([]byte, error)
}

// KeyDeleter is the optional ability to erase a key (its bytes
// overwritten), so that a new master key can be loaded as components; a
// key that is not loaded is ErrNoKey.
type KeyDeleter interface {
	DeleteKey(ctx context.Context, name string) error
}

// Errors.
var (
	ErrNoKey       = errors.New("pinpad: key not loaded")
	ErrBadRequest  = errors.New("pinpad: bad entry request")
	ErrKCVMismatch = errors.New("pinpad: key check value mismatch")
	// ErrTerminated: a PIN entry was ended by one of its terminators
	// (PINRequest.Terminators); the error is a *TerminatedError.
	ErrTerminated = errors.New("pinpad: entry ended by a function key")
)

// TerminatedError is GetPIN's answer when the customer pressed one of
// PINRequest.Terminators instead of finishing the PIN. It is not a
// fault: the customer chose another option. It unwraps to ErrTerminated.
type TerminatedError struct {
	Key Key // the terminator pressed, F1..F8
}

// Error names the key.
func (e *TerminatedError) Error() string {
	return "pinpad: entry ended by function key " + string(e.Key)
}

// Unwrap returns ErrTerminated.
func (e *TerminatedError) Unwrap() error { return ErrTerminated }

// EntryKey reports whether k is a key that PIN or data entry takes: a
// digit, ENTER, CANCEL, CLEAR or BACKSPACE.
func EntryKey(k Key) bool {
	switch k {
	case KeyEnter, KeyCancel, KeyClear, KeyBackspace:
		return true
	}
	return k.IsDigit()
}

// EditEntry applies CLEAR or BACKSPACE to the digits entered so far,
// zeroing what it removes (they may be PIN digits), and echoes the key
// when it edited. Any other key leaves digits as they are.
func EditEntry(k Key, digits []byte, echo func(Key)) []byte {
	switch {
	case k == KeyClear:
		for i := range digits {
			digits[i] = 0
		}
		digits = digits[:0]
	case k == KeyBackspace && len(digits) > 0:
		digits[len(digits)-1] = 0
		digits = digits[:len(digits)-1]
	default:
		return digits
	}
	if echo != nil {
		echo(k)
	}
	return digits
}

// Takes reports whether PIN entry for r takes k: an EntryKey or one of
// r.Terminators. Other keys (function keys that are not terminators) are
// ignored during PIN entry.
func (r PINRequest) Takes(k Key) bool { return EntryKey(k) || r.Terminates(k) }

// Terminates reports whether k is one of r.Terminators.
func (r PINRequest) Terminates(k Key) bool { return slices.Contains(r.Terminators, k) }

// Validate checks a PIN request against the contract, above the driver:
// lengths, format, PAN, and terminators that are distinct FDKs, at most
// eight.
func (r PINRequest) Validate() error {
	if r.MinLen < 4 || r.MaxLen > 12 || r.MinLen > r.MaxLen {
		return errors.Join(ErrBadRequest, hal.ErrInvalid, errors.New("pinpad: PIN length must be within 4..12"))
	}
	if r.Format != ISO0 && r.Format != ISO4 {
		return errors.Join(ErrBadRequest, hal.ErrInvalid, errors.New("pinpad: unknown PIN block format"))
	}
	if len(r.PAN) < 12 || len(r.PAN) > 19 {
		return errors.Join(ErrBadRequest, hal.ErrInvalid, errors.New("pinpad: PIN block needs a 12-19 digit PAN"))
	}
	if len(r.Terminators) > 8 {
		return fmt.Errorf("pinpad: %d PIN entry terminators, at most 8: %w: %w", len(r.Terminators), ErrBadRequest, hal.ErrInvalid)
	}
	for i, k := range r.Terminators {
		if !k.IsFDK() {
			return fmt.Errorf("pinpad: %q cannot terminate PIN entry, only F1..F8: %w: %w", k, ErrBadRequest, hal.ErrInvalid)
		}
		if slices.Contains(r.Terminators[:i], k) {
			return fmt.Errorf("pinpad: PIN entry terminator %s given twice: %w: %w", k, ErrBadRequest, hal.ErrInvalid)
		}
	}
	return nil
}

// Validate checks a data entry request against the contract, above the
// driver: MaxLen within 1..32, and terminators that are valid keys other
// than digits and the editing keys (CANCEL, CLEAR, BACKSPACE).
func (r DataRequest) Validate() error {
	if r.MaxLen < 1 || r.MaxLen > 32 {
		return fmt.Errorf("pinpad: data entry length must be within 1..32: %w: %w", ErrBadRequest, hal.ErrInvalid)
	}
	for _, k := range r.Terminators {
		if !k.Valid() || k.IsDigit() || k == KeyCancel || k == KeyClear || k == KeyBackspace {
			return fmt.Errorf("pinpad: %q cannot terminate data entry: %w: %w", k, ErrBadRequest, hal.ErrInvalid)
		}
	}
	return nil
}

// ValidateActive checks the active keys of a ReadKey request: at least
// one, all valid key names.
func ValidateActive(active []Key) error {
	if len(active) == 0 {
		return fmt.Errorf("pinpad: no active keys: %w: %w", ErrBadRequest, hal.ErrInvalid)
	}
	for _, k := range active {
		if !k.Valid() {
			return fmt.Errorf("pinpad: unknown key %q: %w: %w", k, ErrBadRequest, hal.ErrInvalid)
		}
	}
	return nil
}
