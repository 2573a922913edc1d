package pn532_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/atmd/atmd/internal/ndef"
	"github.com/atmd/atmd/sim/wire"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
)

// Running the simulator on its own, as `atmd simdev nfctag` does: a
// pseudo-terminal stands in for the USB-serial adapter, the driver (in
// another process) opens the printed path, and each line typed on
// standard input is a phone tapping the tag.
func Example_standalone() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, err := wire.OpenPTY()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	sim := pn532sim.New(pn532sim.DefaultOptions)
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			b, err := sim.Tap(ctx)
			if err != nil {
				fmt.Println("tap:", err)
				continue
			}
			m, err := ndef.Parse(b)
			if err != nil {
				fmt.Printf("tap: %d bytes, not NDEF: %v\n", len(b), err)
				continue
			}
			for _, r := range m {
				fmt.Println("tap:", r) // type and size; the payload holds the session
			}
		}
	}()
	fmt.Println("PN532 on", p.Path)
	if err := sim.Serve(ctx, p.Master); err != nil && ctx.Err() == nil {
		panic(err)
	}
}
