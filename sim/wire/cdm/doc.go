// Package cdm simulates a cash dispenser at the far end of a serial line
// (simulation level L2): it speaks the protocol of
// docs/devices/framing.md and docs/devices/dispenser.md byte for byte, so
// the real driver in devices/cdm runs against it unchanged over a
// pseudo-terminal (sim/wire.OpenPTY). It is an independent implementation
// of those pages: it shares no code with the driver.
//
// # The device
//
// New loads the cassettes, the dispense key, the ATM id and the state
// file; Serve speaks the protocol on an io.ReadWriter — the master side of
// a pseudo-terminal, or a serial port opened with blocking reads — until
// its context ends. The behaviour mirrors the in-process simulator
// (sim/devsim.Dispenser):
//
//   - Nonces are 16 bytes: an 8-byte counter saved to the state file
//     (temporary file, fsync, rename, fsync of the directory) before the
//     nonce leaves the device, then 8 random bytes; they never repeat,
//     across restarts too. A new nonce voids the previous one, as do HALT
//     and a restart.
//   - DISPENSE consumes the outstanding nonce once it gets past a jam
//     check, then checks the transport is empty, the mix
//     (dispenser.CheckMix) and the token (dispenser.VerifyToken over the
//     configured ATM id and the outstanding nonce); any failure moves no
//     note, and a token refusal is logged and kept (Refusals). Counters
//     are saved before the notes are reported stacked.
//   - Picking saves the counters and the dispense record before the first
//     note, after every note (when Options.PickTime is set) and at the
//     end; PRESENT, the customer's take, RETRACT and HALT save where the
//     notes went. LAST-DISPENSE reports that record; a restarted device
//     finds the notes where it says (stacked or presented).
//   - The device closes its shutter when the customer takes the notes and
//     sends CASH-TAKEN.
//   - TEST-DISPENSE picks notes straight into the reject bin without a
//     token; LOAD replaces the cassettes; LOAD-KEY loads the master key as
//     components and the dispense key under it; DELETE-KEY erases a key.
//     Loaded keys are kept in
//     memory only, as in the in-process simulator: after a restart the
//     configured Options.Key applies until keys are loaded again.
//
// The line: every well-formed frame is ACKed, a damaged one NAKed; a
// response or event is sent up to three times until ACKed; a
// byte-identical repeat of the last command is answered from the stored
// response and never executed twice; while a command runs (DISPENSE takes
// Options.PickTime per note) STATUS is answered with state busy and other
// commands get status 03.
//
// # Control surface
//
// Like sim/devsim: Take plays the customer; Tray, Taken, RetractBin,
// Counters and Refusals report; Load replenishes; SetPickFailure arms a
// partial dispense; Inject puts the device into DSP-OFFLINE (it falls
// silent), DSP-JAM, DSP-SHUTTER or DSP-PICK; Clear removes them.
//
// Test aids, for the driver's fault tests: GarbleNext (bad CRCs),
// TruncateNext (frames cut short), NakNext (commands refused as damaged),
// Stall (ACK without answer), DropDispenseResponses (a dispense runs but
// its response is lost, repeats included) and SendRaw (noise on the line).
package cdm
