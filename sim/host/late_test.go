package host

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
)

// TestReversalBeforeOriginal: the network delays a 0200 past its
// reversal. The reversal is acknowledged and leaves a tombstone; the
// original, when it arrives, is declined with 12 and posts nothing, and
// so do its duplicates.
func TestReversalBeforeOriginal(t *testing.T) {
	for _, tt := range []struct {
		name        string
		replacement string
	}{
		{"full reversal", ""},
		{"partial reversal", hostlink.ReplacementAmounts(100_000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			orig := f.withdraw("bob-debit", 300_000) // built, delayed in the network
			rev := f.reversal(hostlink.MTIReversal, orig, tt.replacement)
			resp := f.expectRC(rev, hostlink.RCApproved)
			if resp.MTI != hostlink.MTIReversalResponse || resp.Original != rev.Original {
				t.Errorf("0430 = %s", hostlink.Describe(resp))
			}
			f.clk.Advance(10 * time.Second)
			f.expectRC(f.reversal(hostlink.MTIReversalRepeat, orig, tt.replacement), hostlink.RCApproved)
			ts, err := f.h.Tombstones(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 1 || ts[0].STAN != orig.STAN || ts[0].TransmitTime != orig.TransmitTime || ts[0].TerminalID != terminal ||
				ts[0].ReversalSTAN != rev.STAN || ts[0].Amount != 300_000 || !ts[0].Time.Equal(start) || ts[0].LedgerID != 0 {
				t.Fatalf("tombstones = %+v", ts)
			}

			f.clk.Advance(10 * time.Second)
			late := f.expectRC(orig, hostlink.RCInvalidTxn)
			if late.AuthCode != "" || late.Private != "" || late.AddAmounts != "" || late.RRN == "" {
				t.Errorf("late original answered %s", hostlink.Describe(late))
			}
			again := f.expectRC(orig, hostlink.RCInvalidTxn)
			if again.RRN != late.RRN {
				t.Error("a duplicate of the late original got another RRN")
			}
			f.expectRC(f.reversal(hostlink.MTIReversalRepeat, orig, tt.replacement), hostlink.RCApproved)
			if got := f.balance("bob-twd"); got != 12_000_000 {
				t.Errorf("balance = %d, want 12000000: something was posted", got)
			}
			l := f.ledger()
			if len(l) != 1 || l[0].RespCode != hostlink.RCInvalidTxn || l[0].CardID != "bob-debit" || l[0].Reversed {
				t.Fatalf("ledger = %+v", l)
			}
			ts, _ = f.h.Tombstones(ctx)
			if len(ts) != 1 || ts[0].LedgerID != l[0].ID {
				t.Errorf("tombstone not linked to the late original: %+v", ts)
			}
			if c, _ := f.h.db.Card(ctx, "bob-debit"); c.PINTries != 0 {
				t.Errorf("PIN tries = %d", c.PINTries)
			}
			rep, err := f.h.Reconcile(ctx)
			if err != nil || rep.Err() != nil {
				t.Fatalf("Reconcile: %v, %v", err, rep.Err())
			}
			if rep.Tombstones != 1 || rep.LateOriginals != 1 || rep.Terminal(terminal, "TWD").Dispensed != 0 {
				t.Errorf("report = %+v", rep)
			}
		})
	}
}

// TestTombstoneScope: a tombstone blocks only its own request: the same
// STAN with another transmission time, or from another terminal, is a
// different request.
func TestTombstoneScope(t *testing.T) {
	f := newFixture(t)
	orig := f.withdraw("bob-debit", 100_000)
	f.expectRC(f.reversal(hostlink.MTIReversal, orig, ""), hostlink.RCApproved)

	sameSTAN := *orig
	f.clk.Advance(time.Second)
	sameSTAN.TransmitTime = f.clk.Now().UTC().Format("0102150405")
	f.expectRC(&sameSTAN, hostlink.RCApproved)

	k1 := f.keys
	f.keys = f.exchange(terminal2, tmk2)
	other := f.withdraw("bob-debit", 100_000)
	other.STAN, other.TransmitTime, other.TerminalID = orig.STAN, orig.TransmitTime, terminal2
	f.expectRC(other, hostlink.RCApproved)
	f.keys = k1
	f.expectRC(orig, hostlink.RCInvalidTxn)
	if got := f.balance("bob-twd"); got != 11_800_000 {
		t.Errorf("balance = %d, want 11800000", got)
	}
}

// TestDuplicateAfterReversal: a copy of an approved 0200 that arrives
// after its reversal gets the recorded answer (same auth code and RRN)
// without its dispense token, and never debits again.
func TestDuplicateAfterReversal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := f.withdraw("bob-debit", 300_000)
	first := f.expectRC(req, hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversal, req, ""), hostlink.RCApproved)
	f.clk.Advance(time.Minute)
	for i := 0; i < 3; i++ {
		dup := f.expectRC(req, hostlink.RCApproved)
		if dup.AuthCode != first.AuthCode || dup.RRN != first.RRN || dup.AddAmounts != first.AddAmounts {
			t.Errorf("duplicate %d answered differently: %s", i, hostlink.Describe(dup))
		}
		if dup.Private != "" {
			t.Errorf("duplicate %d of a reversed approval carries a dispense token", i)
		}
		if got := f.balance("bob-twd"); got != 12_000_000 {
			t.Errorf("after duplicate %d: balance = %d, want 12000000", i, got)
		}
	}
	f.expectRC(f.reversal(hostlink.MTIReversalRepeat, req, ""), hostlink.RCApproved)
	if got := f.balance("bob-twd"); got != 12_000_000 {
		t.Errorf("after a repeated reversal: balance = %d", got)
	}
	if l := f.ledger(); len(l) != 1 || !l[0].Reversed || l[0].ReversedAmount != 300_000 {
		t.Errorf("ledger = %+v", l)
	}
	if ts, _ := f.h.Tombstones(ctx); len(ts) != 0 {
		t.Errorf("tombstones = %+v", ts)
	}
	rep, err := f.h.Reconcile(ctx)
	if err != nil || rep.Err() != nil {
		t.Fatalf("Reconcile: %v, %v", err, rep.Err())
	}
}

