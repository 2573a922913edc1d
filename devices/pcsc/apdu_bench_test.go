package pcsc

import (
	"context"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/atmd/atmd/sim/wire/vcard"
	"github.com/atmd/atmd/sim/wire/vcard/pcscdtest"
)

// BenchmarkAPDU is the time of one APDU to the virtual EMV card
// (sim/wire/vcard) in pcscd's vpcd reader: SELECT of the Visa AID, whose
// answer is the application's FCI.
//
// "transport" sends it with a bare scard.Card.Transmit: the PC/SC stack
// itself — libpcsclite, pcscd, the vpcd driver, its TCP link to the
// virtual card and back. "driver" sends it as the EMV kernel does
// (exchange over the driver's session: a transmit bounded by
// APDUTimeout and ctx, response parsing, 61xx/6Cxx handling), over the
// same card handle. The driver's overhead per APDU is the difference.
//
// It needs pcscd and the vpcd driver (Debian pcscd, vsmartcard-vpcd) and
// skips without them, as the wire tests do.
func BenchmarkAPDU(b *testing.B) {
	if err := pcscdtest.Available(); err != nil {
		b.Skipf("no pcscd/vpcd: %v", err)
	}
	env := pcscdtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	card, err := vcard.New(vcard.Profile{PAN: "4761739001010119", Expiry: "2812"}, vcard.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := card.Insert(ctx, env.VPCD); err != nil {
		b.Fatal(err)
	}
	defer card.Remove()
	if err := env.WaitCard(ctx, env.Slot, true); err != nil {
		b.Fatal(err)
	}
	d := &Dev{opts: DefaultOptions}
	s, err := d.connect(env.Reader, 1, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close(scard.LeaveCard)
	cmd := selectCmd(vcard.AIDVisa, false)
	if r, err := exchange(ctx, s, "SELECT", cmd); err != nil || r.SW != 0x9000 {
		b.Fatalf("SELECT: %v %v", r, err)
	}
	b.Run("transport", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.card.Transmit(cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := exchange(ctx, s, "SELECT", cmd); err != nil {
				b.Fatal(err)
			}
		}
	})
}
