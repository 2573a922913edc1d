package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Concurrent Updates share transactions (group commit), but each is
// still all or nothing: the failed ones leave no trace, the others all
// commit, durably, before their Update returns.
func TestGroupCommitIsolatesUpdates(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	boom := errors.New("boom")
	const n = 200
	// Hold the committer inside one Update so the others queue up and
	// are batched when it is released.
	inside, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, func(tx *Tx) error {
			close(inside)
			<-release
			_, err := tx.AddBalance(ctx, "a1", -1)
			return err
		})
	}()
	<-inside
	errs := make([]error, n)
	var started, wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			errs[i] = s.Update(ctx, func(tx *Tx) error {
				if _, err := tx.AddBalance(ctx, "a1", -1); err != nil {
					return err
				}
				if i%4 == 0 {
					return boom // after debiting: the debit must be undone
				}
				return nil
			})
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	ok := 1
	for i, err := range errs {
		switch {
		case i%4 == 0 && !errors.Is(err, boom):
			t.Errorf("update %d: err = %v, want boom", i, err)
		case i%4 != 0 && err != nil:
			t.Errorf("update %d: %v", i, err)
		case err == nil:
			ok++
		}
	}
	want := int64(2_500_000 - ok)
	if a, _ := s.Account(ctx, "a1"); a.Balance != want {
		t.Errorf("balance = %d, want %d", a.Balance, want)
	}
	// What Update reported committed is in the file.
	s.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if a, _ := s2.Account(ctx, "a1"); a.Balance != want {
		t.Errorf("balance after reopening = %d, want %d", a.Balance, want)
	}
}

// A batch whose transaction breaks under it (here: an Update rolls the
// whole transaction back behind the store's back) fails the Updates that
// ran in it, and the ones after it run in the next transaction.
func TestBrokenBatchFailsOnlyWhatRan(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	inside, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, func(tx *Tx) error {
			close(inside)
			<-release
			if _, err := tx.AddBalance(ctx, "a1", -5); err != nil {
				return err
			}
			_, err := tx.tx.ExecContext(ctx, "ROLLBACK") // breaks the shared transaction
			return err
		})
	}()
	<-inside
	later := make(chan error, 1)
	queued := make(chan struct{})
	go func() {
		close(queued)
		later <- s.Update(ctx, func(tx *Tx) error {
			_, err := tx.AddBalance(ctx, "a1", -7)
			return err
		})
	}()
	<-queued
	close(release)
	if err := <-first; err == nil {
		t.Error("the update that broke the transaction succeeded")
	}
	if err := <-later; err != nil {
		t.Errorf("an update after a broken batch failed: %v", err)
	}
	if a, _ := s.Account(ctx, "a1"); a.Balance != 2_500_000-7 {
		t.Errorf("balance = %d, want %d", a.Balance, 2_500_000-7)
	}
}

func TestUpdateAfterClose(t *testing.T) {
	s, _ := newStore(t)
	s.Close()
	if err := s.Update(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A caller that goes away while its Update is running (a terminal that
// disconnects mid-request) does not interrupt the statements half way or
// wedge the shared transaction: the Update finishes, and the next ones
// run. The fault-injection suite found this: a kill right after the ATM
// wrote its 0200 left the host's database locked.
func TestCallerGoneMidUpdateDoesNotWedgeTheStore(t *testing.T) {
	s, _ := newStore(t)
	defer s.Close()
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		go func() { <-started; cancel() }() // the caller goes away mid-Update
		_ = s.Update(ctx, func(tx *Tx) error {
			close(started)
			for j := 0; j < 50; j++ {
				if _, err := tx.CardByPAN(ctx, "4761730000001019"); err != nil {
					return err
				}
			}
			return nil
		})
		done := make(chan error, 1)
		go func() {
			done <- s.Update(context.Background(), func(tx *Tx) error {
				_, err := tx.CardByPAN(context.Background(), "4761730000001019")
				return err
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: the next Update failed: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the store is wedged after a caller went away mid-Update", i)
		}
	}
}
