// Command benchreport runs atmd's benchmarks and writes the report,
// docs/bench.md, with the fleet plot docs/bench-fleet.svg. `make bench`
// runs it; it takes a few minutes on two cores.
//
// It measures, each against its target (stated in the report with pass
// or fail, and for a miss why and what it would take):
//
//   - the codec: hostlink's Pack and Unpack of every message of the
//     profile against bare moov-io/iso8583 on the same spec (Go
//     benchmarks in hostlink);
//   - the host link: round trips over loopback on one connection, the
//     reference host's own cost per withdrawal, and a whole withdrawal
//     through a real atmd with simulated devices against a bare ISO 8583
//     round trip to the same host (sim/loadgen);
//   - the fleet: the reference host, in its own process (atmd bench
//     host), against 1, 10, 100 and 1000 simulated ATMs back to back,
//     and 1000 ATMs paced above the target rate, then the ledger
//     reconciled (sim/loadgen);
//   - the footprint: the atmd binary, its start to in service, its
//     resident memory idle and under load, its CPU when idle;
//   - the devices: one frame or APDU through each driver against its
//     wire simulator, against the bare transport.
//
// Everything talks over loopback, every run is bounded by count and
// time, and every process it starts it stops. The report records the
// machine, the load average before and after, and the cost of one
// fsync, so a reader can judge the figures. -quick makes short runs to
// try it out; those figures are marked as such.
//
// Usage, from anywhere in the repository:
//
//	go run ./sim/benchreport [-quick] [-keep] [-atms 1,10,100,1000] [-out docs/bench.md] [-svg docs/bench-fleet.svg]
package main
