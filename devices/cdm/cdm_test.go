package cdm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/cdm"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/dispenser/dispensertest"
	"github.com/atmd/atmd/sim/wire"
	simcdm "github.com/atmd/atmd/sim/wire/cdm"
)

var testKey = []byte("wire-dispense-key-0123456789abcdef")

// rig is a driver on one end of a pseudo-terminal and the wire simulator
// on the other. The driver opens the terminal through a symlink, as it
// would /dev/serial/by-id/...: unplug removes the name before closing the
// terminal, so the driver's attempts to reopen it can never reach a
// recycled /dev/pts/N that another test (or package) is using.
type rig struct {
	pty  *wire.PTY
	sim  *simcdm.Sim
	dev  *cdm.Dev
	port string
}

// unplug pulls the cable: the port's name goes, then the line.
func (r *rig) unplug(t *testing.T) {
	t.Helper()
	if err := os.Remove(r.port); err != nil {
		t.Fatal(err)
	}
	if err := r.pty.Close(); err != nil {
		t.Fatal(err)
	}
}

func simOptions(stateFile string) simcdm.Options {
	o := simcdm.DefaultOptions
	o.Key = testKey
	o.StateFile = stateFile
	return o
}

// fastOptions keep the fault tests quick.
func fastOptions() cdm.Options {
	o := cdm.DefaultOptions
	o.CommandTimeout = 400 * time.Millisecond
	o.ShutterTimeout = 400 * time.Millisecond
	o.RetractTimeout = 400 * time.Millisecond
	o.DispenseTimeout = 500 * time.Millisecond
	o.NoteTime = time.Millisecond
	o.Poll = 50 * time.Millisecond
	return o
}

func newRig(t *testing.T, so simcdm.Options, do cdm.Options) *rig {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	s, err := simcdm.New(so)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, p.Master) }()
	port := filepath.Join(t.TempDir(), "ttyCDM")
	if err := os.Symlink(p.Path, port); err != nil {
		cancel()
		p.Close()
		t.Fatal(err)
	}
	d, err := cdm.NewSerial(port, do)
	if err != nil {
		cancel()
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		cancel()
		p.Close()
		<-served
	})
	return &rig{pty: p, sim: s, dev: d, port: port}
}

// stateDir returns a directory for the simulator's state file. Every
// nonce costs an fsync (the counter is saved before the nonce leaves the
// device) and the suite draws a thousand; on tmpfs the same write, fsync
// and rename run without the disk's latency. The simulator's own tests
// check the durability on an ordinary directory.
func stateDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "cdm-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

func (r *rig) harness() dispensertest.Harness {
	return dispensertest.Harness{Dev: r.dev, Key: testKey, ATM: simcdm.DefaultOptions.ATM, Take: r.sim.Take, Tray: r.sim.Tray, Taken: r.sim.Taken}
}

func TestConformance(t *testing.T) {
	dispensertest.Run(t, func(t *testing.T) dispensertest.Harness {
		state := filepath.Join(stateDir(t), "cdm.json")
		h := newRig(t, simOptions(state), cdm.DefaultOptions).harness()
		h.Reopen = func(t *testing.T) dispenser.Dispenser {
			return newRig(t, simOptions(state), cdm.DefaultOptions).dev
		}
		return h
	})
}
