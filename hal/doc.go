// Package hal holds what every device contract shares: the device
// lifecycle (String, Status, Halt), the status model and typed device
// faults.
//
// Each device class has its own small package below hal (cardreader,
// pinpad, display, opdisplay, nfctag, dispenser, printer, camera,
// sensors). A contract package declares the interface a driver or
// simulator implements, its Capabilities, its sentinel errors, and — in
// its ...test sibling — a fake and a conformance suite that every
// implementation must pass.
//
// Rules every implementation follows:
//
//   - Every call that can block takes a context first and returns promptly
//     with ctx.Err() wrapped when it is cancelled.
//   - Status is reported, not probed: Status() is cheap, never blocks on
//     I/O and reflects the last thing the device told us.
//   - Halt(ctx) returns the device to a safe, inert state (shutter closed,
//     entry disabled, card kept or ejected as the contract says) and is
//     safe to call more than once and after a partial start.
//   - Device-independent checks (argument validation, capabilities, cash
//     unit counts) live in the contract package, above the driver; drivers
//     turn a typed request into bytes and return a typed result.
//   - Card data never reaches a log in clear: types that carry it mask
//     themselves in String and in zerolog output.
package hal
