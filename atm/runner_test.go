package atm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/atmd/atmd/hostlink/saf"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/devsim"
)

// These tests run the Runner against the devsim simulators, a journal in
// a temporary directory, a fake clock the test moves (ManualTicks) and a
// fake host link (fakeLink). The simulators' control surfaces play the
// customer; every wait has a deadline.

const (
	rigATM  = "ATM00001"
	rigWait = 5 * time.Second
)

var (
	rigStart       = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	rigCard        = cardreader.Card{PAN: "4761739001010119", Expiry: "2812", Track2: "4761739001010119=28122010000000000000", Technology: cardreader.Chip}
	rigDispenseKey = []byte("dispense key shared with the host")
	rigPINKey      = []byte("0123456789abcdef") // 16 bytes: TDES, ISO format 0
	rigPIN         = []pinpad.Key{"1", "2", "3", "4", pinpad.KeyEnter}
)

func rigFlows(t *testing.T) flows.Config {
	t.Helper()
	twd, err := currency.ByAlpha("TWD")
	if err != nil {
		t.Fatal(err)
	}
	return flows.Config{
		ATM: rigATM, Currency: twd,
		FastAmounts: []int64{100000, 200000, 300000, 500000, 1000000, 2000000},
		MaxAmount:   2000000, MaxNotes: 40, MaxPINTries: 3,
		PINFormat: pinpad.ISO0, PINKey: "pin", Timeouts: flows.DefaultTimeouts,
	}
}

// ---- fake host link ----

// respondFunc answers one request the runner sent. It gets a copy of the
// message as sent (STAN and transmission time filled in).
type respondFunc func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error)

// fakeLink is an atm.Link that fills in requests as hostlink.Client does
// (STAN when empty, transmission time), records every message sent and
// answers with a scriptable respondFunc (default: a host that approves
// withdrawals with a valid dispense token and acknowledges reversals).
type fakeLink struct {
	mu      sync.Mutex
	stan    int
	sent    []hostlink.Message
	respond respondFunc

	upMu sync.Mutex // apart from mu: Up must not order the loop after Send
	up   bool

	events chan bool
}

func newFakeLink() *fakeLink { return &fakeLink{up: true, events: make(chan bool)} }

func (l *fakeLink) Send(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
	l.mu.Lock()
	if m.STAN == "" {
		l.stan++
		m.STAN = fmt.Sprintf("%06d", l.stan)
	}
	m.TerminalID = rigATM
	m.TransmitTime = fmt.Sprintf("1122%06d", 90000+len(l.sent))
	cp := *m
	l.sent = append(l.sent, cp)
	respond := l.respond
	l.mu.Unlock()
	if respond == nil {
		respond = goodHost
	}
	return respond(ctx, &cp)
}

func (l *fakeLink) Up() bool {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	return l.up
}

func (l *fakeLink) Events() <-chan bool { return l.events }

func (l *fakeLink) setUp(up bool) {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	l.up = up
}

func (l *fakeLink) setRespond(f respondFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.respond = f
}

// messages returns the messages sent with one of mtis (all when none).
func (l *fakeLink) messages(mtis ...string) []hostlink.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hostlink.Message
	for _, m := range l.sent {
		if len(mtis) == 0 || slices.Contains(mtis, m.MTI) {
			out = append(out, m)
		}
	}
	return out
}

// goodHost approves withdrawals with a token and acknowledges reversals.
func goodHost(_ context.Context, m *hostlink.Message) (*hostlink.Message, error) {
	switch m.MTI {
	case hostlink.MTIFinRequest:
		return approval(m, true)
	case hostlink.MTIReversal, hostlink.MTIReversalRepeat:
		return reversalAck(m), nil
	}
	return nil, fmt.Errorf("fake host: unexpected %s", m.MTI)
}

// approval answers a 0200 with 00, signing a dispense token over the
// nonce the request carries in field 48 when withToken.
func approval(m *hostlink.Message, withToken bool) (*hostlink.Message, error) {
	resp := &hostlink.Message{
		MTI: hostlink.MTIFinResponse, ProcCode: m.ProcCode, Amount: m.Amount, STAN: m.STAN,
		TerminalID: m.TerminalID, RespCode: hostlink.RCApproved, AuthCode: "A12345",
	}
	if !withToken {
		return resp, nil
	}
	t, err := hostlink.ParseTLV(m.Private)
	if err != nil {
		return nil, fmt.Errorf("fake host: field 48: %w", err)
	}
	nc, ok := t.Get(hostlink.TagNonce)
	if !ok {
		return nil, errors.New("fake host: no nonce in field 48")
	}
	nonce, err := hex.DecodeString(nc)
	if err != nil {
		return nil, fmt.Errorf("fake host: nonce: %w", err)
	}
	tok := dispenser.SignToken(rigDispenseKey, dispenser.TokenData{ATM: rigATM, Txn: m.STAN, Amount: m.Amount, Currency: "TWD", Nonce: nonce})
	var out hostlink.TLV
	out.Set(hostlink.TagToken, hex.EncodeToString(tok))
	if resp.Private, err = out.Encode(); err != nil {
		return nil, err
	}
	return resp, nil
}

func reversalAck(m *hostlink.Message) *hostlink.Message {
	return &hostlink.Message{MTI: hostlink.MTIReversalResponse, STAN: m.STAN, TerminalID: m.TerminalID,
		Original: m.Original, RespCode: hostlink.RCApproved}
}

// ---- device wrappers ----

// spyDispenser records every Dispense call and, at the moment of the
// call, whether the journal on disk already holds the DISPENSE-INTENT
// record for it.
type spyDispenser struct {
	*devsim.Dispenser
	journalPath string

	mu     sync.Mutex
	calls  []dispenser.DispenseRequest
	intent []bool  // per call: DISPENSE-INTENT for it was on disk
	errs   []error // per call: reading the journal failed
}

