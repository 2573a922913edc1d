// Package pinpadtest holds a fake PIN pad for unit tests of code that
// uses one, and the conformance suite every pinpad.PinPad — fake,
// simulator or driver — must pass.
//
// The far side of a PIN pad is a person pressing keys. A harness's Press
// follows the simulators' rule: each key waits until an entry (GetPIN,
// GetData or ReadKey) is active and would take that key, is handed over,
// and Press returns once the entry has dealt with it. So a test presses
// keys in order without sleeping, and a key that no entry takes (a
// function key during PIN entry that is not one of its terminators, an
// inactive key during ReadKey) blocks until the test's context ends.
//
// The suite pins down what the contract's doc comments leave open:
//
//   - Entry edits: CLEAR empties, BACKSPACE removes the last digit, ENTER
//     with fewer than MinLen digits and digits beyond MaxLen are ignored.
//     The echo gets only KeyMasked, CLEAR and BACKSPACE during GetPIN; the
//     digits, CLEAR and BACKSPACE during GetData.
//   - CANCEL ends GetPIN and GetData with hal.ErrCancelled; during
//     ReadKey it is a key like any other, returned when active.
//   - A PINRequest.Terminators key ends GetPIN at any point, digits keyed
//     or not, with no block and a *pinpad.TerminatedError naming it
//     (pinpad.ErrTerminated, not hal.ErrCancelled); the echo shows no
//     function key, and the next entry starts empty. Other function keys
//     are ignored and the PIN still completes. These tests need at least
//     four FDKs in Capabilities and are skipped otherwise.
//   - One entry at a time: a second entry while one is active is
//     hal.ErrBusy.
//   - Requests that fail PINRequest.Validate, DataRequest.Validate or
//     pinpad.ValidateActive are rejected with hal.ErrInvalid before any
//     entry starts; an unknown key is ErrNoKey; a format missing from
//     Capabilities.Formats is hal.ErrUnsupported.
//   - Halt ends an active entry with hal.ErrCancelled.
package pinpadtest
