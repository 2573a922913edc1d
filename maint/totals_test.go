package maint

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
)

func rec(min int, kind string, kv ...string) journal.Record {
	f := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	return journal.Record{Time: t0.Add(time.Duration(min) * time.Minute), Kind: kind, Fields: f}
}

// The period's totals follow the flows' records: a full retract and a
// partial dispense count what reached the customer.
func TestComputeTotals(t *testing.T) {
	recs := []journal.Record{
		rec(0, "STARTUP"),
		rec(1, "DISPENSED", "txn", "a", "amount", "100000", "mix", "1x1"),
		rec(2, KindTotalsCleared),
		rec(3, "DISPENSED", "txn", "b", "amount", "300000", "mix", "1x3"),
		rec(4, "DISPENSED", "txn", "c", "amount", "200000", "mix", "1x2"),
		rec(5, "CASH-RETRACTED", "txn", "c", "notes", "2", "expected", "2"),
		rec(5, "REVERSAL-QUEUED", "txn", "c", "reason", "cash-not-taken", "dispensed", "0"),
		rec(6, "DISPENSE-FAULT", "txn", "d", "dispensed", "50000", "mix", "2x1"),
		rec(6, "REVERSAL-QUEUED", "txn", "d", "reason", "dispense-fault", "dispensed", "50000"),
		rec(7, KindTestDispense, "mix", "3x2", "result", "ok"),
		rec(8, KindTestDispense, "mix", "3x9", "result", "error"),
		rec(9, "RETRACT-MISMATCH", "txn", "e"),
	}
	got := ComputeTotals(recs)
	want := Totals{Since: t0.Add(2 * time.Minute), Withdrawals: 2, Amount: 350000, Dispensed: 550000, Reversals: 2,
		Reversed: 200000, Retracts: 1, RetractedNotes: 2, InDoubt: 1, TestDispenses: 1, TestNotes: 2}
	if got != want {
		t.Errorf("ComputeTotals =\n %+v\nwant\n %+v", got, want)
	}
	if z := ComputeTotals(nil); z != (Totals{}) {
		t.Errorf("no records: %+v", z)
	}
}

// The counters balance when the dispenser and the journal agree since
// the replenishment, and say where they do not.
func TestComputeCounters(t *testing.T) {
	recs := []journal.Record{
		rec(0, "DISPENSED", "txn", "x", "amount", "100000", "mix", "1x9"), // before the load: not counted
		rec(1, KindReplenished, "cassettes", "1:100000x10,2:50000x10"),
		rec(2, "DISPENSED", "txn", "a", "amount", "150000", "mix", "1x1,2x1", "rejected", "1"),
		rec(3, KindTestDispense, "mix", "2x2", "result", "ok"),
	}
	cs := []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Count: 9, Initial: 10, Dispensed: 1, Rejected: 0},
		{ID: 2, Denomination: 50000, Count: 6, Initial: 10, Dispensed: 1, Rejected: 3},
	}
	c := ComputeCounters("TWD", cs, 4, recs)
	if !c.Balanced || c.PickRejected != 1 || c.Cassettes[1].JournalRejected != 2 || c.Cassettes[0].JournalDispensed != 1 || !c.Replenished.Equal(t0.Add(time.Minute)) {
		t.Errorf("counters %+v", c)
	}
	cs[0].Dispensed, cs[0].Count = 2, 8
	c = ComputeCounters("TWD", cs, 4, recs)
	if c.Balanced || len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "cassette 1: the dispenser counts 2 notes dispensed, the journal 1") {
		t.Errorf("a mismatch not reported: %+v", c.Problems)
	}
	cs[0].Count = 7
	if c = ComputeCounters("TWD", cs, 4, recs); len(c.Problems) != 2 {
		t.Errorf("loaded ≠ remaining + dispensed + rejected not reported: %v", c.Problems)
	}
}

