package atm_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/sim/host"
	escpossim "github.com/atmd/atmd/sim/wire/escpos"
)

const simWireConfig = "../configs/sim-wire.yaml"

// wireConfig is configs/sim-wire.yaml with the card reader simulated in
// process (no pcscd needed), its state in a temporary directory, and the
// reference host started by the test on a free port.
func wireConfig(t *testing.T) *atm.Config {
	t.Helper()
	cfg, err := atm.LoadConfig(simWireConfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.ATM.StateDir = filepath.Join(dir, "atm")
	cfg.Devices.CardReader = &atm.CardReaderConfig{Driver: atm.DriverSim, Seed: cfg.Host.Seed}

	hc := *cfg.Host
	hc.DB = filepath.Join(dir, "host.db")
	h, err := host.New(hc, host.WithReset())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		h.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		h.Close()
	})
	cfg.Host = nil
	cfg.HostLink.Addr = ln.Addr().String()
	return cfg
}

// waitSnapshot waits until cond holds for the runner's snapshot, checking
// every 10 ms, and fails the test after d.
func waitSnapshot(t *testing.T, d *atm.Daemon, dl time.Duration, what string, cond func(atm.Snapshot) bool) atm.Snapshot {
	t.Helper()
	deadline := time.NewTimer(dl)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s := d.Runner.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-deadline.C:
			t.Fatalf("after %v: %s (%s), devices %v; want %s", dl, s.Service, s.Reason, s.Devices, what)
		case <-tick.C:
		}
	}
}

func inService(s atm.Snapshot) bool {
	if s.Service != "in-service" {
		return false
	}
	for _, st := range s.Devices {
		if !st.OK() {
			return false
		}
	}
	return true
}

