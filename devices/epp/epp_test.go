package epp_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/pinpad/pinpadtest"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/wire"
	simepp "github.com/atmd/atmd/sim/wire/epp"
)

var (
	tdesKey = mustHex("0123456789ABCDEFFEDCBA9876543210")
	aesKey  = mustHex("603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4")
	kekKey  = mustHex("00112233445566778899AABBCCDDEEFF")
)

// poll is the driver's check period in these tests: short, so that
// recovery is quick, and so that GET-STATUS runs between everything the
// suite does.
const poll = 100 * time.Millisecond

// rig is the driver on the slave side of a PTY and the wire simulator on
// the master side.
//
// The driver opens the PTY through a symlink of its own, removed before
// the PTY closes: a driver that keeps reopening a lost port must not
// open a later PTY that reuses the /dev/pts number — another package's
// test, running in parallel.
type rig struct {
	dev     *epp.Dev
	sim     *simepp.Sim
	pty     *wire.PTY
	port    string // the symlink the driver opens
	stopSim func() // stops Serve and waits for it; idempotent
}

func newRig(t *testing.T, so simepp.Options, do epp.Options) *rig {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	sim := simepp.New(so)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, p.Master) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("simulator: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("simulator did not stop")
		}
	}
	if do.Poll == 0 {
		do.Poll = poll
	}
	port := filepath.Join(t.TempDir(), "ttyEPP")
	if err := os.Symlink(p.Path, port); err != nil {
		stop()
		p.Close()
		t.Fatal(err)
	}
	dev, err := epp.NewSerial(port, do)
	if err != nil {
		stop()
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dev.Close()
		stop()
		os.Remove(port)
		p.Close()
	})
	return &rig{dev: dev, sim: sim, pty: p, port: port, stopSim: stop}
}

func simKeys(keys []pinpadtest.PINKey) map[string]simepp.Key {
	m := map[string]simepp.Key{}
	for _, k := range keys {
		alg := simepp.TDES
		if k.Format == pinpad.ISO4 {
			alg = simepp.AES
		}
		m[k.Name] = simepp.Key{Alg: alg, Value: k.Value}
	}
	return m
}

// The hal conformance suite, over a pseudo-terminal, against the wire
// simulator.
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		caps pinpad.Capabilities
		keys []pinpadtest.PINKey
	}{
		{"default", pinpad.Capabilities{}, []pinpadtest.PINKey{
			{Name: "tpk", Format: pinpad.ISO0, Value: tdesKey},
			{Name: "tpk-aes", Format: pinpad.ISO4, Value: aesKey},
		}},
		{"iso0-only", pinpad.Capabilities{Formats: []pinpad.Format{pinpad.ISO0}, FDKs: 4}, []pinpadtest.PINKey{
			{Name: "tpk", Format: pinpad.ISO0, Value: tdesKey},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pinpadtest.Run(t, func(t *testing.T) pinpadtest.Harness {
				r := newRig(t, simepp.Options{Caps: tc.caps, Keys: simKeys(tc.keys)}, epp.Options{})
				return pinpadtest.Harness{Dev: r.dev, Press: r.sim.Press, Keys: tc.keys}
			})
		})
	}
}

func standardRig(t *testing.T) *rig {
	return newRig(t, simepp.Options{Keys: map[string]simepp.Key{
		"pin": {Alg: simepp.TDES, Value: tdesKey},
		"kek": {Alg: simepp.TDES, Value: kekKey},
	}}, epp.Options{})
}

var pinRequest = pinpad.PINRequest{PAN: pinpadtest.TestPAN, MinLen: 4, MaxLen: 12, Format: pinpad.ISO0, Key: "pin"}

