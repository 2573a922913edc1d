package epp_test

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/wire"
	simepp "github.com/atmd/atmd/sim/wire/epp"
)

// The driver on one end of a pseudo-terminal, the wire simulator on the
// other: the same bytes as on an ATM's serial cable.
func ExampleNewSerial() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := mustHex("0123456789ABCDEFFEDCBA9876543210")

	line, _ := wire.OpenPTY()
	defer line.Close()
	sim := simepp.New(simepp.Options{Keys: map[string]simepp.Key{"tpk": {Alg: simepp.TDES, Value: key}}})
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, line.Master) }()
	defer func() { cancel(); <-served }()

	dev, err := epp.NewSerial(line.Path, epp.DefaultOptions)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dev.Close()
	fmt.Println("status", dev.Status())

	go func() { _ = sim.Press(ctx, "1", "2", "3", "4", pinpad.KeyEnter) }() // the customer
	pan := "4761739001010119"
	block, err := dev.GetPIN(ctx, pinpad.PINRequest{PAN: pan, MinLen: 4, MaxLen: 12, Format: pinpad.ISO0, Key: "tpk"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("PIN block %X under %s\n", block.Block, block.Key)
	pin, _ := pinblock.DecryptFormat0(key, block.Block, []byte(pan)) // what the host's HSM does
	fmt.Println("host verifies:", string(pin) == "1234")
	// Output:
	// status online
	// PIN block AC0708A3C923D34D under tpk
	// host verifies: true
}