// TestDevicesRecoverOverTheWire runs the daemon with the PIN pad, the
// dispenser and the printer on their real drivers against the wire
// simulators, makes each misbehave on the line, and checks that the
// snapshot carries the fault code, that the ATM goes out of service for
// a vital device and stays in service without the printer, and that it
// comes back by itself, without a restart, once the device behaves.
func TestDevicesRecoverOverTheWire(t *testing.T) {
	cfg := wireConfig(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	d, err := atm.Start(ctx, cfg, atm.DaemonOptions{NoControl: true, DevicePoll: 100 * time.Millisecond,
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	const patience = 20 * time.Second
	waitSnapshot(t, d, patience, "in service", inService)
	w := d.Sim.Wire
	if w.PinPad == nil || w.Dispenser == nil || w.Printer == nil || w.OpDisplay == nil || w.NFCTag == nil || w.Camera == nil {
		t.Fatalf("wire simulators missing: %+v", w)
	}

	for _, tc := range []struct {
		device  string
		vital   bool
		break_  func()
		restore func()
		codes   []string // any of them
	}{
		{"pinpad", true, func() { w.PinPad.Mute(true) }, func() { w.PinPad.Mute(false) }, []string{"PIN-TIMEOUT", "PIN-OFFLINE"}},
		{"dispenser", true, func() { w.Dispenser.GarbleNext(1 << 20) }, func() { w.Dispenser.GarbleNext(0) }, []string{"DSP-PROTOCOL"}},
		{"printer", false, func() { w.Printer.Inject(escpossim.Offline) }, w.Printer.Clear, []string{"PRN-TIMEOUT", "PRN-OFFLINE"}},
	} {
		t.Run(tc.device, func(t *testing.T) {
			tc.break_()
			s := waitSnapshot(t, d, patience, tc.device+" faulted", func(s atm.Snapshot) bool {
				st := s.Devices[tc.device]
				for _, c := range tc.codes {
					if st.Fault == c && !st.State.Usable() {
						return true
					}
				}
				return false
			})
			if tc.vital {
				s = waitSnapshot(t, d, patience, "out of service", func(s atm.Snapshot) bool { return s.Service == "out-of-service" })
				if !strings.Contains(s.Reason, tc.device) {
					t.Errorf("out of service because %q, want the %s named", s.Reason, tc.device)
				}
			} else if s.Service != "in-service" {
				t.Errorf("without the %s the ATM is %s (%s), want in service", tc.device, s.Service, s.Reason)
			}
			tc.restore()
			waitSnapshot(t, d, patience, "back in service with every device online", inService)
		})
	}

	// Still a working ATM: the printer prints over the wire again.
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if err := d.Devices.Printer.Print(pctx, printer.Receipt{Lines: []string{"AFTER RECOVERY"}}); err != nil {
		t.Fatalf("print after recovery: %v", err)
	}
	rs := w.Printer.Receipts()
	if len(rs) == 0 || !strings.Contains(strings.Join(rs[len(rs)-1].Lines, "\n"), "AFTER RECOVERY") {
		t.Errorf("receipts %v", rs)
	}
}

// TestOpenDevicesCleansUpAfterAPartialStart makes the dispenser's wire
// simulator fail after the PIN pad's simulator and driver have started:
// OpenDevices fails naming the dispenser, and what it had started is
// stopped again (no goroutine left behind).
func TestOpenDevicesCleansUpAfterAPartialStart(t *testing.T) {
	cfg, err := atm.LoadConfig(simWireConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Devices.CardReader = &atm.CardReaderConfig{Driver: atm.DriverSim}
	state := t.TempDir()
	// A directory where the simulator's state file goes: it cannot be
	// read.
	if err := os.Mkdir(filepath.Join(state, "dispenser-wire.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	s, err := atm.OpenDevices(t.Context(), cfg, atm.DeviceOptions{StateDir: state})
	if err == nil {
		s.Close()
		t.Fatal("OpenDevices succeeded with an unreadable dispenser state file")
	}
	if !errors.Is(err, atm.ErrDevices) || !strings.Contains(err.Error(), "dispenser") {
		t.Errorf("err = %v, want ErrDevices naming the dispenser", err)
	}
	if !eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

// TestOpenDevicesSim opens configs/sim-wire.yaml's devices (the card
// reader in process) and checks every one is online on its driver, the
// control surfaces are the wire simulators', and Close stops them.
func TestOpenDevicesSim(t *testing.T) {
	cfg, err := atm.LoadConfig(simWireConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Devices.CardReader = &atm.CardReaderConfig{Driver: atm.DriverSim}
	s, err := atm.OpenDevices(t.Context(), cfg, atm.DeviceOptions{StateDir: t.TempDir(), Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, nd := range s.Devices.Named() {
		if !eventually(10*time.Second, func() bool { return nd.Dev.Status().OK() }) {
			st := nd.Dev.Status()
			t.Errorf("%s (%s): %v", nd.Name, s.Drivers[nd.Name], st)
		}
	}
	for name, want := range map[string]string{
		"pinpad": "pinpad:epp:", "dispenser": "dispenser:serial:", "printer": "printer:escpos:",
		"opdisplay": "opdisplay:lcd:", "nfctag": "nfctag:pn532:", "camera": "camera:http:",
	} {
		var dev hal.Device
		for _, nd := range s.Devices.Named() {
			if nd.Name == name {
				dev = nd.Dev
			}
		}
		if !strings.HasPrefix(dev.String(), want) {
			t.Errorf("%s is %s, want a %s driver", name, dev, want)
		}
		if !strings.Contains(s.Drivers[name], "sim") {
			t.Errorf("%s driver %q does not say it is on its simulator", name, s.Drivers[name])
		}
	}
	if s.Sim.Wire.PinPad == nil || s.Sim.Faults["pinpad"] == nil || s.Sim.PinPad == nil {
		t.Errorf("pinpad controls missing")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if st := s.Devices.PinPad.Status(); st.OK() {
		t.Errorf("pinpad after Close: %v", st)
	}
}

// eventually checks cond every 10 ms until it holds (true) or d has
// passed (false): for states that no event announces, such as a device
// status or a goroutine count.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// TestOpenDevicesChecksTheConfig: a config built in Go, not loaded, is
// held to the same rules, and nothing is opened.
func TestOpenDevicesChecksTheConfig(t *testing.T) {
	cfg, err := atm.LoadConfig(simWireConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Devices.CardReader = &atm.CardReaderConfig{Driver: atm.DriverSim}
	cfg.Devices.Printer = &atm.PrinterConfig{Driver: atm.DriverESCPOS}
	cfg.Devices.Camera = &atm.CameraConfig{Driver: "webcam"}
	s, err := atm.OpenDevices(t.Context(), cfg, atm.DeviceOptions{StateDir: t.TempDir()})
	if err == nil {
		s.Close()
		t.Fatal("OpenDevices accepted a printer without a port and an unknown camera driver")
	}
	for _, want := range []string{"devices.printer.port: missing", `devices.camera.driver: unknown driver "webcam"`} {
		if !errors.Is(err, atm.ErrDevices) || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want ErrDevices with %q", err, want)
		}
	}
}
