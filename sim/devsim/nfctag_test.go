package devsim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/nfctag"
	"github.com/atmd/atmd/hal/nfctag/nfctagtest"
)

func TestNFCTagConformance(t *testing.T) {
	nfctagtest.Run(t, func(t *testing.T) nfctagtest.Harness {
		tag := NewNFCTag(DefaultNFCTagOptions)
		return nfctagtest.Harness{Dev: tag, Tap: tag.Tap}
	})
}

func TestNFCTagOffline(t *testing.T) {
	tag := NewNFCTag(DefaultNFCTagOptions)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tag.Publish(ctx, nfctagtest.TestMessage); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- tag.WaitRead(ctx) }()
	if err := tag.Faults().Inject("NFC-OFFLINE"); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, hal.ErrOffline) {
		t.Errorf("WaitRead pending when the tag went offline = %v, want ErrOffline", err)
	}
	if st := tag.Status(); st.State != hal.Offline || st.Fault != "NFC-OFFLINE" {
		t.Errorf("Status = %v, want offline NFC-OFFLINE", st)
	}
	calls := map[string]func() error{
		"Publish":  func() error { return tag.Publish(ctx, []byte{1}) },
		"Clear":    func() error { return tag.Clear(ctx) },
		"WaitRead": func() error { return tag.WaitRead(ctx) },
		"Halt":     func() error { return tag.Halt(ctx) },
		"Tap":      func() error { _, err := tag.Tap(ctx); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, hal.ErrOffline) || hal.FaultCode(err) != "NFC-OFFLINE" {
			t.Errorf("%s offline = %v, want ErrOffline with code NFC-OFFLINE", name, err)
		}
	}
	tag.Faults().Clear()
	if st := tag.Status(); !st.OK() {
		t.Errorf("Status after Clear = %v", st)
	}
	got, err := tag.Tap(ctx)
	if err != nil || string(got) != string(nfctagtest.TestMessage) {
		t.Errorf("Tap after Clear = %x, %v; the message published before the fault must survive", got, err)
	}
	if err := tag.Faults().Inject("NFC-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(NFC-JAM) = %v, want ErrInvalid", err)
	}
}

func TestNFCTagMaxNDEFOption(t *testing.T) {
	tag := NewNFCTag(NFCTagOptions{MaxNDEF: 4096})
	ctx := context.Background()
	if err := tag.Publish(ctx, make([]byte, 4096)); err != nil {
		t.Errorf("Publish of 4096 bytes on a 4096-byte tag: %v", err)
	}
	if err := tag.Publish(ctx, make([]byte, 4097)); !errors.Is(err, nfctag.ErrTooLarge) {
		t.Errorf("Publish of 4097 bytes = %v, want ErrTooLarge", err)
	}
}
