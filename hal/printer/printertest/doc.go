// Package printertest holds a fake receipt printer for unit tests of code
// that uses one, and the conformance suite every printer.Printer — fake,
// simulator or driver — must pass.
//
// The suite pins down what the contract's doc comments leave open:
//
//   - A receipt that fails Receipt.Validate (no lines, control
//     characters, bad UTF-8) is refused with hal.ErrInvalid; nothing is
//     printed.
//   - A line longer than Capabilities.Cols is wrapped into lines of
//     exactly Cols characters (runes) and a shorter rest.
//   - Receipt.Cut is honoured by a printer with a cutter and ignored by
//     one without.
//   - Paper state is in Status: Extra["paper"] is "ok", "low" or "out";
//     low paper still prints (Online, no fault); out of paper is UserError
//     with fault PRN-PAPER-OUT, and Print returns printer.ErrPaperOut
//     without printing.
//   - A command with an ended context prints nothing.
package printertest
