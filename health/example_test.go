package health_test

import (
	"fmt"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/health"
)

// The runner feeds the monitor each device's status at every health
// check and logs, journals and reports what changes.
func ExampleMonitor() {
	m := health.NewMonitor()
	t0 := time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)

	for _, e := range m.Observe(t0, health.Dispenser, hal.Status{
		State: hal.HardwareError, Fault: "DSP-JAM", Detail: "notes jammed in the transport",
		Extra: map[string]string{"cassette.1": "ok", "cassette.2": "empty"},
	}) {
		fmt.Println(e)
	}
	m.Observe(t0, health.Printer, hal.Status{State: hal.Online, Extra: map[string]string{"paper": "low"}})

	in, reason, _ := m.Service(nil)
	fmt.Println(in, reason)
	fmt.Println(health.Report(m.Active()))

	for _, e := range m.Observe(t0.Add(4*time.Minute), health.Dispenser, hal.Status{
		State: hal.Online, Extra: map[string]string{"cassette.1": "ok", "cassette.2": "empty"},
	}) {
		fmt.Println(e)
	}
	in, _, degraded := m.Service(nil)
	fmt.Println(in, degraded)
	// Output:
	// raised dispenser cassette.2 DSP-CASS-EMPTY: cassette 2 empty
	// raised dispenser DSP-JAM: notes jammed in the transport
	// false dispenser: Notes jammed (DSP-JAM)
	// dispenser=DSP-CASS-EMPTY@cassette.2,DSP-JAM;printer=PRN-PAPER-LOW
	// cleared dispenser DSP-JAM after 4m0s
	// true [amounts that need notes from the empty cassette (the ATM goes out of service when every cassette is empty)]
}

func ExampleLookup() {
	e, _ := health.Lookup("PRN-PAPER-OUT")
	fmt.Println(e.Title, "/", e.TitleIn("zh-TW"))
	fmt.Println(e.Severity, "-", e.Degrades)
	fmt.Println(e.Remedy)
	// Output:
	// Receipt paper out / 收據紙用完
	// degraded - receipts (no receipt is offered)
	// Open the printer cover, load a new roll of the right width as the label in the printer shows, feed the end past the cutter, close the cover and print a test receipt from the maintenance menu.
}

func ExampleParseReport() {
	p, err := health.ParseReport("dispenser=DSP-JAM;nfctag=NFC-OFFLINE;+2")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range p.Items {
		fmt.Println(it.Device, it.Code)
	}
	fmt.Println("omitted", p.Omitted)
	// Output:
	// dispenser DSP-JAM
	// nfctag NFC-OFFLINE
	// omitted 2
}
