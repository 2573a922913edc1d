package atm

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/saf"
	"github.com/atmd/atmd/journal"
)

// origin is what a reversal needs of the request it reverses. The runner
// takes it from the message it sent; recovery from the HOST-SEND record
// written before that message left.
type origin struct {
	MTI, STAN, Time, Proc, Currency string
	Amount                          int64
}

func originOf(m *hostlink.Message) origin {
	return origin{MTI: m.MTI, STAN: m.STAN, Time: m.TransmitTime, Proc: m.ProcCode, Currency: m.Currency, Amount: m.Amount}
}

// fields are the HOST-SEND journal fields for o.
func (o origin) fields(txn string) map[string]string {
	return map[string]string{"txn": txn, "mti": o.MTI, "stan": o.STAN, "time": o.Time, "proc": o.Proc,
		"currency": o.Currency, "amount": strconv.FormatInt(o.Amount, 10)}
}

func originFromRecord(r journal.Record) (origin, error) {
	f := r.Fields
	amt, err := strconv.ParseInt(f["amount"], 10, 64)
	o := origin{MTI: f["mti"], STAN: f["stan"], Time: f["time"], Proc: f["proc"], Currency: f["currency"], Amount: amt}
	if err != nil || o.MTI == "" || o.STAN == "" || len(o.Time) != 10 {
		return o, fmt.Errorf("atm: HOST-SEND record %d is incomplete", r.Seq)
	}
	return o, nil
}

// reversalAdvice builds the 0420 for an original request. It carries no
// card data: the host finds the original by terminal and field 90.
func reversalAdvice(o origin, stan, reason string, dispensed int64) (hostlink.Message, error) {
	code := hostlink.ReasonCancelled
	switch reason {
	case "timeout":
		code = hostlink.ReasonTimeout
	case "dispense-fault":
		code = hostlink.ReasonMisdispense
		if dispensed > 0 {
			code = hostlink.ReasonPartial
		}
	}
	var t hostlink.TLV
	t.Set(hostlink.TagReason, code)
	p, err := t.Encode()
	if err != nil {
		return hostlink.Message{}, err
	}
	m := hostlink.Message{
		MTI: hostlink.MTIReversal, STAN: stan, ProcCode: o.Proc, Amount: o.Amount, Currency: o.Currency, Private: p,
		Original: hostlink.OriginalData(&hostlink.Message{MTI: o.MTI, STAN: o.STAN, TransmitTime: o.Time}),
	}
	if dispensed > 0 {
		m.Replacement = hostlink.ReplacementAmounts(dispensed)
	}
	return m, nil
}

// txnHistory is what the journal says about one withdrawal.
type txnHistory struct {
	id         string
	withdrawal bool
	sent       *journal.Record // last HOST-SEND
	outcome    string          // TXN-REPLY outcome, "" when no reply
	intent     bool            // DISPENSE-INTENT
	stan       string          // the approved STAN (the token's transaction)
	taken      bool            // CASH-TAKEN
	revQueued  *journal.Record // REVERSAL-QUEUED
	revAcked   bool
	recovered  bool
}

func histories(recs []journal.Record) []*txnHistory {
	var order []*txnHistory
	by := map[string]*txnHistory{}
	get := func(id string) *txnHistory {
		h, ok := by[id]
		if !ok {
			h = &txnHistory{id: id}
			by[id] = h
			order = append(order, h)
		}
		return h
	}
	for i := range recs {
		r := &recs[i]
		id := r.Fields["txn"]
		if id == "" {
			continue
		}
		h := get(id)
		switch r.Kind {
		case "TXN-REQUEST":
			h.withdrawal = r.Fields["kind"] == "withdrawal"
		case "HOST-SEND":
			h.sent = r
		case "TXN-REPLY":
			h.outcome = r.Fields["outcome"]
			h.stan = r.Fields["stan"]
		case "DISPENSE-INTENT":
			h.intent = true
		case "CASH-TAKEN":
			h.taken = true
		case "REVERSAL-QUEUED":
			h.revQueued = r
		case "REVERSAL-ACKED":
			h.revAcked = true
		case "RECOVERED":
			h.recovered = true
		}
	}
	return order
}

