package faults

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/store"
)

// checkInput is everything the checks look at, gathered after the run
// with no atmd running.
type checkInput struct {
	ATM      string
	Cur      currency.Currency
	Records  []journal.Record // the ATM's journal
	JournErr error            // journal.ReadFile's error: a bad CRC, an unreadable line
	Disp     dispState        // the dispenser's state file
	DispErr  error
	Host     host.Report // Reconcile
	HostErr  error
	Ledger   []host.LedgerEntry
	// Reversals is, per ledger entry id, how many reversals the host
	// processed (from its log).
	Reversals map[int64]int
	Wire      wireFigures
	Nonces    []nonceSample
	Starts    int // atmd processes started
	Stops     int // ...stopped cleanly by SIGTERM
	// KillRecords is how many kills left the record written just
	// before them on disk; KillRecordProblems names those that did not.
	KillRecords        int
	KillRecordProblems []string
}

// check gathers the input and runs the checks.
func (h *harness) check(ctx context.Context) {
	h.live.kill() // only after a run that stopped early
	r := h.rep
	r.cur, r.Currency, r.Amount = h.cur, h.cur.Alpha, h.amount
	in := checkInput{ATM: h.base.ATM.ID, Cur: h.cur, Nonces: h.nonces, Starts: h.starts, Stops: h.stops,
		KillRecords: h.killRecords, KillRecordProblems: h.killRecordProblems}
	in.Records, in.JournErr = journal.ReadFile(h.jpath)
	in.Disp, in.DispErr = readDispState(h.dpath)
	in.Host, in.HostErr = h.host.Reconcile(ctx)
	if in.HostErr == nil {
		in.Ledger, in.HostErr = h.host.Ledger(ctx)
	}
	in.Reversals = h.hostLog.counts()
	if h.tap != nil {
		in.Wire = h.tap.figures()
	}
	t := in.Host.Terminal(in.ATM, h.cur.Alpha)
	r.Totals = Figures{Approved: t.Approved, ApprovedCount: t.ApprovedCount, Reversed: t.Reversed,
		ReversedCount: t.ReversedCount, Dispensed: t.Dispensed, Notes: in.Disp.notesOut()}
	r.Checks = runChecks(in)
}

// runChecks runs every check on in.
func runChecks(in checkInput) []Check {
	txns := byTxn(in.Records)
	return []Check{checkCash(in, txns), checkJournal(in, txns), checkInDoubt(in, txns), checkNonces(in)}
}

// txn is what the journal says about one transaction.
type txn struct {
	id         string
	requests   int             // TXN-REQUEST records
	withdrawal bool            // kind withdrawal
	send       *journal.Record // last HOST-SEND
	outcome    string          // last TXN-REPLY outcome
	replied    bool
	intents    int // DISPENSE-INTENT
	stan       string
	taken      int              // CASH-TAKEN
	takenSeq   uint64           // first CASH-TAKEN
	queued     []journal.Record // REVERSAL-QUEUED
	acked      int              // REVERSAL-ACKED
	ackedSeq   uint64           // first REVERSAL-ACKED
	ackedRC    []string         // the response codes of the 0430s that acknowledged it
	recovered  []string         // RECOVERED actions
	completeAt uint64           // first RECOVERED action complete
}

func byTxn(recs []journal.Record) []*txn {
	by := map[string]*txn{}
	var order []*txn
	for i := range recs {
		r := &recs[i]
		id := r.Fields["txn"]
		if id == "" {
			continue
		}
		t := by[id]
		if t == nil {
			t = &txn{id: id}
			by[id] = t
			order = append(order, t)
		}
		switch r.Kind {
		case "TXN-REQUEST":
			t.requests++
			t.withdrawal = r.Fields["kind"] == string(flows.Withdrawal)
		case "HOST-SEND":
			t.send = r
		case "TXN-REPLY":
			t.outcome, t.replied = r.Fields["outcome"], true
		case "DISPENSE-INTENT":
			t.intents++
			t.stan = r.Fields["stan"]
		case "CASH-TAKEN":
			if t.taken == 0 {
				t.takenSeq = r.Seq
			}
			t.taken++
		case "REVERSAL-QUEUED":
			t.queued = append(t.queued, *r)
		case "REVERSAL-ACKED":
			if t.acked == 0 {
				t.ackedSeq = r.Seq
			}
			t.acked++
			t.ackedRC = append(t.ackedRC, r.Fields["rc"])
		case "RECOVERED":
			t.recovered = append(t.recovered, r.Fields["action"])
			if r.Fields["action"] == "complete" && t.completeAt == 0 {
				t.completeAt = r.Seq
			}
		}
	}
	return order
}

