// Package cardreadertest holds a fake card reader for unit tests of code
// that uses one, and the conformance suite every cardreader.Reader —
// fake, simulator or driver — must pass.
//
// The suite pins down what the contract's doc comments leave open:
//
//   - Accept with a card already in the reader (inside or presented) is
//     an invalid request (hal.ErrInvalid); the card stays where it is.
//   - When Accept's context ends the slot is disabled: a card cannot be
//     inserted until the next Accept.
//   - Eject of a card already presented is a no-op; Eject and Retain of
//     an empty reader are ErrNoCard.
//   - WaitTaken on an empty reader returns nil at once: the card is not
//     in the reader.
//   - Retain on a reader without Capabilities.Retain is hal.ErrUnsupported;
//     once the bin holds Capabilities.BinCapacity cards, Retain is
//     ErrBinFull and the card stays in the reader.
//   - Halt presents a card that is inside and disables the slot.
//   - A command called with a context that has already ended does
//     nothing and returns an error wrapping the context's error.
package cardreadertest
