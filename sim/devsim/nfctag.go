package devsim

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
)

// NFCTagOptions configure the NFC tag simulator.
type NFCTagOptions struct {
	// MaxNDEF is the largest message the tag carries; 0 means
	// nfctag.MaxNDEF.
	MaxNDEF int
	// Log receives publications and phone reads; the zero value discards.
	Log zerolog.Logger
}

// DefaultNFCTagOptions carry the contract's guaranteed message size.
var DefaultNFCTagOptions = NFCTagOptions{MaxNDEF: nfctag.MaxNDEF}

// NFCTag simulates the NFC tag emitter: it holds the published NDEF
// message, and Tap plays a phone touching it.
//
// Its fault control is reached through Faults, because the contract's
// own Clear (withdraw the message) takes the name Faulty uses. The only
// fault is NFC-OFFLINE.
type NFCTag struct {
	status
	opts NFCTagOptions

	mu      sync.Mutex
	msg     []byte
	read    bool // a phone has read msg
	offline bool
	wake    chan struct{} // closed and replaced on every change
}

var (
	_ nfctag.Tag = (*NFCTag)(nil)
	_ Faulty     = nfcFaults{}
)

// NewNFCTag returns an online tag with no message.
func NewNFCTag(opts NFCTagOptions) *NFCTag {
	if opts.MaxNDEF <= 0 {
		opts.MaxNDEF = nfctag.MaxNDEF
	}
	t := &NFCTag{opts: opts, wake: make(chan struct{})}
	t.set(hal.Online, "", "")
	return t
}

// Tap plays a phone touching the tag: it returns the message the phone
// reads and completes a pending WaitRead. It fails with
// nfctag.ErrNoMessage when nothing is published and with hal.ErrOffline
// when the tag is offline. A phone does not wait for the ATM, so Tap
// never blocks.
func (t *NFCTag) Tap(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devsim: nfctag: tap: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.msg == nil {
		return nil, nfctag.ErrNoMessage
	}
	t.read = true
	t.changed()
	t.opts.Log.Info().Int("bytes", len(t.msg)).Msg("phone read the tag")
	return slices.Clone(t.msg), nil
}

// Faults returns the tag's fault control (NFC-OFFLINE).
func (t *NFCTag) Faults() Faulty { return nfcFaults{t} }

type nfcFaults struct{ t *NFCTag }

// Inject puts the tag into NFC-OFFLINE.
func (f nfcFaults) Inject(code string) error {
	if code != "NFC-OFFLINE" {
		return fmt.Errorf("devsim: nfctag: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	f.t.mu.Lock()
	defer f.t.mu.Unlock()
	f.t.offline = true
	f.t.set(hal.Offline, code, "no answer from the NFC controller")
	f.t.changed()
	return nil
}

// Clear brings the tag back online.
func (f nfcFaults) Clear() {
	f.t.mu.Lock()
	defer f.t.mu.Unlock()
	f.t.offline = false
	f.t.set(hal.Online, "", "")
	f.t.changed()
}

// check fails when the tag is offline; t.mu must be held.
func (t *NFCTag) check() error {
	if t.offline {
		return &hal.Fault{Device: "nfctag", Code: "NFC-OFFLINE", Msg: "no answer from the NFC controller", Recoverable: true, Err: hal.ErrOffline}
	}
	return nil
}

// changed wakes waiters; t.mu must be held.
func (t *NFCTag) changed() {
	close(t.wake)
	t.wake = make(chan struct{})
}

// String names the simulator.
func (t *NFCTag) String() string { return "nfctag:sim" }

// Capabilities reports the configured message size.
func (t *NFCTag) Capabilities() nfctag.Capabilities {
	return nfctag.Capabilities{MaxNDEF: t.opts.MaxNDEF}
}

// Publish replaces the message; the tag keeps its own copy.
func (t *NFCTag) Publish(ctx context.Context, ndef []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: nfctag: publish: %w", err)
	}
	if err := nfctag.CheckMessage(ndef, t.opts.MaxNDEF); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	t.msg, t.read = slices.Clone(ndef), false
	t.changed()
	t.opts.Log.Info().Int("bytes", len(ndef)).Msg("message published")
	return nil
}

// Clear withdraws the message.
func (t *NFCTag) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: nfctag: clear: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	t.withdraw()
	return nil
}

// withdraw drops the message; t.mu must be held.
func (t *NFCTag) withdraw() {
	if t.msg != nil {
		t.opts.Log.Info().Msg("message withdrawn")
	}
	t.msg, t.read = nil, false
	t.changed()
}

// WaitRead blocks until a phone has read the current message.
func (t *NFCTag) WaitRead(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("devsim: nfctag: wait read: %w", err)
		}
		t.mu.Lock()
		err := t.check()
		msg, read, wake := t.msg, t.read, t.wake
		t.mu.Unlock()
		switch {
		case err != nil:
			return err
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
func (t *NFCTag) Halt(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return err
	}
	t.withdraw()
	return nil
}
