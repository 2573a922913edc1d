// Package wire holds what the wire-level simulators (simulation level L2)
// share: pseudo-terminal pairs that stand in for serial cables.
//
// A wire simulator sits on the far end of a real transport — the master
// side of a pseudo-terminal for a serial device, a vpcd connection for a
// PC/SC card — so the real drivers in devices/ run unchanged against it
// and CI exercises the same bytes that travel on an ATM. Each device's
// simulator lives in its own package below wire and implements the
// device's protocol document independently of the driver.
package wire