// completed: the customer took the cash, by the journal or by the
// dispenser's record read at recovery.
func (t *txn) completed() bool { return t.taken > 0 || t.completeAt > 0 }

// partial is the amount a partial dispense gave, 0 when none.
func (t *txn) partial() int64 {
	for _, q := range t.queued {
		if v, _ := strconv.ParseInt(q.Fields["dispensed"], 10, 64); v > 0 {
			return v
		}
	}
	return 0
}

// (a) No double dispense, and the cash that reached customers is what
// the host approved and did not reverse.
func checkCash(in checkInput, txns []*txn) Check {
	c := Check{Name: "(a) no double dispense, the ledger balances"}
	bad := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }
	if in.HostErr != nil {
		bad("the host's ledger could not be read: %v", in.HostErr)
	}
	c.Problems = append(c.Problems, in.Host.Problems...)
	t := in.Host.Terminal(in.ATM, in.Cur.Alpha)
	var out int64
	denom, err := in.Disp.denomination()
	switch {
	case in.DispErr != nil:
		bad("%v", in.DispErr)
	case err != nil:
		bad("%v", err)
	default:
		out = int64(in.Disp.notesOut()) * denom
		if out != t.Dispensed {
			bad("notes worth %s reached customers (%d picked − %d retracted), but the host says approved %s − reversed %s = %s",
				in.Cur.Format(out), in.Disp.dispensed(), in.Disp.RetractBin, in.Cur.Format(t.Approved), in.Cur.Format(t.Reversed), in.Cur.Format(t.Dispensed))
		}
	}
	doubles := 0
	byStan := map[string][]string{}
	for _, x := range txns {
		if x.intents > 1 {
			doubles++
			bad("transaction %s was dispensed %d times", x.id, x.intents)
		}
		if x.taken > 1 {
			doubles++
			bad("transaction %s: cash taken %d times", x.id, x.taken)
		}
		if x.intents > 0 {
			byStan[x.stan] = append(byStan[x.stan], x.id)
		}
	}
	for stan, ids := range byStan {
		if len(ids) > 1 {
			doubles++
			bad("the approval with STAN %s was dispensed for %d transactions %v", stan, len(ids), ids)
		}
	}
	if out > t.Dispensed {
		doubles++
	}
	c.Detail = fmt.Sprintf("%d notes to customers (%d picked − %d retracted) = %s; host approved %s − reversed %s = %s; %d double dispenses; Reconcile %s",
		in.Disp.notesOut(), in.Disp.dispensed(), in.Disp.RetractBin, in.Cur.Format(out),
		in.Cur.Format(t.Approved), in.Cur.Format(t.Reversed), in.Cur.Format(t.Dispensed), doubles, balanced(in.Host))
	c.OK = len(c.Problems) == 0
	return c
}

func balanced(r host.Report) string {
	if r.Err() == nil {
		return "balanced"
	}
	return fmt.Sprintf("found %d problems", len(r.Problems))
}

