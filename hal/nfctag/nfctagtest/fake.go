package nfctagtest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
)

// Fake is an in-memory nfctag.Tag. Tap plays the phone; Fail scripts
// errors; Calls records what the code under test asked for. It is safe for
// concurrent use.
type Fake struct {
	mu    sync.Mutex
	msg   []byte
	read  bool // a phone read msg
	fails map[string]error
	calls []string
	wake  chan struct{} // closed and replaced on every change
}

var _ nfctag.Tag = (*Fake)(nil)

// NewFake returns a fake with no message published.
func NewFake() *Fake {
	return &Fake{fails: map[string]error{}, wake: make(chan struct{})}
}

// Tap plays a phone touching the tag: it returns the message and completes
// a pending WaitRead, or fails with nfctag.ErrNoMessage.
func (f *Fake) Tap(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nfctagtest: tap: %w", err)
	}
	if f.msg == nil {
		return nil, nfctag.ErrNoMessage
	}
	f.read = true
	f.changed()
	return slices.Clone(f.msg), nil
}

// Message returns the published message, nil when there is none.
func (f *Fake) Message() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msg)
}

// Fail makes the next call of method ("Publish", "Clear", "WaitRead",
// "Halt") return err.
func (f *Fake) Fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[method] = err
}

// Calls returns the methods called so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// call records a call and returns its scripted error; f.mu must be held.
func (f *Fake) call(method string) error {
	f.calls = append(f.calls, method)
	err := f.fails[method]
	delete(f.fails, method)
	return err
}

// changed wakes waiters; f.mu must be held.
func (f *Fake) changed() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// String names the fake.
func (f *Fake) String() string { return "nfctag:fake" }

// Status is always Online.
func (f *Fake) Status() hal.Status { return hal.Status{State: hal.Online} }

// Capabilities carries the contract's guaranteed size.
func (f *Fake) Capabilities() nfctag.Capabilities {
	return nfctag.Capabilities{MaxNDEF: nfctag.MaxNDEF}
}

// Publish replaces the message.
func (f *Fake) Publish(ctx context.Context, ndef []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Publish"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nfctagtest: publish: %w", err)
	}
	if err := nfctag.CheckMessage(ndef, nfctag.MaxNDEF); err != nil {
		return err
	}
	f.msg, f.read = slices.Clone(ndef), false
	f.changed()
	return nil
}

// Clear withdraws the message.
func (f *Fake) Clear(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Clear"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nfctagtest: clear: %w", err)
	}
	f.msg, f.read = nil, false
	f.changed()
	return nil
}

// WaitRead blocks until a phone has read the current message.
func (f *Fake) WaitRead(ctx context.Context) error {
	f.mu.Lock()
	err := f.call("WaitRead")
	f.mu.Unlock()
	if err != nil {
		return err
	}
	for {
		f.mu.Lock()
		msg, read, wake := f.msg, f.read, f.wake
		f.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("nfctagtest: wait read: %w", err)
		}
		switch {
		case msg == nil:
			return nfctag.ErrNoMessage
		case read:
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
		}
	}
}

// Halt withdraws the message.
func (f *Fake) Halt(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("Halt"); err != nil {
		return err
	}
	f.msg, f.read = nil, false
	f.changed()
	return nil
}
