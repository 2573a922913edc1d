package epp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/pinpad/pinpadtest"
	"github.com/atmd/atmd/internal/pinblock"
)

// playEPP plays the EPP of an example exchange on a fresh PTY: it checks
// every byte the host sends and sends the EPP's bytes. The channel gets
// the outcome once the script ends.
func playEPP(t *testing.T, steps []exampleStep) (*deviceEnd, <-chan error) {
	t.Helper()
	end := newDeviceEnd(t)
	script := make(chan error, 1)
	go func() {
		for i, st := range steps {
			var err error
			switch st.dir {
			case "host":
				var got []byte
				got, err = end.readFull(len(st.bytes), wait)
				if err == nil && !bytes.Equal(got, st.bytes) {
					err = fmt.Errorf("host sent\n% X\nwant\n% X", got, st.bytes)
				}
			case "epp":
				err = end.write(st.bytes)
			}
			if err != nil {
				script <- fmt.Errorf("step %d (%s): %w", i, st.dir, err)
				return
			}
		}
		script <- nil
	}()
	return end, script
}

// The example exchange of docs/devices/epp.md, byte for byte, with the
// driver as the host: the test plays the EPP from the page's lines.
func TestDocExample(t *testing.T) {
	end, script := playEPP(t, readExample(t, exampleExchange))
	dev, err := epp.NewSerial(end.p.Path, epp.Options{Poll: time.Hour, KeyAlgs: map[string]epp.Alg{"pin-aes": epp.AES}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	fail := func(format string, args ...any) {
		t.Helper()
		select {
		case err := <-script:
			t.Errorf("script: %v", err)
		default:
		}
		t.Fatalf(format, args...)
	}
	if st := dev.Status(); !st.OK() {
		fail("Status after the greeting = %v", st)
	}
	if c := dev.Capabilities(); !slices.Equal(c.Formats, []pinpad.Format{pinpad.ISO0, pinpad.ISO4}) || c.FDKs != 8 || !c.Beeper {
		fail("Capabilities = %+v", c)
	}

	ctx := timeout(t, 10*time.Second)
	var echo []pinpad.Key
	b, err := dev.GetPIN(ctx, pinpad.PINRequest{PAN: pinpadtest.TestPAN, MinLen: 4, MaxLen: 12, Format: pinpad.ISO0, Key: "pin"},
		func(k pinpad.Key) { echo = append(echo, k) })
	if err != nil {
		fail("GetPIN: %v", err)
	}
	if !bytes.Equal(b.Block, mustHex("AC0708A3C923D34D")) || b.Key != "pin" || b.Format != pinpad.ISO0 {
		t.Errorf("PIN block %+v", b)
	}
	pin, err := pinblock.DecryptFormat0(mustHex("0123456789ABCDEFFEDCBA9876543210"), b.Block, []byte(pinpadtest.TestPAN))
	if err != nil || string(pin) != "1234" {
		t.Errorf("block opens to %q, %v", pin, err)
	}
	m := pinpad.KeyMasked
	if want := []pinpad.Key{m, m, m, pinpad.KeyBackspace, m, m}; !slices.Equal(echo, want) {
		t.Errorf("echo %q, want %q", echo, want)
	}

	kcv, err := dev.LoadKey(ctx, "pin-aes", "kek", mustHex("5D990787B06737878E3CD3CFDFBCBA69"))
	if err != nil {
		fail("LoadKey: %v", err)
	}
	if !bytes.Equal(kcv, mustHex("C6A13B")) {
		t.Errorf("KCV % X, want C6 A1 3B", kcv)
	}

	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err = dev.GetData(dctx, pinpad.DataRequest{MaxLen: 6, Terminators: []pinpad.Key{pinpad.F1}}, func(k pinpad.Key) {
		if k == "5" {
			cancel() // the host gives up after the first digit
		}
	})
	if !errors.Is(err, context.Canceled) {
		fail("GetData cancelled = %v, want context.Canceled", err)
	}

	if kcv, err := dev.KCV(ctx, "pin"); err != nil || !bytes.Equal(kcv, mustHex("08D7B4")) {
		fail("KCV pin = % X, %v; want 08 D7 B4", kcv, err)
	}
	if m, err := dev.MAC(ctx, "mac", []byte("0200 ATM00001 000123")); err != nil || !bytes.Equal(m, mustHex("3380E7A774048A23")) {
		fail("MAC = % X, %v; want 33 80 E7 A7 74 04 8A 23", m, err)
	}
	select {
	case err := <-script:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("the script did not finish")
	}
}

// The example of a PIN entry ended by a function key, byte for byte: the
// driver sends the terminators and reports the one pressed.
func TestDocExampleTerminated(t *testing.T) {
	end, script := playEPP(t, readExample(t, exampleTerminated))
	dev, err := epp.NewSerial(end.p.Path, epp.Options{Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ctx := timeout(t, 10*time.Second)
	var echo []pinpad.Key
	req := pinpad.PINRequest{PAN: pinpadtest.TestPAN, MinLen: 4, MaxLen: 12, Format: pinpad.ISO0, Key: "pin",
		Terminators: []pinpad.Key{pinpad.F4, pinpad.F5}}
	b, err := dev.GetPIN(ctx, req, func(k pinpad.Key) { echo = append(echo, k) })
	var te *pinpad.TerminatedError
	if !errors.As(err, &te) || te.Key != pinpad.F4 || !errors.Is(err, pinpad.ErrTerminated) || b.Block != nil {
		select {
		case serr := <-script:
			t.Errorf("script: %v", serr)
		default:
		}
		t.Fatalf("GetPIN = %x, %v; want no block and a *pinpad.TerminatedError naming F4", b.Block, err)
	}
	if m := pinpad.KeyMasked; !slices.Equal(echo, []pinpad.Key{m, m}) {
		t.Errorf("echo %q, want two masks", echo)
	}
	if st := dev.Status(); !st.OK() {
		t.Errorf("Status after a terminated entry = %v, want OK: it is no fault", st)
	}
	select {
	case err := <-script:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("the script did not finish")
	}
}

// A terminated PIN-ENTRY response that breaks epp.md is a protocol error,
// never a terminator.
func TestMalformedTerminatedResponse(t *testing.T) {
	example := readExample(t, exampleTerminated)
	greeting, pinEntry := example[:8], example[8] // up to the PIN-ENTRY the host sends
	if pinEntry.dir != "host" || len(pinEntry.bytes) < 5 || pinEntry.bytes[4] != 0x10 {
		t.Fatalf("epp.md: step 8 of the terminated example is not the host's PIN-ENTRY: %+v", pinEntry)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"not-a-terminator", []byte{0x00, 0xFF, 0xF6}},
		{"enter", []byte{0x00, 0xFF, 0x0D}},
		{"too-long", []byte{0x00, 0xFF, 0xF4, 0xF5}},
		{"too-short", []byte{0x00, 0xFF}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps := append(slices.Clone(greeting), pinEntry,
				exampleStep{dir: "epp", bytes: []byte{0x06}},
				exampleStep{dir: "epp", bytes: epp.MarshalFrame(0x03, 0x90, tc.data)},
				exampleStep{dir: "host", bytes: []byte{0x06}})
			end, script := playEPP(t, steps)
			dev, err := epp.NewSerial(end.p.Path, epp.Options{Poll: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			req := pinpad.PINRequest{PAN: pinpadtest.TestPAN, MinLen: 4, MaxLen: 12, Format: pinpad.ISO0, Key: "pin",
				Terminators: []pinpad.Key{pinpad.F4, pinpad.F5}}
			_, err = dev.GetPIN(timeout(t, wait), req, nil)
			if hal.FaultCode(err) != epp.FaultProtocol || !errors.Is(err, epp.ErrProtocol) || errors.Is(err, pinpad.ErrTerminated) {
				t.Errorf("GetPIN with response % X = %v; want a PIN-PROTOCOL fault", tc.data, err)
			}
			select {
			case err := <-script:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(wait):
				t.Fatal("the script did not finish")
			}
		})
	}
}
