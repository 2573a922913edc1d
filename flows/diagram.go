package flows

import (
	"fmt"
	"sort"
	"strings"
)

// Diagram returns the state machine as a Mermaid state diagram, drawn
// from the state table itself (the transitions goTo checks).
func Diagram() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	names := make([]string, 0, len(states))
	for s := range states {
		names = append(names, string(s))
	}
	sort.Strings(names)
	id := func(s State) string { return strings.ReplaceAll(string(s), "-", "_") }
	fmt.Fprintf(&b, "    [*] --> %s\n", id(Starting))
	for _, n := range names {
		d := states[State(n)]
		fmt.Fprintf(&b, "    %s : %s\n", id(State(n)), d.doc)
		for _, to := range d.next {
			fmt.Fprintf(&b, "    %s --> %s\n", id(State(n)), id(to))
		}
	}
	return b.String()
}

// Table returns the state table as Markdown: state, what it does, where
// it may go.
func Table() string {
	var b strings.Builder
	b.WriteString("| state | what happens | goes to |\n|---|---|---|\n")
	names := make([]string, 0, len(states))
	for s := range states {
		names = append(names, string(s))
	}
	sort.Strings(names)
	for _, n := range names {
		d := states[State(n)]
		var to []string
		for _, s := range d.next {
			to = append(to, "`"+string(s)+"`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", n, d.doc, strings.Join(to, ", "))
	}
	return b.String()
}

// FlowDoc returns docs/flows/withdrawal.md: the card + PIN services'
// rules, the state diagram and the state table, generated from the code.
func FlowDoc() string {
	return `# Card + PIN services: withdrawal, balance inquiry, receipt

<!-- Generated from flows/states.go by: go test ./flows -run TestFlowDoc -update. Do not edit. -->

The ordinary ATM services run in one state machine (package ` + "`flows`" + `). It has no
I/O: the runner (package ` + "`atm`" + `) feeds it events and carries out the effects it
returns, in order, each journal record on disk before the next effect starts.

## Rules

- **PIN**: entered on the PIN pad, which returns only an encrypted ISO 9564 format 0
  block; the host verifies it. A wrong PIN (response 55) asks again, showing the
  attempts left; after ` + "`atm.max_pin_tries`" + ` wrong PINs in a session, or when the host
  answers 75, the card is retained.
- **Amounts**: fast amounts from ` + "`atm.fast_amounts`" + ` or any other amount; an amount is
  offered to the host only if the cassettes can make it (notes available, at most
  ` + "`atm.max_notes`" + ` notes) and it is within ` + "`atm.max_amount`" + `.
- **Order of a withdrawal**: dispenser nonce → journal TXN-REQUEST → 0200 to the host
  → 0210 approved with a dispense token → journal DISPENSE-INTENT → dispense (notes
  stacked behind the shutter) → journal DISPENSED → card returned → card taken →
  shutter opened → cash taken → receipt.
- **Card before cash**: the cash is presented only after the card has been taken. A card
  not taken within ` + "`take_card`" + ` is retained, and the stacked cash is retracted and
  reversed.
- **Cash not taken** within ` + "`take_cash`" + `: retracted into the retract bin and journaled;
  when every note came back, a reversal (0420) is sent; otherwise RETRACT-MISMATCH is
  journaled for reconciliation.
- **Host timeout** after the request was sent: the outcome is unknown, so a reversal is
  sent and repeated until acknowledged; nothing is dispensed.
- **Inactivity**: after ` + "`entry`" + ` of no input on any input screen, "Do you need more time?";
  no answer within ` + "`more_time`" + ` ends the session and returns the card.
- **Out of service** when the host link is down or a vital device (card reader, PIN pad,
  dispenser, customer display) has failed, or the cassettes are empty; a session in
  progress finishes first. The ATM returns to service by itself when all is well again.
- **Receipts**: offered only when the printer works.

## States

` + "```mermaid\n" + Diagram() + "```\n\n" + Table()
}
