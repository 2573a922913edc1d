package webscreen_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/internal/currency"
)

// rig is a small ATM for the page to drive: the real flows.Machine, with
// the devices and the host played in memory the way the runner and the
// simulators would (the card comes back, cash is stacked and presented,
// the host approves). It implements webscreen.Panel, so the page's front
// panel acts on it, and it reads the page's touches.
type rig struct {
	t   *testing.T
	dev *webscreen.Dev
	cur currency.Currency

	mu         sync.Mutex
	m          *flows.Machine
	now        time.Time
	health     flows.Health
	entry      flows.Entry
	accepting  bool
	card       string // "empty", "inside", "presented"
	keyed      int    // PIN digits keyed (never the digits)
	data       string // clear digits keyed for an amount
	stacked    []dispenser.Notes
	tray       []dispenser.Notes
	taken      []dispenser.Notes
	receipts   []printer.Receipt
	requests   []flows.Request
	stan       int
	supervisor bool
	faults     map[string]string
	showErr    error
}

// demoCards are the cards the panel offers (test PANs, as in the seed).
var demoCards = map[string]cardreader.Card{
	"alice-debit": {PAN: "4761730000001019", Expiry: "2912", Technology: cardreader.Chip},
	"bob-debit":   {PAN: "4761730000002033", Expiry: "3006", Technology: cardreader.Chip},
}

func rigCassettes() []dispenser.Cassette {
	return []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Currency: "TWD", Count: 500, Status: dispenser.CassetteOK},
		{ID: 2, Denomination: 50000, Currency: "TWD", Count: 500, Status: dispenser.CassetteOK},
		{ID: 3, Denomination: 10000, Currency: "TWD", Count: 500, Status: dispenser.CassetteOK},
	}
}

// newRig starts a machine showing its screens on dev and taking dev's
// touches until the test ends.
func newRig(t *testing.T, dev *webscreen.Dev) *rig {
	t.Helper()
	cur, err := currency.ByAlpha("TWD")
	if err != nil {
		t.Fatal(err)
	}
	cfg := flows.Config{
		ATM: "ATM00001", Currency: cur,
		FastAmounts: []int64{100000, 200000, 300000, 500000, 1000000, 2000000},
		MaxAmount:   2000000, MaxNotes: 40, MaxPINTries: 3,
		PINFormat: pinpad.ISO0, PINKey: "pin", Timeouts: flows.DefaultTimeouts,
	}
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	m, err := flows.New(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dev: dev, cur: cur, m: m, now: now, card: "empty", faults: map[string]string{}}
	r.health = flows.Health{HostUp: true, Cassettes: rigCassettes(), PrinterOK: true}
	r.mu.Lock()
	r.stepLocked(r.health)
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case k := <-dev.Touches():
				r.mu.Lock()
				if r.entry.Mode == flows.EntryKeys && slices.Contains(r.entry.Keys, pinpad.Key(k)) {
					r.stepLocked(flows.KeyPressed{Key: pinpad.Key(k)})
				}
				r.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// stepLocked feeds ev and carries out the effects, feeding back the
// events the devices and the host would produce, in order.
func (r *rig) stepLocked(ev flows.Event) {
	queue := []flows.Event{ev}
	for len(queue) > 0 {
		ev, queue = queue[0], queue[1:]
		for _, e := range r.m.Step(ev) {
			switch e := e.(type) {
			case flows.Show:
				if err := r.dev.Show(context.Background(), e.Screen); err != nil && r.showErr == nil {
					r.showErr = err
				}
			case flows.Entry:
				r.entry, r.keyed, r.data = e, 0, ""
			case flows.AcceptCard:
				r.accepting = e.On
			case flows.EjectCard:
				r.card = "presented"
				queue = append(queue, flows.CardEjected{})
			case flows.RetainCard:
				r.card = "empty"
				queue = append(queue, flows.CardRetained{})
			case flows.GetNonce:
				queue = append(queue, flows.NonceReady{Nonce: []byte("nonce")})
			case flows.SendHost:
				r.requests = append(r.requests, e.Req)
				r.stan++
				queue = append(queue, flows.HostReply{Reply: flows.Reply{
					ID: e.Req.ID, Outcome: flows.Approved, Code: "00", STAN: fmt.Sprintf("%06d", r.stan),
					AuthCode: "A1B2C3", Token: []byte("token"), Available: 2400000, Ledger: 2500000, HasBal: true,
				}})
			case flows.Dispense:
				r.stacked = e.Req.Mix
				queue = append(queue, flows.Dispensed{Result: dispenser.Result{Dispensed: e.Req.Mix}})
			case flows.PresentCash:
				r.tray, r.stacked = r.stacked, nil
				queue = append(queue, flows.CashPresented{})
			case flows.RetractCash:
				n := 0
				for _, x := range append(r.tray, r.stacked...) {
					n += x.Count
				}
				r.tray, r.stacked = nil, nil
				queue = append(queue, flows.CashRetracted{Notes: n})
			case flows.Print:
				r.receipts = append(r.receipts, e.Receipt)
				queue = append(queue, flows.ReceiptPrinted{})
			}
		}
	}
}

// setHealthLocked reports the ATM's health to the machine.
func (r *rig) setHealthLocked() {
	h := flows.Health{HostUp: r.health.HostUp, Cassettes: rigCassettes(), PrinterOK: r.faults["printer"] == ""}
	if r.faults["dispenser"] != "" {
		h.Down = "dispenser"
	}
	r.health = h
	r.stepLocked(h)
}

// err is the first screen the page refused, if any.
func (r *rig) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.showErr
}

