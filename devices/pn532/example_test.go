package pn532_test

import (
	"context"
	"fmt"
	"time"

	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/internal/ndef"
	"github.com/atmd/atmd/sim/wire"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
)

// A cardless session: publish the session's NDEF message, wait for a
// phone to read it. Here the PN532 is the simulator on a pseudo-terminal
// and its phone taps; on an ATM the port is the USB-serial adapter, e.g.
// /dev/serial/by-id/usb-FTDI_..., and the phone is a customer's.
func ExampleNewSerial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, _ := wire.OpenPTY()
	defer p.Close()
	sim := pn532sim.New(pn532sim.DefaultOptions)
	go sim.Serve(ctx, p.Master)

	tag, err := pn532.NewSerial(p.Path, pn532.DefaultOptions)
	if err != nil {
		panic(err)
	}
	defer tag.Close()
	fmt.Println(tag.Status(), tag.Status().Extra["firmware"])

	msg, _ := ndef.Message{
		ndef.URIRecord("https://atm.example/s/4f2a"),
		ndef.AARRecord("com.bank.atm"),
	}.Encode()
	if err := tag.Publish(ctx, msg); err != nil {
		panic(err)
	}
	go sim.Tap(ctx) // a phone touches the tag

	if err := tag.WaitRead(ctx); err != nil {
		panic(err)
	}
	fmt.Println("phone read the session")
	// Output:
	// online PN532 1.6
	// phone read the session
}
