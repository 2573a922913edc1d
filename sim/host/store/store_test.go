package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/sim/host/seed"
)

const seedYAML = `
customers:
  - id: c1
    name: Test One
    birth_date: 1990-01-31
    phone: "+886912000111"
    accounts:
      - id: a1
        currency: TWD
        balance: 25000
        daily_limit: 20000
    cards:
      - id: k1
        pan: "4761730000001019"
        pan_seq: 1
        expiry: "2912"
        name: TEST ONE
        account: a1
        pin: "7968"
        status: active
`

var lmkCheck = []byte{0xD5, 0x2F, 0xCD}

// fakePVV stands in for the HSM: it must not be the PIN itself.
func fakePVV(pan string, pin []byte) ([]byte, error) {
	out := make([]byte, len(pin))
	for i, c := range pin {
		out[i] = c ^ 0xA5
	}
	return out, nil
}

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	sd, err := seed.Parse([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "host.db")
	s, err := Create(context.Background(), path, sd, fakePVV, lmkCheck)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestCreateAndOpen(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	a, err := s.Account(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Account{ID: "a1", CustomerID: "c1", Currency: "TWD", Balance: 2_500_000, DailyLimit: 2_000_000, Opening: 2_500_000}); a != want {
		t.Errorf("account = %+v, want %+v", a, want)
	}
	c, err := s.Card(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if c.PAN != "4761730000001019" || c.Status != seed.StatusActive || c.PINTries != 0 || c.AccountID != "a1" || c.PANSeq != 1 {
		t.Errorf("card = %+v", c)
	}
	if want, _ := fakePVV("", []byte("7968")); !bytes.Equal(c.PVV, want) {
		t.Errorf("card PVV = %x, want %x", c.PVV, want)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		_, err := tx.AddBalance(ctx, "a1", -500_000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if a, err := s2.Account(ctx, "a1"); err != nil || a.Balance != 2_000_000 || a.Opening != 2_500_000 {
		t.Errorf("after reopen: balance %d, opening %d, %v; want 2000000, 2500000", a.Balance, a.Opening, err)
	}
	if c, err := s2.LMKCheck(ctx); err != nil || !bytes.Equal(c, lmkCheck) {
		t.Errorf("LMKCheck = %X, %v", c, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("missing file: err = %v, want ErrNoDatabase", err)
	}
	other := filepath.Join(dir, "other.db")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, other); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("empty file: err = %v, want ErrNoDatabase", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, "a?b.db")); err == nil {
		t.Error("path with '?' accepted")
	}
}

func TestCreateReplaces(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	if err := s.Update(ctx, func(tx *Tx) error {
		_, err := tx.AddBalance(ctx, "a1", -100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	sd, _ := seed.Parse([]byte(seedYAML))
	s2, err := Create(ctx, path, sd, fakePVV, lmkCheck)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if a, _ := s2.Account(ctx, "a1"); a.Balance != 2_500_000 {
		t.Errorf("balance after re-create = %d, want 2500000", a.Balance)
	}
}

func TestCreateRejectsBadSeed(t *testing.T) {
	bad := &seed.Seed{}
	_, err := Create(context.Background(), filepath.Join(t.TempDir(), "x.db"), bad, fakePVV, lmkCheck)
	if !errors.Is(err, seed.ErrInvalid) {
		t.Errorf("err = %v, want seed.ErrInvalid", err)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.AddBalance(ctx, "a1", -100); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if a, _ := s.Account(ctx, "a1"); a.Balance != 2_500_000 {
		t.Errorf("balance = %d after a failed update, want 2500000", a.Balance)
	}
}

func TestNoOverdraw(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	err := s.Update(ctx, func(tx *Tx) error {
		_, err := tx.AddBalance(ctx, "a1", -2_500_001)
		return err
	})
	if err == nil {
		t.Fatal("debit below zero succeeded")
	}
	if a, _ := s.Account(ctx, "a1"); a.Balance != 2_500_000 {
		t.Errorf("balance = %d, want 2500000", a.Balance)
	}
}

func TestLedger(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	day := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	entry := func(stan string, amount int64, rc string) Entry {
		return Entry{Time: day, Day: "2026-03-14", Key: Key{"ATM00001", stan, "0314093000"},
			CardID: "k1", Account: "a1", Kind: KindWithdrawal, Amount: amount, Currency: "TWD", RespCode: rc,
			AuthCode: "AB12CD", Balance: 1, Token: []byte{0, 1, 2}}
	}
	var first Entry
	err := s.Update(ctx, func(tx *Tx) error {
		var err error
		if first, err = tx.Append(ctx, entry("000001", 300_000, "00")); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, entry("000002", 200_000, "00")); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, entry("000003", 900_000, "51")); err != nil {
			return err
		}
		_, err = tx.Append(ctx, Entry{Time: day, Day: "2026-03-14", Key: Key{"ATM00001", "000004", "0314093000"},
			Kind: KindWithdrawal, RespCode: "14"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != 1 || first.RRN != "607300000001" {
		t.Errorf("first entry id %d rrn %q, want 1 and 607300000001", first.ID, first.RRN)
	}
	err = s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.Append(ctx, entry("000001", 1, "00")); err == nil {
			t.Error("a second entry with the same key was accepted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	err = s.Update(ctx, func(tx *Tx) error {
		n, err := tx.Withdrawn(ctx, "a1", "2026-03-14")
		if err != nil {
			return err
		}
		if n != 500_000 {
			t.Errorf("withdrawn = %d, want 500000 (declines do not count)", n)
		}
		e, err := tx.Find(ctx, Key{"ATM00001", "000001", "0314093000"})
		if err != nil {
			return err
		}
		if e.ID != first.ID || e.RRN != first.RRN || !bytes.Equal(e.Token, []byte{0, 1, 2}) || !e.Time.Equal(day) {
			t.Errorf("Find = %+v, want %+v", e, first)
		}
		if err := tx.MarkReversed(ctx, e.ID, 100_000, day.Add(time.Minute)); err != nil {
			return err
		}
		if n, _ := tx.Withdrawn(ctx, "a1", "2026-03-14"); n != 400_000 {
			t.Errorf("withdrawn after a partial reversal = %d, want 400000", n)
		}
		if n, _ := tx.Withdrawn(ctx, "a1", "2026-03-15"); n != 0 {
			t.Errorf("withdrawn the next day = %d, want 0", n)
		}
		if _, err := tx.Find(ctx, Key{"ATM00002", "000001", "0314093000"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find on another terminal: err = %v, want ErrNotFound", err)
		}
		if err := tx.MarkReversed(ctx, 99, 1, day); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkReversed(99): err = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("ledger has %d entries, want 4", len(all))
	}
	if !all[0].Reversed || all[0].ReversedAmount != 100_000 || !all[0].ReversalTime.Equal(day.Add(time.Minute)) {
		t.Errorf("reversed entry = %+v", all[0])
	}
	if all[3].CardID != "" || all[3].Account != "" || all[3].RRN != "607300000004" {
		t.Errorf("unknown-card entry = %+v", all[3])
	}
}

func TestCardsAndTerminals(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	err := s.Update(ctx, func(tx *Tx) error {
		c, err := tx.CardByPAN(ctx, "4761730000001019")
		if err != nil {
			return err
		}
		if c.ID != "k1" {
			t.Errorf("CardByPAN = %s, want k1", c.ID)
		}
		if _, err := tx.CardByPAN(ctx, "4761730000002033"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown PAN: err = %v, want ErrNotFound", err)
		}
		if err := tx.SetCard(ctx, "k1", seed.StatusBlocked, 3); err != nil {
			return err
		}
		if err := tx.SetCard(ctx, "nope", seed.StatusBlocked, 3); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetCard(nope): err = %v, want ErrNotFound", err)
		}
		if err := tx.SetTerminal(ctx, "ATM00001", true, now); err != nil {
			return err
		}
		return tx.SetTerminal(ctx, "ATM00001", false, now.Add(time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Card(ctx, "k1"); c.Status != seed.StatusBlocked || c.PINTries != 3 {
		t.Errorf("card = %s/%d, want blocked/3", c.Status, c.PINTries)
	}
	term, err := s.Terminal(ctx, "ATM00001")
	if err != nil {
		t.Fatal(err)
	}
	if term.SignedOn || !term.Updated.Equal(now.Add(time.Hour)) {
		t.Errorf("terminal = %+v", term)
	}
	if _, err := s.Terminal(ctx, "ATM00009"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown terminal: err = %v, want ErrNotFound", err)
	}
}

func TestActivateCard(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	activate := func(id string, pvv []byte) error {
		return s.Update(ctx, func(tx *Tx) error { return tx.ActivateCard(ctx, id, pvv) })
	}
	if err := activate("k1", []byte("pvv-new")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ActivateCard of an active card: err = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetCard(ctx, "k1", seed.StatusNew, 2) }); err != nil {
		t.Fatal(err)
	}
	if err := activate("k1", nil); err == nil {
		t.Fatal("ActivateCard accepted an empty PVV")
	}
	if err := activate("k1", []byte("pvv-new")); err != nil {
		t.Fatal(err)
	}
	c, err := s.Card(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != seed.StatusActive || c.PINTries != 0 || string(c.PVV) != "pvv-new" {
		t.Errorf("card = %s/%d/%q, want active/0/pvv-new", c.Status, c.PINTries, c.PVV)
	}
	if err := activate("k1", []byte("pvv-again")); !errors.Is(err, ErrNotFound) {
		t.Errorf("second ActivateCard: err = %v, want ErrNotFound", err)
	}
	if err := activate("nope", []byte("pvv")); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActivateCard(nope): err = %v, want ErrNotFound", err)
	}
}

func TestUpdateHonoursContext(t *testing.T) {
	s, _ := newStore(t)
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(*Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Update(ctx, func(*Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesOldSchema(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	if err := s.Update(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, "PRAGMA user_version = 1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), "schema version 1, want 2") {
		t.Errorf("Open of a version 1 database: err = %v", err)
	}
}

func TestTerminalKeys(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	now := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	if _, err := s.TerminalKeys(ctx, "ATM00001"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("keys before any exchange: err = %v, want ErrNotFound", err)
	}
	k1 := TerminalKeys{TerminalID: "ATM00001", TPK: []byte("tpk-1"), TAK: []byte("tak-1"), TDK: []byte("tdk-1"),
		TPKCheck: []byte{1, 1, 1}, TAKCheck: []byte{2, 2, 2}, TDKCheck: []byte{3, 3, 3}, Created: now}
	k2 := TerminalKeys{TerminalID: "ATM00001", Generation: 99, TPK: []byte("tpk-2"), TAK: []byte("tak-2"), TDK: []byte("tdk-2"),
		TPKCheck: []byte{4, 4, 4}, TAKCheck: []byte{5, 5, 5}, TDKCheck: []byte{6, 6, 6}, Created: now.Add(time.Hour)}
	other := k1
	other.TerminalID = "ATM00002"
	var gens []int64
	err := s.Update(ctx, func(tx *Tx) error {
		for _, k := range []TerminalKeys{k1, other, k2} {
			g, err := tx.SetTerminalKeys(ctx, k)
			if err != nil {
				return err
			}
			gens = append(gens, g)
		}
		got, err := tx.TerminalKeys(ctx, "ATM00001")
		if err != nil || string(got.TPK) != "tpk-2" {
			t.Errorf("TerminalKeys in the transaction = %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if gens[0] != 1 || gens[1] != 1 || gens[2] != 2 {
		t.Errorf("generations = %v, want [1 1 2]", gens)
	}
	s.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.TerminalKeys(ctx, "ATM00001")
	if err != nil {
		t.Fatal(err)
	}
	want := k2
	want.Generation = 2
	if !got.Created.Equal(want.Created) {
		t.Errorf("created %v, want %v", got.Created, want.Created)
	}
	got.Created = want.Created
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen: %+v, want %+v", got, want)
	}
	if got, _ := s2.TerminalKeys(ctx, "ATM00002"); got.Generation != 1 || string(got.TDK) != "tdk-1" {
		t.Errorf("other terminal: %+v", got)
	}
}

func TestTombstones(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	key := Key{TerminalID: "ATM00001", STAN: "000007", TransmitTime: "0314013000"}
	ts := Tombstone{Key: key, Amount: 300_000, ReversalSTAN: "000008", Time: now}
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.Tombstone(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("before: err = %v, want ErrNotFound", err)
		}
		if added, err := tx.AddTombstone(ctx, ts); err != nil || !added {
			t.Errorf("AddTombstone = %v, %v; want added", added, err)
		}
		again := ts
		again.ReversalSTAN, again.Time = "000009", now.Add(time.Minute)
		if added, err := tx.AddTombstone(ctx, again); err != nil || added {
			t.Errorf("second AddTombstone = %v, %v; want not added", added, err)
		}
		e, err := tx.Append(ctx, Entry{Time: now, Day: "2026-03-14", Key: key, Kind: KindWithdrawal, Amount: 300_000,
			Currency: "TWD", RespCode: "12"})
		if err != nil {
			return err
		}
		if err := tx.SetTombstoneEntry(ctx, key, e.ID); err != nil {
			return err
		}
		if err := tx.SetTombstoneEntry(ctx, Key{TerminalID: "X"}, e.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetTombstoneEntry of no tombstone: err = %v", err)
		}
		got, err := tx.Tombstone(ctx, key)
		if err != nil || got.LedgerID != e.ID || got.ReversalSTAN != "000008" || !got.Time.Equal(now) || got.Amount != 300_000 {
			t.Errorf("Tombstone = %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Tombstones(ctx)
	if err != nil || len(all) != 1 || all[0].Key != key {
		t.Errorf("Tombstones = %+v, %v", all, err)
	}
}

func TestAccountsAndLedgerInTx(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	err := s.Update(ctx, func(tx *Tx) error {
		as, err := tx.Accounts(ctx)
		if err != nil || len(as) != 1 || as[0].ID != "a1" || as[0].Opening != 2_500_000 {
			t.Errorf("Accounts = %+v, %v", as, err)
		}
		if _, err := tx.Append(ctx, Entry{Time: time.Unix(0, 1), Day: "1970-01-01", Key: Key{"T", "000001", "0101000000"},
			Kind: KindBalance, Currency: "TWD", RespCode: "00"}); err != nil {
			return err
		}
		l, err := tx.Ledger(ctx)
		if err != nil || len(l) != 1 {
			t.Errorf("Ledger = %+v, %v", l, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
