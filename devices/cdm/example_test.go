package cdm_test

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/devices/cdm"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/sim/wire"
	simcdm "github.com/atmd/atmd/sim/wire/cdm"
)

// A withdrawal over the serial line. Here the wire simulator on a
// pseudo-terminal stands in for the dispenser on /dev/ttyUSB0: the bytes
// are the same.
func ExampleNewSerial() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := wire.OpenPTY()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	key := []byte("dispense key shared with the host")
	so := simcdm.DefaultOptions
	so.Key = key
	sim, err := simcdm.New(so)
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, p.Master) }()
	defer func() { cancel(); <-served }()

	d, err := cdm.NewSerial(p.Path, cdm.DefaultOptions)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	fmt.Println("status:", d.Status())

	nonce, _ := d.Nonce(ctx) // from the device, for the host's approval
	req := dispenser.DispenseRequest{
		ATM: so.ATM, Txn: "000123", Amount: 300000, Currency: "TWD",
		Mix:   []dispenser.Notes{{Cassette: 1, Count: 3}},
		Nonce: nonce,
	}
	// The host's side: sign what it approved.
	req.Token = dispenser.SignToken(key, dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: nonce})

	res, err := d.Dispense(ctx, req)
	fmt.Println("stacked:", res.Dispensed, err)
	fmt.Println("present:", d.Present(ctx))
	go func() { _ = sim.Take(ctx) }() // the customer
	fmt.Println("taken:", d.WaitTaken(ctx), sim.Taken())

	_, err = d.Dispense(ctx, req) // the same token again
	fmt.Println("replay:", err)
	// Output:
	// status: online
	// stacked: [{1 3}] <nil>
	// present: <nil>
	// taken: <nil> [{1 3}]
	// replay: cdm: DISPENSE refused by the device: dispenser: dispense token missing or invalid
}