func (d *spyDispenser) Dispense(ctx context.Context, req dispenser.DispenseRequest) (dispenser.Result, error) {
	recs, err := journal.ReadFile(d.journalPath)
	found := false
	for _, r := range recs {
		if r.Kind == "DISPENSE-INTENT" && r.Fields["stan"] == req.Txn && r.Fields["amount"] == strconv.FormatInt(req.Amount, 10) {
			found = true
		}
	}
	d.mu.Lock()
	d.calls = append(d.calls, req)
	d.intent = append(d.intent, found)
	d.errs = append(d.errs, err)
	d.mu.Unlock()
	return d.Dispenser.Dispense(ctx, req)
}

func (d *spyDispenser) dispenseCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// gateDisplay can hold the runner's loop inside Show, to line events up
// deterministically behind it.
type gateDisplay struct {
	*devsim.Display

	mu      sync.Mutex
	gate    chan struct{} // non-nil: the next Show blocks until it is closed
	entered chan string   // receives the ID of a Show that blocked
}

func (g *gateDisplay) Show(ctx context.Context, s display.Screen) error {
	g.mu.Lock()
	gate := g.gate
	g.gate = nil
	g.mu.Unlock()
	if gate != nil {
		g.entered <- s.ID
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	return g.Display.Show(ctx, s)
}

func (g *gateDisplay) hold() chan struct{} {
	gate := make(chan struct{})
	g.mu.Lock()
	g.gate = gate
	g.mu.Unlock()
	return gate
}

// ---- rig ----

type rigOptions struct {
	dir        string // state directory; "" = a new t.TempDir()
	link       *fakeLink
	hostLink   Link // the Link the runner gets; nil: link
	dispenser  func(g *rig, d *devsim.Dispenser) dispenser.Dispenser
	display    func(g *rig, d *devsim.Display) display.Display
	cardReader func(g *rig, r *devsim.CardReader) cardreader.Reader
}

// rig is a running Runner with simulators, journal, fake clock and link.
type rig struct {
	t     *testing.T
	r     *Runner
	clk   *clock.Fake
	j     *journal.Journal
	jpath string
	link  *fakeLink
	card  *devsim.CardReader
	pad   *devsim.PinPad
	disp  *devsim.Display
	dsp   *devsim.Dispenser
	prn   *devsim.Printer
	spy   *spyDispenser // when the default dispenser wrapper is used
	saf   *saf.Queue

	cancel   context.CancelFunc
	safDone  chan error
	runDone  chan error
	stopOnce sync.Once
	stopErr  error
	seen     int // last display history index looked at
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.link == nil {
		o.link = newFakeLink()
	}
	clk := clock.NewFake(rigStart)
	g := &rig{t: t, clk: clk, link: o.link, jpath: filepath.Join(o.dir, "journal.jsonl"), seen: -1}
	var err error
	if g.j, err = journal.Open(g.jpath, journal.Options{Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	g.card = devsim.NewCardReader(devsim.CardReaderOptions{})
	g.pad = devsim.NewPinPad(devsim.PinPadOptions{Keys: map[string][]byte{"pin": rigPINKey}})
	g.disp = devsim.NewDisplay(devsim.DisplayOptions{})
	g.prn = devsim.NewPrinter(devsim.PrinterOptions{})
	dopts := devsim.DefaultDispenserOptions
	dopts.ATM, dopts.Key = rigATM, rigDispenseKey
	if g.dsp, err = devsim.NewDispenser(dopts); err != nil {
		t.Fatal(err)
	}
	cam, err := devsim.NewCamera(devsim.CameraOptions{Width: 320, Height: 240, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	sens, err := devsim.NewSensors(devsim.DefaultSensorsOptions)
	if err != nil {
		t.Fatal(err)
	}
	devs := Devices{
		CardReader: g.card, PinPad: g.pad, Display: g.disp, OpDisplay: devsim.NewOpDisplay(devsim.OpDisplayOptions{}),
		NFCTag: devsim.NewNFCTag(devsim.NFCTagOptions{}), Dispenser: g.dsp, Printer: g.prn, Camera: cam, Sensors: sens,
	}
	if o.dispenser == nil {
		o.dispenser = func(g *rig, d *devsim.Dispenser) dispenser.Dispenser {
			g.spy = &spyDispenser{Dispenser: d, journalPath: g.jpath}
			return g.spy
		}
	}
	devs.Dispenser = o.dispenser(g, g.dsp)
	if o.display != nil {
		devs.Display = o.display(g, g.disp)
	}
	if o.cardReader != nil {
		devs.CardReader = o.cardReader(g, g.card)
	}
	var hl Link = g.link
	if o.hostLink != nil {
		hl = o.hostLink
	}
	g.saf, err = saf.Open(filepath.Join(o.dir, "saf.jsonl"), saf.Options{Clock: clk, OnAck: func(a saf.Advice, resp *hostlink.Message, n int) {
		g.j.Append("REVERSAL-ACKED", "", map[string]string{"txn": a.ID, "stan": a.Msg.STAN, "rc": resp.RespCode, "attempts": strconv.Itoa(n)})
	}})
	if err != nil {
		t.Fatal(err)
	}
	stan, err := openSTAN(filepath.Join(o.dir, "stan"))
	if err != nil {
		t.Fatal(err)
	}
	g.r, err = New(Options{
		Flows: rigFlows(t), Devices: devs, Link: hl, Journal: g.j,
		Clock: clk, Log: zerolog.Nop(), ManualTicks: true, SAF: g.saf, STAN: stan,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel, g.runDone = cancel, make(chan error, 1)
	go func() { g.runDone <- g.r.Run(ctx) }()
	safDone := make(chan error, 1)
	go func() { safDone <- g.saf.Run(ctx, hl.Send) }()
	g.safDone = safDone
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		<-g.safDone
		g.saf.Close()
		g.j.Close()
	})
	g.sync()
	return g
}

// stop cancels Run's context and waits for Run to return.
func (g *rig) stop() error {
	g.stopOnce.Do(func() {
		g.cancel()
		select {
		case g.stopErr = <-g.runDone:
		case <-time.After(15 * time.Second):
			g.stopErr = errors.New("Run did not return within 15s of cancellation")
		}
	})
	return g.stopErr
}

func (g *rig) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), rigWait)
	g.t.Cleanup(cancel)
	return ctx
}

func (g *rig) sync() {
	g.t.Helper()
	if err := g.r.Sync(g.ctx()); err != nil {
		g.t.Fatalf("Sync: %v", err)
	}
}

// advance moves the fake clock and ticks the runner.
func (g *rig) advance(d time.Duration) {
	g.t.Helper()
	g.clk.Advance(d)
	if err := g.r.Tick(g.ctx()); err != nil {
		g.t.Fatalf("Tick: %v", err)
	}
}

func (g *rig) press(keys ...pinpad.Key) {
	g.t.Helper()
	if err := g.pad.Press(g.ctx(), keys...); err != nil {
		g.t.Fatalf("press %v: %v (screen %q, entry %q)", keys, err, g.disp.Current().ID, g.pad.Active())
	}
}

func (g *rig) insert() {
	g.t.Helper()
	if err := g.card.Insert(g.ctx(), rigCard); err != nil {
		g.t.Fatalf("insert card: %v", err)
	}
}

func (g *rig) takeCard() {
	g.t.Helper()
	if err := g.card.Take(g.ctx()); err != nil {
		g.t.Fatalf("take card: %v (card %s, screen %q)", err, g.card.State(), g.disp.Current().ID)
	}
}

func (g *rig) takeCash() {
	g.t.Helper()
	if err := g.dsp.Take(g.ctx()); err != nil {
		g.t.Fatalf("take cash: %v (screen %q)", err, g.disp.Current().ID)
	}
}

// waitScreen waits for screen id to be shown after the last screen
// looked at, and returns it.
func (g *rig) waitScreen(id string) display.Screen {
	g.t.Helper()
	ctx := g.ctx()
	for {
		s, i, err := g.disp.Next(ctx, g.seen)
		if err != nil {
			g.t.Fatalf("screen %q not shown: %v; screens after #%d: %v", id, err, g.seen, g.screenIDs())
		}
		g.seen = i
		if s.ID == id {
			return s
		}
	}
}

// nextScreen returns the next screen shown after the last looked at.
func (g *rig) nextScreen() display.Screen {
	g.t.Helper()
	s, i, err := g.disp.Next(g.ctx(), g.seen)
	if err != nil {
		g.t.Fatalf("no screen after #%d: %v", g.seen, err)
	}
	g.seen = i
	return s
}

func (g *rig) screenIDs() []string {
	var ids []string
	for _, s := range g.disp.History() {
		ids = append(ids, s.ID)
	}
	return ids
}

// eventually polls cond until it holds or rigWait passes.
func (g *rig) eventually(what string, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(rigWait)
	for !cond() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s (state %q, screen %q, entry %q, journal %v)",
				what, g.r.Snapshot().State, g.disp.Current().ID, g.pad.Active(), g.kinds())
		}
		time.Sleep(time.Millisecond)
	}
}