// enterPIN runs GetPIN with the simulator's customer pressing keys and
// returns the PIN the block opens to.
func enterPIN(t *testing.T, r *rig, keys ...pinpad.Key) string {
	t.Helper()
	ctx := timeout(t, wait)
	res := async(func() (pinpad.PINBlock, error) { return r.dev.GetPIN(ctx, pinRequest, nil) })
	if err := r.sim.Press(ctx, keys...); err != nil {
		t.Fatalf("Press: %v", err)
	}
	b, err := await(t, res)
	if err != nil {
		t.Fatalf("GetPIN: %v", err)
	}
	pin, err := pinblock.DecryptFormat0(tdesKey, b.Block, []byte(pinRequest.PAN))
	if err != nil {
		t.Fatalf("block does not open: %v", err)
	}
	return string(pin)
}

func online(st hal.Status) bool { return st.State == hal.Online && st.Fault == "" }

func TestGarbageIsDiscarded(t *testing.T) {
	r := standardRig(t)
	ctx := timeout(t, wait)
	// No STX, no ACK/NAK bytes: noise, discarded without a NAK.
	if err := r.sim.Noise(ctx, []byte{0x00, 0xFF, 0x41, 0x03, 0x7E, 0x80, 0x99}); err != nil {
		t.Fatal(err)
	}
	if got := enterPIN(t, r, "4", "7", "1", "1", pinpad.KeyEnter); got != "4711" {
		t.Fatalf("PIN after noise = %q", got)
	}
	// A false STX with a huge LEN: the partial frame times out, is NAKed
	// (the simulator ignores a NAK when nothing is in flight), and the
	// link goes on.
	if err := r.sim.Noise(ctx, []byte{0x02, 0x00, 0x03, 0xFF, 0x40}); err != nil {
		t.Fatal(err)
	}
	if got := enterPIN(t, r, "1", "2", "3", "4", pinpad.KeyEnter); got != "1234" {
		t.Fatalf("PIN after a false frame = %q", got)
	}
	if st := r.dev.Status(); !online(st) {
		t.Errorf("Status = %v, want online", st)
	}
}

func TestBadCRCIsRetransmitted(t *testing.T) {
	r := standardRig(t)
	ctx := timeout(t, wait)
	r.sim.Garble(2) // two bad transmissions, the third is good
	if err := r.dev.Beep(ctx, epp.ToneClick); err != nil {
		t.Fatalf("Beep with two garbled answers: %v", err)
	}
	r.sim.Truncate(1) // cut short: NAKed after the gap, sent again
	if got := enterPIN(t, r, "2", "5", "8", "0", pinpad.KeyEnter); got != "2580" {
		t.Fatalf("PIN after a truncated event = %q", got)
	}
	if st := r.dev.Status(); !online(st) {
		t.Errorf("Status = %v, want online", st)
	}
}

func TestBadCRCAfterRetriesIsProtocolFault(t *testing.T) {
	r := standardRig(t)
	ctx := timeout(t, wait)
	r.sim.Garble(3)
	err := r.dev.Beep(ctx, epp.ToneError)
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != epp.FaultProtocol || !errors.Is(err, epp.ErrProtocol) || len(f.Raw) == 0 {
		t.Fatalf("Beep with three garbled answers = %v, want a PIN-PROTOCOL fault with the raw bytes", err)
	}
	if st := r.dev.Status(); st.State != hal.HardwareError || st.Fault != epp.FaultProtocol {
		t.Errorf("Status = %v, want hardware-error PIN-PROTOCOL", st)
	}
	waitStatus(t, r.dev, wait, "online again", online)
	if got := enterPIN(t, r, "9", "9", "9", "9", pinpad.KeyEnter); got != "9999" {
		t.Fatalf("PIN after recovery = %q", got)
	}
}

