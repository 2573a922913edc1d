package cardreadertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
)

// Harness is a card reader under test plus the far side that plays the
// customer.
type Harness struct {
	// Dev is the device under test.
	Dev cardreader.Reader
	// Insert inserts a readable card holding c's data. It blocks until
	// the slot is enabled and returns once the reader has the card.
	Insert func(ctx context.Context, c cardreader.Card) error
	// InsertUnreadable inserts a card the reader cannot read, likewise.
	InsertUnreadable func(ctx context.Context) error
	// Take takes the presented card; it blocks until one is presented.
	Take func(ctx context.Context) error
}

// TestCard is the card the suite inserts; Technology is set to one the
// reader supports.
var TestCard = cardreader.Card{
	PAN:    "4761739001010119",
	PANSeq: "01",
	Expiry: "2712",
	Track2: "4761739001010119=27122011143804400000",
	Name:   "TEST/CARDHOLDER",
}

const (
	// wait bounds every step expected to finish.
	wait = 5 * time.Second
	// short is the deadline for steps expected to block.
	short = 50 * time.Millisecond
)

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online reader with an empty bin; it should register
// its own cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"AcceptEjectTake", testAcceptEjectTake},
		{"Unreadable", testUnreadable},
		{"EmptyReader", testEmptyReader},
		{"AcceptCancelDisablesSlot", testAcceptCancel},
		{"AcceptWithCardInside", testAcceptWithCardInside},
		{"EndedContext", testEndedContext},
		{"Retain", testRetain},
		{"Halt", testHalt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testIdentity(t *testing.T, h Harness) {
	if h.Dev.String() == "" {
		t.Error("String is empty")
	}
	if st := h.Dev.Status(); st.State != hal.Online || st.Fault != "" {
		t.Errorf("fresh Status = %v, want online without fault", st)
	}
	c := h.Dev.Capabilities()
	if !c.Chip && !c.Magstripe {
		t.Errorf("Capabilities %+v read neither chip nor magstripe", c)
	}
	if c.Retain != (c.BinCapacity > 0) {
		t.Errorf("Capabilities %+v: Retain and BinCapacity disagree", c)
	}
}

func testAcceptEjectTake(t *testing.T, h Harness) {
	want := testCard(h)
	got := insertCard(t, h)
	if got.PAN != want.PAN || got.Expiry != want.Expiry || got.Technology != want.Technology {
		t.Errorf("Accept = %v, want %v", got, want)
	}
	ctx := timeout(t, wait)
	if err := h.Dev.Eject(ctx); err != nil {
		t.Fatalf("Eject: %v", err)
	}
	if err := h.Dev.Eject(ctx); err != nil {
		t.Errorf("Eject of a presented card: %v, want nil", err)
	}
	if err := h.Dev.WaitTaken(timeout(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTaken before the card is taken = %v, want deadline exceeded", err)
	}
	taken := async(func() (struct{}, error) { return struct{}{}, h.Dev.WaitTaken(ctx) })
	if err := h.Take(ctx); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if _, err := await(t, taken); err != nil {
		t.Errorf("WaitTaken after Take: %v", err)
	}
	if err := h.Dev.Eject(ctx); !errors.Is(err, cardreader.ErrNoCard) {
		t.Errorf("Eject after the card was taken = %v, want ErrNoCard", err)
	}
}

func testUnreadable(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	res := async(func() (cardreader.Card, error) { return h.Dev.Accept(ctx) })
	if err := h.InsertUnreadable(ctx); err != nil {
		t.Fatalf("InsertUnreadable: %v", err)
	}
	if _, err := await(t, res); !errors.Is(err, cardreader.ErrUnreadable) {
		t.Fatalf("Accept of an unreadable card = %v, want ErrUnreadable", err)
	}
	if err := h.Take(ctx); err != nil {
		t.Fatalf("Take of the ejected unreadable card: %v", err)
	}
	if err := h.Dev.WaitTaken(ctx); err != nil {
		t.Errorf("WaitTaken after Take: %v", err)
	}
}

func testEmptyReader(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	if err := h.Dev.Eject(ctx); !errors.Is(err, cardreader.ErrNoCard) {
		t.Errorf("Eject of an empty reader = %v, want ErrNoCard", err)
	}
	wantRetain := cardreader.ErrNoCard
	if !h.Dev.Capabilities().Retain {
		wantRetain = hal.ErrUnsupported
	}
	if err := h.Dev.Retain(ctx); !errors.Is(err, wantRetain) {
		t.Errorf("Retain on an empty reader = %v, want %v", err, wantRetain)
	}
	if err := h.Dev.WaitTaken(ctx); err != nil {
		t.Errorf("WaitTaken on an empty reader = %v, want nil", err)
	}
	if st := h.Dev.Status(); !st.OK() {
		t.Errorf("Status after refused commands = %v, want OK", st)
	}
}

func testAcceptCancel(t *testing.T, h Harness) {
	start := time.Now()
	_, err := h.Dev.Accept(timeout(t, short))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept without a card = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > wait/2 {
		t.Errorf("Accept returned %v after its deadline", d)
	}
	if err := h.Insert(timeout(t, short), testCard(h)); err == nil {
		t.Fatal("Insert succeeded after Accept's context ended: the slot is still enabled")
	}
	insertCard(t, h) // the next Accept works
}

func testAcceptWithCardInside(t *testing.T, h Harness) {
	insertCard(t, h)
	ctx := timeout(t, wait)
	if _, err := h.Dev.Accept(ctx); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Accept with a card inside = %v, want hal.ErrInvalid", err)
	}
	if err := h.Dev.Eject(ctx); err != nil {
		t.Fatalf("Eject after the refused Accept: %v", err)
	}
	if _, err := h.Dev.Accept(ctx); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Accept with a card presented = %v, want hal.ErrInvalid", err)
	}
	if err := h.Take(ctx); err != nil {
		t.Fatalf("Take after the refused Accept: %v", err)
	}
}