// records returns the journal records of kind, from memory.
func (g *rig) records(kind string) []journal.Record {
	return g.j.Records(func(r journal.Record) bool { return r.Kind == kind })
}

func (g *rig) kinds() []string {
	var out []string
	for _, r := range g.j.Records(nil) {
		out = append(out, r.Kind)
	}
	return out
}

// toAmount plays a customer from card in (at the welcome screen) to the amount chosen (the
// first fast amount, NT$1,000), answering "no receipt" when asked.
func (g *rig) toAmount(receiptChoice bool) {
	g.t.Helper()
	g.insert()
	g.waitScreen("enter-pin")
	g.press(rigPIN...)
	g.waitScreen("main-menu")
	g.press(pinpad.F1)
	g.waitScreen("amount-menu")
	g.press(pinpad.F1)
	if receiptChoice {
		g.waitScreen("receipt-choice")
		g.press(pinpad.F2)
	}
}

// cardReturned waits for the card to be given back (after the notice on
// screen, if any, has timed out) and takes it.
func (g *rig) cardReturned() {
	g.t.Helper()
	g.advance(flows.DefaultTimeouts.Message)
	g.waitScreen("take-card")
	g.eventually("the card to be presented", func() bool { return g.card.State() == devsim.CardPresented })
	g.takeCard()
	g.waitScreen("goodbye")
}

func (g *rig) assertNoCash() {
	g.t.Helper()
	if g.spy != nil {
		if n := g.spy.dispenseCalls(); n != 0 {
			g.t.Errorf("Dispense called %d times, want 0", n)
		}
	}
	if tray := g.dsp.Tray(); len(tray) != 0 {
		g.t.Errorf("notes presented: %v", tray)
	}
	if taken := g.dsp.Taken(); len(taken) != 0 {
		g.t.Errorf("notes taken: %v", taken)
	}
	if st := g.dsp.Status(); st.Extra["notes.stacked"] != "" {
		g.t.Errorf("notes stacked: %s", st.Extra["notes.stacked"])
	}
}

// recordIndex returns the index of the first record of kind, or -1.
func recordIndex(recs []journal.Record, kind string) int {
	return slices.IndexFunc(recs, func(r journal.Record) bool { return r.Kind == kind })
}

// ---- tests ----

