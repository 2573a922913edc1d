package webscreen_test

import (
	"context"
	"fmt"
	"log"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/sim/devsim"
)

// On an ATM: the Dev is the customer display. The runner shows screens
// with Show and reads touches from Touches; Chromium in kiosk mode shows
// URL (docs/kiosk.md).
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	screen, err := webscreen.New(webscreen.Options{Addr: "127.0.0.1:0", Currency: "TWD", RequireViewer: true})
	if err != nil {
		log.Fatal(err)
	}
	go screen.Serve(ctx)

	var d display.Display = screen // atm.Devices.Display
	err = d.Show(ctx, display.Screen{ID: "welcome", Lang: "en", Title: "Welcome", Lines: []string{"Please insert your card"}})
	fmt.Println(err, screen.Current().ID)
	// Output: <nil> welcome
}

// In simulation: the simulator stays the display the runner and the
// scenarios use; the page mirrors it, sends its touches to it, and shows
// the virtual front panel around it.
func Example_simulation() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := devsim.NewDisplay(devsim.DisplayOptions{}) // atm.SimDevices.Display
	var panel webscreen.Panel                         // the daemon's adapter over atm.SimDevices
	screen, err := webscreen.New(webscreen.Options{Addr: "127.0.0.1:0", Mirror: sim, Panel: panel, Currency: "TWD"})
	if err != nil {
		log.Fatal(err)
	}
	go screen.Serve(ctx)
	fmt.Println(screen.URL() != "")
	// Output: true
}
