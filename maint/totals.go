package maint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/journal"
)

// Journal kinds of cash management. MAINT-REPLENISHED starts the
// cassettes' counters again; MAINT-TOTALS-CLEARED ends a totals period.
const (
	KindReplenished   = "MAINT-REPLENISHED"
	KindTotalsCleared = "MAINT-TOTALS-CLEARED"
	KindTestDispense  = "MAINT-TEST-DISPENSE"
)

// Totals is what the ATM handed out in a totals period, from its journal.
type Totals struct {
	// Since is when the period began: the last MAINT-TOTALS-CLEARED, or
	// the journal's first record.
	Since time.Time `json:"since"`
	// Withdrawals that handed out cash, and the amount (minor units):
	// notes dispensed for an approved withdrawal, less what a reversal
	// says did not reach the customer (a full retract, a card left).
	Withdrawals int   `json:"withdrawals"`
	Amount      int64 `json:"amount"`
	// Dispensed is the amount stacked for customers, before reversals.
	Dispensed int64 `json:"dispensed"`
	// Reversals queued, and how much they gave back.
	Reversals int   `json:"reversals"`
	Reversed  int64 `json:"reversed"`
	// Retracts: notes pulled into the retract bin.
	Retracts       int `json:"retracts"`
	RetractedNotes int `json:"retracted_notes"`
	// InDoubt: transactions settled by crash recovery or with a retract
	// that did not count every note; the host has the last word on them.
	InDoubt int `json:"in_doubt"`
	// TestDispenses from the maintenance menu, and their notes (all in
	// the reject bin).
	TestDispenses int `json:"test_dispenses"`
	TestNotes     int `json:"test_notes"`
}

// CassetteCount is one cassette's counters as the dispenser keeps them,
// beside what the journal says left it since the last replenishment.
type CassetteCount struct {
	dispenser.Cassette
	JournalDispensed int `json:"journal_dispensed"` // notes picked for customers
	JournalRejected  int `json:"journal_rejected"`  // notes of test dispenses
}

// Counters is the cash picture: cassettes, retract bin and the period's
// totals, with the checks that tie them together.
type Counters struct {
	Currency  string          `json:"currency"`
	Cassettes []CassetteCount `json:"cassettes"`
	// RetractBin: notes retracted since the device was new (-1 unknown);
	// RetractedSinceLoad: since the last replenishment, by the journal.
	RetractBin         int `json:"retract_bin"`
	RetractedSinceLoad int `json:"retracted_since_load"`
	// PickRejected: notes the dispenser diverted while picking for
	// customers since the last replenishment.
	PickRejected int `json:"pick_rejected"`
	// Replenished: the last replenishment (zero: none in the journal).
	Replenished time.Time `json:"replenished,omitzero"`
	Period      Totals    `json:"period"`
	// Balanced: every cassette's loaded = remaining + dispensed +
	// rejected, and dispensed and rejected agree with the journal.
	Balanced bool     `json:"balanced"`
	Problems []string `json:"problems,omitempty"`
}

// ComputeCounters ties the cassettes to the journal: per cassette the
// notes the journal says left it since the last MAINT-REPLENISHED (for
// customers, DISPENSED and DISPENSE-FAULT mixes; into the reject bin,
// MAINT-TEST-DISPENSE mixes), and the period's totals since the last
// MAINT-TOTALS-CLEARED.
func ComputeCounters(currency string, cs []dispenser.Cassette, retractBin int, recs []journal.Record) Counters {
	c := Counters{Currency: currency, RetractBin: retractBin, Period: ComputeTotals(recs)}
	start := 0
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == KindReplenished {
			start = i + 1
			c.Replenished = recs[i].Time
			break
		}
	}
	picked, rejected := map[int]int{}, map[int]int{}
	for _, r := range recs[start:] {
		switch r.Kind {
		case "DISPENSED", "DISPENSE-FAULT":
			for id, n := range parseMix(r.Fields["mix"]) {
				picked[id] += n
			}
			c.PickRejected += atoi(r.Fields["rejected"])
		case KindTestDispense:
			if r.Fields["result"] == "ok" {
				for id, n := range parseMix(r.Fields["mix"]) {
					rejected[id] += n
				}
			}
		case "CASH-RETRACTED":
			c.RetractedSinceLoad += atoi(r.Fields["notes"])
		}
	}
	c.Balanced = true
	problem := func(format string, args ...any) {
		c.Balanced = false
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
	devRejected := 0
	for _, k := range cs {
		cc := CassetteCount{Cassette: k, JournalDispensed: picked[k.ID], JournalRejected: rejected[k.ID]}
		c.Cassettes = append(c.Cassettes, cc)
		devRejected += k.Rejected
		if k.Initial != k.Count+k.Dispensed+k.Rejected {
			problem("cassette %d: loaded %d but remaining %d + dispensed %d + rejected %d = %d",
				k.ID, k.Initial, k.Count, k.Dispensed, k.Rejected, k.Count+k.Dispensed+k.Rejected)
		}
		if k.Dispensed != picked[k.ID] {
			problem("cassette %d: the dispenser counts %d notes dispensed, the journal %d", k.ID, k.Dispensed, picked[k.ID])
		}
	}
	journalRejected := c.PickRejected
	for _, n := range rejected {
		journalRejected += n
	}
	if devRejected != journalRejected {
		problem("the dispenser counts %d notes rejected, the journal %d (test dispenses and pick rejects)", devRejected, journalRejected)
	}
	return c
}

