package host

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/sim/host/store"
)

// TestReconcile runs a mixed workload on two terminals and checks every
// total of the report.
func TestReconcile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k1 := f.keys

	// Terminal 1: bob 3,000 reversed in full, alice 5,000 of which 2,000
	// dispensed, bob 1,000 kept; declines and an inquiry move nothing.
	w1 := f.withdraw("bob-debit", 300_000)
	f.expectRC(w1, hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversal, w1, ""), hostlink.RCApproved)
	w2 := f.withdraw("alice-debit", 500_000)
	f.expectRC(w2, hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversal, w2, hostlink.ReplacementAmounts(200_000)), hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversalRepeat, w2, hostlink.ReplacementAmounts(200_000)), hostlink.RCApproved)
	f.expectRC(f.withdraw("bob-debit", 100_000), hostlink.RCApproved)
	f.expectRC(f.withdraw("carol-debit", 100_000), hostlink.RCInsufficientFunds)
	f.expectRC(f.inquiry("alice-debit"), hostlink.RCApproved)
	late := f.withdraw("frank-debit", 100_000)
	f.expectRC(f.reversal(hostlink.MTIReversal, late, ""), hostlink.RCApproved)
	f.expectRC(late, hostlink.RCInvalidTxn)

	// Terminal 2: frank 2,000 kept.
	f.keys = f.exchange(terminal2, tmk2)
	w3 := f.withdraw("frank-debit", 200_000)
	w3.TerminalID = terminal2
	f.expectRC(w3, hostlink.RCApproved)
	f.keys = k1

	rep, err := f.h.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil || !rep.Balanced() {
		t.Fatalf("not balanced: %v", err)
	}
	want := map[string]AccountReport{
		"alice-twd": {Account: "alice-twd", Currency: "TWD", Opening: 2_500_000, Withdrawn: 500_000, Reversed: 300_000, Balance: 2_300_000},
		"bob-twd":   {Account: "bob-twd", Currency: "TWD", Opening: 12_000_000, Withdrawn: 400_000, Reversed: 300_000, Balance: 11_900_000},
		"carol-twd": {Account: "carol-twd", Currency: "TWD", Opening: 30_000, Balance: 30_000},
		"frank-twd": {Account: "frank-twd", Currency: "TWD", Opening: 2_000_000, Withdrawn: 200_000, Balance: 1_800_000},
	}
	seen := 0
	for _, a := range rep.Accounts {
		if w, ok := want[a.Account]; ok {
			seen++
			if a != w {
				t.Errorf("account %s = %+v, want %+v", a.Account, a, w)
			}
		}
		if !a.Balanced() {
			t.Errorf("account %s not balanced: %+v", a.Account, a)
		}
		if got := f.balance(a.Account); got != a.Balance {
			t.Errorf("account %s: report %d, Balance %d", a.Account, a.Balance, got)
		}
	}
	if seen != len(want) {
		t.Errorf("report has %d of the %d accounts", seen, len(want))
	}
	wantTerms := []TerminalReport{
		{Terminal: terminal, Currency: "TWD", Approved: 900_000, ApprovedCount: 3, Reversed: 600_000, ReversedCount: 2, Dispensed: 300_000},
		{Terminal: terminal2, Currency: "TWD", Approved: 200_000, ApprovedCount: 1, Dispensed: 200_000},
	}
	if len(rep.Terminals) != 2 || rep.Terminals[0] != wantTerms[0] || rep.Terminals[1] != wantTerms[1] {
		t.Errorf("terminals = %+v\nwant %+v", rep.Terminals, wantTerms)
	}
	if got := rep.Terminal(terminal2, "TWD"); got != wantTerms[1] {
		t.Errorf("Terminal(terminal2) = %+v", got)
	}
	if got := rep.Terminal("ATM00099", "TWD"); got != (TerminalReport{Terminal: "ATM00099", Currency: "TWD"}) {
		t.Errorf("Terminal(unknown) = %+v", got)
	}
	if rep.Tombstones != 1 || rep.LateOriginals != 1 {
		t.Errorf("tombstones %d, late %d", rep.Tombstones, rep.LateOriginals)
	}
}

