// Package dispensertest holds a fake dispenser.Dispenser for unit tests of
// the withdrawal flows, and the conformance suite every implementation
// must pass (the fake, the in-process simulator, the serial driver against
// its simulator).
//
// The suite is first of all a security test of the end-to-end token: no
// note may move without a token the host signed, under the dispense key,
// over this ATM, this transaction, this amount and currency and the nonce
// the dispenser issued last. It tries a missing token, a token over
// another amount, ATM, transaction or currency, a forged or flipped
// token, a token under another key, a token for a nonce that a newer one
// voided, a replayed token and a nonce already burnt by a failed attempt;
// each time it checks through the far side (cassette counters, the tray,
// what customers took) that not a single note moved. Nonces must be unique
// over a thousand calls and, when the harness can reopen the device on
// the same state, across restarts.
//
// It also holds implementations to the cash cycle: a valid token stacks
// exactly the mix behind the shutter and the counters drop; Present shows
// it; WaitTaken returns once the customer took it, also when that
// happened first; Retract counts what it pulled back; with nothing
// stacked Present, WaitTaken and Retract fail with
// dispenser.ErrNothingStack; invalid mixes wrap hal.ErrInvalid and move
// nothing; an ended context stops every call; Halt closes the shutter
// without presenting or retracting anything and may be called twice.
package dispensertest
