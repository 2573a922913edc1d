package atm

import (
	"context"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/host/seed"
)

// simFaultCodes are the faults the technician panel offers per device.
var simFaultCodes = map[string][]string{
	"cardreader": {"CRD-OFFLINE", "CRD-JAM", "CRD-BIN-FULL"},
	"pinpad":     {"PIN-OFFLINE", "PIN-TAMPER"},
	"display":    {"SCR-OFFLINE"},
	"opdisplay":  {"OPD-OFFLINE"},
	"nfctag":     {"NFC-OFFLINE"},
	"dispenser":  {"DSP-OFFLINE", "DSP-JAM", "DSP-SHUTTER", "DSP-PICK"},
	"printer":    {"PRN-OFFLINE", "PRN-PAPER-LOW", "PRN-PAPER-OUT", "PRN-JAM"},
	"camera":     {"CAM-OFFLINE"},
	"sensors":    {"SEN-OFFLINE", "SEN-TAMPER"},
}

// SeedCard is what a chip reader reads from a card of the seed data.
func SeedCard(c seed.Card) cardreader.Card {
	return cardreader.Card{
		PAN: c.PAN, PANSeq: fmt.Sprintf("%03d", c.PANSeq), Expiry: c.Expiry,
		Track2: c.PAN + "=" + c.Expiry + "201" + "0000000000", Name: c.Name, Technology: cardreader.Chip,
	}
}

// URL is the address of the customer screen's page, "" when there is
// none.
func (d *Daemon) URL() string {
	if d.Web == nil {
		return ""
	}
	return d.Web.URL()
}

// startWeb serves the simulated customer screen as a web page, with the
// virtual front panel when the config asks for it. The page mirrors the
// simulated display; the panel acts on the simulated devices.
func (d *Daemon) startWeb(ctx context.Context, log zerolog.Logger) error {
	c := d.Config.Devices.Display
	if c.Driver != DriverSim || c.Addr == "" || d.Sim == nil || d.Sim.Display == nil {
		return nil
	}
	cur, err := currency.ByAlpha(d.Config.ATM.Currency)
	if err != nil {
		return err
	}
	opts := webscreen.Options{Addr: c.Addr, Mirror: d.Sim.Display, Currency: cur.Alpha, Phone: c.Phone,
		Log: log.With().Str("component", "webscreen").Logger()}
	if opts.Phone == "" && c.Panel {
		opts.Phone = d.phoneApp()
	}
	if c.Panel {
		p, err := d.simPanel(ctx, cur)
		if err != nil {
			return err
		}
		opts.Panel = p
	}
	w, err := webscreen.New(opts)
	if err != nil {
		return fmt.Errorf("atm: customer screen: %w", err)
	}
	d.Web = w
	d.goRun("webscreen", func() error { return w.Serve(ctx) })
	return nil
}

// phoneApp is the address of the banking-app simulator's page that the
// in-process reference host serves beside its mobile API (under /app/,
// when mobile.simulator is on; sim/phone/webapp), or "".
func (d *Daemon) phoneApp() string {
	h := d.Config.Host
	if h == nil || h.Mobile == nil || !h.Mobile.Simulator || h.Mobile.Listen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(h.Mobile.Listen)
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/app/"
}

func (d *Daemon) simPanel(ctx context.Context, cur currency.Currency) (*SimPanel, error) {
	s := d.Sim
	p := &SimPanel{
		Card: s.CardReader, Pad: s.PinPad, Cash: s.Dispenser, Printer: s.Printer, Tag: s.NFCTag, Sensors: s.Sensors,
		Faulty: s.Faults, Codes: simFaultCodes, Currency: cur,
		Demo: map[string]cardreader.Card{}, Notes: map[string]string{},
		Status: func() (string, string, map[string]hal.Status) {
			snap := d.Runner.Snapshot()
			return snap.Service, snap.State, snap.Devices
		},
	}
	if cs, err := d.Devices.Dispenser.Cassettes(ctx); err == nil {
		p.Cassettes = cs
	}
	if path := d.Config.Devices.CardReader.Seed; path != "" {
		sd, err := seed.Load(path)
		if err != nil {
			return nil, err
		}
		for _, cu := range sd.Customers {
			for _, card := range cu.Cards {
				p.Demo[card.ID] = SeedCard(card)
				p.Notes[card.ID] = fmt.Sprintf("PIN %s", string(card.PIN))
				if card.Status == seed.StatusNew {
					// A new card's default PIN reaches the customer only
					// on the phone, during activation.
					p.Notes[card.ID] = "New card"
				}
			}
		}
	}
	return p, nil
}