// A withdrawal that goes well: DISPENSE-INTENT (and TXN-REQUEST before
// the host request) is on disk when the device command is given.
func TestRunnerJournalsBeforeHostAndDispense(t *testing.T) {
	link := newFakeLink()
	var jpath string
	var requestOnDisk []bool
	link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
		if m.MTI == hostlink.MTIFinRequest {
			recs, _ := journal.ReadFile(jpath)
			requestOnDisk = append(requestOnDisk, slices.ContainsFunc(recs, func(r journal.Record) bool {
				return r.Kind == "TXN-REQUEST" && r.Fields["amount"] == strconv.FormatInt(m.Amount, 10) && r.Fields["kind"] == "withdrawal"
			}))
		}
		return goodHost(ctx, m)
	})
	g := newRig(t, rigOptions{link: link, dispenser: func(g *rig, d *devsim.Dispenser) dispenser.Dispenser {
		jpath = g.jpath
		g.spy = &spyDispenser{Dispenser: d, journalPath: g.jpath}
		return g.spy
	}})
	g.waitScreen("welcome")
	g.toAmount(true)
	g.waitScreen("take-card-cash")
	g.takeCard()
	g.waitScreen("take-cash")
	g.takeCash()
	g.waitScreen("goodbye")
	g.sync()

	g.spy.mu.Lock()
	calls, intent, errs := g.spy.calls, g.spy.intent, g.spy.errs
	g.spy.mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("Dispense called %d times, want 1", len(calls))
	}
	if errs[0] != nil {
		t.Fatalf("reading the journal inside Dispense: %v", errs[0])
	}
	if !intent[0] {
		t.Errorf("at Dispense(txn %s, amount %d) the journal on disk held no DISPENSE-INTENT for it", calls[0].Txn, calls[0].Amount)
	}
	if len(requestOnDisk) != 1 || !requestOnDisk[0] {
		t.Errorf("TXN-REQUEST on disk when the 0200 was sent: %v, want [true]", requestOnDisk)
	}
	if got, want := g.dsp.Taken(), []dispenser.Notes{{Cassette: 1, Count: 1}}; !slices.Equal(got, want) {
		t.Errorf("cash taken %v, want %v", got, want)
	}
	fin := g.link.messages(hostlink.MTIFinRequest)
	if len(fin) != 1 || calls[0].Txn != fin[0].STAN {
		t.Errorf("0200s %d; dispense txn %q, want the request's STAN", len(fin), calls[0].Txn)
	}
	if rev := g.link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat); len(rev) != 0 {
		t.Errorf("%d reversals sent for a good withdrawal", len(rev))
	}
	recs, err := journal.ReadFile(g.jpath)
	if err != nil {
		t.Fatal(err)
	}
	order := []string{"CARD-INSERTED", "TXN-REQUEST", "TXN-REPLY", "DISPENSE-INTENT", "DISPENSED", "CARD-TAKEN", "CASH-PRESENTED", "CASH-TAKEN"}
	last := -1
	for _, k := range order {
		i := recordIndex(recs, k)
		if i <= last {
			t.Fatalf("journal order: %s at %d, after %d; journal %v", k, i, last, g.kinds())
		}
		last = i
	}
}

// When the journal cannot write, no cash moves: the command the failed
// record covers is not given and the customer gets an error and the card.
func TestRunnerJournalFailureStopsCash(t *testing.T) {
	for _, tc := range []struct {
		name     string
		midway   bool   // close the journal while the host answers, not before
		screen   string // the error screen
		reversed bool   // the host approved: a reversal must go out
	}{
		{name: "closed before the withdrawal", screen: "service-unavailable"},
		{name: "fails at the dispense intent", midway: true, screen: "unable-to-dispense", reversed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := newFakeLink()
			g := newRig(t, rigOptions{link: link})
			if tc.midway {
				link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
					if m.MTI == hostlink.MTIFinRequest {
						g.j.Close()
					}
					return goodHost(ctx, m)
				})
			}
			g.waitScreen("welcome")
			g.insert()
			g.waitScreen("enter-pin")
			g.press(rigPIN...)
			g.waitScreen("main-menu")
			if !tc.midway {
				if err := g.j.Close(); err != nil {
					t.Fatal(err)
				}
			}
			g.press(pinpad.F1)
			g.waitScreen("amount-menu")
			g.press(pinpad.F1)
			g.waitScreen("receipt-choice")
			g.press(pinpad.F2)

			s := g.waitScreen(tc.screen)
			if s.Tone != display.Error {
				t.Errorf("screen %s has tone %v, want error", s.ID, s.Tone)
			}
			g.cardReturned()
			if tc.reversed {
				g.eventually("the reversal", func() bool {
					return len(g.link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat)) > 0
				})
			}
			if err := g.stop(); err != nil {
				t.Fatal(err)
			}
			g.assertNoCash()
			if tc.midway {
				if _, err := g.j.Append("PROBE", "", nil); !errors.Is(err, journal.ErrClosed) {
					t.Fatalf("journal still writable (%v): the test did not exercise a failure", err)
				}
			}
			fin := g.link.messages(hostlink.MTIFinRequest)
			rev := g.link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat)
			if !tc.midway && len(fin) != 0 {
				t.Errorf("%d requests sent to the host although TXN-REQUEST could not be journaled", len(fin))
			}
			if tc.reversed {
				if len(fin) != 1 || len(rev) == 0 {
					t.Fatalf("0200s %d, reversals %d; want 1 and at least 1", len(fin), len(rev))
				}
				if o := rev[0].Original; len(o) != 42 || o[4:10] != fin[0].STAN {
					t.Errorf("reversal field 90 %q does not name STAN %s", o, fin[0].STAN)
				}
			} else if len(rev) != 0 {
				t.Errorf("%d reversals sent for a request never sent", len(rev))
			}
		})
	}
}

