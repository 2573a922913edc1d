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
