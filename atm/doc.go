// Package atm is the terminal itself: it owns the devices, the host link,
// the journal and the flow state machine, and carries out the machine's
// effects. It stands at the top level because it is what ties every other
// package together; cmd/atmd only parses flags and calls it.
//
// The runner's loop is the only goroutine that touches the Machine. Device
// and host calls that can block run in their own goroutines and report
// back as events on one channel, so the loop never waits on hardware.
//
// Execution order within one Step's effects is the order given, and a
// Journal effect is on disk before the next effect starts. If a journal
// write fails, the dispense or host request that follows it in the same
// batch is not carried out: it is reported back to the Machine as failed,
// so cash never moves without its record.
//
// Input entries (PIN, digits, function keys) carry a generation number;
// a result from an entry that has since been replaced is dropped, so a
// late key press never lands on the wrong screen.
//
// Two durable queues deliver to the host what must get there however long
// it takes: reversals through the store-and-forward queue (hostlink/saf),
// and evidence stills (a delegated withdrawal's helper, the face check)
// through the evidence queue (evidence.go), one 0620 advice per part.
package atm
