package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
	"github.com/atmd/atmd/hal/nfctag/nfctagtest"
	"github.com/atmd/atmd/sim/wire"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
)

func publish(t *testing.T, d *pn532.Dev, msg []byte) {
	t.Helper()
	if err := d.Publish(ctxT(t, 5*time.Second), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func tap(t *testing.T, sim *pn532sim.Sim, want []byte) {
	t.Helper()
	got, err := sim.Tap(ctxT(t, 10*time.Second))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Tap = % X, %v; want % X", got, err, want)
	}
}

// A message as large as the tag takes travels in 255-byte READ BINARY
// answers, each in an extended frame.
func TestLargeMessageUsesExtendedFrames(t *testing.T) {
	r := newRig(t, pn532.DefaultOptions)
	msg := bytes.Repeat([]byte{0x5A}, nfctag.MaxNDEF)
	publish(t, r.dev, msg)
	tap(t, r.sim, msg)
	if err := r.dev.WaitRead(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := r.sim.Stats(); st.Extended != 4 { // 2+1024 bytes: 255 255 255 255 6 after NLEN
		t.Errorf("extended frames = %d, want 4", st.Extended)
	}
}

// One-shot line faults — noise, bad checksums, a truncated frame, a
// lost ACK, a lost command — are recovered by resending and NACK, and
// never become a device fault.
func TestLineFaultsRecovered(t *testing.T) {
	tests := []struct {
		m     pn532sim.Misbehaviour
		check func(pn532sim.Stats) bool
	}{
		{pn532sim.Garbage, func(pn532sim.Stats) bool { return true }},
		{pn532sim.BadDCS, func(s pn532sim.Stats) bool { return s.NACKs >= 1 && s.Resends >= 1 }},
		{pn532sim.BadLCS, func(s pn532sim.Stats) bool { return s.NACKs >= 1 && s.Resends >= 1 }},
		{pn532sim.Truncate, func(s pn532sim.Stats) bool { return s.NACKs >= 1 && s.Resends >= 1 }},
		{pn532sim.DropACK, func(pn532sim.Stats) bool { return true }},
		{pn532sim.DropCommand, func(pn532sim.Stats) bool { return true }},
	}
	for _, tc := range tests {
		t.Run(name(tc.m), func(t *testing.T) {
			r := newRig(t, fast())
			publish(t, r.dev, nfctagtest.TestMessage)
			r.sim.Misbehave(tc.m, 1) // most likely the activation
			tap(t, r.sim, nfctagtest.TestMessage)
			r.sim.Misbehave(tc.m, 1) // most likely the TgInitAsTarget that re-arms
			tap(t, r.sim, nfctagtest.TestMessage)
			if err := r.dev.WaitRead(ctxT(t, 5*time.Second)); err != nil {
				t.Fatalf("WaitRead: %v", err)
			}
			if st := r.dev.Status(); !online(st) || pn532.Faults(r.dev) != 0 {
				t.Errorf("Status = %v after %d faults", st, pn532.Faults(r.dev))
			}
			if st := r.sim.Stats(); !tc.check(st) {
				t.Errorf("simulator stats %+v", st)
			}
		})
	}
}

func name(m pn532sim.Misbehaviour) string {
	return [...]string{"", "BadDCS", "BadLCS", "Truncate", "Garbage", "DropACK", "DropCommand"}[m]
}

// A PN532 that stops answering is reported NFC-TIMEOUT (offline) — to a
// pending WaitRead too — and the tag comes back by itself when it
// answers again.
func TestSilentChipTimesOutAndRecovers(t *testing.T) {
	r := newRig(t, fast())
	publish(t, r.dev, nfctagtest.TestMessage)
	waiting := make(chan error, 1)
	go func() { waiting <- r.dev.WaitRead(ctxT(t, 10*time.Second)) }()
	if err := r.sim.Inject(pn532sim.FaultTimeout); err != nil {
		t.Fatal(err)
	}
	err := <-waiting
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != pn532.FaultTimeout || !errors.Is(err, hal.ErrTimeout) || !f.Recoverable {
		t.Fatalf("WaitRead = %v, want an NFC-TIMEOUT fault", err)
	}
	st := waitStatus(t, r.dev, "NFC-TIMEOUT", faulted(pn532.FaultTimeout, hal.Offline))
	if st.Detail == "" {
		t.Error("no detail")
	}
	if err := r.dev.Publish(ctxT(t, time.Second), nfctagtest.TestMessage); hal.FaultCode(err) != pn532.FaultTimeout {
		t.Errorf("Publish while offline = %v", err)
	}
	if err := r.dev.Clear(ctxT(t, time.Second)); err != nil {
		t.Errorf("Clear while offline = %v", err)
	}
	r.sim.Clear()
	waitStatus(t, r.dev, "online", online)
	if _, err := r.sim.Tap(ctxT(t, 5*time.Second)); !errors.Is(err, nfctag.ErrNoMessage) {
		t.Errorf("Tap after Clear while offline = %v, want ErrNoMessage", err)
	}
	publish(t, r.dev, nfctagtest.TestMessage)
	tap(t, r.sim, nfctagtest.TestMessage)
}

// A PN532 that lost power comes back in LowVbat; the driver wakes and
// initialises it again.
func TestPowerLossRecovers(t *testing.T) {
	r := newRig(t, fast())
	publish(t, r.dev, nfctagtest.TestMessage)
	before := r.sim.Stats().Wakeups
	if err := r.sim.Inject(pn532sim.FaultOffline); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sim.Tap(ctxT(t, time.Second)); !errors.Is(err, hal.ErrOffline) {
		t.Errorf("Tap on a dead chip = %v", err)
	}
	waitStatus(t, r.dev, "NFC-TIMEOUT", faulted(pn532.FaultTimeout, hal.Offline))
	r.sim.Clear()
	waitStatus(t, r.dev, "online", online)
	if st := r.sim.Stats(); st.Wakeups <= before {
		t.Errorf("no wake-up after power-up: %+v", st)
	}
	publish(t, r.dev, nfctagtest.TestMessage)
	tap(t, r.sim, nfctagtest.TestMessage)
}

// Frames that stay bad after NACKs are NFC-PROTOCOL (hardware error),
// with the bad bytes in the fault.
func TestGarbledLineIsProtocolFault(t *testing.T) {
	r := newRig(t, fast())
	publish(t, r.dev, nfctagtest.TestMessage)
	waiting := make(chan error, 1)
	go func() { waiting <- r.dev.WaitRead(ctxT(t, 10*time.Second)) }()
	if err := r.sim.Inject(pn532sim.FaultProtocol); err != nil {
		t.Fatal(err)
	}
	err := <-waiting
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != pn532.FaultProtocol || !errors.Is(err, pn532.ErrChecksum) || len(f.Raw) == 0 {
		t.Fatalf("WaitRead = %#v, want an NFC-PROTOCOL fault with raw bytes", err)
	}
	waitStatus(t, r.dev, "NFC-PROTOCOL", faulted(pn532.FaultProtocol, hal.HardwareError))
	r.sim.Clear()
	waitStatus(t, r.dev, "online", online)
	tap(t, r.sim, nfctagtest.TestMessage)
}

// The pseudo-terminal going away (USB adapter unplugged) is NFC-OFFLINE;
// when the port reappears under the same name (a udev symlink) the tag
// is back by itself.
func TestPortGoneAndBack(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyNFC")
	p1, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p1.Path, link); err != nil {
		t.Fatal(err)
	}
	sim := pn532sim.New(pn532sim.DefaultOptions)
	ctx1, cancel1 := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx1, p1.Master) }()
	dev, err := pn532.NewSerial(link, fast())
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	waitStatus(t, dev, "online", online)
	publish(t, dev, nfctagtest.TestMessage)

	p1.Close() // unplugged
	<-served
	cancel1()
	waitStatus(t, dev, "NFC-OFFLINE", faulted(pn532.FaultOffline, hal.Offline))
	err = dev.Publish(ctxT(t, time.Second), nfctagtest.TestMessage)
	if hal.FaultCode(err) != pn532.FaultOffline || !errors.Is(err, hal.ErrOffline) {
		t.Errorf("Publish with the port gone = %v", err)
	}

	p2, err := wire.OpenPTY() // plugged in again
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { served <- sim.Serve(ctx2, p2.Master) }()
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p2.Path, link); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, dev, "online", online)
	tap(t, sim, nfctagtest.TestMessage) // the message survived
	dev.Close()
	cancel2()
	<-served
}