// recovery decides, after a restart, what happened to every withdrawal
// the journal leaves open, and makes it right: a reversal for anything
// the host may have approved that did not reach the customer, notes left
// in the dispenser retracted first. It runs before the ATM takes a
// customer. Each decision is journaled (RECOVERED), so a crash during
// recovery repeats it safely: queuing a reversal twice is harmless (the
// queue and the host both recognise it), and a retract with nothing left
// does nothing.
type recovery struct {
	j    *journal.Journal
	q    *saf.Queue
	disp dispenser.Dispenser
	stan hostlink.STANSource
	log  zerolog.Logger
}

func (rc *recovery) run(ctx context.Context) error {
	var last *dispenser.LastDispense
	for _, h := range histories(rc.j.Records(nil)) {
		if !h.withdrawal || h.recovered || h.revAcked {
			continue
		}
		action, reason, err := rc.decide(ctx, h, &last)
		if err != nil {
			return err
		}
		if action == "" {
			continue
		}
		if reason != "" {
			if err := rc.queue(h, reason); err != nil {
				return err
			}
		}
		if _, err := rc.j.Append("RECOVERED", "", map[string]string{"txn": h.id, "action": action, "reason": reason}); err != nil {
			return err
		}
		rc.log.Warn().Str("txn", h.id).Str("action", action).Str("reason", reason).Msg("recovered an open transaction")
	}
	return nil
}

// decide returns what to do (action "" = nothing open) and the reversal
// reason ("" = no reversal).
func (rc *recovery) decide(ctx context.Context, h *txnHistory, last **dispenser.LastDispense) (action, reason string, err error) {
	switch {
	case h.revQueued != nil:
		// The flows decided to reverse; make sure the queue has it.
		if rc.q.Has(h.id) {
			return "", "", nil
		}
		return "requeue-reversal", h.revQueued.Fields["reason"], nil
	case h.taken:
		return "", "", nil // complete
	case h.sent == nil:
		return "", "", nil // never left the ATM
	case h.outcome == "":
		return "reverse-no-reply", "timeout", nil
	case h.outcome == "unknown":
		return "reverse-unknown", "timeout", nil
	case h.outcome != "approved":
		return "", "", nil // declined: nothing posted
	case !h.intent:
		return "reverse-not-dispensed", "cancelled", nil
	}
	// Approved and the dispense was intended: ask the dispenser.
	if *last == nil {
		rec, ok := rc.disp.(dispenser.Recoverer)
		if !ok {
			return "", "", errors.New("atm: the dispenser cannot report its last dispense; recovery needs it")
		}
		l, err := rec.LastDispense(ctx)
		if err != nil {
			return "", "", fmt.Errorf("atm: recovery: %w", err)
		}
		*last = &l
	}
	l := **last
	if l.Txn != h.stan {
		return "reverse-not-dispensed", "cancelled", nil
	}
	switch l.State {
	case dispenser.LastTaken:
		return "complete", "", nil
	case dispenser.LastRetracted:
		return "reverse-retracted", "cash-not-taken", nil
	case dispenser.LastPicking, dispenser.LastStacked, dispenser.LastPresented:
		n, err := rc.disp.Retract(ctx)
		want := 0
		for _, x := range l.Notes {
			want += x.Count
		}
		if _, jerr := rc.j.Append("CASH-RETRACTED", "", map[string]string{"txn": h.id, "notes": strconv.Itoa(n), "expected": strconv.Itoa(want), "error": errText(err), "by": "recovery"}); jerr != nil {
			return "", "", jerr
		}
		if err == nil && n == want {
			return "reverse-retracted", "cash-not-taken", nil
		}
		if _, jerr := rc.j.Append("RETRACT-MISMATCH", "", map[string]string{"txn": h.id}); jerr != nil {
			return "", "", jerr
		}
		return "reconcile", "", nil
	}
	return "reverse-not-dispensed", "cancelled", nil
}

func (rc *recovery) queue(h *txnHistory, reason string) error {
	if h.sent == nil {
		return fmt.Errorf("atm: recovery: transaction %s has no HOST-SEND record to reverse", h.id)
	}
	o, err := originFromRecord(*h.sent)
	if err != nil {
		return err
	}
	var dispensed int64
	if h.revQueued != nil {
		dispensed, _ = strconv.ParseInt(h.revQueued.Fields["dispensed"], 10, 64)
	}
	m, err := reversalAdvice(o, rc.stan.NextSTAN(), reason, dispensed)
	if err != nil {
		return err
	}
	return rc.q.Add(saf.Advice{ID: h.id, Msg: m})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
