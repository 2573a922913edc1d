package atm_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/maint"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/seed"
)

// These tests run the whole ATM in-process — simulated devices, the
// reference host over loopback, a fake clock the test moves — and use
// supervisor mode as `atmd maint` does, through Daemon.Maint.Handle (the
// control socket's handler). Faults are injected into the simulators.
// Every wait polls with a deadline.

// Demo technicians of the tests, with cheap hashes.
var testTechs = []struct{ id, pin string }{{"1001", "1234"}, {"1002", "5678"}, {"1003", "2468"}}

type mrig struct {
	t        *testing.T
	ctx      context.Context
	clk      *clock.Fake
	d        *atm.Daemon
	h        *host.Host
	seed     *seed.Seed
	hostAddr string
	hostStop context.CancelFunc
	hostDone chan error
}

func newMaintRig(t *testing.T) *mrig {
	t.Helper()
	base, err := atm.LoadConfig("../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *base
	dir := t.TempDir()
	cfg.ATM.StateDir = filepath.Join(dir, "atm")
	dc := *cfg.Devices.Display
	dc.Addr, dc.Panel = "", false
	cfg.Devices.Display = &dc
	cfg.Maint.ExportDir = filepath.Join(dir, "usb")
	cfg.Maint.Technicians = nil
	for i, tt := range testTechs {
		h, err := maint.HashPIN(tt.pin, maint.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		roles := [][]string{{"cash", "keys"}, {"keys"}, nil}[i]
		cfg.Maint.Technicians = append(cfg.Maint.Technicians, atm.TechnicianConfig{ID: tt.id, Name: "test " + tt.id, PINHash: h, Roles: roles})
	}
	hc := *base.Host
	hc.DB = filepath.Join(dir, "host.db")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g := &mrig{t: t, ctx: ctx, clk: clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))}
	if g.seed, err = seed.Load(hc.Seed); err != nil {
		t.Fatal(err)
	}
	g.h, err = host.New(hc, host.WithClock(g.clk), host.WithReset(), host.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.h.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.hostAddr = ln.Addr().String()
	g.serveHost(ln)
	t.Cleanup(g.stopHost)
	cfg.Host = nil
	cfg.HostLink.Addr = g.hostAddr
	if g.d, err = atm.Start(ctx, &cfg, atm.DaemonOptions{Clock: g.clk, ManualTicks: true, NoControl: true, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.d.Stop() })
	g.waitFor("in service", func() (bool, string) {
		s := g.d.Runner.Snapshot()
		return s.Service == "in-service", s.Service + " " + s.Reason
	})
	return g
}

func (g *mrig) serveHost(ln net.Listener) {
	hctx, stop := context.WithCancel(g.ctx)
	g.hostStop, g.hostDone = stop, make(chan error, 1)
	go func() { g.hostDone <- g.h.Serve(hctx, ln) }()
}

func (g *mrig) stopHost() {
	if g.hostStop != nil {
		g.hostStop()
		<-g.hostDone
		g.hostStop = nil
	}
}

func (g *mrig) startHost() {
	g.t.Helper()
	ln, err := net.Listen("tcp", g.hostAddr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.serveHost(ln)
}

// tick moves the clock a second and lets the runner and supervisor mode
// see it.
func (g *mrig) tick() {
	g.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(g.ctx, 5*time.Second)
	defer cancel()
	g.d.Runner.Tick(ctx)
}

// waitFor ticks until cond holds (at most 20 s of real time).
func (g *mrig) waitFor(what string, cond func() (bool, string)) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s; saw: %s", what, saw)
		}
		g.tick()
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *mrig) handle(r maint.Request) (maint.Response, error) {
	ctx, cancel := context.WithTimeout(g.ctx, 30*time.Second)
	defer cancel()
	return g.d.Maint.Handle(ctx, r)
}

func (g *mrig) status() maint.Status {
	g.t.Helper()
	resp, err := g.handle(maint.Request{Op: "status"})
	if err != nil {
		g.t.Fatal(err)
	}
	return *resp.Status
}

func (g *mrig) records(kind string) []journal.Record {
	return g.d.Journal.Records(func(r journal.Record) bool { return r.Kind == kind })
}

// ---- the local console, driven as `atmd maint` drives it ----

type console struct {
	g   *mrig
	id  string
	scr display.Screen
	ver int
}

