// Package pcsc drives a chip card reader through PC/SC (pcscd, via
// github.com/ebfe/scard) and runs atmd's EMV contact kernel on the card.
// It implements cardreader.Reader and cardreader.ChipAuthenticator.
//
// Open starts the driver on a reader named by Options.Reader (a name or
// a prefix; "" is the first reader). A watcher goroutine with a PC/SC
// context of its own follows the reader with SCardGetStatusChange: it
// reports Offline with fault CRD-OFFLINE when pcscd stops or the reader
// goes away, and re-establishes its context every Options.Retry until
// they are back, so the driver recovers by itself. Each card session
// has a PC/SC context of its own too, so a card that does not answer
// holds up nothing but itself.
//
// # The EMV kernel
//
// Accept waits for a card, connects (exclusive, T=0 or T=1) and reads
// it: application selection through the PSE directory or the terminal's
// AID list (Options.AIDs, with partial selection), GET PROCESSING
// OPTIONS with the PDOL filled from Options.Terminal, and READ RECORD of
// every record the AFL names; it returns PAN, PAN sequence number,
// expiry, track 2 equivalent data and name. GenerateAC, while the card
// is still in session, fills CDOL1 from the transaction and the
// terminal, issues GENERATE AC for an ARQC and returns the field 55 chip
// data. GET RESPONSE (61xx) and wrong-length (6Cxx) answers of T=0 cards
// are followed. The kernel is online-only: no offline data
// authentication, no terminal action analysis. docs/devices/pcsc.md is
// the protocol document, with a byte-level example that is a test here
// and in the virtual card (sim/wire/vcard), an independent
// implementation of the same page.
//
// # A reader without a motor
//
// A PC/SC dip reader cannot move the card. Eject ends the card session
// (the card is powered down) and leaves the card presented where the
// customer put it; WaitTaken waits until pcscd reports the reader empty.
// Retain is hal.ErrUnsupported and Capabilities.Retain is false, unless
// Options.Motor names the vendor escape commands (sent with SCardControl)
// that move and capture cards. Slot and Changed expose whether Accept is
// waiting and where the card is, for a guidance light or a test harness.
//
// # Errors
//
// A card pulled out during a read or before GenerateAC is
// cardreader.ErrCardRemoved. A card the kernel cannot read is
// cardreader.ErrUnreadable and stays presented; when it broke the
// protocol the error also carries a *hal.Fault with code CRD-PROTOCOL (a
// *CardError says which step and status word), and one that does not
// answer within Options.APDUTimeout a *hal.Fault CRD-TIMEOUT. Status
// reports the faults as the table in docs/devices/pcsc.md says. Errors
// and logs never carry a clear PAN or record data.
package pcsc