// A host timeout is reversed: 0420 naming the original, repeated as 0421
// with the same STAN, on the backoff, until the host acknowledges.
func TestRunnerReversesTimedOutWithdrawal(t *testing.T) {
	link := newFakeLink()
	var reversalTries int
	link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
		switch m.MTI {
		case hostlink.MTIFinRequest:
			return nil, fmt.Errorf("%w: fake: no answer", hostlink.ErrTimeout)
		case hostlink.MTIReversal, hostlink.MTIReversalRepeat:
			reversalTries++ // Send calls from one reversal goroutine: no lock needed
			if reversalTries <= 2 {
				return nil, fmt.Errorf("%w: fake: no answer", hostlink.ErrTimeout)
			}
			return reversalAck(m), nil
		}
		return nil, fmt.Errorf("fake host: unexpected %s", m.MTI)
	})
	g := newRig(t, rigOptions{link: link})
	g.waitScreen("welcome")
	g.toAmount(true)
	g.waitScreen("unable-to-complete")

	revs := func() int { return len(g.link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat)) }
	g.eventually("first reversal attempt and its backoff timer", func() bool { return revs() == 1 && g.clk.Pending() == 1 })
	g.clk.Advance(time.Second)
	g.eventually("second reversal attempt and its backoff timer", func() bool { return revs() == 2 && g.clk.Pending() == 1 })
	if len(g.records("REVERSAL-ACKED")) != 0 {
		t.Fatal("REVERSAL-ACKED before the host acknowledged")
	}
	g.clk.Advance(2 * time.Second)
	g.eventually("REVERSAL-ACKED", func() bool { return len(g.records("REVERSAL-ACKED")) == 1 })

	msgs := g.link.messages()
	var mtis []string
	for _, m := range msgs {
		mtis = append(mtis, m.MTI)
	}
	if want := []string{"0200", "0420", "0421", "0421"}; !slices.Equal(mtis, want) {
		t.Fatalf("messages sent %v, want %v", mtis, want)
	}
	orig, rev := msgs[0], msgs[1:]
	for i, m := range rev {
		if m.STAN != rev[0].STAN {
			t.Errorf("reversal attempt %d has STAN %s, want %s (the first attempt's)", i+1, m.STAN, rev[0].STAN)
		}
		if m.STAN == orig.STAN {
			t.Errorf("reversal reuses the original's STAN %s", m.STAN)
		}
		if len(m.Original) != 42 || m.Original[:4] != hostlink.MTIFinRequest || m.Original[4:10] != orig.STAN || m.Original[10:20] != orig.TransmitTime {
			t.Errorf("attempt %d field 90 %q does not name 0200 STAN %s at %s", i+1, m.Original, orig.STAN, orig.TransmitTime)
		}
		if m.Amount != orig.Amount || m.ProcCode != orig.ProcCode || m.Currency != orig.Currency {
			t.Errorf("attempt %d: amount/proc/currency differ from the original", i+1)
		}
		// Advices are stored and forwarded without card data; the host
		// finds the original by terminal and field 90.
		if m.PAN != "" || m.Track2 != "" || m.PINBlock != nil {
			t.Errorf("attempt %d carries card data", i+1)
		}
		if tl, err := hostlink.ParseTLV(m.Private); err != nil {
			t.Errorf("attempt %d field 48: %v", i+1, err)
		} else if rr, _ := tl.Get(hostlink.TagReason); rr != hostlink.ReasonTimeout {
			t.Errorf("attempt %d reason %q, want %q", i+1, rr, hostlink.ReasonTimeout)
		}
	}
	queued, acked := g.records("REVERSAL-QUEUED"), g.records("REVERSAL-ACKED")
	if len(queued) != 1 || queued[0].Fields["reason"] != "timeout" {
		t.Fatalf("REVERSAL-QUEUED records %v", queued)
	}
	if a := acked[0].Fields; a["txn"] != queued[0].Fields["txn"] || a["stan"] != rev[0].STAN || a["attempts"] != "3" {
		t.Errorf("REVERSAL-ACKED %v, want txn %s stan %s attempts 3", a, queued[0].Fields["txn"], rev[0].STAN)
	}
	g.cardReturned()
	g.assertNoCash()
}

// A link that is down (nothing sent) needs no reversal: the customer is
// told the service is unavailable and gets the card back.
func TestRunnerLinkDownDoesNotReverse(t *testing.T) {
	link := newFakeLink()
	link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
		if m.MTI == hostlink.MTIFinRequest {
			return nil, hostlink.ErrNotConnected
		}
		return goodHost(ctx, m)
	})
	g := newRig(t, rigOptions{link: link})
	g.waitScreen("welcome")
	g.toAmount(true)
	g.waitScreen("service-unavailable")
	g.cardReturned()
	if err := g.stop(); err != nil { // every device and host call has returned
		t.Fatal(err)
	}
	if rev := g.link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat); len(rev) != 0 {
		t.Errorf("%d reversals sent for a request that never left", len(rev))
	}
	if q := g.records("REVERSAL-QUEUED"); len(q) != 0 {
		t.Errorf("REVERSAL-QUEUED journaled: %v", q)
	}
	if r := g.records("TXN-REPLY"); len(r) != 1 || r[0].Fields["outcome"] != string(flows.Unavailable) {
		t.Errorf("TXN-REPLY %v, want outcome unavailable", r)
	}
	g.assertNoCash()
}

// An approval that carries no dispense token releases no cash.
func TestRunnerApprovalWithoutTokenReleasesNoCash(t *testing.T) {
	link := newFakeLink()
	link.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
		if m.MTI == hostlink.MTIFinRequest {
			return approval(m, false)
		}
		return goodHost(ctx, m)
	})
	g := newRig(t, rigOptions{link: link})
	g.waitScreen("welcome")
	g.toAmount(true)
	g.waitScreen("declined")
	g.cardReturned()
	// The host did approve (and debit): the unusable approval is reversed.
	g.eventually("the reversal of the unusable approval", func() bool { return len(link.messages(hostlink.MTIReversal)) == 1 })
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	g.assertNoCash()
	if r := g.records("TXN-REPLY"); len(r) != 1 || r[0].Fields["outcome"] != string(flows.Declined) {
		t.Errorf("TXN-REPLY %v, want outcome declined", r)
	}
	if len(g.records("DISPENSE-INTENT")) != 0 {
		t.Error("DISPENSE-INTENT journaled for an approval without a token")
	}
}