func (g *mrig) open() *console {
	g.t.Helper()
	resp, err := g.handle(maint.Request{Op: "open"})
	if err != nil {
		g.t.Fatal(err)
	}
	return &console{g: g, id: resp.Session, scr: *resp.Screen, ver: resp.Version}
}

// keys types keys and waits for a screen that takes keys again (an op
// in progress shows a busy screen without keys).
func (c *console) keys(keys ...string) display.Screen {
	c.g.t.Helper()
	resp, err := c.g.handle(maint.Request{Op: "keys", Session: c.id, Keys: keys})
	if err != nil {
		c.g.t.Fatalf("keys %v on %s: %v", keys, c.scr.ID, err)
	}
	for len(resp.Keys) == 0 && !resp.Ended {
		c.g.tick()
		if resp, err = c.g.handle(maint.Request{Op: "screen", Session: c.id, After: resp.Version}); err != nil {
			c.g.t.Fatalf("screen: %v", err)
		}
	}
	c.scr, c.ver = *resp.Screen, resp.Version
	return c.scr
}

func (c *console) want(id string) display.Screen {
	c.g.t.Helper()
	if c.scr.ID != id {
		c.g.t.Fatalf("screen %s, want %s:\n%s", c.scr.ID, id, c.scr.Text())
	}
	return c.scr
}

func digits(s string) []string {
	var out []string
	for _, r := range s {
		out = append(out, string(r))
	}
	return out
}

// login logs a technician in and waits for the main menu (supervisor
// mode has begun).
func (c *console) login(id, pin string) {
	c.g.t.Helper()
	c.keys(append(digits(id), "ENTER")...)
	c.want("maint-pin")
	c.keys(append(digits(pin), "ENTER")...)
	for c.scr.ID == "maint-waiting" {
		c.g.tick()
		resp, err := c.g.handle(maint.Request{Op: "screen", Session: c.id, After: c.ver})
		if err != nil {
			c.g.t.Fatal(err)
		}
		c.scr, c.ver = *resp.Screen, resp.Version
	}
	c.want("maint-main")
}

// exit leaves the menu and waits for the ATM to leave supervisor mode.
func (c *console) exit() {
	c.g.t.Helper()
	for c.scr.ID != "maint-main" {
		c.keys("F8")
	}
	c.keys("F8")
	c.g.waitFor("supervisor mode to end", func() (bool, string) {
		s := c.g.d.Runner.Snapshot()
		return s.State != "supervisor", s.State
	})
}

// ---- acceptance 1: each fault in the menu and the status, service, recovery ----

