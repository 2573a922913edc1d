// Package scenario runs scenario files: customer journeys written step by
// step in plain words, run against a freshly started ATM and reference
// host. The format is documented in docs/scenarios.md; it is meant for
// people who are not Go programmers.
//
// Each file runs in isolation: a new temporary state directory, a new
// host database built from the seed data, new simulated devices, and a
// fake clock, so "wait 30s" costs no real time. Steps that act (insert a
// card, press a key, take the cash) wait until the ATM is ready for them;
// expectations wait, up to a real-time deadline, for what they expect.
// Screen and host-message expectations consume history in order: each
// one looks forward from the last thing matched, so a scenario cannot
// pass by matching something that happened before the step it follows.
//
// A failure names the file, the line, the step, and what was seen
// instead.
//
// The devices are whatever the config says. With configs/sim.yaml they
// are the in-process simulators; with configs/sim-wire.yaml they are the
// real drivers against their wire simulators (a PTY per serial device,
// virtual EMV cards in pcscd's vpcd reader), driven through the same
// control surfaces (atm.SimDevices), so the same files run at both
// levels. The drivers' own timers (polls, line timeouts) run on real
// time; only the ATM's flows, host link and host use the fake clock.
package scenario
