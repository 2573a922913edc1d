// Package faults is the fault-injection suite behind `atmd faults`: it
// cuts the power of a running ATM at every step of a withdrawal, breaks
// its host link in the ways networks and hosts break, and then checks
// the promises of DESIGN.md §5 against the books — no cash without an
// approval, no transaction left in doubt, no nonce twice, no journal
// record lost. See docs/fault-injection.md for how to run it and how to
// read its report.
//
// # What runs where
//
// The reference host (sim/host) runs inside the harness's own process,
// on a fresh database built from the seed in the work directory, served
// on a free loopback port. The ATM is a child process — the atmd binary,
// `atmd run` — with a config derived from the base config's YAML node
// tree: no host section, state and control socket in the work
// directory, a short host-link timeout and backoff, a dispenser that
// takes a few milliseconds per note, and one cassette of the base's
// smallest note so that every withdrawal is exactly three notes and
// notes convert to money without ambiguity. The harness drives the
// simulated devices through the control socket (`atmd step` lines) and
// reads the ATM's state with `status`.
//
// # Kills
//
// For each failpoint (internal/failpoint) and each iteration, atmd is
// started with ATMD_FAILPOINT set, a withdrawal is driven as far as that
// point, and the process must die of SIGKILL there. atmd is then started
// without the failpoint; it must recover (startup recovery, atm/recover.go),
// come into service and drain its store-and-forward queue, and stop with
// exit code 0 on SIGTERM. The ATM's link goes through a pass-through
// netfault proxy, which taps the nonces and the reversal advices.
//
// # Network faults
//
// With Options.Net, each netfault mode (drop, slow, duplicate, reorder)
// gets one atmd process whose link goes through a proxy in that mode,
// and a few withdrawals that must end correctly whatever the link does:
// no cash when the answer never came or came too late, normal cash when
// answers are duplicated or reordered.
//
// # Checks
//
// After the run, with no atmd running, the journal, the dispenser's
// state file, the host's ledger (Reconcile) and log, and the wire tap
// are checked; see Report and docs/fault-injection.md. Failures found by
// the run are in the Report, never an error: Run fails only when the
// suite could not be set up.
package faults