// ComputeTotals adds up the period since the last MAINT-TOTALS-CLEARED.
func ComputeTotals(recs []journal.Record) Totals {
	start := 0
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == KindTotalsCleared {
			start = i + 1
			break
		}
	}
	var t Totals
	switch {
	case start > 0:
		t.Since = recs[start-1].Time
	case len(recs) > 0:
		t.Since = recs[0].Time
	}
	type txn struct {
		dispensed, handed int64
		reversed, doubt   bool
	}
	txns := map[string]*txn{}
	var order []string
	get := func(id string) *txn {
		x := txns[id]
		if x == nil {
			x = &txn{}
			txns[id] = x
			order = append(order, id)
		}
		return x
	}
	for _, r := range recs[start:] {
		f := r.Fields
		switch r.Kind {
		case "DISPENSED":
			x := get(f["txn"])
			x.dispensed = atoi64(f["amount"])
			if !x.reversed {
				x.handed = x.dispensed
			}
		case "DISPENSE-FAULT":
			x := get(f["txn"])
			x.dispensed = atoi64(f["dispensed"])
			if !x.reversed {
				x.handed = x.dispensed
			}
		case "REVERSAL-QUEUED":
			x := get(f["txn"])
			if !x.reversed {
				t.Reversals++
			}
			x.reversed = true
			x.handed = atoi64(f["dispensed"])
		case "CASH-RETRACTED":
			t.Retracts++
			t.RetractedNotes += atoi(f["notes"])
		case "RETRACT-MISMATCH", "RECOVERED":
			get(f["txn"]).doubt = true
		case KindTestDispense:
			if f["result"] == "ok" {
				t.TestDispenses++
				for _, n := range parseMix(f["mix"]) {
					t.TestNotes += n
				}
			}
		}
	}
	for _, id := range order {
		x := txns[id]
		t.Dispensed += x.dispensed
		if x.reversed {
			t.Reversed += x.dispensed - x.handed
		}
		if x.doubt {
			t.InDoubt++
		}
		if x.handed > 0 {
			t.Withdrawals++
			t.Amount += x.handed
		}
	}
	return t
}

// parseMix reads "1x2,3x1" (cassette x notes) as the flows write it;
// anything malformed counts nothing.
func parseMix(s string) map[int]int {
	out := map[int]int{}
	for _, part := range strings.Split(s, ",") {
		id, n, ok := strings.Cut(part, "x")
		if !ok {
			continue
		}
		i, err1 := strconv.Atoi(id)
		k, err2 := strconv.Atoi(n)
		if err1 == nil && err2 == nil && k > 0 && k < 1<<20 {
			out[i] += k
		}
	}
	return out
}

// mixText writes a mix as parseMix reads it, cassettes in order.
func mixText(mix []dispenser.Notes) string {
	ns := append([]dispenser.Notes(nil), mix...)
	sort.Slice(ns, func(i, j int) bool { return ns[i].Cassette < ns[j].Cassette })
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprintf("%dx%d", n.Cassette, n.Count)
	}
	return strings.Join(parts, ",")
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func atoi64(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