// (b) No journal record lost: every line verifies, the sequence has no
// gap, every process start is there, and every approved withdrawal is
// closed after its request: cash taken, or a reversal acknowledged, or
// recovery found the cash taken.
func checkJournal(in checkInput, txns []*txn) Check {
	c := Check{Name: "(b) no lost journal records"}
	bad := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }
	if in.JournErr != nil {
		bad("%v", in.JournErr)
	}
	starts, stops, torn := 0, 0, 0
	for i, r := range in.Records {
		if r.Seq != uint64(i+1) {
			bad("record %d has sequence number %d: records are missing or out of order", i+1, r.Seq)
			break
		}
	}
	for _, r := range in.Records {
		switch r.Kind {
		case "STARTUP":
			starts++
		case "SHUTDOWN":
			stops++
		case "JOURNAL-RECOVERED":
			torn++
		}
	}
	if starts != in.Starts {
		bad("%d STARTUP records for %d atmd processes started", starts, in.Starts)
	}
	if stops != in.Stops {
		bad("%d SHUTDOWN records for %d clean stops", stops, in.Stops)
	}
	c.Problems = append(c.Problems, in.KillRecordProblems...)
	approved := 0
	for _, t := range txns {
		if t.requests > 1 {
			bad("transaction id %s was used by %d requests: ids repeat across restarts", t.id, t.requests)
		}
		if !t.withdrawal || t.outcome != string(flows.Approved) {
			continue
		}
		approved++
		switch {
		case t.send == nil:
			bad("approved withdrawal %s has no HOST-SEND record", t.id)
		case t.takenSeq > t.send.Seq, t.ackedSeq > t.send.Seq, t.completeAt > t.send.Seq:
		default:
			bad("approved withdrawal %s (STAN %s) is not closed: no CASH-TAKEN, no REVERSAL-ACKED, no RECOVERED complete after its HOST-SEND", t.id, t.send.Fields["stan"])
		}
	}
	last := uint64(0)
	if n := len(in.Records); n > 0 {
		last = in.Records[n-1].Seq
	}
	c.Detail = fmt.Sprintf("%d records, every CRC good, sequence 1..%d; %d starts, %d clean stops, %d torn tails cut; the last record before %d kills on disk; %d approved withdrawals, all closed",
		len(in.Records), last, starts, stops, torn, in.KillRecords, approved)
	c.OK = len(c.Problems) == 0
	return c
}

