package webscreen_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hal/sensors"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/ndef"
	"github.com/atmd/atmd/sim/devsim"
)

// simPanel is the webscreen.Panel a daemon builds over its simulated
// devices. It uses only the control surfaces' methods, so each field
// takes the matching field of atm.SimDevices as it is (CardReader,
// PinPad, Dispenser, Printer, NFCTag, Sensors, Faults), and the type can
// be copied into package atm unchanged. It lives here so that it is
// compiled and tested with the package it serves.
type simPanel struct {
	Card interface {
		Insert(ctx context.Context, c cardreader.Card) error
		Take(ctx context.Context) error
		State() string
	}
	Pad interface {
		Press(ctx context.Context, keys ...pinpad.Key) error
		Active() string
	}
	Cash interface {
		Take(ctx context.Context) error
		Tray() []dispenser.Notes
	}
	Printer interface{ Receipts() []printer.Receipt }
	Tag     interface {
		Tap(ctx context.Context) ([]byte, error)
	}
	Sensors interface {
		Set(in sensors.Input, on bool) error
	}
	Faulty map[string]devsim.Faulty // atm.SimDevices.Faults
	// Codes are the fault codes offered per device.
	Codes map[string][]string
	// Demo are the demo cards by seed id; Notes the hints shown on them.
	Demo  map[string]cardreader.Card
	Notes map[string]string
	// Cassettes and Currency name the notes in the tray.
	Cassettes []dispenser.Cassette
	Currency  currency.Currency
	// Status reports the runner's service and flow state and the devices
	// (atm.Runner.Snapshot: Service, State, Devices). It must not block.
	Status func() (service, state string, devices map[string]hal.Status)

	mu         sync.Mutex
	supervisor bool
}

var _ webscreen.Panel = (*simPanel)(nil)

// Cards lists the demo cards, masked.
func (p *simPanel) Cards() []webscreen.CardInfo {
	ids := make([]string, 0, len(p.Demo))
	for id := range p.Demo {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]webscreen.CardInfo, 0, len(ids))
	for _, id := range ids {
		out = append(out, webscreen.CardInfo{ID: id, Label: strings.Replace(mask.Last4(p.Demo[id].PAN), "****", "••••", 1), Note: p.Notes[id]})
	}
	return out
}

func (p *simPanel) Insert(ctx context.Context, id string) error {
	c, ok := p.Demo[id]
	if !ok {
		return fmt.Errorf("atm: panel: no demo card %q: %w", id, hal.ErrInvalid)
	}
	return p.Card.Insert(ctx, c)
}

func (p *simPanel) TakeCard(ctx context.Context) error { return p.Card.Take(ctx) }

func (p *simPanel) Press(ctx context.Context, key string) error {
	return p.Pad.Press(ctx, pinpad.Key(key))
}

func (p *simPanel) TakeCash(ctx context.Context) error { return p.Cash.Take(ctx) }

// Tap reads the tag as a phone would and returns its URI.
func (p *simPanel) Tap(ctx context.Context) (string, error) {
	b, err := p.Tag.Tap(ctx)
	if err != nil {
		return "", err
	}
	m, err := ndef.Parse(b)
	if err != nil {
		return "", fmt.Errorf("atm: panel: tag: %w", err)
	}
	for _, r := range m {
		if u, err := r.URI(); err == nil {
			return u, nil
		}
	}
	return fmt.Sprintf("%d NDEF records", len(m)), nil
}

func (p *simPanel) State() webscreen.PanelState {
	service, state, devs := p.Status()
	p.mu.Lock()
	sup := p.supervisor
	p.mu.Unlock()
	st := webscreen.PanelState{
		Service: service, Supervisor: sup, Card: p.Card.State(), Entry: p.Pad.Active(),
	}
	st.Accepting = state == "idle" && st.Card == devsim.CardEmpty
	for _, n := range p.Cash.Tray() {
		for _, c := range p.Cassettes {
			if c.ID == n.Cassette {
				st.Cash = append(st.Cash, webscreen.NoteCount{Label: p.Currency.Format(c.Denomination), Count: n.Count})
			}
		}
	}
	rs := p.Printer.Receipts()
	st.Receipts = len(rs)
	if len(rs) > 0 {
		st.Receipt = rs[len(rs)-1].Lines
	}
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st.Devices = append(st.Devices, webscreen.DeviceState{Name: n, Status: devs[n]})
	}
	return st
}

func (p *simPanel) Faults() []webscreen.FaultSet {
	var out []webscreen.FaultSet
	for dev, codes := range p.Codes {
		if _, ok := p.Faulty[dev]; ok {
			out = append(out, webscreen.FaultSet{Device: dev, Codes: codes})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

func (p *simPanel) Inject(ctx context.Context, device, code string) error {
	f, ok := p.Faulty[device]
	if !ok {
		return fmt.Errorf("atm: panel: no device %q: %w", device, hal.ErrInvalid)
	}
	return f.Inject(code)
}

func (p *simPanel) Clear(ctx context.Context, device string) error {
	f, ok := p.Faulty[device]
	if !ok {
		return fmt.Errorf("atm: panel: no device %q: %w", device, hal.ErrInvalid)
	}
	f.Clear()
	return nil
}

func (p *simPanel) Supervisor(ctx context.Context, on bool) error {
	if err := p.Sensors.Set(sensors.Supervisor, on); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.supervisor = on
	return nil
}

// TestSimPanel runs the adapter against the real simulators, playing the
// runner's side by hand.
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
	p := &simPanel{
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
