package webscreen_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/ndef"
	"github.com/atmd/atmd/sim/devsim"
)

func TestSimPanel(t *testing.T) {
	ctx := timeout(t, wait)
	card := devsim.NewCardReader(devsim.CardReaderOptions{})
	pad := devsim.NewPinPad(devsim.PinPadOptions{})
	tag := devsim.NewNFCTag(devsim.NFCTagOptions{})
	prn := devsim.NewPrinter(devsim.PrinterOptions{})
	sens, err := devsim.NewSensors(devsim.DefaultSensorsOptions)
	if err != nil {
		t.Fatal(err)
	}
	twd, _ := currency.ByAlpha("TWD")
	cs := rigCassettes()
	dsp, err := devsim.NewDispenser(devsim.DispenserOptions{Cassettes: cs, ATM: "ATM00001", StateFile: t.TempDir() + "/dispenser.json", MaxNotes: 40})
	if err != nil {
		t.Fatal(err)
	}
	p := &atm.SimPanel{
		Card: card, Pad: pad, Cash: dsp, Printer: prn, Tag: tag, Sensors: sens,
		Faulty:    map[string]devsim.Faulty{"printer": prn, "nfctag": tag.Faults()},
		Codes:     map[string][]string{"printer": {devsim.PrinterJam, devsim.PrinterPaperOut}, "nfctag": {"NFC-OFFLINE"}, "camera": {"CAM-OFFLINE"}},
		Demo:      map[string]cardreader.Card{"alice-debit": demoCards["alice-debit"]},
		Notes:     map[string]string{"alice-debit": "PIN 7968"},
		Cassettes: cs, Currency: twd,
		Status: func() (string, string, map[string]hal.Status) {
			return "in-service", "idle", map[string]hal.Status{"printer": prn.Status(), "cardreader": card.Status()}
		},
	}
	panel := webscreen.Panel(p)
	if got := panel.Cards(); len(got) != 1 || got[0].Label != "•••• 1019" || strings.Contains(fmt.Sprint(got), "4761730000001019") {
		t.Fatalf("cards = %+v", got)
	}
	// The runner accepts a card; the panel inserts one.
	accepted := make(chan cardreader.Card, 1)
	go func() {
		c, err := card.Accept(ctx)
		if err == nil {
			accepted <- c
		}
	}()
	if err := panel.Insert(ctx, "alice-debit"); err != nil {
		t.Fatal(err)
	}
	if c := <-accepted; c.PAN != demoCards["alice-debit"].PAN {
		t.Fatalf("accepted %v", c)
	}
	if st := panel.State(); st.Card != devsim.CardInside || st.Accepting {
		t.Fatalf("state with the card inside = %+v", st)
	}
	if err := panel.Insert(ctx, "nobody"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("insert unknown card = %v", err)
	}
	// A key on the PIN pad reaches the entry the runner armed.
	keys := make(chan pinpad.Key, 1)
	go func() {
		k, err := pad.ReadKey(ctx, []pinpad.Key{pinpad.F1, pinpad.KeyCancel})
		if err == nil {
			keys <- k
		}
	}()
	if err := panel.Press(ctx, "F1"); err != nil {
		t.Fatal(err)
	}
	if k := <-keys; k != pinpad.F1 {
		t.Fatalf("ReadKey = %q", k)
	}
	// The card comes back and is taken.
	if err := card.Eject(ctx); err != nil {
		t.Fatal(err)
	}
	if st := panel.State(); st.Card != devsim.CardPresented {
		t.Fatalf("state after eject = %+v", st)
	}
	if err := panel.TakeCard(ctx); err != nil {
		t.Fatal(err)
	}
	// A phone taps the tag.
	msg, _ := ndef.Message{ndef.URIRecord("https://bank.example/atm?s=1")}.Encode()
	if err := tag.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if u, err := panel.Tap(ctx); err != nil || u != "https://bank.example/atm?s=1" {
		t.Fatalf("Tap = %q, %v", u, err)
	}
	// Faults, by device.
	fs := panel.Faults()
	if len(fs) != 2 || fs[0].Device != "nfctag" || fs[1].Device != "printer" {
		t.Fatalf("Faults = %+v (camera has no simulator here)", fs)
	}
	if err := panel.Inject(ctx, "printer", devsim.PrinterJam); err != nil {
		t.Fatal(err)
	}
	st := panel.State()
	i := slices.IndexFunc(st.Devices, func(d webscreen.DeviceState) bool { return d.Name == "printer" })
	if i < 0 || st.Devices[i].Status.Fault != devsim.PrinterJam {
		t.Fatalf("devices after inject = %+v", st.Devices)
	}
	if err := panel.Clear(ctx, "printer"); err != nil || !prn.Status().OK() {
		t.Fatalf("Clear = %v, printer %v", err, prn.Status())
	}
	if err := panel.Inject(ctx, "toaster", "X"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("inject into an unknown device = %v", err)
	}
	if err := panel.Supervisor(ctx, true); err != nil || !panel.State().Supervisor {
		t.Fatalf("Supervisor = %v", err)
	}
	// Nothing in the tray: taking cash waits, and gives up with the context.
	short, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	if err := panel.TakeCash(short); err == nil {
		t.Fatal("took cash from an empty tray")
	}
}