func TestMaintFaultsShowAndClear(t *testing.T) {
	g := newMaintRig(t)
	inject := func(dev, code string) func() {
		return func() {
			if err := g.d.Sim.Faults[dev].Inject(code); err != nil {
				t.Fatal(err)
			}
		}
	}
	clear := func(dev string) func() { return func() { g.d.Sim.Faults[dev].Clear() } }
	loader := func() dispenser.Loader { return g.d.Devices.Dispenser.(dispenser.Loader) }
	cassettes := func(second int) func() {
		return func() {
			cs, err := g.d.Devices.Dispenser.Cassettes(g.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range cs {
				cs[i].Initial, cs[i].Dispensed, cs[i].Rejected, cs[i].Status = 0, 0, 0, ""
				if cs[i].ID == 2 {
					cs[i].Count = second
				}
			}
			if err := loader().Load(g.ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name, device, code, unit string
		in, out                  func()
		inService                bool   // while the fault lasts
		degrades                 string // in Degraded while it lasts
	}{
		{"jam", "dispenser", "DSP-JAM", "", inject("dispenser", "DSP-JAM"), clear("dispenser"), false, ""},
		{"cassette empty", "dispenser", "DSP-CASS-EMPTY", "cassette.2", cassettes(0), cassettes(500), true, "amounts that need notes from the empty cassette"},
		{"paper out", "printer", "PRN-PAPER-OUT", "", inject("printer", "PRN-PAPER-OUT"), clear("printer"), true, "receipts"},
		{"card reader offline", "cardreader", "CRD-OFFLINE", "", inject("cardreader", "CRD-OFFLINE"), clear("cardreader"), false, ""},
		{"NFC offline", "nfctag", "NFC-OFFLINE", "", inject("nfctag", "NFC-OFFLINE"), clear("nfctag"), true, "cardless withdrawal by phone tap"},
		{"host down", "hostlink", "HST-DOWN", "", g.stopHost, g.startHost, false, ""},
		{"tamper", "sensors", "SEN-TAMPER", "", inject("sensors", "SEN-TAMPER"), clear("sensors"), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := g.t
			g.t = t
			defer func() { g.t = parent }()
			entry, _ := health.Lookup(tc.code)
			tc.in()
			var st maint.Status
			var f health.Fault
			g.waitFor(tc.code+" raised", func() (bool, string) {
				st = g.status()
				for _, x := range st.Faults {
					if x.Code == tc.code && x.Device == tc.device && x.Unit == tc.unit {
						f = x
						return (st.Service == "in-service") == tc.inService, st.Service
					}
				}
				return false, fmt.Sprintf("%s %v", st.Service, st.Faults)
			})
			// The status (what `atmd maint status --json` prints) names
			// the fault with the catalogue's cause and remedy.
			if f.Entry.Cause != entry.Cause || f.Entry.Remedy != entry.Remedy || f.Entry.Title == "" || !f.Active() {
				t.Errorf("fault %+v lacks the catalogue's cause and remedy", f)
			}
			if !tc.inService && !strings.Contains(st.Reason, tc.device) && !(tc.device == "hostlink" && strings.Contains(st.Reason, "host")) {
				t.Errorf("out of service because %q, want %s named", st.Reason, tc.device)
			}
			if tc.degrades != "" && !slices.ContainsFunc(st.Degraded, func(d string) bool { return strings.Contains(d, tc.degrades) }) {
				t.Errorf("degraded %q, want %q", st.Degraded, tc.degrades)
			}
			if len(g.records("FAULT-RAISED")) == 0 {
				t.Error("no FAULT-RAISED record")
			}
			// The host hears of it (when it can be reached).
			if tc.device != "hostlink" {
				g.waitFor("the host to hear of "+tc.code, func() (bool, string) {
					ts, ok := g.h.TerminalStatus("ATM00001")
					return ok && strings.Contains(ts.Faults, tc.code), fmt.Sprintf("%+v", ts)
				})
			}

			// The menu lists it; its screen gives the cause and remedy.
			c := g.open()
			c.login("1003", "2468")
			c.keys("F1")
			s := c.want("maint-status")
			k := ""
			for _, it := range s.Menu {
				if strings.HasPrefix(it.Label, tc.code+" ") {
					k = it.Key
				}
			}
			if k == "" {
				t.Fatalf("the status screen lists no %s:\n%s", tc.code, s.Text())
			}
			s = c.keys(k)
			text := c.want("maint-fault").Text()
			for _, w := range []string{entry.Title, "Cause: " + entry.Cause, "Remedy: " + entry.Remedy, "Code: " + tc.code} {
				if !strings.Contains(text, w) {
					t.Errorf("fault screen lacks %q:\n%s", w, text)
				}
			}
			c.exit()

			tc.out()
			g.waitFor(tc.code+" cleared", func() (bool, string) {
				st = g.status()
				for _, x := range st.Faults {
					if x.Code == tc.code {
						return false, "still active"
					}
				}
				return st.Service == "in-service", st.Service + " " + st.Reason
			})
			hist, err := g.handle(maint.Request{Op: "faults", History: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(hist.History, func(x health.Fault) bool { return x.Code == tc.code && !x.Active() }) {
				t.Errorf("history lacks the cleared %s", tc.code)
			}
			g.waitFor("the host to hear it cleared", func() (bool, string) {
				ts, ok := g.h.TerminalStatus("ATM00001")
				return ok && !strings.Contains(ts.Faults, tc.code) && ts.Service == "I", fmt.Sprintf("%+v", ts)
			})
		})
	}
}

// ---- acceptance 4: lockout, and the technician's id on every action ----

func TestMaintLockoutAndJournal(t *testing.T) {
	g := newMaintRig(t)
	c := g.open()
	for i := 1; i <= 3; i++ {
		c.keys(append(digits("1001"), "ENTER")...)
		c.keys(append(digits("9999"), "ENTER")...)
		want := "maint-login-failed"
		if i == 3 {
			want = "maint-locked"
		}
		c.want(want)
		c.keys("F8")
		c.want("maint-login")
	}
	if n := len(g.records("MAINT-LOGIN-FAILED")); n != 3 {
		t.Errorf("%d MAINT-LOGIN-FAILED records, want 3", n)
	}
	if l := g.records("MAINT-LOCKED"); len(l) != 1 || l[0].Fields["tech"] != "1001" {
		t.Errorf("MAINT-LOCKED records %v", l)
	}
	// The right PIN is refused while locked, here and on the command.
	c.keys(append(digits("1001"), "ENTER")...)
	c.keys(append(digits("1234"), "ENTER")...)
	c.want("maint-locked")
	if _, err := g.handle(maint.Request{Op: "run", Tech: "1001", PIN: "1234", Action: "echo"}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("run while locked: %v", err)
	}
	if g.d.Runner.Snapshot().State == "supervisor" {
		t.Error("a failed login put the ATM into supervisor mode")
	}
	c.keys("F8")
	// After the lockout the technician gets in; the idle session was
	// closed meanwhile.
	g.clk.Advance(15 * time.Minute)
	g.tick()
	if _, err := g.handle(maint.Request{Op: "keys", Session: c.id, Keys: []string{"1"}}); err == nil {
		t.Error("an idle session outlived its timeout")
	}
	c = g.open()
	c.login("1001", "1234")

	// A round of actions; each is journaled with the technician's id.
	c.keys("F1") // status
	c.keys("F8")
	c.keys("F2") // tests
	c.keys("F4") // test print
	c.want("maint-result")
	c.keys("F8")
	c.keys("F8")
	c.keys("F3", "F2") // cash, trial totals
	c.want("maint-result")
	c.keys("F8", "F8")
	c.keys("F4", "F4") // journal, maintenance actions
	text := c.want("maint-result").Text()
	if !strings.Contains(text, "MAINT-LOGIN") || !strings.Contains(text, "tech=1001") {
		t.Errorf("the journal screen lacks the login:\n%s", text)
	}
	c.keys("F8", "F8")
	c.keys("F5") // host test
	c.want("maint-result")
	c.keys("F8")
	c.exit()
	if _, err := g.handle(maint.Request{Op: "run", Tech: "1003", PIN: "2468", Action: "echo"}); err != nil {
		t.Errorf("run echo: %v", err)
	}
	if _, err := g.handle(maint.Request{Op: "run", Tech: "1003", PIN: "2468", Action: "clear-totals"}); err == nil {
		t.Error("a technician without the cash role cleared the totals")
	}

	kinds := map[string]bool{}
	for _, r := range g.d.Journal.Records(nil) {
		if !strings.HasPrefix(r.Kind, "MAINT-") {
			continue
		}
		kinds[r.Kind] = true
		if r.Fields["tech"] == "" || r.Fields["console"] == "" {
			t.Errorf("%s has no technician or console: %v", r.Kind, r.Fields)
		}
	}
	for _, k := range []string{"MAINT-LOGIN-FAILED", "MAINT-LOCKED", "MAINT-LOGIN-REFUSED", "MAINT-LOGIN", "MAINT-VIEW",
		"MAINT-TEST-INTENT", "MAINT-TEST", "MAINT-TOTALS-TRIAL", "MAINT-JOURNAL-VIEW", "MAINT-HOST-TEST", "MAINT-LOGOUT", "MAINT-DENIED"} {
		if !kinds[k] {
			t.Errorf("no %s record; kinds: %v", k, kinds)
		}
	}
	// Supervisor mode itself is journaled by the flows.
	if len(g.records("SUPERVISOR-ENTERED")) == 0 || len(g.records("SUPERVISOR-EXITED")) == 0 {
		t.Error("supervisor mode not journaled")
	}
}

// ---- acceptance 2: replenishment, withdrawals, counters ----

// customer plays one withdrawal of a fast amount (F-key of the amount
// menu) with card id, no receipt, and takes card and cash.
func (g *mrig) withdraw(card string, amountKey pinpad.Key) {
	g.t.Helper()
	c, ok := g.seed.Card(card)
	if !ok {
		g.t.Fatalf("no seed card %s", card)
	}
	ctx, cancel := context.WithTimeout(g.ctx, 20*time.Second)
	defer cancel()
	sim := g.d.Sim
	step := func(what string, err error) {
		g.t.Helper()
		if err != nil {
			g.t.Fatalf("%s: %v (screen %s)", what, err, sim.Display.Current().ID)
		}
	}
	step("insert card", sim.CardReader.Insert(ctx, atm.SeedCard(c)))
	keys := []pinpad.Key{}
	for _, d := range string(c.PIN) {
		keys = append(keys, pinpad.Key(string(d)))
	}
	step("PIN", sim.PinPad.Press(ctx, append(keys, pinpad.KeyEnter)...))
	step("withdrawal", sim.PinPad.Press(ctx, pinpad.F1))
	step("amount", sim.PinPad.Press(ctx, amountKey))
	step("no receipt", sim.PinPad.Press(ctx, pinpad.F2))
	step("take card", sim.CardReader.Take(ctx))
	step("take cash", sim.Dispenser.Take(ctx))
	g.waitFor("the next customer", func() (bool, string) {
		s := g.d.Runner.Snapshot()
		return s.State == "idle", s.State
	})
}

func TestMaintReplenishmentBalances(t *testing.T) {
	g := newMaintRig(t)
	c := g.open()
	c.login("1001", "1234")

	// Replenish through the menu: keep the denominations, load 100, 200
	// and 300 notes.
	c.keys("F3", "F3")
	for _, n := range []string{"100", "200", "300"} {
		c.want("maint-load-denomination")
		c.keys("ENTER")
		c.want("maint-load-count")
		c.keys(append(digits(n), "ENTER")...)
	}
	c.want("maint-confirm")
	c.keys("F1")
	if text := c.want("maint-result").Text(); !strings.Contains(text, "Cash loaded: NT$230,000") {
		t.Fatalf("replenishment:\n%s", text)
	}
	c.keys("F8")
	// A test dispense of 2 notes from cassette 3 goes to the reject bin.
	c.keys("F8", "F2", "F3")
	c.keys("F3")
	c.want("maint-dispense-notes")
	c.keys("2", "ENTER")
	c.keys("F1")
	if text := c.want("maint-result").Text(); !strings.Contains(text, "reject bin") {
		t.Fatalf("test dispense:\n%s", text)
	}
	if tray := g.d.Sim.Dispenser.Tray(); len(tray) > 0 {
		t.Fatalf("a test dispense presented %v", tray)
	}
	c.exit()

	// Customers: NT$1,000, NT$2,000, NT$3,000 and NT$5,000.
	for i, k := range []pinpad.Key{pinpad.F1, pinpad.F2, pinpad.F3, pinpad.F5} {
		g.withdraw([]string{"alice-debit", "bob-debit"}[i%2], k)
	}
	taken := map[int]int{}
	for _, n := range g.d.Sim.Dispenser.Taken() {
		taken[n.Cassette] += n.Count
	}

	c = g.open()
	c.login("1001", "1234")
	resp, err := g.handle(maint.Request{Op: "counters"})
	if err != nil {
		t.Fatal(err)
	}
	ctr := resp.Counters
	loaded := map[int]int{1: 100, 2: 200, 3: 300}
	for _, k := range ctr.Cassettes {
		rejected := 0
		if k.ID == 3 {
			rejected = 2
		}
		if k.Initial != loaded[k.ID] || k.Dispensed != taken[k.ID] || k.Rejected != rejected ||
			k.Count != loaded[k.ID]-taken[k.ID]-rejected || k.JournalDispensed != taken[k.ID] || k.JournalRejected != rejected {
			t.Errorf("cassette %d: %+v; customers took %d, 2 rejected from cassette 3", k.ID, k, taken[k.ID])
		}
	}
	if !ctr.Balanced || ctr.Period.Withdrawals != 4 || ctr.Period.Amount != 11_000_00 || ctr.Period.TestNotes != 2 {
		t.Errorf("counters %+v", ctr)
	}
	// The menu's screens show the same, and reconcile with the host.
	c.keys("F3", "F1")
	if text := c.want("maint-result").Text(); !strings.Contains(text, "Counters balance with the journal.") {
		t.Errorf("cassette totals:\n%s", text)
	}
	c.keys("F8", "F2")
	if text := c.want("maint-result").Text(); !strings.Contains(text, "Withdrawals paid out: 4, NT$11,000") {
		t.Errorf("trial totals:\n%s", text)
	}
	c.keys("F8", "F5")
	if text := c.want("maint-result").Text(); !strings.Contains(text, "The totals match.") {
		t.Errorf("reconciliation:\n%s", text)
	}
	c.keys("F8", "F4", "F1")
	c.want("maint-result")
	c.keys("F8", "F2")
	if text := c.want("maint-result").Text(); !strings.Contains(text, "Withdrawals paid out: 0") {
		t.Errorf("totals after clear:\n%s", text)
	}
	c.exit()
	if cl := g.records(maint.KindTotalsCleared); len(cl) != 1 || cl[0].Fields["withdrawals"] != "4" || cl[0].Fields["amount"] != "1100000" || cl[0].Fields["tech"] != "1001" {
		t.Errorf("MAINT-TOTALS-CLEARED %v", cl)
	}
	if r := g.records("MAINT-RECONCILE"); len(r) != 1 || r[0].Fields["result"] != "ok" || r[0].Fields["host_amount"] != "1100000" {
		t.Errorf("MAINT-RECONCILE %v", r)
	}
}

// Supervisor mode waits for the customer being served: the card and the
// cash are handed over first.
func TestMaintWaitsForTheCustomer(t *testing.T) {
	g := newMaintRig(t)
	c, _ := g.seed.Card("alice-debit")
	ctx, cancel := context.WithTimeout(g.ctx, 20*time.Second)
	defer cancel()
	sim := g.d.Sim
	if err := sim.CardReader.Insert(ctx, atm.SeedCard(c)); err != nil {
		t.Fatal(err)
	}
	if err := sim.PinPad.Press(ctx, "7", "9", "6", "8", pinpad.KeyEnter); err != nil {
		t.Fatal(err)
	}
	con := g.open()
	con.keys(append(digits("1001"), "ENTER")...)
	con.keys(append(digits("1234"), "ENTER")...)
	con.want("maint-waiting")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, k := range []pinpad.Key{pinpad.F1, pinpad.F1, pinpad.F2} {
			if err := sim.PinPad.Press(ctx, k); err != nil {
				t.Error(err)
				return
			}
		}
		if err := sim.CardReader.Take(ctx); err != nil {
			t.Error(err)
		}
		if err := sim.Dispenser.Take(ctx); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	g.waitFor("supervisor mode", func() (bool, string) {
		s := g.d.Runner.Snapshot()
		return s.State == "supervisor", s.State
	})
	resp, err := g.handle(maint.Request{Op: "screen", Session: con.id, After: con.ver})
	if err != nil || resp.Screen.ID != "maint-main" {
		t.Fatalf("screen %+v, %v", resp.Screen, err)
	}
	if n := len(g.d.Sim.Dispenser.Taken()); n == 0 {
		t.Error("the customer did not get the cash")
	}
	if i, j := slices.IndexFunc(g.d.Journal.Records(nil), func(r journal.Record) bool { return r.Kind == "CASH-TAKEN" }),
		slices.IndexFunc(g.d.Journal.Records(nil), func(r journal.Record) bool { return r.Kind == "SUPERVISOR-ENTERED" }); i < 0 || j < i {
		t.Errorf("CASH-TAKEN at %d, SUPERVISOR-ENTERED at %d: supervisor mode began before the session ended", i, j)
	}
}

// ---- the panel: supervisor switch, PIN pad, customer screen, operator display ----

// press plays the technician at the PIN pad; it waits until the menu
// takes keys.
func (g *mrig) press(keys ...pinpad.Key) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(g.ctx, 20*time.Second)
	defer cancel()
	for _, k := range keys {
		if err := g.d.Sim.PinPad.Press(ctx, k); err != nil {
			g.t.Fatalf("press %s: %v (screen %s, entry %q)", k, err, g.d.Sim.Display.Current().ID, g.d.Sim.PinPad.Active())
		}
	}
}

func (g *mrig) screen(id string) display.Screen {
	g.t.Helper()
	var s display.Screen
	g.waitFor("screen "+id, func() (bool, string) {
		s = g.d.Sim.Display.Current()
		return s.ID == id, s.ID
	})
	return s
}

func TestMaintPanel(t *testing.T) {
	g := newMaintRig(t)
	if err := g.d.Sim.Sensors.Set("supervisor", true); err != nil {
		t.Fatal(err)
	}
	g.screen("maint-login")
	if s := g.d.Runner.Snapshot(); s.State != "supervisor" || s.Service != "out-of-service" || s.Reason != "supervisor mode" {
		t.Errorf("snapshot %+v", s)
	}
	g.waitFor("the operator display", func() (bool, string) {
		l := g.d.Sim.OpDisplay.Lines()
		return len(l) > 0 && l[0] == "Supervisor mode", fmt.Sprint(l)
	})
	g.press("1", "0", "0", "1", pinpad.KeyEnter, "1", "2", "3", "4", pinpad.KeyEnter)
	g.screen("maint-main")
	// A test dispense from the panel: notes to the reject bin only.
	g.press(pinpad.F2, pinpad.F3)
	g.screen("maint-dispense-cassette")
	g.press(pinpad.F1)
	g.press("1", pinpad.KeyEnter, pinpad.F1)
	if text := g.screen("maint-result").Text(); !strings.Contains(text, "1 note(s) went into the reject bin") {
		t.Errorf("result:\n%s", text)
	}
	if len(g.d.Sim.Dispenser.Tray()) > 0 || g.d.Devices.Dispenser.Status().Extra["shutter"] != "closed" {
		t.Error("the test dispense reached the tray")
	}
	g.press(pinpad.F8, pinpad.F8, pinpad.F8) // back to login: logged out
	g.screen("maint-login")
	if s := g.status(); !s.Switch || len(s.Sessions) != 0 {
		t.Errorf("status after logout %+v", s)
	}
	// The switch off ends supervisor mode; the customer's screen is back.
	if err := g.d.Sim.Sensors.Set("supervisor", false); err != nil {
		t.Fatal(err)
	}
	g.screen("welcome")
	g.waitFor("in service", func() (bool, string) {
		s := g.d.Runner.Snapshot()
		return s.Service == "in-service", s.Service
	})
	for _, k := range []string{"SUPERVISOR-SWITCH", "MAINT-LOGIN", "MAINT-TEST-DISPENSE-INTENT", "MAINT-TEST-DISPENSE", "MAINT-LOGOUT", "SUPERVISOR-EXITED"} {
		if len(g.records(k)) == 0 {
			t.Errorf("no %s record", k)
		}
	}
	if r := g.records("MAINT-LOGIN"); len(r) == 0 || r[0].Fields["console"] != "panel" {
		t.Errorf("MAINT-LOGIN %v", r)
	}
	// A customer is served again, with the PIN pad back in the flows' hands.
	g.withdraw("alice-debit", pinpad.F1)
}

// Key loading under dual control from the menu: the master key of
// configs/sim.yaml again, from its two components keyed by two
// custodians; the devices answer its check value and the working keys
// are exchanged with the host again under it.
func TestMaintKeyLoading(t *testing.T) {
	g := newMaintRig(t)
	hex := func(s string) []string {
		var out []string
		for _, c := range s {
			k := string(c)
			if c >= 'A' && c <= 'F' {
				k = "F" + string(rune('1'+c-'A'))
			}
			out = append(out, k)
		}
		return out
	}
	exchanges := len(g.records("KEYS-EXCHANGED"))
	c := g.open()
	c.login("1001", "1234")
	c.keys("F7")
	c.want("maint-key-component")
	c.keys(hex("9D51835E014C8AEFA232B5F1CDAB1698")...)
	if !strings.Contains(c.want("maint-key-kcv").Text(), "027B3B") {
		t.Fatalf("component 1:\n%s", c.scr.Text())
	}
	c.keys("F1")
	c.keys(append(digits("1002"), "ENTER")...)
	c.keys(append(digits("5678"), "ENTER")...)
	c.want("maint-key-component")
	c.keys(hex("F720CE5761618A98321F16A42532763E")...)
	c.keys("F1")
	if !strings.Contains(c.want("maint-confirm").Text(), "D27A3F") {
		t.Fatalf("confirm:\n%s", c.scr.Text())
	}
	c.keys("F1")
	text := c.want("maint-result").Text()
	for _, w := range []string{"pinpad: loaded, check value D27A3F", "dispenser: loaded, check value D27A3F"} {
		if !strings.Contains(text, w) {
			t.Errorf("result lacks %q:\n%s", w, text)
		}
	}
	c.exit()
	if l := g.records("MAINT-KEY-LOADED"); len(l) != 1 || l[0].Fields["result"] != "ok" || l[0].Fields["custodians"] != "1001,1002" {
		t.Errorf("MAINT-KEY-LOADED %v", l)
	}
	g.waitFor("a new key exchange", func() (bool, string) {
		n := len(g.records("KEYS-EXCHANGED"))
		s := g.d.Runner.Snapshot()
		return n > exchanges && s.Service == "in-service", fmt.Sprintf("%d exchanges, %s", n, s.Service)
	})
	for _, r := range g.d.Journal.Records(nil) {
		if strings.Contains(r.String(), "9D51835E") || strings.Contains(r.String(), "F720CE57") {
			t.Errorf("key material in the journal: %s", r.Kind)
		}
	}
	g.withdraw("alice-debit", pinpad.F1) // PIN blocks and tokens under the new keys
}

// The maint section is checked like the rest of the config.
func TestMaintConfig(t *testing.T) {
	base := readSim(t)
	good, err := atm.ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(good.Maint.Technicians); n != 3 || good.Maint.MaxTries != 3 || good.Maint.Lockout != 15*time.Minute {
		t.Errorf("maint section %+v", good.Maint)
	}
	hash := `"pbkdf2-sha256$200000$c2LvLcHAaaQkCyOR5faY3w$pZ3q9pWGzkOn_kC7MQUYaPHi6aZi52KfYjWUxuviiUw"`
	for _, tc := range []struct{ section, want string }{
		{`maint: {technicians: [{id: "12a", pin_hash: ` + hash + `}]}`, "maint.technicians[0].id"},
		{`maint: {technicians: [{id: "1", pin_hash: ` + hash + `}, {id: "1", pin_hash: ` + hash + `}]}`, "maint.technicians[1].id"},
		{`maint: {technicians: [{id: "1", pin_hash: "1234"}]}`, "maint.technicians[0].pin_hash"},
		{`maint: {technicians: [{id: "1", pin_hash: ` + hash + `, roles: [root]}]}`, "maint.technicians[0].roles"},
		{`maint: {max_tries: 99}`, "maint.max_tries"},
		{`maint: {technicians: [{id: "1", pin: "1234"}]}`, "pin"},
	} {
		i := strings.Index(base, "\nmaint:\n")
		j := strings.Index(base, "\n# The reference host")
		if i < 0 || j < i {
			t.Fatal("configs/sim.yaml: no maint section before the host")
		}
		text := base[:i] + "\n" + tc.section + "\n" + base[j:]
		if _, err := atm.ParseConfig([]byte(text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.section, err, tc.want)
		}
	}
}

// The device tests through the local command: the card read shows the
// PAN masked and gives the card back; the NFC test is read by a phone;
// the displays, sensors, PIN pad and printer answer. The ATM is in
// supervisor mode only while they run.
func TestMaintDeviceTests(t *testing.T) {
	g := newMaintRig(t)
	c, _ := g.seed.Card("alice-debit")
	run := func(device string, play func(ctx context.Context) error) maint.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(g.ctx, 20*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			if play == nil {
				errc <- nil
				return
			}
			errc <- play(ctx)
		}()
		resp, err := g.d.Maint.Handle(ctx, maint.Request{Op: "run", Tech: "1003", PIN: "2468", Action: "test", Args: map[string]string{"device": device}})
		if err != nil {
			t.Fatalf("test %s: %v %v", device, err, resp.Lines)
		}
		if err := <-errc; err != nil {
			t.Fatalf("playing the technician for %s: %v", device, err)
		}
		return resp
	}
	supervising := func(ctx context.Context) error {
		for g.d.Runner.Snapshot().State != "supervisor" {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}
	resp := run("cardreader", func(ctx context.Context) error {
		// Not before supervisor mode: a card inserted now would be a
		// customer's.
		if err := supervising(ctx); err != nil {
			return err
		}
		if err := g.d.Sim.CardReader.Insert(ctx, atm.SeedCard(c)); err != nil {
			return err
		}
		return g.d.Sim.CardReader.Take(ctx)
	})
	text := strings.Join(resp.Lines, "\n")
	if !strings.Contains(text, mask.PAN(c.PAN)) || strings.Contains(text, c.PAN) || !strings.Contains(text, "given back and taken") {
		t.Errorf("card read test:\n%s", text)
	}
	resp = run("nfctag", func(ctx context.Context) error {
		for {
			if _, err := g.d.Sim.NFCTag.Tap(ctx); err == nil {
				return nil
			} else if ctx.Err() != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	if resp.Fields["read"] != "yes" {
		t.Errorf("NFC test: %v %v", resp.Lines, resp.Fields)
	}
	for _, dev := range []string{"display", "sensors", "pinpad", "printer"} {
		resp = run(dev, nil)
		if len(resp.Lines) == 0 {
			t.Errorf("test %s said nothing", dev)
		}
	}
	if n := len(g.d.Sim.Printer.Receipts()); n != 1 {
		t.Errorf("%d receipts printed, want the test print", n)
	}
	g.waitFor("supervisor mode to end", func() (bool, string) {
		s := g.d.Runner.Snapshot()
		return s.State == "idle", s.State
	})
	for _, r := range g.records("MAINT-TEST") {
		if r.Fields["tech"] != "1003" || r.Fields["result"] != "ok" || strings.Contains(r.String(), c.PAN) {
			t.Errorf("MAINT-TEST %v", r)
		}
	}
}
