package devsim_test

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/sim/devsim"
)

// A withdrawal end to end: the dispenser issues a nonce, the host signs a
// token over it, the dispenser stacks and presents the notes, and the
// simulated customer takes them.
func ExampleDispenser() {
	ctx := context.Background()
	key := []byte("dispense key shared with the host")
	opts := devsim.DefaultDispenserOptions
	opts.Key = key
	d, err := devsim.NewDispenser(opts)
	if err != nil {
		panic(err)
	}

	nonce, _ := d.Nonce(ctx)
	req := dispenser.DispenseRequest{
		ATM: opts.ATM, Txn: "000123", Amount: 300000, Currency: "TWD",
		Mix:   []dispenser.Notes{{Cassette: 1, Count: 3}},
		Nonce: nonce,
	}
	// The host's side: sign what it approved.
	req.Token = dispenser.SignToken(key, dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: nonce})

	res, err := d.Dispense(ctx, req)
	fmt.Println("stacked:", res.Dispensed, err)
	fmt.Println("present:", d.Present(ctx))
	go func() { _ = d.Take(ctx) }() // the customer
	fmt.Println("taken:", d.WaitTaken(ctx), d.Taken())

	_, err = d.Dispense(ctx, req) // the same token again
	fmt.Println("replay:", err)
	fmt.Println("cassette 1:", d.Counters()[0].Count)
	// Output:
	// stacked: [{1 3}] <nil>
	// present: <nil>
	// taken: <nil> [{1 3}]
	// replay: dispenser: dispense token missing or invalid
	// cassette 1: 1997
}