// A key meant for a screen being replaced never acts on it: the runner
// ends the old screen's PIN pad entry before it shows the new screen, so
// whoever sees the new screen can no longer press a key of the old one.
// The loop is held inside Show of the new screen while the customer
// presses F1: the old entry is gone, nothing takes the key until the new
// screen's entry starts, and then F1 means the new screen's F1.
func TestRunnerEndsOldEntryBeforeNewScreen(t *testing.T) {
	var gd *gateDisplay
	g := newRig(t, rigOptions{display: func(_ *rig, d *devsim.Display) display.Display {
		gd = &gateDisplay{Display: d, entered: make(chan string, 1)}
		return gd
	}})
	g.waitScreen("welcome")
	g.insert()
	g.waitScreen("enter-pin")
	g.press(rigPIN...)
	g.waitScreen("main-menu")
	mainKeys := "keys:F1,F2,F8,CANCEL"
	g.eventually("main menu entry", func() bool { return g.pad.Active() == mainKeys })

	gate := gd.hold()
	g.clk.Advance(flows.DefaultTimeouts.Entry) // the main menu times out: "more time?"
	tickDone := make(chan error, 1)
	go func() { tickDone <- g.r.Tick(context.Background()) }()
	select {
	case id := <-gd.entered:
		if id != "more-time" {
			close(gate)
			t.Fatalf("loop held showing %q, want more-time", id)
		}
	case <-time.After(rigWait):
		t.Fatal("the tick did not reach Show")
	}
	// The main menu's entry ended before its screen was replaced.
	if a := g.pad.Active(); a != "" {
		close(gate)
		t.Fatalf("entry %q still armed while the next screen is being shown", a)
	}
	pressed := make(chan error, 1)
	go func() { pressed <- g.pad.Press(g.ctx(), pinpad.F1) }()
	select {
	case err := <-pressed:
		close(gate)
		t.Fatalf("F1 taken while no entry was armed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	select {
	case err := <-tickDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(rigWait):
		t.Fatal("tick not done")
	}
	// The new entry takes the waiting F1: "yes, more time".
	if err := <-pressed; err != nil {
		t.Fatalf("F1 never taken by the new entry: %v", err)
	}
	g.waitScreen("main-menu")
	g.sync()
	if st := g.r.Snapshot().State; st != string(flows.MainMenu) {
		t.Fatalf("state %s, want %s: F1 acted as the old screen's withdrawal", st, flows.MainMenu)
	}
}

// Out of service the card slot is closed; back in service it opens.
func TestRunnerOutOfServiceClosesCardSlot(t *testing.T) {
	g := newRig(t, rigOptions{})
	g.waitScreen("welcome")
	if err := g.dsp.Inject("DSP-OFFLINE"); err != nil {
		t.Fatal(err)
	}
	g.advance(time.Second)
	g.waitScreen("out-of-service")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.card.Insert(ctx, rigCard); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("insert while out of service: %v, want the slot closed (deadline exceeded)", err)
	}
	if st := g.card.State(); st != devsim.CardEmpty {
		t.Fatalf("card %s, want empty", st)
	}

	g.dsp.Clear()
	g.advance(time.Second)
	g.waitScreen("welcome")
	g.insert() // the slot is open again
	g.waitScreen("enter-pin")
}

// lateReader is a card reader whose Accept returns a card that came in
// as its context ended, as devsim.CardReader.Accept does when Insert wins
// that race ("the card wins"); here the card always wins, so the race is
// deterministic.
type lateReader struct{ *devsim.CardReader }

func (r lateReader) Accept(ctx context.Context) (cardreader.Card, error) {
	return r.CardReader.Accept(context.WithoutCancel(ctx))
}

// A card that the reader took just as the slot was being closed is given
// straight back (atm/doc.go, handle in runner.go).
func TestRunnerEjectsCardTakenAsSlotCloses(t *testing.T) {
	g := newRig(t, rigOptions{cardReader: func(_ *rig, r *devsim.CardReader) cardreader.Reader { return lateReader{r} }})
	g.waitScreen("welcome")
	if err := g.dsp.Inject("DSP-OFFLINE"); err != nil {
		t.Fatal(err)
	}
	g.advance(time.Second)
	g.waitScreen("out-of-service") // AcceptCard{false}: Accept's context is cancelled
	g.insert()                     // ... and the card arrives
	g.eventually("the card to be given back", func() bool { return g.card.State() == devsim.CardPresented })
	if st := g.r.Snapshot().State; st != string(flows.OutOfService) {
		t.Errorf("state %s, want out-of-service", st)
	}
}

// Cancelling Run's context halts every device: the card inside is
// presented, the PIN entry ends, and SHUTDOWN is journaled.
func TestRunnerShutdownHaltsDevices(t *testing.T) {
	g := newRig(t, rigOptions{})
	g.waitScreen("welcome")
	g.insert()
	g.waitScreen("enter-pin")
	g.eventually("PIN entry", func() bool { return g.pad.Active() == "pin" })
	g.press("1", "2")
	if st := g.card.State(); st != devsim.CardInside {
		t.Fatalf("card %s before shutdown, want inside", st)
	}

	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	if st := g.card.State(); st != devsim.CardPresented {
		t.Errorf("card %s after shutdown, want presented", st)
	}
	if a := g.pad.Active(); a != "" {
		t.Errorf("PIN pad entry %q still active after shutdown", a)
	}
	if id := g.disp.Current().ID; id != devsim.BlankScreen {
		t.Errorf("screen %q after shutdown, want %q", id, devsim.BlankScreen)
	}
	recs, err := journal.ReadFile(g.jpath)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Kind != "SHUTDOWN" {
		t.Errorf("last journal record %v, want SHUTDOWN", recs[len(recs)-1:])
	}
	g.takeCard() // the customer can have it
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := g.card.Insert(ctx, rigCard); err == nil {
		t.Error("the card slot still takes cards after shutdown")
	}
}

