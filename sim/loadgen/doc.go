// Package loadgen is the fleet load generator of atmd's benchmark report
// (docs/bench.md): simulated ATMs that speak the real host link to the
// reference host (sim/host) over loopback, and a driver that runs whole
// withdrawals through a real atmd with simulated devices.
//
// # Fleet data
//
// Generate writes a bench data set into a directory: a seed with one
// customer, account and card per card requested (balances and daily
// limits large enough that no withdrawal of a run is declined) and a
// reference host config naming every terminal with its own terminal
// master key (TMK). Save and Load keep it in fleet.json beside the seed,
// so a host in a child process and the load generator in this one share
// it. It holds demo keys and demo PINs, like configs/; it is written
// owner-only and never logged. configs/seed.yaml is never touched.
//
// # Simulated ATMs
//
// An ATM is one hostlink.Client: it signs on, exchanges keys (0800/101,
// field 48 tag CT; the 0810's TPK, TAK and TDK are unwrapped under its
// TMK and their check values verified, hostlink/keyexchange), and then
// sends MAC'd 0200 withdrawals with a real ISO 9564 format 0 PIN block
// under its TPK (internal/pinblock) and a fresh dispenser nonce (field 48
// tag NC). An approval counts as dispensed only when its dispense token
// verifies under the TDK for that terminal, STAN, amount, currency and
// nonce, as the dispenser would check it. When the outcome is unknown
// (ErrTimeout, ErrLinkLost) or an approval carries no valid token, the
// ATM reverses: 0420 with field 90 naming the original, repeated as 0421
// with the same STAN until a 0430 arrives or ReversalPatience runs out.
// The simulated ATM plays its PIN pad and dispenser too, so it holds the
// working keys in memory, as sim/devsim does; it never logs them.
//
// # Runs are bounded and local
//
// Run drives Options.ATMs of them, each sending withdrawals back to back
// (a closed loop), or, with Options.Rate, paced so that the fleet offers
// that many withdrawals a second (an open loop, as customers arrive),
// until Options.Count withdrawals have been started or Options.Duration
// has passed, whichever comes first; both bounds are required. The host
// address must be a loopback address (ErrNotLoopback otherwise): the load
// generator never talks to anything but this machine. Every goroutine
// stops by itself when its bound is reached; none waits on a sleep.
//
// Latencies are exact: every round trip is kept and the percentiles come
// from the sorted samples (Latencies); in a paced run a withdrawal that
// starts late counts from when it was due, so a slow host is not hidden
// by the load backing off. Run reports throughput, latency
// percentiles, errors, reversals, the connect phase and the process CPU
// time per withdrawal.
//
// # Whole withdrawals
//
// RunATM starts a real atmd (atm.Start) with simulated devices and no
// artificial device latency, connected to the same kind of host, and
// plays customers through it one after the other: card in, PIN, menu,
// amount, no receipt, card out, cash out, back to the welcome screen.
// Compared with Run over one ATM it gives the cost of the flows, the
// journal and the devices on top of the bare ISO 8583 round trip.
//
// # Reconciliation
//
// Reconcile opens the host's database and checks, with sim/host's
// Reconcile, that the ledger balances, and Compare checks that what the
// host says each terminal dispensed (approved − reversed) equals what the
// simulated ATMs counted.
package loadgen