func testEndedContext(t *testing.T, h Harness) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Dev.Accept(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept(cancelled) = %v, want context.Canceled", err)
	}
	insertCard(t, h)
	if err := h.Dev.Eject(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Eject(cancelled) = %v, want context.Canceled", err)
	}
	if h.Dev.Capabilities().Retain {
		if err := h.Dev.Retain(cancelled); !errors.Is(err, context.Canceled) {
			t.Errorf("Retain(cancelled) = %v, want context.Canceled", err)
		}
	}
	// The card is still inside: Take cannot have it until it is ejected.
	if err := h.Take(timeout(t, short)); err == nil {
		t.Fatal("card was presented by a call with a cancelled context")
	}
	ctx := timeout(t, wait)
	if err := h.Dev.Eject(ctx); err != nil {
		t.Fatalf("Eject: %v", err)
	}
	if err := h.Dev.WaitTaken(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitTaken(cancelled) = %v, want context.Canceled", err)
	}
	if err := h.Take(ctx); err != nil {
		t.Fatalf("Take: %v", err)
	}
}

func testRetain(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	caps := h.Dev.Capabilities()
	if !caps.Retain {
		insertCard(t, h)
		if err := h.Dev.Retain(ctx); !errors.Is(err, hal.ErrUnsupported) {
			t.Fatalf("Retain without the capability = %v, want hal.ErrUnsupported", err)
		}
		ejectAndTake(t, h)
		return
	}
	for i := 0; i < caps.BinCapacity; i++ {
		insertCard(t, h)
		if err := h.Dev.Retain(ctx); err != nil {
			t.Fatalf("Retain of card %d of %d: %v", i+1, caps.BinCapacity, err)
		}
		if err := h.Dev.Eject(ctx); !errors.Is(err, cardreader.ErrNoCard) {
			t.Fatalf("Eject after Retain = %v, want ErrNoCard", err)
		}
	}
	insertCard(t, h)
	if err := h.Dev.Retain(ctx); !errors.Is(err, cardreader.ErrBinFull) {
		t.Fatalf("Retain into a full bin = %v, want ErrBinFull", err)
	}
	ejectAndTake(t, h) // the card was not lost
}

func testHalt(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	if err := h.Dev.Halt(ctx); err != nil {
		t.Fatalf("Halt of an empty reader: %v", err)
	}
	insertCard(t, h)
	for i := 0; i < 2; i++ {
		if err := h.Dev.Halt(ctx); err != nil {
			t.Fatalf("Halt %d with a card inside: %v", i+1, err)
		}
	}
	if err := h.Take(ctx); err != nil {
		t.Fatalf("Take after Halt (the card must be presented): %v", err)
	}
	if err := h.Insert(timeout(t, short), testCard(h)); err == nil {
		t.Fatal("Insert succeeded after Halt: the slot is still enabled")
	}
	if st := h.Dev.Status(); !st.OK() {
		t.Errorf("Status after Halt = %v, want OK", st)
	}
	insertCard(t, h) // usable after Halt
	ejectAndTake(t, h)
}

// testCard returns TestCard with a technology the reader supports.
func testCard(h Harness) cardreader.Card {
	c := TestCard
	c.Technology = cardreader.Magstripe
	if h.Dev.Capabilities().Chip {
		c.Technology = cardreader.Chip
	}
	return c
}

// insertCard runs Accept and Insert and returns what Accept read.
func insertCard(t *testing.T, h Harness) cardreader.Card {
	t.Helper()
	ctx := timeout(t, wait)
	res := async(func() (cardreader.Card, error) { return h.Dev.Accept(ctx) })
	if err := h.Insert(ctx, testCard(h)); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	c, err := await(t, res)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return c
}

func ejectAndTake(t *testing.T, h Harness) {
	t.Helper()
	ctx := timeout(t, wait)
	if err := h.Dev.Eject(ctx); err != nil {
		t.Fatalf("Eject: %v", err)
	}
	if err := h.Take(ctx); err != nil {
		t.Fatalf("Take: %v", err)
	}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

type result[T any] struct {
	v   T
	err error
}

func async[T any](f func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := f()
		ch <- result[T]{v, err}
	}()
	return ch
}

func await[T any](t *testing.T, ch <-chan result[T]) (T, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(wait):
		t.Fatalf("no answer within %v", wait)
		var zero T
		return zero, nil
	}
}