// A vital device fault takes the ATM out of service with the device
// named; clearing it brings it back.
func TestRunnerVitalDeviceFault(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault string
		dev   func(g *rig) devsim.Faulty
	}{
		{"dispenser", "DSP-OFFLINE", func(g *rig) devsim.Faulty { return g.dsp }},
		{"pinpad", devsim.PinPadOffline, func(g *rig) devsim.Faulty { return g.pad }},
		{"display", devsim.DisplayOffline, func(g *rig) devsim.Faulty { return g.disp }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, rigOptions{})
			g.waitScreen("welcome")
			if s := g.r.Snapshot(); s.Service != "in-service" || s.State != string(flows.Idle) || s.Host != "up" {
				t.Fatalf("snapshot at start %+v", s)
			}
			if err := tc.dev(g).Inject(tc.fault); err != nil {
				t.Fatal(err)
			}
			g.advance(time.Second)
			s := g.r.Snapshot()
			if s.Service != "out-of-service" || !strings.Contains(s.Reason, tc.name) {
				t.Errorf("after %s: service %q reason %q, want out-of-service naming %s", tc.fault, s.Service, s.Reason, tc.name)
			}
			if st := s.Devices[tc.name].State; st.Usable() {
				t.Errorf("snapshot reports %s %v", tc.name, st)
			}
			if oos := g.records("OUT-OF-SERVICE"); len(oos) != 1 || !strings.Contains(oos[0].Fields["reason"], tc.name) {
				t.Errorf("OUT-OF-SERVICE records %v", oos)
			}

			tc.dev(g).Clear()
			g.advance(time.Second)
			if s := g.r.Snapshot(); s.Service != "in-service" || s.Reason != "" || s.State != string(flows.Idle) {
				t.Errorf("after Clear: %+v, want in service and idle", s)
			}
			if len(g.records("IN-SERVICE")) != 1 {
				t.Errorf("no IN-SERVICE record: %v", g.kinds())
			}
			g.insert() // serving again
			g.waitScreen("enter-pin")
		})
	}
}

// A host link that goes down takes the ATM out of service.
func TestRunnerHostLinkDownIsOutOfService(t *testing.T) {
	g := newRig(t, rigOptions{})
	g.waitScreen("welcome")
	g.link.setUp(false)
	g.advance(time.Second)
	if s := g.r.Snapshot(); s.Service != "out-of-service" || s.Host != "down" || s.Reason != "host link down" {
		t.Errorf("link down: %+v", s)
	}
	g.waitScreen("out-of-service")
	g.link.setUp(true)
	g.advance(time.Second)
	if s := g.r.Snapshot(); s.Service != "in-service" || s.Host != "up" {
		t.Errorf("link up again: %+v", s)
	}
	g.waitScreen("welcome")
}

// Without paper the ATM still serves, but a withdrawal does not offer a
// receipt: the amount goes straight to "please wait".
func TestRunnerPrinterOutSkipsReceiptChoice(t *testing.T) {
	g := newRig(t, rigOptions{})
	g.waitScreen("welcome")
	if err := g.prn.SetPaper("out"); err != nil {
		t.Fatal(err)
	}
	g.advance(time.Second)
	s := g.r.Snapshot()
	if s.Service != "in-service" {
		t.Fatalf("printer out of paper: service %q reason %q, want in-service", s.Service, s.Reason)
	}
	if st := s.Devices["printer"].State; st != hal.UserError {
		t.Errorf("printer state %v, want user error", st)
	}

	g.toAmount(false)
	if next := g.nextScreen(); next.ID != "please-wait" {
		t.Fatalf("screen after the amount: %q, want please-wait (screens %v)", next.ID, g.screenIDs())
	}
	g.waitScreen("take-card-cash")
	g.takeCard()
	g.waitScreen("take-cash")
	g.takeCash()
	g.waitScreen("goodbye")
	if n := len(g.prn.Receipts()); n != 0 {
		t.Errorf("%d receipts printed without paper", n)
	}
	if slices.Contains(g.screenIDs(), "receipt-choice") {
		t.Error("receipt choice offered without paper")
	}
}

// signalReader reports when its first Accept has returned.
type signalReader struct {
	*devsim.CardReader
	returned chan error // buffered 1
}

func (r signalReader) Accept(ctx context.Context) (cardreader.Card, error) {
	c, err := r.CardReader.Accept(ctx)
	select {
	case r.returned <- err:
	default:
	}
	return c, err
}

// A reader that goes offline while the ATM is idle is a device fault, not
// an unreadable card: no customer session starts, nobody is told to take
// a card that does not exist.
func TestRunnerReaderFaultIsNotUnreadableCard(t *testing.T) {
	returned := make(chan error, 1)
	g := newRig(t, rigOptions{cardReader: func(_ *rig, r *devsim.CardReader) cardreader.Reader {
		return signalReader{CardReader: r, returned: returned}
	}})
	g.waitScreen("welcome")
	if err := g.card.Inject(devsim.CardReaderOffline); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-returned:
		if !errors.Is(err, hal.ErrOffline) {
			t.Fatalf("Accept returned %v, want an offline fault", err)
		}
	case <-time.After(rigWait):
		t.Fatal("Accept did not return on the fault")
	}
	// Whatever the runner posts for that Accept is posted within a few
	// instructions of its return; two barriers let it be handled.
	g.sync()
	g.sync()
	if n := len(g.records("CARD-UNREADABLE")); n != 0 || g.r.Snapshot().State == string(flows.CardError) {
		t.Errorf("reader fault at idle started a session: state %s, journal %v", g.r.Snapshot().State, g.kinds())
	}
	g.advance(time.Second)
	if s := g.r.Snapshot(); s.Service != "out-of-service" || !strings.Contains(s.Reason, "cardreader") {
		t.Errorf("snapshot %+v, want out of service naming the card reader", s)
	}
	if slices.Contains(g.screenIDs(), "card-unreadable") {
		t.Errorf("screens %v: card-unreadable shown without a card", g.screenIDs())
	}
}

