package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/sim/host/store"
)

// ErrUnbalanced is wrapped by Report.Err when the ledger does not
// balance.
var ErrUnbalanced = errors.New("host: ledger does not balance")

// Report is the result of Reconcile. Amounts are in minor units of their
// currency.
type Report struct {
	Accounts  []AccountReport  // every account, by id
	Terminals []TerminalReport // every terminal and currency with an approved withdrawal, by terminal then currency
	// Tombstones counts the reversals that arrived before their
	// originals; LateOriginals how many of those originals arrived
	// afterwards (and were declined).
	Tombstones, LateOriginals int
	// Problems lists every rule broken, one sentence each naming the
	// account, terminal or ledger entry; empty when the ledger balances.
	Problems []string
}

// AccountReport is one account's reconciliation.
type AccountReport struct {
	Account   string
	Currency  string // ISO 4217 alpha
	Opening   int64  // the balance the database was created with
	Withdrawn int64  // Σ approved withdrawals
	Reversed  int64  // Σ amounts credited back by reversals
	Balance   int64  // the balance now
}

// Expected returns Opening − Withdrawn + Reversed: what Balance must be.
func (a AccountReport) Expected() int64 { return a.Opening - a.Withdrawn + a.Reversed }

// Balanced reports whether Balance is Expected.
func (a AccountReport) Balanced() bool { return a.Balance == a.Expected() }

// TerminalReport is the cash one terminal handed out in one currency,
// according to the host.
type TerminalReport struct {
	Terminal      string
	Currency      string // ISO 4217 alpha
	Approved      int64  // Σ approved withdrawals
	ApprovedCount int
	Reversed      int64 // Σ amounts credited back by reversals of them
	ReversedCount int   // approvals with a reversal processed (full or partial)
	Dispensed     int64 // Approved − Reversed: the cash that left the terminal
}

// Balanced reports whether no rule is broken.
func (r Report) Balanced() bool { return len(r.Problems) == 0 }

// Err returns nil when the ledger balances, and otherwise an error
// wrapping ErrUnbalanced that lists the problems.
func (r Report) Err() error {
	if r.Balanced() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnbalanced, strings.Join(r.Problems, "; "))
}

// Terminal returns the totals of a terminal in a currency (ISO 4217
// alpha); zero totals when it approved nothing there.
func (r Report) Terminal(id, currency string) TerminalReport {
	for _, t := range r.Terminals {
		if t.Terminal == id && t.Currency == currency {
			return t
		}
	}
	return TerminalReport{Terminal: id, Currency: currency}
}

// Reconcile checks the ledger against the balances, in one consistent
// snapshot of the database:
//
//   - per account: opening − Σ approved withdrawals + Σ reversed amounts
//     = current balance;
//   - per approved withdrawal: it names an account in its currency, and
//     0 ≤ reversed amount ≤ amount, a credit only with the reversal
//     recorded; nothing is credited for a declined request or a balance
//     inquiry;
//   - per tombstone: the original that arrived after it was not approved.
//
// It also totals, per terminal and currency, approved − reversed =
// dispensed according to the host, for comparison with the terminal's
// own counters. A broken rule is reported in Report.Problems, not as an
// error; the error is for a database that cannot be read.
func (h *Host) Reconcile(ctx context.Context) (Report, error) {
	db, err := h.store()
	if err != nil {
		return Report{}, err
	}
	var (
		accounts []store.Account
		ledger   []store.Entry
		stones   []store.Tombstone
	)
	// Update, not a plain read, so that no request commits halfway
	// through the three reads.
	err = db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if accounts, err = tx.Accounts(ctx); err != nil {
			return err
		}
		if ledger, err = tx.Ledger(ctx); err != nil {
			return err
		}
		stones, err = tx.Tombstones(ctx)
		return err
	})
	if err != nil {
		return Report{}, fmt.Errorf("host: reconcile: %w", err)
	}
	rep := reconcile(accounts, ledger, stones)
	ev := h.log.Info()
	if !rep.Balanced() {
		ev = h.log.Error().Strs("problems", rep.Problems)
	}
	ev.Int("accounts", len(rep.Accounts)).Int("entries", len(ledger)).Int("tombstones", rep.Tombstones).
		Bool("balanced", rep.Balanced()).Msg("ledger reconciled")
	return rep, nil
}

// reconcile applies the rules of Reconcile to a snapshot.
func reconcile(accounts []store.Account, ledger []store.Entry, stones []store.Tombstone) Report {
	var rep Report
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	byID := make(map[string]*AccountReport, len(accounts))
	rep.Accounts = make([]AccountReport, len(accounts))
	for i, a := range accounts {
		rep.Accounts[i] = AccountReport{Account: a.ID, Currency: a.Currency, Opening: a.Opening, Balance: a.Balance}
		byID[a.ID] = &rep.Accounts[i]
	}
	type termKey struct{ terminal, currency string }
	terms := map[termKey]*TerminalReport{}
	approved := make(map[int64]bool, len(ledger))

	for _, e := range ledger {
		if e.Kind != store.KindWithdrawal || e.RespCode != hostlink.RCApproved {
			if e.ReversedAmount != 0 {
				problem("ledger entry %d (%s, rc %s) has %d credited back, but was not an approved withdrawal",
					e.ID, e.Kind, e.RespCode, e.ReversedAmount)
			}
			continue
		}
		approved[e.ID] = true
		switch {
		case e.ReversedAmount < 0 || e.ReversedAmount > e.Amount:
			problem("ledger entry %d credits back %d of an approval of %d", e.ID, e.ReversedAmount, e.Amount)
		case e.ReversedAmount > 0 && !e.Reversed:
			problem("ledger entry %d credits back %d without a reversal recorded", e.ID, e.ReversedAmount)
		}
		a := byID[e.Account]
		switch {
		case a == nil:
			problem("ledger entry %d approves %d for account %q, which does not exist", e.ID, e.Amount, e.Account)
		case a.Currency != e.Currency:
			problem("ledger entry %d is in %s, its account %s in %s", e.ID, e.Currency, a.Account, a.Currency)
		default:
			a.Withdrawn += e.Amount
			a.Reversed += e.ReversedAmount
		}
		k := termKey{e.TerminalID, e.Currency}
		t := terms[k]
		if t == nil {
			t = &TerminalReport{Terminal: e.TerminalID, Currency: e.Currency}
			terms[k] = t
		}
		t.Approved += e.Amount
		t.ApprovedCount++
		t.Reversed += e.ReversedAmount
		if e.Reversed {
			t.ReversedCount++
		}
	}
	for _, a := range rep.Accounts {
		if !a.Balanced() {
			problem("account %s: opening %d − withdrawn %d + reversed %d = %d, but the balance is %d",
				a.Account, a.Opening, a.Withdrawn, a.Reversed, a.Expected(), a.Balance)
		}
	}
	for _, t := range terms {
		t.Dispensed = t.Approved - t.Reversed
		rep.Terminals = append(rep.Terminals, *t)
	}
	sort.Slice(rep.Terminals, func(i, j int) bool {
		a, b := rep.Terminals[i], rep.Terminals[j]
		return a.Terminal < b.Terminal || a.Terminal == b.Terminal && a.Currency < b.Currency
	})
	rep.Tombstones = len(stones)
	for _, ts := range stones {
		if ts.LedgerID == 0 {
			continue
		}
		rep.LateOriginals++
		if approved[ts.LedgerID] {
			problem("ledger entry %d (terminal %s STAN %s) was approved after its reversal had been acknowledged",
				ts.LedgerID, ts.TerminalID, ts.STAN)
		}
	}
	return rep
}
