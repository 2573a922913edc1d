// Package devsim holds the in-process device simulators (simulation level
// L1): one type per hal contract, each implementing the contract and a
// control surface that tests and the scenario runner use to play the
// customer and the machine — insert a card, press keys, take cash, jam
// the dispenser, run out of paper, tap a phone.
//
// Simulators behave like the devices, not like mocks: the PIN pad holds
// real keys and returns only encrypted PIN blocks, the dispenser checks
// dispense tokens and keeps cassette counters, the card reader keeps
// retained cards. Every simulator passes its contract's conformance
// suite (hal/<device>/<device>test).
//
// Synchronisation rule for the control surface: an action that needs the
// device to be waiting for it (a key press needs an active entry, a card
// insertion needs an enabled slot, taking cash needs presented notes)
// blocks until the device is ready for it or its context ends, then
// returns once the device has consumed it. That makes scripted journeys
// deterministic without sleeps.
//
// Faults are injected by fault catalogue code (Inject) and removed with
// Clear; a simulator with a fault reports it in Status exactly as the
// real driver would.
package devsim