// (c) Every transaction whose outcome was in doubt — left open by a
// crash, or timed out — was reversed or completed exactly once at the
// host; the ATM and the host agree on every withdrawal; no ledger entry
// was credited back twice.
func checkInDoubt(in checkInput, txns []*txn) Check {
	c := Check{Name: "(c) every in-doubt transaction reversed or completed exactly once"}
	bad := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }
	ledger := map[store.Key]*host.LedgerEntry{}
	for i := range in.Ledger {
		e := &in.Ledger[i]
		if e.TerminalID == in.ATM {
			ledger[e.Key] = e
		}
	}
	approvedEntry := func(e *host.LedgerEntry) bool {
		return e != nil && e.Kind == store.KindWithdrawal && e.RespCode == hostlink.RCApproved
	}
	seen := map[store.Key]bool{}
	var sent, completed, reversed, declined, doubt, doubtRev, doubtComp int
	for _, t := range txns {
		if !t.withdrawal || t.send == nil {
			continue
		}
		sent++
		key := store.Key{TerminalID: in.ATM, STAN: t.send.Fields["stan"], TransmitTime: t.send.Fields["time"]}
		seen[key] = true
		e := ledger[key]
		inDoubt := len(t.recovered) > 0 || t.outcome == string(flows.Unknown) || !t.replied
		if inDoubt {
			doubt++
		}
		name := fmt.Sprintf("withdrawal %s (STAN %s)", t.id, key.STAN)
		switch {
		case t.completed() && t.acked > 0 && t.partial() == 0:
			bad("%s was both completed (cash taken) and reversed", name)
		case t.acked > 0:
			reversed++
			if inDoubt {
				doubtRev++
			}
			for _, rc := range t.ackedRC {
				if rc != hostlink.RCApproved {
					bad("%s: its reversal was taken as acknowledged by a 0430 with response code %s, which says the host did not process it", name, rc)
				}
			}
			if approvedEntry(e) && !e.Reversed {
				bad("%s: the host acknowledged its reversal but did not reverse ledger entry %d", name, e.ID)
			}
			if approvedEntry(e) && e.Reversed && e.ReversedAmount != e.Amount-t.partial() {
				bad("%s: ledger entry %d credited back %s, want %s", name, e.ID, in.Cur.Format(e.ReversedAmount), in.Cur.Format(e.Amount-t.partial()))
			}
		case t.completed():
			completed++
			if inDoubt {
				doubtComp++
			}
			switch {
			case !approvedEntry(e):
				bad("%s: the customer took the cash, but the host has no approval for it", name)
			case e.Reversed:
				bad("%s: the customer took the cash, but the host reversed ledger entry %d", name, e.ID)
			}
		case t.replied && t.outcome != string(flows.Approved) && t.outcome != string(flows.Unknown) && len(t.queued) == 0 && len(t.recovered) == 0:
			declined++
			if approvedEntry(e) && !e.Reversed {
				bad("%s: declined at the ATM (%s), approved at the host and never reversed", name, t.outcome)
			}
		default:
			bad("%s is open: outcome %q, recovery %v, %d reversal acknowledgements, no cash taken", name, t.outcome, t.recovered, t.acked)
		}
	}
	processed, twice := 0, 0
	for i := range in.Ledger {
		e := &in.Ledger[i]
		n := in.Reversals[e.ID]
		processed += n
		if n > 1 {
			twice++
		}
		if e.TerminalID != in.ATM {
			continue
		}
		if approvedEntry(e) && !seen[e.Key] {
			bad("ledger entry %d (STAN %s) was approved at the host, but the ATM's journal never sent it", e.ID, e.STAN)
		}
		want := 0
		if e.Reversed {
			want = 1
		}
		if n != want {
			bad("ledger entry %d (STAN %s, reversed %v) was credited back %d times by the host's log", e.ID, e.STAN, e.Reversed, n)
		}
	}
	c.Detail = fmt.Sprintf("%d withdrawals sent: %d completed, %d reversed, %d declined; %d in doubt: %d reversed, %d completed; %d reversals processed at the host, %d entries reversed twice; on the wire %d advices (%d repeats) for %d originals",
		sent, completed, reversed, declined, doubt, doubtRev, doubtComp, processed, twice, in.Wire.Advices, in.Wire.Repeats, in.Wire.Originals)
	c.OK = len(c.Problems) == 0
	return c
}

// (d) Nonces never repeat: the dispenser's counter never goes back and
// grows with every withdrawal, and no nonce (nor the counter inside it)
// is sent twice.
func checkNonces(in checkInput) Check {
	c := Check{Name: "(d) nonces never repeat"}
	bad := func(format string, args ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, args...)) }
	var prev uint64
	for _, s := range in.Nonces {
		switch {
		case s.counter < prev:
			bad("the nonce counter went back from %d to %d (%s)", prev, s.counter, s.after)
		case s.grow && s.counter == prev:
			bad("the nonce counter did not grow over a withdrawal (%s)", s.after)
		}
		prev = max(prev, s.counter)
	}
	counters := map[uint64]int{}
	var nonces []string
	for nc, n := range in.Wire.Nonces {
		nonces = append(nonces, nc)
		if nc == "" {
			bad("%d withdrawal requests carried no nonce", n)
			continue
		}
		if n > 1 {
			bad("nonce %s… was sent in %d withdrawal requests", short(nc), n)
		}
		if b, err := hex.DecodeString(nc); err == nil && len(b) >= 8 {
			counters[binary.BigEndian.Uint64(b)] += n
		}
	}
	sort.Strings(nonces)
	for ctr, n := range counters {
		if n > 1 {
			bad("nonce counter %d appears in %d withdrawal requests", ctr, n)
		}
	}
	if uint64(len(nonces)) > prev && len(in.Nonces) > 0 {
		bad("%d distinct nonces on the wire, but the counter says only %d were issued", len(nonces), prev)
	}
	c.Detail = fmt.Sprintf("counter 0→%d over %d samples, never back; %d withdrawal requests on the wire, %d distinct nonces",
		prev, len(in.Nonces), in.Wire.Requests, len(nonces))
	c.OK = len(c.Problems) == 0
	return c
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
