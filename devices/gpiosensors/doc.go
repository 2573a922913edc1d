// Package gpiosensors drives the ATM's door, switch and tamper inputs and
// its guidance lights over GPIO lines, through periph.io's gpio.PinIn and
// gpio.PinOut. It implements the hal/sensors contract.
//
// Wiring is declared, not probed: Pins maps each sensors.Input to an input
// line (with its polarity and pull resistor) and each sensors.Light to an
// output line. On real hardware the pins come from periph.io/x/host/v3
// (gpioreg.ByName("GPIO17")); in tests and in the simulator they are
// periph.io/x/conn/v3/gpio/gpiotest pins.
//
// Inputs. Read returns the level of every input, translated by polarity
// (ActiveLow: a switch to ground with a pull-up reads low when on). Watch
// waits for an edge with WaitForEdge in short slices (Options.Poll shared
// between the inputs) so that it notices a cancelled context promptly,
// then debounces: after an edge the line must stay quiet for
// Options.Debounce before its level is believed. Watch reports each change
// against the state the previous Watch reported (initially the state when
// New ran), so a change that happens between two Watch calls is not lost;
// an input that flips and flips back in between is no change at all. One
// Watch runs at a time; a second concurrent call gets hal.ErrBusy.
//
// Lights. SetLight drives the output line high for on; New and Halt turn
// every light off, which is the safe state.
//
// Status. GPIO lines do not go offline, so the device is always Online;
// while the tamper input reads active Status carries the fault code
// SEN-TAMPER, read from the line itself (a register read, never blocking).
package gpiosensors
