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
