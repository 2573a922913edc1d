// Package cardreader is the contract for a motorised card reader: accept
// and read a card, give it back, or keep it.
//
// The life of a card: Accept enables the slot and blocks until a card is
// inserted and read (or ctx ends, which disables the slot again); Eject
// moves the card to the slot's mouth; WaitTaken blocks until the customer
// pulls it out; Retain captures it into the bin (after too many wrong
// PINs, or when the customer leaves it). Halt ejects a card that is still
// inside — the safe state for a customer's card is in the customer's hand,
// never silently kept.
//
// Card carries card data; its String and zerolog forms mask the PAN, so
// logging a Card never leaks it.
package cardreader

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/internal/mask"
)

// Technology says how the card was read.
type Technology string

// Card technologies.
const (
	Chip      Technology = "chip"
	Magstripe Technology = "magstripe"
)

// Card is the data read from an inserted card.
type Card struct {
	PAN        string     // primary account number (clear: never log it)
	PANSeq     string     // PAN sequence number, "" when absent
	Expiry     string     // YYMM
	Track2     string     // track 2 equivalent data, ISO 7813 with '=' separator
	Name       string     // cardholder name
	Technology Technology // how it was read
	ATR        []byte     // answer to reset, chip cards only
	AID        []byte     // selected application, chip cards only
}

// String masks the PAN.
func (c Card) String() string {
	return string(c.Technology) + " card " + mask.PAN(c.PAN) + " exp " + c.Expiry
}

// MarshalZerologObject logs the card with its PAN masked and no track data.
func (c Card) MarshalZerologObject(e *zerolog.Event) {
	e.Str("pan", mask.PAN(c.PAN)).Str("exp", c.Expiry).Str("tech", string(c.Technology))
}

// Capabilities declares what the reader can do.
type Capabilities struct {
	Chip        bool // EMV contact chip
	Magstripe   bool // magnetic stripe
	Retain      bool // can capture cards into a bin
	BinCapacity int  // cards the retain bin holds
}

// TxnData is what GENERATE AC needs from the terminal.
type TxnData struct {
	Amount        int64  // minor units
	CurrencyCode  string // ISO 4217 numeric, e.g. "901"
	CountryCode   string // ISO 3166 numeric, e.g. "158"
	Date          string // YYMMDD
	Type          byte   // EMV transaction type, 0x01 cash
	Unpredictable [4]byte
}

// Reader is a card reader.
type Reader interface {
	hal.Device
	Capabilities() Capabilities
	// Accept enables the slot and waits for a card, then reads it. An
	// unreadable card is ejected and reported as ErrUnreadable.
	Accept(ctx context.Context) (Card, error)
	// Eject presents the card at the slot's mouth.
	Eject(ctx context.Context) error
	// WaitTaken blocks until the presented card has been removed.
	WaitTaken(ctx context.Context) error
	// Retain captures the card into the bin.
	Retain(ctx context.Context) error
}

// ChipAuthenticator is the optional ability to run EMV GENERATE AC and
// return the ARQC and chip data for field 55 (BER-TLV).
type ChipAuthenticator interface {
	GenerateAC(ctx context.Context, txn TxnData) ([]byte, error)
}

// Errors the flows branch on.
var (
	ErrNoCard      = errors.New("cardreader: no card in the reader")
	ErrUnreadable  = errors.New("cardreader: card could not be read")
	ErrCardRemoved = errors.New("cardreader: card removed during the operation")
	ErrBinFull     = errors.New("cardreader: retain bin full")
)
