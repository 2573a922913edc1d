package dispensertest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

// FakeMaxNotes is the most notes the fake dispenses at once.
const FakeMaxNotes = 50

// Fake is an in-memory dispenser.Dispenser. It checks tokens exactly as
// the contract demands (so flow tests must get a real token from a host
// fake) and keeps counters, but has no faults and no timing of its own.
// Take, Tray and Taken play the customer; Fail scripts errors; Calls
// records what the code under test asked for. It is safe for concurrent
// use.
type Fake struct {
	key []byte
	atm string

	mu         sync.Mutex
	cassettes  []dispenser.Cassette
	issued     uint64 // nonces issued so far
	nonce      []byte // the outstanding nonce, nil when none
	stacked    []dispenser.Notes
	presented  []dispenser.Notes
	tookLast   bool // the customer took the last presented notes
	taken      []dispenser.Notes
	retractBin int
	fails      map[string]error
	calls      []string
	wake       chan struct{} // closed and replaced on every change
}

var _ dispenser.Dispenser = (*Fake)(nil)

// NewFake returns a fake loaded with cs that accepts tokens signed with
// key for the terminal atm.
func NewFake(key []byte, atm string, cs []dispenser.Cassette) *Fake {
	f := &Fake{key: slices.Clone(key), atm: atm, cassettes: slices.Clone(cs), fails: map[string]error{}, wake: make(chan struct{})}
	for i := range f.cassettes {
		f.cassettes[i].Status = cassetteStatus(f.cassettes[i])
	}
	return f
}

func cassetteStatus(c dispenser.Cassette) dispenser.CassetteStatus {
	switch {
	case c.Status == dispenser.CassetteMissing:
		return dispenser.CassetteMissing
	case c.Count == 0:
		return dispenser.CassetteEmpty
	case c.Count <= c.Low:
		return dispenser.CassetteLow
	}
	return dispenser.CassetteOK
}

// Take plays the customer taking the presented notes; it blocks until
// notes are presented.
func (f *Fake) Take(ctx context.Context) error {
	for {
		f.mu.Lock()
		if len(f.presented) > 0 {
			f.taken = append(f.taken, f.presented...)
			f.presented, f.tookLast = nil, true
			f.changed()
			f.mu.Unlock()
			return nil
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("dispensertest: take: %w", ctx.Err())
		}
	}
}

// Tray returns the notes presented to the customer now.
func (f *Fake) Tray() []dispenser.Notes {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.presented)
}

// Taken returns every note customers took, in order.
func (f *Fake) Taken() []dispenser.Notes {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.taken)
}

// RetractBin returns how many notes were retracted.
func (f *Fake) RetractBin() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.retractBin
}

// Fail makes the next call of method ("Nonce", "Dispense", "Present",
// "WaitTaken", "Retract", "Cassettes", "Halt") return err, before it does
// anything else; a *dispenser.PartialError scripts a partial dispense
// with nothing moved.
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

// call records a call and returns its scripted error, or the context's;
// f.mu must be held.
func (f *Fake) call(ctx context.Context, method string) error {
	f.calls = append(f.calls, method)
	if err := f.fails[method]; err != nil {
		delete(f.fails, method)
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dispensertest: %s: %w", method, err)
	}
	return nil
}

// changed wakes waiters; f.mu must be held.
func (f *Fake) changed() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// String names the fake.
func (f *Fake) String() string { return "dispenser:fake" }

// Status is always Online, without faults.
func (f *Fake) Status() hal.Status { return hal.Status{State: hal.Online} }

// Capabilities of the fake.
func (f *Fake) Capabilities() dispenser.Capabilities {
	f.mu.Lock()
	defer f.mu.Unlock()
	return dispenser.Capabilities{MaxNotes: FakeMaxNotes, Shutter: true, Retract: true, Cassettes: len(f.cassettes)}
}

// Cassettes returns the cash units.
func (f *Fake) Cassettes(ctx context.Context) ([]dispenser.Cassette, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "Cassettes"); err != nil {
		return nil, err
	}
	return slices.Clone(f.cassettes), nil
}

// Nonce issues a 16-byte nonce: a counter and the label "fakenonc".
func (f *Fake) Nonce(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "Nonce"); err != nil {
		return nil, err
	}
	f.issued++
	f.nonce = append(binary.BigEndian.AppendUint64(nil, f.issued), "fakenonc"...)
	return slices.Clone(f.nonce), nil
}

// Dispense checks the mix and the token and stacks the notes. Every call
// consumes the outstanding nonce.
func (f *Fake) Dispense(ctx context.Context, req dispenser.DispenseRequest) (dispenser.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "Dispense"); err != nil {
		return dispenser.Result{}, err
	}
	nonce := f.nonce
	f.nonce = nil
	if len(f.stacked) > 0 || len(f.presented) > 0 {
		return dispenser.Result{}, fmt.Errorf("dispenser: notes still in the transport: %w", hal.ErrBusy)
	}
	if err := dispenser.CheckMix(req, f.cassettes, FakeMaxNotes); err != nil {
		return dispenser.Result{}, err
	}
	d := dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: req.Nonce}
	if req.ATM != f.atm || nonce == nil || !slices.Equal(req.Nonce, nonce) || !dispenser.VerifyToken(f.key, d, req.Token) {
		return dispenser.Result{}, dispenser.ErrBadToken
	}
	for _, n := range req.Mix {
		for i := range f.cassettes {
			if c := &f.cassettes[i]; c.ID == n.Cassette {
				c.Count -= n.Count
				c.Dispensed += n.Count
				c.Status = cassetteStatus(*c)
			}
		}
	}
	f.stacked = slices.Clone(req.Mix)
	return dispenser.Result{Dispensed: slices.Clone(req.Mix)}, nil
}

// Present moves the stacked notes to the tray.
func (f *Fake) Present(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "Present"); err != nil {
		return err
	}
	if len(f.stacked) == 0 {
		return dispenser.ErrNothingStack
	}
	f.presented, f.stacked, f.tookLast = f.stacked, nil, false
	f.changed()
	return nil
}

// WaitTaken blocks until the customer took the presented notes.
func (f *Fake) WaitTaken(ctx context.Context) error {
	f.mu.Lock()
	err := f.call(ctx, "WaitTaken")
	f.mu.Unlock()
	if err != nil {
		return err
	}
	for {
		f.mu.Lock()
		presented, took, wake := len(f.presented) > 0, f.tookLast, f.wake
		f.mu.Unlock()
		switch {
		case took:
			return nil
		case !presented:
			return dispenser.ErrNothingStack
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("dispensertest: WaitTaken: %w", ctx.Err())
		}
	}
}

// Retract moves presented and stacked notes to the retract bin.
func (f *Fake) Retract(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "Retract"); err != nil {
		return 0, err
	}
	n := 0
	for _, x := range append(f.stacked, f.presented...) {
		n += x.Count
	}
	if n == 0 {
		return 0, dispenser.ErrNothingStack
	}
	f.retractBin += n
	f.stacked, f.presented = nil, nil
	f.changed()
	return n, nil
}

// Halt closes the shutter: presented notes go back behind it.
func (f *Fake) Halt(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(context.WithoutCancel(ctx), "Halt"); err != nil {
		return err
	}
	f.stacked = append(f.stacked, f.presented...)
	f.presented, f.nonce = nil, nil
	f.changed()
	return nil
}