func TestMutedDeviceTimesOutAndRecovers(t *testing.T) {
	r := standardRig(t)
	ctx := timeout(t, 10*time.Second)
	res := async(func() (pinpad.PINBlock, error) { return r.dev.GetPIN(ctx, pinRequest, nil) })
	if err := r.sim.Press(ctx, "1"); err != nil { // the entry runs
		t.Fatal(err)
	}
	r.sim.Mute(true)
	_, err := await(t, res)
	if hal.FaultCode(err) != epp.FaultTimeout || !errors.Is(err, hal.ErrTimeout) {
		t.Fatalf("GetPIN on a muted device = %v, want a PIN-TIMEOUT fault", err)
	}
	if st := r.dev.Status(); st.State != hal.Offline || st.Fault != epp.FaultTimeout {
		t.Errorf("Status = %v, want offline PIN-TIMEOUT", st)
	}
	if _, err := r.dev.ReadKey(ctx, []pinpad.Key{pinpad.F1}); hal.FaultCode(err) != epp.FaultTimeout {
		t.Errorf("ReadKey while muted = %v, want PIN-TIMEOUT", err)
	}
	r.sim.Mute(false)
	waitStatus(t, r.dev, wait, "online again", online)
	// The greeting cancelled the entry the muted device kept running.
	if a := r.sim.Active(); a != "" {
		t.Errorf("simulator entry %q still running after the driver came back", a)
	}
	if got := enterPIN(t, r, "5", "5", "5", "5", pinpad.KeyEnter); got != "5555" {
		t.Fatalf("PIN after recovery = %q", got)
	}
}

func TestDeviceOfflineAndBack(t *testing.T) {
	r := standardRig(t)
	if err := r.sim.Inject(simepp.FaultOffline); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r.dev, wait, "offline PIN-TIMEOUT", func(st hal.Status) bool {
		return st.State == hal.Offline && st.Fault == epp.FaultTimeout
	})
	r.sim.Clear()
	waitStatus(t, r.dev, wait, "online again", online)
	if got := enterPIN(t, r, "0", "0", "0", "0", pinpad.KeyEnter); got != "0000" {
		t.Fatalf("PIN after power-up = %q", got)
	}
}

func TestPortGone(t *testing.T) {
	r := standardRig(t)
	ctx := timeout(t, 10*time.Second)
	res := async(func() (pinpad.Key, error) { return r.dev.ReadKey(ctx, []pinpad.Key{pinpad.F1}) })
	waitActive(t, r.sim, "keys:F1")
	r.stopSim()
	os.Remove(r.port) // the port is gone for good
	r.pty.Close()
	_, err := await(t, res)
	if hal.FaultCode(err) != epp.FaultOffline || !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("ReadKey when the port went away = %v, want a PIN-OFFLINE fault", err)
	}
	waitStatus(t, r.dev, wait, "offline PIN-OFFLINE", func(st hal.Status) bool {
		return st.State == hal.Offline && st.Fault == epp.FaultOffline
	})
	if _, err := r.dev.GetPIN(ctx, pinRequest, nil); hal.FaultCode(err) != epp.FaultOffline {
		t.Errorf("GetPIN with no port = %v, want PIN-OFFLINE", err)
	}
	if err := r.dev.Halt(ctx); hal.FaultCode(err) != epp.FaultOffline {
		t.Errorf("Halt with no port = %v, want PIN-OFFLINE", err)
	}
}

func TestMissingPortAtStart(t *testing.T) {
	dev, err := epp.NewSerial("/dev/epp-test-no-such-port", epp.Options{Poll: poll})
	if err != nil {
		t.Fatalf("NewSerial on a missing port = %v, want a Dev that keeps trying", err)
	}
	defer dev.Close()
	if st := dev.Status(); st.State != hal.Offline || st.Fault != epp.FaultOffline {
		t.Errorf("Status = %v, want offline PIN-OFFLINE", st)
	}
	if _, err := epp.NewSerial("", epp.Options{}); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("NewSerial(\"\") = %v, want hal.ErrInvalid", err)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := dev.ReadKey(t.Context(), []pinpad.Key{pinpad.F1}); !errors.Is(err, epp.ErrClosed) {
		t.Errorf("ReadKey after Close = %v, want ErrClosed", err)
	}
}

