package pn532_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/sim/wire"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
)

// rig is a driver on the slave side of a pseudo-terminal and the PN532
// simulator on its master side.
type rig struct {
	pty *wire.PTY
	sim *pn532sim.Sim
	dev *pn532.Dev
}

// fast are options that notice faults quickly in tests.
func fast() pn532.Options {
	o := pn532.DefaultOptions
	o.AckTimeout = 150 * time.Millisecond
	o.ResponseTimeout = 400 * time.Millisecond
	o.SessionTimeout = 400 * time.Millisecond
	o.Heartbeat = 250 * time.Millisecond
	o.RetryInterval = 50 * time.Millisecond
	return o
}

func newRig(t *testing.T, opts pn532.Options) *rig {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	sim := pn532sim.New(pn532sim.DefaultOptions)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, p.Master) }()
	dev, err := pn532.NewSerial(p.Path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dev.Close()
		cancel()
		if err := <-served; !errors.Is(err, context.Canceled) && !errors.Is(err, syscall.EIO) && !errors.Is(err, errClosed) {
			t.Logf("Serve: %v", err)
		}
		p.Close()
	})
	return &rig{pty: p, sim: sim, dev: dev}
}

var errClosed = errors.New("file already closed")

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitStatus waits for the device to reach a status.
func waitStatus(t *testing.T, d *pn532.Dev, what string, cond func(hal.Status) bool) hal.Status {
	t.Helper()
	st, err := pn532.WaitStatus(ctxT(t, 10*time.Second), d, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return st
}

func online(st hal.Status) bool { return st.State == hal.Online && st.Fault == "" }

func faulted(code string, state hal.State) func(hal.Status) bool {
	return func(st hal.Status) bool { return st.Fault == code && st.State == state }
}
