package cdm_test

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/sim/devsim"
	"github.com/atmd/atmd/sim/wire"
	"github.com/atmd/atmd/sim/wire/cdm"
)

// The simulator offers the control surface scenarios use, like the
// in-process one.
var (
	_ atm.CashControl = (*cdm.Sim)(nil)
	_ devsim.Faulty   = (*cdm.Sim)(nil)
)

// A dispenser on a pseudo-terminal, as `atmd simdev` would run it: the
// driver (or a terminal program) opens the slave path.
func ExampleSim_Serve() {
	opts := cdm.DefaultOptions
	opts.Key = []byte("dispense key shared with the host")
	sim, err := cdm.New(opts)
	if err != nil {
		panic(err)
	}
	p, err := wire.OpenPTY()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, p.Master) }()

	// A host on p.Path would now talk to it; here we only check the line
	// is up, and stop.
	fmt.Println(p.Path != "", sim.Counters()[0].Count)
	cancel()
	fmt.Println(<-served)
	// Output:
	// true 2000
	// <nil>
}
