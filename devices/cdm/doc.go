// Package cdm drives a cash dispenser (CDM) over a serial line, speaking
// the framed protocol of docs/devices/framing.md and
// docs/devices/dispenser.md through github.com/tarm/serial. It implements
// the hal/dispenser contract; the wire simulator in sim/wire/cdm is an
// independent implementation of the same pages.
//
// # The end-to-end token
//
// The device, not this driver, decides whether notes move. Nonce asks the
// device for a nonce (it saves its counter before the nonce leaves it);
// Dispense carries the host's token to the device, which checks it
// against the ATM id, the transaction, the amount, the currency and that
// nonce. The driver never checks, signs or logs tokens. A refusal comes
// back as dispenser.ErrBadToken and moves nothing; the device keeps its
// own record of the attempt.
//
// # The link
//
// One goroutine reads the port: it answers every well-formed frame with
// ACK and every damaged one with NAK, passes responses to the command
// waiting for them, and turns CASH-TAKEN events into a wake-up for
// WaitTaken. tarm/serial's reads time out every 100 ms and then return
// 0, io.EOF: that is a quiet line, not the end of it. Commands go out one
// at a time, numbered 1..255 (never 0), each sent up to three times until
// ACKed; the first command after opening the port is STATUS, so its SEQ
// cannot collide with the last frame a device (that outlived a restart of
// atmd) executed. When a command was ACKed but no good response came in
// its time, the driver sends the very same frame again (same SEQ): the
// device answers it from its stored response and never executes it twice.
//
// # Cancellation
//
// Every call honours its context until its command goes out. Queries
// (STATUS, CASSETTES, NONCE, LAST-DISPENSE) and WaitTaken stop at once
// when it ends. A command that moves the mechanism or changes the
// device's memory — DISPENSE, TEST-DISPENSE, PRESENT, RETRACT,
// CLOSE-SHUTTER, HALT, LOAD, LOAD-KEY, DELETE-KEY — is waited for once sent, bounded
// by its response time: abandoning it would leave cash unaccounted for, or
// report a failure for something the device did. Halt runs even with an
// ended context (it is how a stopping daemon makes the device safe).
//
// # A DISPENSE whose response is lost
//
// The driver never sends a DISPENSE again with a new SEQ. Once the frame
// has gone out it waits for the outcome (bounded by Options.DispenseTimeout
// plus Options.NoteTime per note). If neither the response
// nor its repeat arrives, it asks LAST-DISPENSE and matches the device's
// record by command, SEQ, frame CRC and nonce: a match is the outcome
// (exact notes; a partial dispense is a *dispenser.PartialError); a record
// of something else means the device picked no note for it (refused or
// never received: it records only dispenses that pick) and nothing moved.
// If the device cannot be asked, Dispense fails with ErrOutcomeUnknown
// inside a *hal.Fault, Status carries Extra["dispense.outcome"] =
// "unknown", and the driver settles it (and logs what moved) as soon as
// the device answers again.
//
// # Optional abilities
//
// Dev is a dispenser.Recoverer: LastDispense reports the device's own
// record of its last dispense and where the notes are (picking, stacked,
// presented, taken, retracted), kept in the device's non-volatile memory,
// so that after a crash of atmd the recovery can tell whether the
// customer got the cash. It is a dispenser.KeyLoader: LoadKey loads the
// terminal master key as components and the dispense key under it, and
// returns the device's check values, and a dispenser.KeyDeleter
// (DeleteKey, before a new master key). TestDispense (notes straight into
// the reject bin, no token, dispenser.Tester), Load (replenishment,
// dispenser.Loader) and RetractCount (dispenser.RetractCounter) serve the
// maintenance menu.
//
// # Faults, Status and recovery
//
// Every failure is typed. Transport trouble is a *hal.Fault with code
// DSP-OFFLINE (port missing or gone, no ACK; wraps hal.ErrOffline),
// DSP-TIMEOUT (ACK but no response; wraps hal.ErrTimeout) or DSP-PROTOCOL
// (damaged frames, NAKs, a response that does not parse; wraps
// ErrProtocol, Raw holds the bytes), and Status turns Offline with that
// code. Device faults come back as the device reports them (DSP-JAM,
// DSP-SHUTTER wrapping dispenser.ErrShutter, DSP-PICK, DSP-STORAGE), and
// Status shows the device's own state; DSP-CASS-LOW and DSP-CASS-EMPTY are
// derived from the cassettes while the device reports no fault. A
// background poll (Options.Poll) keeps Status fresh, reopens a port that
// vanished and brings the driver back by itself when the device answers;
// commands reopen the port too. Status never blocks.
//
// A DISPENSE refused because its frame cannot carry the request (a field
// too long, a cassette id over 65535) fails with hal.ErrInvalid before
// anything is sent; the outstanding nonce then stays outstanding until a
// newer one or HALT voids it.
//
// NewSerial starts the driver even when the port is missing (Offline,
// DSP-OFFLINE, retrying); Close stops it. Logging goes to Options.Log
// (zerolog); no token, nonce or key is ever logged.
package cdm
