package escpos_test

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/devices/escpos"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/sim/wire"
	simescpos "github.com/atmd/atmd/sim/wire/escpos"
)

// A receipt printed over a pseudo-terminal, with the wire simulator
// playing the printer. On an ATM the port is the printer's serial port,
// e.g. /dev/serial/by-id/usb-EPSON_TM-T88V-if00.
func ExampleNewSerial() {
	pty, err := wire.OpenPTY()
	if err != nil {
		panic(err)
	}
	defer pty.Close()
	sim := simescpos.New(simescpos.DefaultOptions)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sim.Serve(ctx, pty.Master)

	dev, err := escpos.NewSerial(pty.Path, escpos.DefaultOptions)
	if err != nil {
		panic(err)
	}
	defer dev.Close()
	err = dev.Print(ctx, printer.Receipt{Lines: []string{"ATMD BANK", "提款 1,500 元"}, Cut: true})
	fmt.Println("print:", err)
	fmt.Println("status:", dev.Status(), "paper", dev.Status().Extra["paper"])
	fmt.Printf("paper: %q cut=%v\n", sim.Receipts()[0].Lines, sim.Receipts()[0].Cut)
	// Output:
	// print: <nil>
	// status: online paper ok
	// paper: ["ATMD BANK" "提款 1,500 元"] cut=true
}
