package flows

import (
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
)

// Effect is something the runner must do, returned by Machine.Step.
type Effect interface{ isEffect() }

// Show replaces the customer screen.
type Show struct{ Screen display.Screen }

// EntryMode says what input the PIN pad should take.
type EntryMode int

// Entry modes.
const (
	EntryNone EntryMode = iota // stop any entry
	EntryKeys                  // wait for one of Keys (KeyPressed)
	EntryData                  // clear digits (Echo…, DataEntered)
	EntryPIN                   // secure PIN or code (Echo…, PINEntered)
)

// Entry arms the PIN pad, cancelling any entry in progress.
type Entry struct {
	Mode   EntryMode
	Keys   []pinpad.Key // EntryKeys: the active keys
	MaxLen int          // EntryData/EntryPIN
	MinLen int          // EntryPIN
	PAN    string       // EntryPIN: the account the block is bound to
	// Terminators (EntryPIN) are function keys that end the entry
	// without a PIN block; the runner reports the key as KeyPressed.
	Terminators []pinpad.Key
}

// AcceptCard enables (On) or disables the card slot.
type AcceptCard struct{ On bool }

// EjectCard gives the card back; the runner reports CardEjected, then
// CardTaken when the customer pulls it.
type EjectCard struct{}

// RetainCard captures the card (cancelling a wait for it to be taken).
type RetainCard struct{}

// GetNonce asks the dispenser for a fresh nonce (NonceReady).
type GetNonce struct{}

// SendHost sends a request to the host (HostReply).
type SendHost struct{ Req Request }

// Dispense asks the dispenser to stack notes (Dispensed).
type Dispense struct{ Req dispenser.DispenseRequest }

// PresentCash opens the shutter; the runner reports CashPresented, then
// CashTaken.
type PresentCash struct{}

// RetractCash pulls presented or stacked notes into the retract bin
// (CashRetracted), cancelling a wait for them to be taken.
type RetractCash struct{}

// Print prints a receipt (ReceiptPrinted).
type Print struct{ Receipt printer.Receipt }

// Journal writes a journal record; it is on disk before the next effect.
type Journal struct {
	Kind   string
	Fields map[string]string
}

// Reverse asks the host link to reverse (fully, or down to Dispensed) the
// transaction ID; the runner owns delivery until it is acknowledged.
type Reverse struct {
	ID        string
	Reason    string // "timeout", "dispense-fault", "card-not-taken", "cash-not-taken"
	Dispensed int64  // amount that did reach the customer, minor units
}

// SessionEnded marks the end of a customer session, for the runner's
// bookkeeping and the phone's progress view.
type SessionEnded struct{ ID string }

func (Show) isEffect()         {}
func (Entry) isEffect()        {}
func (AcceptCard) isEffect()   {}
func (EjectCard) isEffect()    {}
func (RetainCard) isEffect()   {}
func (GetNonce) isEffect()     {}
func (SendHost) isEffect()     {}
func (Dispense) isEffect()     {}
func (PresentCash) isEffect()  {}
func (RetractCash) isEffect()  {}
func (Print) isEffect()        {}
func (Journal) isEffect()      {}
func (Reverse) isEffect()      {}
func (SessionEnded) isEffect() {}

// TxnKind is a kind of host transaction.
type TxnKind string

// Transaction kinds.
const (
	Withdrawal TxnKind = "withdrawal"
	Balance    TxnKind = "balance"
	// Activation is one step of the card activation dialogue (0100,
	// processing code 930000): Request.Step names it.
	Activation TxnKind = "activation"
)

// Request is a host request in the flows' terms; the runner maps it to
// ISO 8583.
type Request struct {
	ID       string // unique per transaction: the session id and a counter
	Kind     TxnKind
	Card     cardreader.Card
	PIN      pinpad.PINBlock
	Amount   int64  // minor units
	Currency string // ISO 4217 alpha
	Nonce    []byte // dispenser nonce, withdrawals only
	// Activation only: the step (hostlink.Step*), its field 48 tags
	// other than the step, and for the new-PIN step the second entry's
	// PIN block (PIN is the first).
	Step string
	Data map[string]string
	PIN2 pinpad.PINBlock
}

// Outcome is what the host's answer means to a customer.
type Outcome string

// Outcomes.
const (
	Approved          Outcome = "approved"
	Declined          Outcome = "declined"           // any other refusal
	WrongPIN          Outcome = "wrong-pin"          // re-enter
	PINTriesExceeded  Outcome = "pin-tries-exceeded" // retain the card
	InsufficientFunds Outcome = "insufficient-funds"
	LimitExceeded     Outcome = "limit-exceeded"
	CardRefused       Outcome = "card-refused" // blocked, expired, not activated: no further services
	Unavailable       Outcome = "unavailable"  // not sent: link down
	Unknown           Outcome = "unknown"      // sent, no answer: must be reversed
)

// Reply is the host's answer.
type Reply struct {
	ID        string
	Outcome   Outcome
	Code      string // ISO 8583 response code, for the journal and receipt
	STAN      string
	AuthCode  string
	Token     []byte
	Available int64 // available balance, minor units
	Ledger    int64 // ledger balance, minor units
	HasBal    bool
	Err       error // link error for Unavailable/Unknown
	// Reverse: the host approved but the approval cannot be used (no
	// dispense token): the flows decline and reverse it.
	Reverse bool
	// Data holds the field 48 tags of an activation reply.
	Data map[string]string
}