// ---- webscreen.Panel ----

var _ webscreen.Panel = (*rig)(nil)

func (r *rig) Cards() []webscreen.CardInfo {
	return []webscreen.CardInfo{
		{ID: "alice-debit", Label: "•••• 1019", Holder: "LIN YA TING", Note: "PIN 7968"},
		{ID: "bob-debit", Label: "•••• 2033", Holder: "CHEN CHIH MING", Note: "PIN 9867"},
	}
}

var errNoEntry = fmt.Errorf("rig: no entry takes that key: %w", hal.ErrInvalid)

func (r *rig) Insert(ctx context.Context, id string) error {
	c, ok := demoCards[id]
	if !ok {
		return fmt.Errorf("rig: no card %q: %w", id, hal.ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.accepting || r.card != "empty" {
		return fmt.Errorf("rig: card slot closed: %w", hal.ErrBusy)
	}
	r.card = "inside"
	r.stepLocked(flows.CardInserted{Card: c})
	return nil
}

func (r *rig) TakeCard(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.card != "presented" {
		return fmt.Errorf("rig: no card at the slot: %w", hal.ErrInvalid)
	}
	r.card = "empty"
	r.stepLocked(flows.CardTaken{})
	return nil
}

func (r *rig) Press(ctx context.Context, key string) error {
	k := pinpad.Key(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.entry.Mode {
	case flows.EntryPIN:
		switch {
		case k.IsDigit():
			if r.keyed < r.entry.MaxLen {
				r.keyed++
				r.stepLocked(flows.Echo{Key: pinpad.KeyMasked})
			}
		case k == pinpad.KeyClear:
			r.keyed = 0
			r.stepLocked(flows.Echo{Key: pinpad.KeyClear})
		case k == pinpad.KeyBackspace:
			r.keyed = max(0, r.keyed-1)
			r.stepLocked(flows.Echo{Key: pinpad.KeyBackspace})
		case k == pinpad.KeyEnter && r.keyed >= r.entry.MinLen:
			r.entry = flows.Entry{}
			r.stepLocked(flows.PINEntered{Block: pinpad.PINBlock{Block: []byte{1, 2, 3, 4, 5, 6, 7, 8}}})
		case k == pinpad.KeyCancel:
			r.entry = flows.Entry{}
			r.stepLocked(flows.EntryCancelled{})
		default:
			return errNoEntry
		}
	case flows.EntryData:
		switch {
		case k.IsDigit():
			if len(r.data) < r.entry.MaxLen {
				r.data += key
				r.stepLocked(flows.Echo{Key: k})
			}
		case k == pinpad.KeyClear:
			r.data = ""
			r.stepLocked(flows.Echo{Key: pinpad.KeyClear})
		case k == pinpad.KeyBackspace:
			if r.data != "" {
				r.data = r.data[:len(r.data)-1]
			}
			r.stepLocked(flows.Echo{Key: pinpad.KeyBackspace})
		case k == pinpad.KeyEnter:
			d := r.data
			r.entry = flows.Entry{}
			r.stepLocked(flows.DataEntered{Data: pinpad.Data{Digits: d, Terminator: pinpad.KeyEnter}})
		case k == pinpad.KeyCancel:
			r.entry = flows.Entry{}
			r.stepLocked(flows.EntryCancelled{})
		default:
			return errNoEntry
		}
	case flows.EntryKeys:
		if !slices.Contains(r.entry.Keys, k) {
			return errNoEntry
		}
		r.stepLocked(flows.KeyPressed{Key: k})
	default:
		return errNoEntry
	}
	return nil
}

func (r *rig) TakeCash(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tray) == 0 {
		return fmt.Errorf("rig: no cash in the tray: %w", hal.ErrInvalid)
	}
	r.taken = append(r.taken, r.tray...)
	r.tray = nil
	r.stepLocked(flows.CashTaken{})
	return nil
}

func (r *rig) Tap(ctx context.Context) (string, error) {
	return "https://bank.example/atm/ATM00001", nil
}

func (r *rig) State() webscreen.PanelState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := webscreen.PanelState{Card: r.card, Accepting: r.accepting && r.card == "empty", Supervisor: r.supervisor, Receipts: len(r.receipts)}
	switch {
	case r.supervisor:
		st.Service = "supervisor"
	case r.m.InService():
		st.Service = "in-service"
	default:
		st.Service = "out-of-service"
	}
	switch r.entry.Mode {
	case flows.EntryPIN:
		st.Entry = "pin"
	case flows.EntryData:
		st.Entry = "data"
	case flows.EntryKeys:
		var ks []string
		for _, k := range r.entry.Keys {
			ks = append(ks, string(k))
		}
		st.Entry = "keys:" + strings.Join(ks, ",")
	}
	cs := rigCassettes()
	for _, n := range r.tray {
		for _, c := range cs {
			if c.ID == n.Cassette {
				st.Cash = append(st.Cash, webscreen.NoteCount{Label: r.cur.Format(c.Denomination), Count: n.Count})
			}
		}
	}
	if len(r.receipts) > 0 {
		st.Receipt = r.receipts[len(r.receipts)-1].Lines
	}
	for _, name := range []string{"cardreader", "pinpad", "dispenser", "display", "printer", "nfctag"} {
		s := hal.Status{State: hal.Online}
		if f := r.faults[name]; f != "" {
			s = hal.Status{State: hal.HardwareError, Fault: f, Detail: "injected"}
		}
		st.Devices = append(st.Devices, webscreen.DeviceState{Name: name, Status: s})
	}
	return st
}

func (r *rig) Faults() []webscreen.FaultSet {
	return []webscreen.FaultSet{
		{Device: "dispenser", Codes: []string{"DSP-JAM", "DSP-SHUTTER", "DSP-OFFLINE"}},
		{Device: "printer", Codes: []string{"PRN-PAPER-OUT", "PRN-JAM"}},
	}
}

func (r *rig) Inject(ctx context.Context, device, code string) error {
	for _, f := range r.Faults() {
		if f.Device == device && slices.Contains(f.Codes, code) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.faults[device] = code
			r.setHealthLocked()
			return nil
		}
	}
	return fmt.Errorf("rig: no fault %s on %s: %w", code, device, hal.ErrInvalid)
}

func (r *rig) Clear(ctx context.Context, device string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.faults, device)
	r.setHealthLocked()
	return nil
}

func (r *rig) Supervisor(ctx context.Context, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.supervisor = on
	return nil
}