// stallLink answers nothing to a 0200 until released, and fills the
// request in after Send has started, as hostlink.Client does (Send looks
// up the session under its lock, then fill writes STAN and transmission
// time into the caller's message with no lock the runner shares).
type stallLink struct {
	*fakeLink
	entered chan struct{} // buffered 1
	release chan struct{}
}

func (l *stallLink) Send(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
	if m.MTI != hostlink.MTIFinRequest {
		return l.fakeLink.Send(ctx, m)
	}
	l.entered <- struct{}{}
	m.TerminalID, m.STAN, m.TransmitTime = rigATM, "000777", "1122085959"
	l.fakeLink.mu.Lock()
	l.fakeLink.sent = append(l.fakeLink.sent, *m)
	l.fakeLink.mu.Unlock()
	select {
	case <-l.release:
	case <-ctx.Done():
	}
	return nil, fmt.Errorf("%w: fake: no answer", hostlink.ErrTimeout)
}

// When the flows give up on the host (Timeouts.Host) while the request is
// still inside Link.Send, the reversal must name the request as sent, and
// must not read the message Send is still filling in.
func TestRunnerHostGaveUpReversalWhileSendInFlight(t *testing.T) {
	sl := &stallLink{fakeLink: newFakeLink(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	g := newRig(t, rigOptions{link: sl.fakeLink, hostLink: sl})
	g.waitScreen("welcome")
	g.toAmount(true)
	select {
	case <-sl.entered:
	case <-time.After(rigWait):
		t.Fatal("the 0200 never reached Send")
	}
	g.advance(flows.DefaultTimeouts.Host) // the flows give up: reversal
	g.waitScreen("unable-to-complete")
	close(sl.release)
	g.eventually("REVERSAL-ACKED", func() bool { return len(g.records("REVERSAL-ACKED")) == 1 })
	fin, rev := g.link.messages(hostlink.MTIFinRequest), g.link.messages(hostlink.MTIReversal)
	if len(fin) != 1 || len(rev) != 1 {
		t.Fatalf("0200s %d, 0420s %d, want 1 each", len(fin), len(rev))
	}
	if o := rev[0].Original; len(o) != 42 || o[4:10] != fin[0].STAN || o[10:20] != fin[0].TransmitTime {
		t.Errorf("field 90 %q does not name the 0200 as sent (STAN %s at %s)", rev[0].Original, fin[0].STAN, fin[0].TransmitTime)
	}
}

// A reversal the host has not acknowledged when the ATM stops is still
// owed after a restart (DESIGN §5: no unknown outcome is left without a
// reversal once the ATM is back). Here the second runner is built on the
// same journal; a fix may need more than Options carries today (a
// persistent reversal queue), and this test should then be adapted.
func TestRunnerPendingReversalSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	link1 := newFakeLink()
	link1.setRespond(func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
		if m.MTI == hostlink.MTIFinRequest {
			return nil, fmt.Errorf("%w: fake: no answer", hostlink.ErrTimeout)
		}
		return nil, hostlink.ErrNotConnected // reversals never get through
	})
	g1 := newRig(t, rigOptions{dir: dir, link: link1})
	g1.waitScreen("welcome")
	g1.toAmount(true)
	g1.waitScreen("unable-to-complete")
	g1.eventually("a first reversal attempt", func() bool { return len(link1.messages(hostlink.MTIReversal)) == 1 })
	if err := g1.stop(); err != nil {
		t.Fatal(err)
	}
	g1.j.Close()
	orig := link1.messages(hostlink.MTIFinRequest)[0]

	g2 := newRig(t, rigOptions{dir: dir}) // the host now acknowledges
	g2.eventually("the reversal after restart", func() bool {
		for _, m := range g2.link.messages(hostlink.MTIReversal, hostlink.MTIReversalRepeat) {
			if len(m.Original) == 42 && m.Original[4:10] == orig.STAN && m.Original[10:20] == orig.TransmitTime {
				return true
			}
		}
		return false
	})
}

// A device fault is journaled when raised and when cleared, and the
// snapshot (atmd status) shows it with its catalogue cause and remedy.
func TestRunnerRecordsFaultsWithRemedies(t *testing.T) {
	g := newRig(t, rigOptions{})
	g.waitScreen("welcome")
	if err := g.prn.Inject("PRN-PAPER-OUT"); err != nil {
		t.Fatal(err)
	}
	g.eventually("the fault in the snapshot", func() bool {
		g.r.Tick(g.ctx())
		for _, f := range g.r.Snapshot().Faults {
			if f.Code == "PRN-PAPER-OUT" && f.Device == "printer" && f.Entry.Remedy != "" && f.Entry.Cause != "" {
				return true
			}
		}
		return false
	})
	if r := g.records("FAULT-RAISED"); len(r) != 1 || r[0].Fields["code"] != "PRN-PAPER-OUT" {
		t.Fatalf("FAULT-RAISED records: %v", r)
	}
	g.prn.Clear()
	g.eventually("the fault cleared", func() bool {
		g.r.Tick(g.ctx())
		return len(g.r.Snapshot().Faults) == 0 && len(g.records("FAULT-CLEARED")) == 1
	})
	if h := g.r.FaultHistory(10); len(h) != 1 || h[0].Active() {
		t.Fatalf("history %+v", h)
	}
}