// TestOriginalAndReversalRace sends many withdrawals each racing its own
// reversal. Whichever wins, nothing stays posted: each is either
// approved and reversed, or declined after its tombstone, and the ledger
// balances.
func TestOriginalAndReversalRace(t *testing.T) {
	f := newFixture(t) // bob: NT$120,000, limit NT$100,000
	const n = 30
	reqs := make([]*hostlink.Message, n)
	revs := make([]*hostlink.Message, n)
	for i := range reqs {
		reqs[i] = f.withdraw("bob-debit", 100_000)
		revs[i] = f.reversal(hostlink.MTIReversal, reqs[i], "")
	}
	rcs := make([]string, n)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			rcs[i] = f.h.Handle(context.Background(), reqs[i]).RespCode
		}()
		go func() {
			defer wg.Done()
			if rc := f.h.Handle(context.Background(), revs[i]).RespCode; rc != hostlink.RCApproved {
				t.Errorf("reversal %d answered %s", i, rc)
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, rc := range rcs {
		count[rc]++
	}
	if count[hostlink.RCApproved]+count[hostlink.RCInvalidTxn] != n {
		t.Errorf("response codes %v, want only 00 and 12", count)
	}
	if got := f.balance("bob-twd"); got != 12_000_000 {
		t.Errorf("balance = %d, want 12000000", got)
	}
	rep, err := f.h.Reconcile(context.Background())
	if err != nil || rep.Err() != nil {
		t.Fatalf("Reconcile: %v, %v", err, rep.Err())
	}
	if rep.LateOriginals != count[hostlink.RCInvalidTxn] || rep.Terminal(terminal, "TWD").Dispensed != 0 {
		t.Errorf("report = %+v, codes %v", rep, count)
	}
	t.Logf("response codes %v", count)
}
