// Package sensorstest holds a fake sensors.Sensors for unit tests of code
// that reads doors and switches or drives the guidance lights, and the
// conformance suite every implementation must pass (the fake, the GPIO
// driver over gpiotest pins, the in-process simulator).
//
// The suite holds implementations to the contract and to these rules:
//
//   - Read reflects the inputs; Watch reports each change against the
//     state the previous Watch reported, so a change made before Watch is
//     called is still reported;
//   - Watch blocks while nothing changes and returns an error wrapping the
//     context's error promptly when the context ends;
//   - SetLight switches exactly that light; a light not in Capabilities is
//     rejected with an error wrapping hal.ErrInvalid;
//   - Halt turns every light off, may be called twice, and leaves the
//     device usable;
//   - while the tamper input is active Status carries the fault code
//     SEN-TAMPER and stays usable (the sensors work; the ATM is what is
//     under attack).
package sensorstest
