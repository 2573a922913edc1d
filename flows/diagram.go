package flows

import (
	"fmt"
	"sort"
	"strings"
)

// Journey groups the states of one customer journey in the docs.
type Journey string

// Journeys drawn in docs/flows.
const (
	CardServices   Journey = "card"       // withdrawal, balance, receipt and the session around them
	CardActivation Journey = "activation" // flows/activation.go
	// DelegatedWithdrawal is flows/delegated.go.
	DelegatedWithdrawal Journey = "delegated"
)

// journeyOf returns the journey a state is documented with.
func journeyOf(s State) Journey {
	if strings.HasPrefix(string(s), "activation-") {
		return CardActivation
	}
	if strings.HasPrefix(string(s), "delegated-") {
		return DelegatedWithdrawal
	}
	return CardServices
}

func sortedStates(j Journey) []State {
	var out []State
	for s := range states {
		if journeyOf(s) == j {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// Diagram returns a journey's part of the state machine as a Mermaid
// state diagram, drawn from the state table itself (the transitions goTo
// checks). The card services' diagram leaves out the edges into other
// journeys; another journey's shows where it is entered from and where
// it leaves to.
func Diagram(j Journey) string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	id := func(s State) string { return strings.ReplaceAll(string(s), "-", "_") }
	if j == CardServices {
		fmt.Fprintf(&b, "    [*] --> %s\n", id(Starting))
	} else {
		for _, s := range sortedStates(CardServices) {
			for _, to := range states[s].next {
				if journeyOf(to) == j {
					fmt.Fprintf(&b, "    %s --> %s\n", id(s), id(to))
				}
			}
		}
	}
	for _, s := range sortedStates(j) {
		d := states[s]
		fmt.Fprintf(&b, "    %s : %s\n", id(s), d.doc)
		for _, to := range d.next {
			if j == CardServices && journeyOf(to) != j {
				continue
			}
			fmt.Fprintf(&b, "    %s --> %s\n", id(s), id(to))
		}
	}
	return b.String()
}

// Table returns a journey's states as Markdown: state, what it does,
// where it may go.
func Table(j Journey) string {
	var b strings.Builder
	b.WriteString("| state | what happens | goes to |\n|---|---|---|\n")
	for _, s := range sortedStates(j) {
		d := states[s]
		var to []string
		for _, n := range d.next {
			to = append(to, "`"+string(n)+"`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s, d.doc, strings.Join(to, ", "))
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

` + "```mermaid\n" + Diagram(CardServices) + "```\n\n" + Table(CardServices) +
		"\nCard activation, offered on the PIN screen, is drawn in [activation.md](activation.md); delegated\n" +
		"withdrawal in [delegated.md](delegated.md).\n"
}