func TestCancelMidEntry(t *testing.T) {
	r := standardRig(t)
	ctx, cancel := context.WithCancel(timeout(t, wait))
	var echoes int
	res := async(func() (pinpad.PINBlock, error) {
		return r.dev.GetPIN(ctx, pinRequest, func(pinpad.Key) { echoes++ })
	})
	if err := r.sim.Press(ctx, "1", "2"); err != nil {
		t.Fatal(err)
	}
	cancel()
	b, err := await(t, res)
	if !errors.Is(err, context.Canceled) || b.Block != nil {
		t.Fatalf("GetPIN cancelled = %x, %v; want context.Canceled", b.Block, err)
	}
	if a := r.sim.Active(); a != "" {
		t.Errorf("simulator entry %q still running: CANCEL-ENTRY not sent", a)
	}
	if echoes != 2 {
		t.Errorf("%d echoes, want 2", echoes)
	}
	if got := enterPIN(t, r, "3", "4", "5", "6", pinpad.KeyEnter); got != "3456" {
		t.Fatalf("PIN after a cancelled entry = %q, want 3456", got)
	}
}

func TestTamper(t *testing.T) {
	r := standardRig(t)
	ctx := timeout(t, wait)
	res := async(func() (pinpad.PINBlock, error) { return r.dev.GetPIN(ctx, pinRequest, nil) })
	waitActive(t, r.sim, "pin")
	if err := r.sim.Inject(simepp.FaultTamper); err != nil {
		t.Fatal(err)
	}
	_, err := await(t, res)
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != epp.FaultTamper || f.Recoverable {
		t.Fatalf("GetPIN during tamper = %v, want an unrecoverable PIN-TAMPER fault", err)
	}
	if st := r.dev.Status(); st.State != hal.HardwareError || st.Fault != epp.FaultTamper {
		t.Errorf("Status = %v, want hardware-error PIN-TAMPER", st)
	}
	if err := r.dev.Halt(ctx); hal.FaultCode(err) != epp.FaultTamper {
		t.Errorf("Halt while tampered = %v, want PIN-TAMPER", err)
	}
	r.sim.Clear()
	waitStatus(t, r.dev, wait, "online after the reset", online)
	if _, err := r.dev.GetPIN(ctx, pinRequest, nil); !errors.Is(err, pinpad.ErrNoKey) {
		t.Errorf("GetPIN after tamper = %v, want pinpad.ErrNoKey: the keys were erased", err)
	}
}

