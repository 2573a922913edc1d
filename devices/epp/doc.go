// Package epp drives an encrypting PIN pad (EPP) over a serial port with
// github.com/tarm/serial, speaking docs/devices/epp.md on top of the
// framing of docs/devices/framing.md. It implements pinpad.PinPad,
// pinpad.KeyLoader, pinpad.MACer and pinpad.KeyChecker. The wire simulator sim/wire/epp is an independent
// implementation of the same pages; the pages' byte-level example is a
// test of this package too.
//
// A PIN never passes through the driver: GetPIN returns the encrypted
// block the device sent, and the echo gets KeyMasked for every digit (a
// device that echoed a clear digit would see it masked and logged as an
// error, without the digit). PANs are masked in logs.
//
// PINRequest.Terminators go out as PIN-ENTRY's optional NT field (only
// when there are some, so a request without them is the frame it always
// was); the device answers a terminator pressed with 00 FF and its code,
// and GetPIN returns a *pinpad.TerminatedError naming it. Any other form
// of that answer is a PIN-PROTOCOL fault.
//
// # The link
//
// One goroutine reads the port: it splits the stream into ACK and NAK
// bytes and frames, ACKs every good frame and NAKs a bad or truncated
// one (a frame whose bytes stop for more than 100 ms), and hands each
// response to the command that waits for it by SEQ, KEY events to the
// running entry and STATUS events to Status. Commands are sent one frame
// at a time; each waits 300 ms for its ACK, is sent again after a NAK or
// silence, three times in all, and then waits for its response within the
// command's limit. Entries have no limit: the host cancels them. So other
// commands (GET-STATUS, CANCEL-ENTRY) run while an entry waits for keys.
//
// tarm/serial reads with a 100 ms timeout and reports a timed-out read as
// (0, io.EOF): that is "no data yet". A line that hangs up (a USB adapter
// pulled, a PTY closed) answers reads with nothing at once, again and
// again, and fails writes: either closes the link.
//
// # Faults and recovery
//
// Any failure closes the link and is reported as a *hal.Fault and in
// Status: PIN-OFFLINE (port missing or gone: state offline), PIN-TIMEOUT
// (no ACK after three transmissions, no response in time: offline),
// PIN-PROTOCOL (three bad frames in a row, every transmission NAKed, a
// malformed response: hardware-error). A fault the device reports (status
// 06, a STATUS event, GET-STATUS) is hardware-error with the device's
// code, e.g. PIN-TAMPER. Commands and entries in flight fail with the
// fault.
//
// A monitor goroutine checks every Options.Poll: with no link it opens the
// port and greets the device (GET-STATUS twice, CANCEL-ENTRY if an entry
// was left running); with a link that has been quiet it sends GET-STATUS.
// A command issued while there is no link tries to connect first. So the
// driver is online again by itself once the device answers. NewSerial
// greets once before it returns; Close stops the monitor.
//
// # Keys
//
// LOAD-KEY states the key's algorithm explicitly (epp.md). LoadKey, the
// contract method, takes it from Options.KeyAlgs by key name; a name not
// listed gets the KEK's algorithm under a KEK and TDES as a clear
// component. LoadKeyAlg states it per call. The check value returned is
// the one the device computed (TDES or AES, per the algorithm); comparing
// it with the expected one (pinpad.ErrKCVMismatch) is the caller's job.
// KCV asks the device for a loaded key's check value (KEY-CHECK).
//
// MAC has the device compute the ISO 9797-1 algorithm 3 MAC of a message
// under a named key, so the MAC key never leaves it; data longer than a
// frame goes in parts (epp.md, MAC), which one lock keeps together. MAC
// and KEY-CHECK run while an entry waits for keys, as host messages are
// signed and checked while a customer types.
package epp
