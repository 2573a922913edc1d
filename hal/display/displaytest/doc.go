// Package displaytest holds a fake customer display for unit tests of
// code that uses one, and the conformance suite every display.Display —
// fake, simulator or renderer — must pass.
//
// The suite pins down what the contract's doc comments leave open:
//
//   - Show rejects a screen that fails Screen.Validate with hal.ErrInvalid
//     and a QR code on a display without Capabilities.QR with
//     hal.ErrUnsupported; the screen shown before stays.
//   - Show with a context that has already ended shows nothing.
//   - A display with Capabilities.Touch implements display.Touch; a touch
//     on a key bound to a menu item of the current screen arrives on
//     Touches, a touch anywhere else is refused.
//   - Halt leaves an inert screen: no menu, no entry field, no QR code.
package displaytest
