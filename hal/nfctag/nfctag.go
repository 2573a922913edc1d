// Package nfctag is the contract for the ATM's NFC tag emitter: a reader
// in card-emulation mode that presents an NFC Forum Type 4 tag carrying an
// NDEF message to a phone that touches it.
//
// The flows publish a new message for each cardless session (a URI with
// the session and an Android Application Record for the bank's app) and
// wait for a phone to read it. Clear withdraws the message.
package nfctag

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal"
)

// MaxNDEF is the largest NDEF message the contract guarantees to carry.
const MaxNDEF = 1024

// Capabilities declares what the tag can carry.
type Capabilities struct {
	MaxNDEF int // bytes
}

// Tag is an NFC tag emitter.
type Tag interface {
	hal.Device
	Capabilities() Capabilities
	// Publish replaces the NDEF message the tag presents.
	Publish(ctx context.Context, ndef []byte) error
	// Clear withdraws the message; a phone that touches gets nothing.
	Clear(ctx context.Context) error
	// WaitRead blocks until a phone has read the whole current message.
	WaitRead(ctx context.Context) error
}

// Errors.
var (
	ErrTooLarge  = errors.New("nfctag: NDEF message too large")
	ErrNoMessage = errors.New("nfctag: no message published")
)

// CheckMessage validates a message to publish on a tag that carries at
// most maxNDEF bytes: an empty message, or a longer one (ErrTooLarge), is
// an invalid request. Implementations call it before touching the tag, so
// they all reject alike.
func CheckMessage(ndef []byte, maxNDEF int) error {
	if len(ndef) == 0 {
		return fmt.Errorf("nfctag: empty NDEF message: %w", hal.ErrInvalid)
	}
	if len(ndef) > maxNDEF {
		return fmt.Errorf("%w (%d bytes, at most %d): %w", ErrTooLarge, len(ndef), maxNDEF, hal.ErrInvalid)
	}
	return nil
}
