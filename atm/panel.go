package atm

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

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

// SimPanel is the virtual front panel's view of the simulated devices:
// the webscreen.Panel the daemon builds over SimDevices. It uses only the
// control surfaces' methods, so each field takes the matching field of
// SimDevices as it is (CardReader, PinPad, Dispenser, Printer, NFCTag,
// Sensors, Faults). devices/webscreen tests it against the real devsim
// devices.
type SimPanel struct {
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

var _ webscreen.Panel = (*SimPanel)(nil)

// Cards lists the demo cards, masked.
func (p *SimPanel) Cards() []webscreen.CardInfo {
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

func (p *SimPanel) Insert(ctx context.Context, id string) error {
	c, ok := p.Demo[id]
	if !ok {
		return fmt.Errorf("atm: panel: no demo card %q: %w", id, hal.ErrInvalid)
	}
	return p.Card.Insert(ctx, c)
}

func (p *SimPanel) TakeCard(ctx context.Context) error { return p.Card.Take(ctx) }

func (p *SimPanel) Press(ctx context.Context, key string) error {
	return p.Pad.Press(ctx, pinpad.Key(key))
}

func (p *SimPanel) TakeCash(ctx context.Context) error { return p.Cash.Take(ctx) }

// Tap reads the tag as a phone would and returns its URI.
func (p *SimPanel) Tap(ctx context.Context) (string, error) {
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

func (p *SimPanel) State() webscreen.PanelState {
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

func (p *SimPanel) Faults() []webscreen.FaultSet {
	var out []webscreen.FaultSet
	for dev, codes := range p.Codes {
		if _, ok := p.Faulty[dev]; ok {
			out = append(out, webscreen.FaultSet{Device: dev, Codes: codes})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

func (p *SimPanel) Inject(ctx context.Context, device, code string) error {
	f, ok := p.Faulty[device]
	if !ok {
		return fmt.Errorf("atm: panel: no device %q: %w", device, hal.ErrInvalid)
	}
	return f.Inject(code)
}

func (p *SimPanel) Clear(ctx context.Context, device string) error {
	f, ok := p.Faulty[device]
	if !ok {
		return fmt.Errorf("atm: panel: no device %q: %w", device, hal.ErrInvalid)
	}
	f.Clear()
	return nil
}

func (p *SimPanel) Supervisor(ctx context.Context, on bool) error {
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
