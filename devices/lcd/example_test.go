package lcd_test

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/devices/lcd"
	"github.com/atmd/atmd/sim/wire"
	simlcd "github.com/atmd/atmd/sim/wire/lcd"
)

// The operator display over a pseudo-terminal, with the wire simulator
// playing the display. On an ATM the port is the display's serial port.
func ExampleNewSerial() {
	pty, err := wire.OpenPTY()
	if err != nil {
		panic(err)
	}
	defer pty.Close()
	sim := simlcd.New(simlcd.DefaultOptions)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sim.Serve(ctx, pty.Master)

	dev, err := lcd.NewSerial(pty.Path, lcd.DefaultOptions)
	if err != nil {
		panic(err)
	}
	defer dev.Close()
	if err := dev.Show(ctx, []string{"SUPERVISOR MODE", "", "Café: 2 notes low"}); err != nil {
		panic(err)
	}
	_ = sim.WaitReceived(ctx, dev.Sent()) // the display has no read-back: wait for the bytes
	for _, l := range sim.Lines() {
		fmt.Printf("|%s|\n", l)
	}
	// Output:
	// |SUPERVISOR MODE     |
	// |                    |
	// |Café: 2 notes low   |
	// |                    |
}
