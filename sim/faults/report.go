package faults

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/netfault"
)

// Report is what a run found.
type Report struct {
	Start    time.Time
	Duration time.Duration
	Config   string // the base config
	Dir      string // the work directory
	Kept     bool   // the work directory was kept
	Currency string // ISO 4217 alpha of every amount
	Amount   int64  // each withdrawal, minor units
	Points   []PointReport
	Net      []NetReport
	Totals   Figures // the whole run, at the host and the dispenser
	Checks   []Check
	// Failures are what went wrong during the run itself: a failpoint
	// never hit, a process that did not die of SIGKILL or did not stop
	// cleanly, a withdrawal that could not be made.
	Failures []string

	cur currency.Currency
}

// PointReport is what the kills at one failpoint did.
type PointReport struct {
	Point      string
	Iterations int            // withdrawals started with the point armed
	Kills      int            // ...that died of SIGKILL at it
	Failures   int            // ...that did not
	OnWire     int            // withdrawal requests (0200) that reached the wire
	Recovery   map[string]int // RECOVERED action → how many times recovery took it
	Reversals  int            // reversal advices the host acknowledged
	Ledger     Figures
	Duration   time.Duration
}

// NetReport is what one network fault did.
type NetReport struct {
	Mode        netfault.Mode
	Withdrawals int // started
	WithCash    int // ...that presented cash (which was taken)
	Reversals   int // reversal advices the host acknowledged
	Ledger      Figures
	Proxy       netfault.Stats
	Duration    time.Duration
}

// Figures are the host's ledger for the ATM's terminal and the notes
// that reached customers. Amounts are in minor units.
type Figures struct {
	Approved      int64 // Σ approved withdrawals
	ApprovedCount int
	Reversed      int64 // Σ credited back by reversals
	ReversedCount int
	Dispensed     int64 // Approved − Reversed: what the host says left the ATM
	Notes         int   // notes that reached customers: picked − retracted
}

// Check is one of the checks after the run.
type Check struct {
	Name     string
	OK       bool
	Detail   string   // the figures behind the verdict
	Problems []string // what is wrong, one sentence each
}

// OK reports whether the run had no failure and every check passed.
func (r *Report) OK() bool {
	if len(r.Failures) > 0 || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Report) money(v int64) string {
	if r.cur.Alpha == "" {
		return fmt.Sprintf("%d", v)
	}
	return r.cur.Format(v)
}

// maxListed is how many problems of one check Write prints.
const maxListed = 20

// Write prints the report for a person.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "atmd faults — %s, each withdrawal %s\n", r.Duration.Round(100*time.Millisecond), r.money(r.Amount))
	if len(r.Points) > 0 {
		b.WriteString("\nkills (SIGKILL at a failpoint, then a restart that must recover)\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  failpoint\tkills\t0200 sent\trecovery actions\treversals\tapproved\treversed\tto customers\ttime")
		for _, p := range r.Points {
			fmt.Fprintf(tw, "  %s\t%d/%d\t%d\t%s\t%d\t%d · %s\t%d · %s\t%d notes · %s\t%v\n", p.Point, p.Kills, p.Iterations, p.OnWire,
				actions(p.Recovery), p.Reversals, p.Ledger.ApprovedCount, r.money(p.Ledger.Approved),
				p.Ledger.ReversedCount, r.money(p.Ledger.Reversed), p.Ledger.Notes, r.money(p.Ledger.Dispensed), p.Duration.Round(100*time.Millisecond))
		}
		tw.Flush()
	}
	if len(r.Net) > 0 {
		b.WriteString("\nnetwork faults (through the netfault proxy)\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  mode\twithdrawals\twith cash\treversals\tapproved\treversed\tproxy\ttime")
		for _, n := range r.Net {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d · %s\t%d · %s\t%s\t%v\n", n.Mode, n.Withdrawals, n.WithCash, n.Reversals,
				n.Ledger.ApprovedCount, r.money(n.Ledger.Approved), n.Ledger.ReversedCount, r.money(n.Ledger.Reversed),
				proxyStats(n.Proxy), n.Duration.Round(100*time.Millisecond))
		}
		tw.Flush()
	}
	t := r.Totals
	fmt.Fprintf(&b, "\nhost ledger for the terminal: approved %d · %s, reversed %d · %s, dispensed %s; notes to customers %d · %s\n",
		t.ApprovedCount, r.money(t.Approved), t.ReversedCount, r.money(t.Reversed), r.money(t.Dispensed), t.Notes, r.money(int64(t.Notes)*r.noteValue()))
	if len(r.Failures) > 0 {
		fmt.Fprintf(&b, "\nfailures during the run (%d)\n", len(r.Failures))
		for i, f := range r.Failures {
			if i == maxListed {
				fmt.Fprintf(&b, "  … and %d more\n", len(r.Failures)-maxListed)
				break
			}
			fmt.Fprintf(&b, "  - %s\n", f)
		}
	}
	b.WriteString("\nchecks\n")
	for _, c := range r.Checks {
		v := "ok  "
		if !c.OK {
			v = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", v, c.Name, c.Detail)
		for i, p := range c.Problems {
			if i == maxListed {
				fmt.Fprintf(&b, "         … and %d more\n", len(c.Problems)-maxListed)
				break
			}
			fmt.Fprintf(&b, "         - %s\n", p)
		}
	}
	if r.Kept {
		fmt.Fprintf(&b, "\nwork directory kept: %s (atmd.log, host.log, state/journal.jsonl, state/dispenser.json, host.db)\n", r.Dir)
	}
	if r.OK() {
		b.WriteString("\nPASS\n")
	} else {
		b.WriteString("\nFAIL\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// noteValue is the value of one note, from the amount of a withdrawal.
func (r *Report) noteValue() int64 { return r.Amount / notesPerTxn }

func actions(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func proxyStats(s netfault.Stats) string {
	var parts []string
	for _, x := range []struct {
		n    int
		what string
	}{{s.Dropped, "dropped"}, {s.Swallowed, "swallowed"}, {s.Delayed, "delayed"}, {s.Duplicated, "duplicated"}, {s.Reordered, "reordered"}, {s.Released, "released"}, {s.Lost, "lost"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	parts = append(parts, fmt.Sprintf("%d conns", s.Conns))
	return strings.Join(parts, ", ")
}
