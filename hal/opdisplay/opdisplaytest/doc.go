// Package opdisplaytest holds a fake operator display for unit tests of
// code that uses one, and the conformance suite every opdisplay.Display —
// fake, simulator or driver — must pass.
//
// The suite pins down what the contract's doc comments leave open: Show
// with fewer lines than rows shows them from the top; text is measured in
// characters (runes), not bytes; text that does not fit is refused with
// opdisplay.ErrTooLong (which wraps hal.ErrInvalid) and the display keeps
// what it showed; a command with an ended context does nothing; Halt
// clears the display.
package opdisplaytest