// TestReconcileFindsImbalance alters the database behind the host's back,
// one way per case, and expects a problem naming what is wrong.
func TestReconcileFindsImbalance(t *testing.T) {
	tests := []struct {
		name   string
		damage func(ctx context.Context, f *fixture, tx *store.Tx, approved, declined store.Entry) error
		want   string
	}{
		{"balance moved without a ledger entry", func(ctx context.Context, f *fixture, tx *store.Tx, _, _ store.Entry) error {
			_, err := tx.AddBalance(ctx, "alice-twd", -100)
			return err
		}, "account alice-twd: opening 2500000 − withdrawn 0 + reversed 0 = 2500000, but the balance is 2499900"},
		{"reversal credit without the balance", func(ctx context.Context, f *fixture, tx *store.Tx, a, _ store.Entry) error {
			return tx.MarkReversed(ctx, a.ID, 100_000, start)
		}, "account bob-twd: opening 12000000 − withdrawn 300000 + reversed 100000 = 11800000, but the balance is 11700000"},
		{"reversed more than approved", func(ctx context.Context, f *fixture, tx *store.Tx, a, _ store.Entry) error {
			if _, err := tx.AddBalance(ctx, a.Account, 400_000); err != nil {
				return err
			}
			return tx.MarkReversed(ctx, a.ID, 400_000, start)
		}, "credits back 400000 of an approval of 300000"},
		{"credit for a declined request", func(ctx context.Context, f *fixture, tx *store.Tx, _, d store.Entry) error {
			return tx.MarkReversed(ctx, d.ID, 100, start)
		}, "was not an approved withdrawal"},
		{"original approved after its tombstone", func(ctx context.Context, f *fixture, tx *store.Tx, a, _ store.Entry) error {
			k := a.Key
			k.STAN = "999999"
			if _, err := tx.AddTombstone(ctx, store.Tombstone{Key: k, Time: start}); err != nil {
				return err
			}
			return tx.SetTombstoneEntry(ctx, k, a.ID)
		}, "was approved after its reversal had been acknowledged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.expectRC(f.withdraw("bob-debit", 300_000), hostlink.RCApproved)
			f.expectRC(f.withdraw("carol-debit", 100_000), hostlink.RCInsufficientFunds)
			l := f.ledger()
			if rep, err := f.h.Reconcile(ctx); err != nil || rep.Err() != nil {
				t.Fatalf("before the damage: %v, %v", err, rep.Err())
			}
			if err := f.h.db.Update(ctx, func(tx *store.Tx) error { return tt.damage(ctx, f, tx, l[0], l[1]) }); err != nil {
				t.Fatal(err)
			}
			rep, err := f.h.Reconcile(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = rep.Err()
			if rep.Balanced() || !errors.Is(err, ErrUnbalanced) {
				t.Fatalf("damage not found: %+v", rep)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("problems %q, want one containing %q", rep.Problems, tt.want)
			}
			if !strings.Contains(string(f.logs.Bytes()), `"balanced":false`) {
				t.Error("no log line for the imbalance")
			}
		})
	}
}

// TestReconcileRules covers the rules a working host cannot break: an
// approval in another currency than its account, or for an account that
// does not exist.
func TestReconcileRules(t *testing.T) {
	accounts := []store.Account{{ID: "a", Currency: "TWD", Opening: 1000, Balance: 1000}}
	approved := func(id int64, acct, cur string) store.Entry {
		return store.Entry{ID: id, Key: store.Key{TerminalID: terminal}, Account: acct, Kind: store.KindWithdrawal,
			Amount: 100, Currency: cur, RespCode: hostlink.RCApproved}
	}
	credited := approved(3, "a", "TWD")
	credited.ReversedAmount = 100
	rep := reconcile(accounts, []store.Entry{approved(1, "a", "USD"), approved(2, "nope", "TWD"), credited}, nil)
	want := []string{
		"ledger entry 1 is in USD, its account a in TWD",
		`ledger entry 2 approves 100 for account "nope", which does not exist`,
		"ledger entry 3 credits back 100 without a reversal recorded",
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(rep.Problems, "\n"), w) {
			t.Errorf("problems %q lack %q", rep.Problems, w)
		}
	}
	if got := rep.Terminal(terminal, "TWD"); got.Approved != 200 || got.Reversed != 100 || got.Dispensed != 100 {
		t.Errorf("terminal TWD = %+v", got)
	}
	if got := rep.Terminal(terminal, "USD"); got.Approved != 100 {
		t.Errorf("terminal USD = %+v", got)
	}
	if empty := reconcile(nil, nil, nil); !empty.Balanced() || empty.Err() != nil {
		t.Errorf("empty database: %+v", empty)
	}
}

func TestReconcileNotOpen(t *testing.T) {
	h, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Reconcile(context.Background()); !errors.Is(err, ErrNotOpen) {
		t.Errorf("err = %v, want ErrNotOpen", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFixture(t)
	if _, err := f.h.Reconcile(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
