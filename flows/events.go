package flows

import (
	"time"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
)

// Event is something that happened, fed to Machine.Step.
type Event interface{ isEvent() }

// Tick tells the machine the time. The runner sends one every second and
// whenever the (possibly simulated) clock moves.
type Tick struct{ Now time.Time }

// Health is the runner's view of whether the ATM can serve: host link up,
// the first vital device that is not usable ("" when all are), the
// cassettes, whether receipts can be printed and whether the camera
// works (delegated withdrawal needs it).
type Health struct {
	HostUp    bool
	Down      string // name of a failed vital device, "" when none
	Cassettes []dispenser.Cassette
	PrinterOK bool
	CameraOK  bool
}

// CardInserted: a card was inserted and read.
type CardInserted struct{ Card cardreader.Card }

// CardFailed: a card was inserted but could not be read; the reader has
// already given it back.
type CardFailed struct{ Err error }

// CardEjected: the card is at the slot's mouth (Err: it could not be).
type CardEjected struct{ Err error }

// CardTaken: the customer took the card.
type CardTaken struct{}

// CardRetained: the card was captured (Err: it could not be).
type CardRetained struct{ Err error }

// KeyPressed: a function key or menu choice.
type KeyPressed struct{ Key pinpad.Key }

// Echo: a key was pressed during PIN or data entry. For PIN entry Key is
// pinpad.KeyMasked, never a digit.
type Echo struct{ Key pinpad.Key }

// PINEntered: secure entry finished with an encrypted PIN block.
type PINEntered struct{ Block pinpad.PINBlock }

// DataEntered: clear digit entry finished.
type DataEntered struct{ Data pinpad.Data }

// EntryCancelled: the customer pressed CANCEL during entry.
type EntryCancelled struct{}

// EntryFailed: the PIN pad failed during entry.
type EntryFailed struct{ Err error }

// NonceReady: the dispenser issued the nonce for the next dispense.
type NonceReady struct {
	Nonce []byte
	Err   error
}

// HostReply: the host answered a SendHost (or the link failed).
type HostReply struct{ Reply Reply }

// Dispensed: the dispenser stacked notes (Err: a fault; on a partial
// dispense Result says what moved).
type Dispensed struct {
	Result dispenser.Result
	Err    error
}

// CashPresented: the shutter opened (Err: it did not).
type CashPresented struct{ Err error }

// CashTaken: the customer took the notes.
type CashTaken struct{}

// CashRetracted: notes were pulled back into the retract bin.
type CashRetracted struct {
	Notes int
	Err   error
}

// ReceiptPrinted: the receipt was printed (Err: it was not).
type ReceiptPrinted struct{ Err error }

func (Tick) isEvent()           {}
func (Health) isEvent()         {}
func (CardInserted) isEvent()   {}
func (CardFailed) isEvent()     {}
func (CardEjected) isEvent()    {}
func (CardTaken) isEvent()      {}
func (CardRetained) isEvent()   {}
func (KeyPressed) isEvent()     {}
func (Echo) isEvent()           {}
func (PINEntered) isEvent()     {}
func (DataEntered) isEvent()    {}
func (EntryCancelled) isEvent() {}
func (EntryFailed) isEvent()    {}
func (NonceReady) isEvent()     {}
func (HostReply) isEvent()      {}
func (Dispensed) isEvent()      {}
func (CashPresented) isEvent()  {}
func (CashTaken) isEvent()      {}
func (CashRetracted) isEvent()  {}
func (ReceiptPrinted) isEvent() {}
