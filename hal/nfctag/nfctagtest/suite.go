package nfctagtest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
)

// Harness is a tag under test plus the far side that plays the phone.
type Harness struct {
	Dev nfctag.Tag
	// Tap touches the tag with a phone and returns the NDEF message it
	// read, or an error wrapping nfctag.ErrNoMessage when there is none.
	Tap func(ctx context.Context) ([]byte, error)
}

// TestMessage is a small NDEF message: one URI record for
// https://atm.example/s/1 (well-known type "U", prefix 0x04 https://).
var TestMessage = []byte{0xD1, 0x01, 0x0F, 'U', 0x04, 'a', 't', 'm', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '/', 's', '/', '1'}

const (
	// wait bounds every step expected to finish.
	wait = 5 * time.Second
	// short is the deadline for steps expected to block.
	short = 50 * time.Millisecond
)

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online tag with no message; it should register its own
// cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"NothingPublished", testNothingPublished},
		{"PublishTap", testPublishTap},
		{"WaitReadCompletesOnTap", testWaitReadCompletesOnTap},
		{"ReadBeforeWait", testReadBeforeWait},
		{"RepublishNeedsNewRead", testRepublishNeedsNewRead},
		{"ClearWithdraws", testClearWithdraws},
		{"InvalidRejected", testInvalidRejected},
		{"EndedContext", testEndedContext},
		{"Halt", testHalt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, h Harness, msg []byte) {
	t.Helper()
	if err := h.Dev.Publish(ctxT(t, wait), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func tapWant(t *testing.T, h Harness, want []byte) {
	t.Helper()
	got, err := h.Tap(ctxT(t, wait))
	switch {
	case want == nil && !errors.Is(err, nfctag.ErrNoMessage):
		t.Fatalf("Tap = %x, %v; want ErrNoMessage", got, err)
	case want != nil && (err != nil || !bytes.Equal(got, want)):
		t.Fatalf("Tap = %x, %v; want %x", got, err, want)
	}
}

// waitRead starts WaitRead and returns its result channel.
func waitRead(ctx context.Context, h Harness) <-chan error {
	done := make(chan error, 1)
	go func() { done <- h.Dev.WaitRead(ctx) }()
	return done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatal("WaitRead did not return")
		return nil
	}
}

func testIdentity(t *testing.T, h Harness) {
	if h.Dev.String() == "" {
		t.Error("String is empty")
	}
	if st := h.Dev.Status(); st.State != hal.Online || st.Fault != "" {
		t.Errorf("fresh Status = %v, want online without fault", st)
	}
	if c := h.Dev.Capabilities(); c.MaxNDEF < nfctag.MaxNDEF {
		t.Errorf("Capabilities().MaxNDEF = %d, the contract guarantees %d", c.MaxNDEF, nfctag.MaxNDEF)
	}
}

func testNothingPublished(t *testing.T, h Harness) {
	tapWant(t, h, nil)
	if err := h.Dev.WaitRead(ctxT(t, wait)); !errors.Is(err, nfctag.ErrNoMessage) {
		t.Errorf("WaitRead with no message = %v, want ErrNoMessage", err)
	}
}

func testPublishTap(t *testing.T, h Harness) {
	msg := bytes.Clone(TestMessage)
	publish(t, h, msg)
	msg[len(msg)-1] = '2' // the tag must hold its own copy
	tapWant(t, h, TestMessage)
	got, err := h.Tap(ctxT(t, wait))
	if err != nil {
		t.Fatal(err)
	}
	got[0] ^= 0xFF // nor share it with the reader
	tapWant(t, h, TestMessage)
	full := bytes.Repeat([]byte{0xA5}, h.Dev.Capabilities().MaxNDEF)
	publish(t, h, full)
	tapWant(t, h, full)
}

func testWaitReadCompletesOnTap(t *testing.T, h Harness) {
	publish(t, h, TestMessage)
	done := waitRead(ctxT(t, wait), h)
	tapWant(t, h, TestMessage)
	if err := result(t, done); err != nil {
		t.Errorf("WaitRead after Tap = %v", err)
	}
}

func testReadBeforeWait(t *testing.T, h Harness) {
	publish(t, h, TestMessage)
	tapWant(t, h, TestMessage)
	if err := h.Dev.WaitRead(ctxT(t, wait)); err != nil {
		t.Errorf("WaitRead after an earlier Tap = %v, want nil", err)
	}
}

func testRepublishNeedsNewRead(t *testing.T, h Harness) {
	publish(t, h, TestMessage)
	tapWant(t, h, TestMessage)
	next := append(bytes.Clone(TestMessage[:len(TestMessage)-1]), '2')
	publish(t, h, next)
	if err := h.Dev.WaitRead(ctxT(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRead on an unread new message = %v, want DeadlineExceeded", err)
	}
	done := waitRead(ctxT(t, wait), h)
	tapWant(t, h, next)
	if err := result(t, done); err != nil {
		t.Errorf("WaitRead after Tap = %v", err)
	}
}

func testClearWithdraws(t *testing.T, h Harness) {
	publish(t, h, TestMessage)
	done := waitRead(ctxT(t, wait), h)
	if err := h.Dev.Clear(ctxT(t, wait)); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if err := result(t, done); !errors.Is(err, nfctag.ErrNoMessage) {
		t.Errorf("WaitRead pending across Clear = %v, want ErrNoMessage", err)
	}
	tapWant(t, h, nil)
	if err := h.Dev.Clear(ctxT(t, wait)); err != nil {
		t.Errorf("second Clear: %v", err)
	}
}

func testInvalidRejected(t *testing.T, h Harness) {
	publish(t, h, TestMessage)
	tooBig := make([]byte, h.Dev.Capabilities().MaxNDEF+1)
	tests := []struct {
		name string
		msg  []byte
		is   []error
	}{
		{"empty", []byte{}, []error{hal.ErrInvalid}},
		{"nil", nil, []error{hal.ErrInvalid}},
		{"too large", tooBig, []error{hal.ErrInvalid, nfctag.ErrTooLarge}},
	}
	for _, tc := range tests {
		err := h.Dev.Publish(ctxT(t, wait), tc.msg)
		for _, target := range tc.is {
			if !errors.Is(err, target) {
				t.Errorf("Publish(%s) = %v, want it to wrap %v", tc.name, err, target)
			}
		}
		tapWant(t, h, TestMessage)
	}
}

func testEndedContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Dev.Publish(ctx, TestMessage); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish = %v, want Canceled", err)
	}
	tapWant(t, h, nil)
	publish(t, h, TestMessage)
	if err := h.Dev.WaitRead(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitRead = %v, want Canceled", err)
	}
	if err := h.Dev.Clear(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Clear = %v, want Canceled", err)
	}
	start := time.Now()
	if err := h.Dev.WaitRead(ctxT(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitRead with nobody tapping = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("WaitRead took %v to notice its deadline", d)
	}
	tapWant(t, h, TestMessage)
}

func testHalt(t *testing.T, h Harness) {
	publish(t, h, TestMessage)
	for i := range 2 {
		if err := h.Dev.Halt(ctxT(t, wait)); err != nil {
			t.Fatalf("Halt #%d: %v", i+1, err)
		}
		tapWant(t, h, nil)
	}
	publish(t, h, TestMessage)
	tapWant(t, h, TestMessage)
}