func TestKeyLoading(t *testing.T) {
	aes128 := mustHex("000102030405060708090A0B0C0D0E0F")
	r := newRig(t, simepp.Options{Keys: map[string]simepp.Key{"kek": {Alg: simepp.TDES, Value: kekKey}}},
		epp.Options{KeyAlgs: map[string]epp.Alg{"master-aes": epp.AES, "pin-aes": epp.AES}})
	ctx := timeout(t, wait)
	wrap := func(key []byte) []byte {
		c, _ := pinblock.TDES(kekKey)
		out := make([]byte, len(key))
		for i := 0; i < len(key); i += 8 {
			c.Encrypt(out[i:], key[i:])
		}
		return out
	}
	tdesKCV, _ := pinblock.KCV(tdesKey)
	aesKCV, _ := pinblock.KCVAES(aes128)

	// Under a KEK, not listed: the KEK's algorithm (TDES).
	if kcv, err := r.dev.LoadKey(ctx, "pin", "kek", wrap(tdesKey)); err != nil || !bytes.Equal(kcv, tdesKCV) {
		t.Fatalf("LoadKey pin = % X, %v; want % X", kcv, err, tdesKCV)
	}
	// Listed as AES: AES check value although the KEK is TDES.
	if kcv, err := r.dev.LoadKey(ctx, "pin-aes", "kek", wrap(aes128)); err != nil || !bytes.Equal(kcv, aesKCV) {
		t.Fatalf("LoadKey pin-aes = % X, %v; want % X", kcv, err, aesKCV)
	}
	// Clear components XOR into the key.
	c1 := mustHex("0F0E0D0C0B0A09080706050403020100")
	c2 := make([]byte, 16)
	for i := range c2 {
		c2[i] = c1[i] ^ aes128[i]
	}
	if _, err := r.dev.LoadKey(ctx, "master-aes", "", c1); err != nil {
		t.Fatal(err)
	}
	if kcv, err := r.dev.LoadKey(ctx, "master-aes", "", c2); err != nil || !bytes.Equal(kcv, aesKCV) {
		t.Fatalf("second component: % X, %v; want % X", kcv, err, aesKCV)
	}
	// Errors.
	if _, err := r.dev.LoadKey(ctx, "x", "no-kek", wrap(tdesKey)); !errors.Is(err, pinpad.ErrNoKey) {
		t.Errorf("LoadKey under a missing KEK = %v, want ErrNoKey", err)
	}
	var ae *epp.AnswerError
	if _, err := r.dev.LoadKeyAlg(ctx, "x", "", epp.TDES, aesKey); !errors.Is(err, hal.ErrInvalid) || !errors.As(err, &ae) || ae.Status != 0x02 {
		t.Errorf("32-byte TDES key = %v, want the device's 02 (hal.ErrInvalid)", err)
	}
	if _, err := r.dev.LoadKeyAlg(ctx, "x", "", epp.FromKEK, tdesKey); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("clear component with FromKEK = %v, want hal.ErrInvalid", err)
	}
	if _, err := r.dev.LoadKey(ctx, "a-name-longer-than-16", "", tdesKey); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("long key name = %v, want hal.ErrInvalid", err)
	}
	// The loaded keys work: an ISO 4 block under pin-aes.
	res := async(func() (pinpad.PINBlock, error) {
		req := pinRequest
		req.Format, req.Key = pinpad.ISO4, "pin-aes"
		return r.dev.GetPIN(ctx, req, nil)
	})
	if err := r.sim.Press(ctx, "8", "6", "4", "2", pinpad.KeyEnter); err != nil {
		t.Fatal(err)
	}
	b, err := await(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if pin, err := pinblock.DecryptFormat4(aes128, b.Block, []byte(pinRequest.PAN)); err != nil || string(pin) != "8642" {
		t.Errorf("ISO 4 block opens to %q, %v", pin, err)
	}
	if err := r.dev.DeleteKey(ctx, "pin"); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.DeleteKey(ctx, "pin"); !errors.Is(err, pinpad.ErrNoKey) {
		t.Errorf("DeleteKey twice = %v, want ErrNoKey", err)
	}
}

func TestBeep(t *testing.T) {
	r := newRig(t, simepp.Options{Caps: pinpad.Capabilities{Formats: []pinpad.Format{pinpad.ISO0}}}, epp.Options{})
	ctx := timeout(t, wait)
	if err := r.dev.Beep(ctx, epp.ToneClick); !errors.Is(err, hal.ErrUnsupported) {
		t.Errorf("Beep without a beeper = %v, want hal.ErrUnsupported", err)
	}
	if err := r.dev.Beep(ctx, 7); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Beep(7) = %v, want hal.ErrInvalid", err)
	}
}

// waitActive waits until the simulator runs the entry described.
func waitActive(t *testing.T, sim *simepp.Sim, want string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sim.Active() != want {
		select {
		case <-deadline.C:
			t.Fatalf("simulator Active = %q, want %q", sim.Active(), want)
		case <-tick.C:
		}
	}
}