// A port that does not exist: the Dev is made, offline, and keeps trying.
func TestMissingPort(t *testing.T) {
	dev, err := pn532.NewSerial(filepath.Join(t.TempDir(), "nope"), fast())
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	st := dev.Status()
	if st.State != hal.Offline || st.Fault != pn532.FaultOffline {
		t.Errorf("Status = %v", st)
	}
	if err := dev.WaitRead(ctxT(t, time.Second)); !errors.Is(err, hal.ErrOffline) {
		t.Errorf("WaitRead = %v", err)
	}
	if err := dev.Halt(ctxT(t, time.Second)); err != nil {
		t.Errorf("Halt offline = %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []pn532.Options{{MLe: 14}, {MLe: 256}, {MaxNDEF: 100}, {MaxNDEF: 70000}} {
		if _, err := pn532.NewSerial("/dev/null", o); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("NewSerial(%+v) = %v, want ErrInvalid", o, err)
		}
	}
}

func TestClose(t *testing.T) {
	r := newRig(t, pn532.DefaultOptions)
	publish(t, r.dev, nfctagtest.TestMessage)
	// SAMConfiguration, GetFirmwareVersion, SetParameters, TgInitAsTarget.
	before, err := r.sim.WaitStats(ctxT(t, 5*time.Second), func(s pn532sim.Stats) bool { return s.Commands >= 4 })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close sent the ACK that aborts a pending TgInitAsTarget.
	if _, err := r.sim.WaitStats(ctxT(t, 5*time.Second), func(s pn532sim.Stats) bool { return s.ACKs > before.ACKs }); err != nil {
		t.Error(err)
	}
	if err := r.dev.Publish(ctxT(t, time.Second), nfctagtest.TestMessage); !errors.Is(err, pn532.ErrClosed) {
		t.Errorf("Publish after Close = %v", err)
	}
	if st := r.dev.Status(); st.Fault != pn532.FaultOffline {
		t.Errorf("Status after Close = %v", st)
	}
}