func TestFilter(t *testing.T) {
	recs := []journal.Record{rec(0, "MAINT-LOGIN", "tech", "1001"), rec(1, "FAULT-RAISED", "code", "DSP-JAM"), rec(2, "MAINT-LOGOUT", "tech", "1001")}
	for _, tc := range []struct {
		f    Filter
		want int
	}{
		{Filter{}, 3},
		{Filter{Kinds: []string{"MAINT-*"}}, 2},
		{Filter{Kinds: []string{"FAULT-RAISED"}}, 1},
		{Filter{Since: t0.Add(time.Minute)}, 2},
		{Filter{Until: t0.Add(time.Minute)}, 1},
		{Filter{Text: "dsp-jam"}, 1},
		{Filter{Limit: 1}, 1},
	} {
		if got := tc.f.Apply(recs); len(got) != tc.want {
			t.Errorf("%+v: %d records, want %d", tc.f, len(got), tc.want)
		}
	}
	if got := (Filter{Limit: 1}).Apply(recs); got[0].Kind != "MAINT-LOGOUT" {
		t.Errorf("Limit keeps %v, want the most recent", got)
	}
}

func TestParseLoad(t *testing.T) {
	twd, _ := currency.ByAlpha("TWD")
	cs, err := ParseLoad("1:1000x2000, 2:500x0,3:missing", twd)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].Denomination != 100000 || cs[0].Count != 2000 || cs[1].Count != 0 || cs[2].Status != dispenser.CassetteMissing {
		t.Errorf("ParseLoad = %+v", cs)
	}
	for _, bad := range []string{"", "1", "1:1000", "0:1000x1", "1:1000x1,1:500x1", "1:-5x1", "1:1000x-1", "1:1000x100001", "a:1x1"} {
		if _, err := ParseLoad(bad, twd); !errors.Is(err, ErrRequest) {
			t.Errorf("ParseLoad(%q) = %v", bad, err)
		}
	}
}

func TestParseRequest(t *testing.T) {
	for _, good := range []string{
		`{"op":"status"}`, `{"op":"faults","history":20}`, `{"op":"open"}`,
		`{"op":"keys","session":"s","keys":["1","ENTER","F8"]}`,
		`{"op":"journal","tech":"1001","pin":"1234","filter":{"kinds":["MAINT-*"],"limit":5}}`,
		`{"op":"run","tech":"1001","pin":"1234","action":"test","args":{"device":"printer"}}`,
	} {
		if _, err := ParseRequest([]byte(good)); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{
		``, `[]`, `{"op":"nope"}`, `{"op":"status","extra":1}`, `{"op":"keys","session":"s","keys":["X"]}`,
		`{"op":"keys","keys":["1"]}`, `{"op":"run","tech":"1001","pin":"12","action":"echo"}`,
		`{"op":"run","tech":"1001","pin":"1234","action":"dispense-to-me"}`, `{"op":"faults","history":-1}`,
	} {
		if _, err := ParseRequest([]byte(bad)); !errors.Is(err, ErrRequest) {
			t.Errorf("%s: %v, want ErrRequest", bad, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"status"}`, `{"op":"keys","session":"s","keys":["1","ENTER"]}`,
		`{"op":"run","tech":"1001","pin":"1234","action":"load","args":{"cassettes":"1:1000x10"}}`,
		`{"op":"journal","tech":"1","pin":"0000","filter":{"since":"2026-01-01T00:00:00Z"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			if !errors.Is(err, ErrRequest) {
				t.Fatalf("error %v does not wrap ErrRequest", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("a parsed request does not validate: %v", err)
		}
	})
}

func FuzzParseLoad(f *testing.F) {
	f.Add("1:1000x2000,2:500x1000,3:missing")
	f.Add("9:1x0")
	twd, _ := currency.ByAlpha("TWD")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseLoad(s, twd)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.Count < 0 || (c.Status != dispenser.CassetteMissing && c.Denomination <= 0) {
				t.Fatalf("%q gives %+v", s, c)
			}
		}
	})
}