func TestMACAndKeyCheck(t *testing.T) {
	macKey := mustHex("89ABCDEF0123456776543210FEDCBA98")
	r := newRig(t, simepp.Options{Keys: map[string]simepp.Key{
		"mac": {Alg: simepp.TDES, Value: macKey}, "pin-aes": {Alg: simepp.AES, Value: aesKey},
	}}, epp.Options{})
	ctx := timeout(t, wait)
	ref := func(data []byte) []byte {
		m, err := mac.RetailMAC(macKey, data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// Whole, and in parts (over 1000 bytes), each the MAC of the data.
	for _, n := range []int{0, 20, 1000, 1001, 2500, epp.MaxMACData} {
		data := bytes.Repeat([]byte{byte(n)}, n)
		m, err := r.dev.MAC(ctx, "mac", data)
		if err != nil || !bytes.Equal(m, ref(data)) {
			t.Errorf("MAC of %d bytes = % X, %v; want % X", n, m, err, ref(data))
		}
	}
	// Two long MACs at once: their parts do not mix.
	errs := make(chan error, 2)
	for _, b := range []byte{'a', 'b'} {
		go func() {
			data := bytes.Repeat([]byte{b}, 3000)
			m, err := r.dev.MAC(ctx, "mac", data)
			if err == nil && !bytes.Equal(m, ref(data)) {
				err = errors.New("wrong MAC for " + string(b))
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// MAC during an entry.
	res := async(func() (pinpad.Key, error) { return r.dev.ReadKey(ctx, []pinpad.Key{pinpad.F1}) })
	waitActive(t, r.sim, "keys:F1")
	if m, err := r.dev.MAC(ctx, "mac", []byte("x")); err != nil || !bytes.Equal(m, ref([]byte("x"))) {
		t.Errorf("MAC during a key entry = % X, %v", m, err)
	}
	if err := r.sim.Press(ctx, pinpad.F1); err != nil {
		t.Fatal(err)
	}
	if _, err := await(t, res); err != nil {
		t.Fatal(err)
	}

	// Errors.
	if _, err := r.dev.MAC(ctx, "nokey", nil); !errors.Is(err, pinpad.ErrNoKey) {
		t.Errorf("MAC under a missing key = %v, want ErrNoKey", err)
	}
	if _, err := r.dev.MAC(ctx, "pin-aes", nil); !errors.Is(err, pinpad.ErrBadRequest) {
		t.Errorf("MAC under an AES key = %v, want ErrBadRequest", err)
	}
	if _, err := r.dev.MAC(ctx, "mac", make([]byte, epp.MaxMACData+1)); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("MAC of too much data = %v, want hal.ErrInvalid", err)
	}
	if _, err := r.dev.MAC(ctx, "", nil); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("MAC without a key name = %v, want hal.ErrInvalid", err)
	}

	// Check values, by the key's algorithm.
	macKCV, _ := pinblock.KCV(macKey)
	aesKCV, _ := pinblock.KCVAES(aesKey)
	if kcv, err := r.dev.KCV(ctx, "mac"); err != nil || !bytes.Equal(kcv, macKCV) {
		t.Errorf("KCV mac = % X, %v; want % X", kcv, err, macKCV)
	}
	if kcv, err := r.dev.KCV(ctx, "pin-aes"); err != nil || !bytes.Equal(kcv, aesKCV) {
		t.Errorf("KCV pin-aes = % X, %v; want % X", kcv, err, aesKCV)
	}
	if _, err := r.dev.KCV(ctx, "nokey"); !errors.Is(err, pinpad.ErrNoKey) {
		t.Errorf("KCV of a missing key = %v, want ErrNoKey", err)
	}
	if _, err := r.dev.KCV(ctx, "a-name-longer-than-16"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("KCV of a long name = %v, want hal.ErrInvalid", err)
	}
	if st := r.dev.Status(); !st.OK() {
		t.Errorf("Status after refusals = %v, want online", st)
	}

	// A tamper erases the keys.
	if err := r.sim.Inject(simepp.FaultTamper); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dev.MAC(ctx, "mac", nil); hal.FaultCode(err) != epp.FaultTamper {
		t.Errorf("MAC in a tamper = %v, want PIN-TAMPER", err)
	}
}