// The heartbeat aborts an idle TgInitAsTarget, checks the chip and arms
// it again, and a phone that comes meanwhile is still served.
func TestHeartbeat(t *testing.T) {
	r := newRig(t, fast())
	publish(t, r.dev, nfctagtest.TestMessage)
	st, err := r.sim.WaitStats(ctxT(t, 5*time.Second), func(s pn532sim.Stats) bool { return s.Aborts >= 2 })
	if err != nil {
		t.Fatal(err)
	}
	if st.Wakeups < 3 { // power-on, then before each abort
		t.Errorf("wake-ups %d", st.Wakeups)
	}
	tap(t, r.sim, nfctagtest.TestMessage)
	if s := r.dev.Status(); !online(s) {
		t.Errorf("Status = %v", s)
	}
}

// A TgInitAsTarget whose ACK is lost leaves the PN532 asleep; the driver
// wakes it before sending the command again, and no fault follows.
func TestLostACKWhileIdle(t *testing.T) {
	r := newRig(t, fast())
	wait := func(cond func(pn532sim.Stats) bool) pn532sim.Stats {
		t.Helper()
		st, err := r.sim.WaitStats(ctxT(t, 5*time.Second), cond)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := wait(func(s pn532sim.Stats) bool { return s.Commands >= 4 }) // TgInitAsTarget pending
	// The heartbeat's GetFirmwareVersion (its response stands for the
	// lost ACK), then TgInitAsTarget.
	r.sim.Misbehave(pn532sim.DropACK, 2)
	wait(func(s pn532sim.Stats) bool { return s.Aborts >= st.Aborts+2 })
	if n := pn532.Faults(r.dev); n != 0 {
		t.Errorf("%d faults; status %v", n, r.dev.Status())
	}
	publish(t, r.dev, nfctagtest.TestMessage)
	tap(t, r.sim, nfctagtest.TestMessage)
}

// Responses that stay truncated after NACKs are NFC-PROTOCOL too; the
// tag recovers when the line is clean again.
func TestPersistentTruncationIsProtocolFault(t *testing.T) {
	o := fast()
	o.ResponseTimeout = 200 * time.Millisecond
	r := newRig(t, o)
	r.sim.Misbehave(pn532sim.Truncate, 1000)
	st := waitStatus(t, r.dev, "NFC-PROTOCOL", faulted(pn532.FaultProtocol, hal.HardwareError))
	if st.Detail == "" {
		t.Error("no detail")
	}
	err := r.dev.Publish(ctxT(t, time.Second), nfctagtest.TestMessage)
	var f *hal.Fault
	if !errors.As(err, &f) || !errors.Is(err, pn532.ErrFrame) || len(f.Raw) == 0 {
		t.Errorf("Publish = %v, want NFC-PROTOCOL wrapping ErrFrame with raw bytes", err)
	}
	r.sim.Clear()
	waitStatus(t, r.dev, "online", online)
	publish(t, r.dev, nfctagtest.TestMessage)
	tap(t, r.sim, nfctagtest.TestMessage)
}
