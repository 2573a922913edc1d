package devsim_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/cardreader/cardreadertest"
	"github.com/atmd/atmd/sim/devsim"
)

func TestCardReaderConformance(t *testing.T) {
	for name, caps := range map[string]cardreader.Capabilities{
		"default":   {},
		"magstripe": {Magstripe: true},
		"small-bin": {Chip: true, Retain: true, BinCapacity: 2},
	} {
		t.Run(name, func(t *testing.T) {
			cardreadertest.Run(t, func(t *testing.T) cardreadertest.Harness {
				r := devsim.NewCardReader(devsim.CardReaderOptions{Caps: caps})
				return cardreadertest.Harness{Dev: r, Insert: r.Insert, InsertUnreadable: r.InsertUnreadable, Take: r.Take}
			})
		})
	}
}

// logBuffer collects log lines written from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ctxT returns a context that ends with the test or after five seconds.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// insertCard runs Accept and Insert on r and returns what Accept read.
func insertCard(t *testing.T, r *devsim.CardReader) cardreader.Card {
	t.Helper()
	ctx := ctxT(t)
	type res struct {
		c   cardreader.Card
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := r.Accept(ctx)
		ch <- res{c, err}
	}()
	if err := r.Insert(ctx, cardreadertest.TestCard); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	got := <-ch
	if got.err != nil {
		t.Fatalf("Accept: %v", got.err)
	}
	return got.c
}

func TestCardReaderControl(t *testing.T) {
	var logs logBuffer
	r := devsim.NewCardReader(devsim.CardReaderOptions{Log: zerolog.New(&logs)})
	ctx := ctxT(t)
	if got := r.State(); got != devsim.CardEmpty {
		t.Fatalf("State = %q, want empty", got)
	}
	insertCard(t, r)
	if got := r.State(); got != devsim.CardInside {
		t.Fatalf("State after Accept = %q, want inside", got)
	}
	if err := r.Insert(ctx, cardreadertest.TestCard); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("second Insert = %v, want hal.ErrInvalid", err)
	}
	if err := r.Retain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Retained(); len(got) != 1 || got[0].PAN != cardreadertest.TestCard.PAN {
		t.Fatalf("Retained = %v, want the test card", got)
	}
	if got := r.State(); got != devsim.CardEmpty {
		t.Fatalf("State after Retain = %q, want empty", got)
	}
	pan := cardreadertest.TestCard.PAN
	if strings.Contains(logs.String(), pan) || !strings.Contains(logs.String(), pan[len(pan)-4:]) {
		t.Errorf("log must hold the masked PAN only:\n%s", logs.String())
	}
}

func TestCardReaderHaltEndsAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := devsim.NewCardReader(devsim.DefaultCardReaderOptions)
		errc := make(chan error, 1)
		go func() {
			_, err := r.Accept(t.Context())
			errc <- err
		}()
		synctest.Wait() // Accept is waiting for a card
		if err := r.Halt(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, hal.ErrCancelled) {
			t.Fatalf("Accept ended by Halt = %v, want hal.ErrCancelled", err)
		}
	})
}

func TestCardReaderFaults(t *testing.T) {
	tests := []struct {
		code      string
		state     hal.State
		errIs     error // what Eject of a card inside returns
		stillRead bool  // Accept still reads cards
	}{
		{devsim.CardReaderOffline, hal.Offline, hal.ErrOffline, false},
		{devsim.CardReaderJam, hal.HardwareError, nil, false},
		{devsim.CardReaderBinFull, hal.UserError, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			ctx := ctxT(t)
			r := devsim.NewCardReader(devsim.DefaultCardReaderOptions)
			insertCard(t, r)
			if err := r.Inject(tc.code); err != nil {
				t.Fatal(err)
			}
			if st := r.Status(); st.State != tc.state || st.Fault != tc.code {
				t.Fatalf("Status = %v, want %v %s", st, tc.state, tc.code)
			}
			if tc.stillRead {
				err := r.Retain(ctx)
				if !errors.Is(err, cardreader.ErrBinFull) || hal.FaultCode(err) != tc.code {
					t.Fatalf("Retain = %v, want ErrBinFull with code %s", err, tc.code)
				}
				if err := r.Eject(ctx); err != nil {
					t.Fatalf("Eject with a full bin: %v", err)
				}
			} else {
				err := r.Eject(ctx)
				if hal.FaultCode(err) != tc.code || (tc.errIs != nil && !errors.Is(err, tc.errIs)) {
					t.Fatalf("Eject = %v, want fault %s wrapping %v", err, tc.code, tc.errIs)
				}
				if r.State() != devsim.CardInside {
					t.Fatalf("card moved to %q during a fault", r.State())
				}
				if err := r.Halt(ctx); hal.FaultCode(err) != tc.code {
					t.Fatalf("Halt = %v, want fault %s", err, tc.code)
				}
			}
			r.Clear()
			if st := r.Status(); !st.OK() {
				t.Fatalf("Status after Clear = %v, want OK", st)
			}
			if err := r.Eject(ctx); err != nil {
				t.Fatalf("Eject after Clear: %v", err)
			}
		})
	}
}

func TestCardReaderFaultEndsWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := devsim.NewCardReader(devsim.DefaultCardReaderOptions)
		errc := make(chan error, 1)
		go func() {
			_, err := r.Accept(t.Context())
			errc <- err
		}()
		synctest.Wait()
		if err := r.Inject(devsim.CardReaderOffline); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, hal.ErrOffline) {
			t.Fatalf("waiting Accept after CRD-OFFLINE = %v, want hal.ErrOffline", err)
		}
	})
}

func TestCardReaderBinFillsUp(t *testing.T) {
	ctx := ctxT(t)
	r := devsim.NewCardReader(devsim.CardReaderOptions{Caps: cardreader.Capabilities{Chip: true, Retain: true, BinCapacity: 1}})
	insertCard(t, r)
	if err := r.Retain(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.Fault != devsim.CardReaderBinFull {
		t.Fatalf("Status with a full bin = %v, want %s", st, devsim.CardReaderBinFull)
	}
	r.Clear() // the technician empties the bin
	insertCard(t, r)
	if err := r.Retain(ctx); err != nil {
		t.Fatalf("Retain after the bin was emptied: %v", err)
	}
	if got := len(r.Retained()); got != 2 {
		t.Fatalf("Retained holds %d cards, want 2", got)
	}
}

func TestCardReaderUnknownFault(t *testing.T) {
	r := devsim.NewCardReader(devsim.DefaultCardReaderOptions)
	if err := r.Inject("PRN-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Inject(PRN-JAM) = %v, want hal.ErrInvalid", err)
	}
	if st := r.Status(); !st.OK() {
		t.Fatalf("Status after a refused Inject = %v", st)
	}
}
