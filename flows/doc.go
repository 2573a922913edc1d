// Package flows is the ATM's transaction core: the customer journeys as a
// state machine with no I/O, after etcd's raft.
//
// The caller (package atm's runner) feeds the Machine events — a card was
// inserted, a key was pressed, the host answered, the notes were taken,
// time passed (Tick) — through Step, and gets back the effects to carry
// out, in order: show a screen, start PIN entry, write a journal record,
// send a request to the host, dispense. Results come back as further
// events. The Machine never reads a clock (time arrives in Tick and in
// Health), never blocks and never touches a device, so every journey can
// be tested as a script of events and effects.
//
// Ordering rule (the one that keeps cash safe): the runner carries out
// the effects of one Step in the order given, and a Journal effect is
// complete — on disk — before the next effect starts. The Machine always
// emits the Journal record of an intent (DISPENSE-INTENT, TXN-REQUEST)
// before the Dispense or SendHost effect it covers.
//
// States are declared in a table (states.go): each has an enter function
// (what the screen shows and what input is armed), an event handler, a
// timeout handler and the list of states it may go to. The list is
// checked on every transition and is what Diagram draws, so the diagram
// in docs/flows is the code.
//
// Card data: the Machine holds the card's PAN in memory because the PIN
// pad needs it to build the PIN block; it never puts it in a screen, a
// journal record or a receipt unmasked. It never sees a clear PIN: the
// PIN pad hands over only the encrypted block.
package flows
