package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/devsim"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/seed"
)

// Start is the simulated time every scenario starts at.
var Start = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// Options adjust a run.
type Options struct {
	// Trace, when set, receives each step as it runs.
	Trace io.Writer
	// Patience is how long (real time) an expectation or an action waits
	// for the ATM; default 5s.
	Patience time.Duration
	// KeepDir keeps the run's temporary directory (state, journal, host
	// database, log) even when the scenario passes.
	KeepDir bool
	// Dir is where the run's temporary directory is made; default the
	// system's temporary directory.
	Dir string
	// Secrets, when set, receives every secret the run handled in clear:
	// digits keyed into secure (PIN) entry and the codes and PINs the
	// phone read, so a test can search what the run left behind for them.
	Secrets func(string)
}

// StepError is a failed step.
type StepError struct {
	File string
	Step Step
	Msg  string
	Dir  string // where the run's state and log were kept
}

func (e *StepError) Error() string {
	s := fmt.Sprintf("%s:%d: %s: %s", e.File, e.Step.Line, e.Step.Raw, e.Msg)
	if e.Dir != "" {
		s += "\n     (state and log kept in " + e.Dir + ")"
	}
	return s
}

// Driver carries out scenario steps against a running ATM with simulated
// devices: the fresh one Run starts, or a live `atmd run` (through the
// control socket's "step" command). On a live ATM time is real — "wait"
// sleeps — and the host is not the driver's, so host steps fail.
type Driver struct {
	o         Options
	cur       currency.Currency
	seed      *seed.Seed
	clk       *clock.Fake // nil: the ATM runs on the real clock
	d         *atm.Daemon
	sim       *atm.SimDevices
	h         *host.Host // nil: the host is not ours
	hostAddr  string
	hostStop  context.CancelFunc
	hostDone  chan error
	mu        sync.Mutex // one step at a time
	msgCursor int
	scrCursor int
	mobileAPI string  // base URL of the host's mobile API, for the phone
	phone     handset // the customer's phone
	del       delegatedRun
}

type run = Driver

// Attach returns a driver for a running daemon with simulated devices.
// Expectations look only at what happens after the driver was attached.
func Attach(d *atm.Daemon, sd *seed.Seed, o Options) (*Driver, error) {
	if d.Sim == nil {
		return nil, errors.New("scenario: the ATM has no simulated devices to drive")
	}
	if o.Patience == 0 {
		o.Patience = 5 * time.Second
	}
	cur, err := currency.ByAlpha(d.Config.ATM.Currency)
	if err != nil {
		return nil, err
	}
	dr := &Driver{o: o, cur: cur, seed: sd, d: d, sim: d.Sim}
	if hc := d.Config.Host; hc != nil && hc.Mobile.Listen != "" {
		dr.mobileAPI = "http://" + hc.Mobile.Listen
	}
	dr.scrCursor = len(d.Sim.Display.History())
	if ms := d.HostMessages(0); len(ms) > 0 {
		dr.msgCursor = ms[len(ms)-1].Seq
	}
	return dr, nil
}

// Do parses one scenario line and carries it out.
func (r *Driver) Do(ctx context.Context, line string) error {
	sc, err := Parse("step", []byte(line))
	if err != nil {
		return err
	}
	if len(sc.Steps) != 1 {
		return fmt.Errorf("scenario: one step at a time, got %d", len(sc.Steps))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.step(ctx, sc.Steps[0])
}

// Run runs one scenario against a fresh ATM and host built from base
// (which must have a host section), and returns the first failure.
func Run(ctx context.Context, base *atm.Config, sc *Scenario, o Options) (err error) {
	if base.Host == nil {
		return errors.New("scenario: the config has no host section; scenarios need the reference host")
	}
	if o.Patience == 0 {
		o.Patience = 5 * time.Second
	}
	dir, err := os.MkdirTemp(o.Dir, "atmd-scenario-")
	if err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	r := &run{o: o, clk: clock.NewFake(Start)}
	defer func() {
		if err != nil {
			var se *StepError
			if errors.As(err, &se) {
				se.Dir = dir
			}
			return
		}
		if !o.KeepDir {
			os.RemoveAll(dir)
		}
	}()
	logf, err := os.Create(filepath.Join(dir, "atmd.log"))
	if err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	defer logf.Close()
	log := zerolog.New(logf).Level(zerolog.DebugLevel).With().Timestamp().Logger()

	cfg := *base
	hc := *base.Host
	cfg.ATM.StateDir = filepath.Join(dir, "atm")
	// No web page for a scenario's screen: runs go in parallel.
	if dc := *cfg.Devices.Display; dc.Addr != "" {
		dc.Addr, dc.Panel = "", false
		devs := cfg.Devices
		devs.Display = &dc
		cfg.Devices = devs
	}
	hc.DB = filepath.Join(dir, "host.db")
	r.cur, _ = currency.ByAlpha(cfg.ATM.Currency)
	if r.seed, err = seed.Load(hc.Seed); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.startHost(ctx, hc, log); err != nil {
		return err
	}
	defer r.stopHost()
	defer r.h.Close()
	cfg.Host = nil
	cfg.HostLink.Addr = r.hostAddr
	r.d, err = atm.Start(ctx, &cfg, atm.DaemonOptions{Clock: r.clk, ManualTicks: true, NoControl: true, Log: log})
	if err != nil {
		return fmt.Errorf("scenario: start atmd: %w", err)
	}
	defer r.d.Stop()
	r.sim = r.d.Sim
	if err := r.waitInService(ctx); err != nil {
		return fmt.Errorf("%s: the ATM did not come into service: %w", sc.File, err)
	}
	for _, st := range sc.Steps {
		if o.Trace != nil {
			fmt.Fprintf(o.Trace, "  %4d  %s\n", st.Line, st.Raw)
		}
		if err := r.step(ctx, st); err != nil {
			return &StepError{File: sc.File, Step: st, Msg: err.Error()}
		}
	}
	// Whatever the scenario checked, the flows must never have taken an
	// undeclared transition.
	if bad := r.d.Journal.Records(func(rec journal.Record) bool { return rec.Kind == "FLOW-ERROR" }); len(bad) > 0 {
		return fmt.Errorf("%s: flow error: %s", sc.File, bad[0])
	}
	return nil
}

func (r *run) startHost(ctx context.Context, hc host.Config, log zerolog.Logger) error {
	h, err := host.New(hc, host.WithClock(r.clk), host.WithReset(), host.WithLogger(log))
	if err != nil {
		return fmt.Errorf("scenario: host: %w", err)
	}
	if err := h.Open(ctx); err != nil {
		return fmt.Errorf("scenario: host: %w", err)
	}
	r.h = h
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return fmt.Errorf("scenario: host: %w", err)
	}
	r.hostAddr = ln.Addr().String()
	r.serveHost(ctx, ln)
	// The mobile API for the phone, on a port of its own: runs go in
	// parallel.
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("scenario: mobile API: %w", err)
	}
	r.mobileAPI = "http://" + mln.Addr().String()
	go func() { _ = h.ServeMobile(ctx, mln) }()
	return nil
}

func (r *run) serveHost(ctx context.Context, ln net.Listener) {
	hctx, stop := context.WithCancel(ctx)
	r.hostStop = stop
	r.hostDone = make(chan error, 1)
	go func() { r.hostDone <- r.serveTerminals(hctx, ln) }()
}

func (r *run) stopHost() {
	if r.hostStop != nil {
		r.hostStop()
		<-r.hostDone
		r.hostStop = nil
	}
}

// settle lets the ATM catch up with everything already posted.
func (r *run) settle(ctx context.Context) error {
	if r.clk == nil {
		return r.d.Runner.Sync(ctx)
	}
	return r.d.Runner.Tick(ctx)
}

// poll re-checks cond until it holds or patience runs out; it returns
// cond's last description of what it saw.
func (r *run) poll(ctx context.Context, cond func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.Patience)
	defer cancel()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if ok, _ := cond(); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			// One last look, so the message says what is true now.
			ok, saw := cond()
			if ok {
				return nil
			}
			return errors.New(saw)
		case <-t.C:
			r.settle(ctx) // health and timers see the current time
		}
	}
}

func (r *run) waitInService(ctx context.Context) error {
	return r.poll(ctx, func() (bool, string) {
		s := r.d.Runner.Snapshot()
		return s.Service == "in-service", fmt.Sprintf("service %s (%s)", s.Service, s.Reason)
	})
}

func (r *run) patience(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.o.Patience)
}

func (r *run) step(ctx context.Context, st Step) error {
	a := st.Args
	switch st.Verb {
	case "insert card":
		pctx, cancel := r.patience(ctx)
		defer cancel()
		if a[0] == "unreadable" {
			return r.notReady(r.sim.CardReader.InsertUnreadable(pctx), "the card slot")
		}
		c, ok := r.seed.Card(a[0])
		if !ok {
			return fmt.Errorf("no card %q in the seed data (%s)", a[0], r.cardIDs())
		}
		return r.notReady(r.sim.CardReader.Insert(pctx, atm.SeedCard(c)), "the card slot")
	case "take card":
		pctx, cancel := r.patience(ctx)
		defer cancel()
		return r.notReady(r.sim.CardReader.Take(pctx), "a card to take (card is "+r.sim.CardReader.State()+")")
	case "take cash":
		pctx, cancel := r.patience(ctx)
		defer cancel()
		return r.notReady(r.sim.Dispenser.Take(pctx), "cash to take")
	case "enter":
		digits := a[0]
		if digits == "phone" {
			if r.phone.secret == "" {
				return errors.New("the phone has shown no code or PIN yet (phone read ...)")
			}
			digits = r.phone.secret
		}
		if err := r.poll(ctx, func() (bool, string) {
			return r.sim.PinPad.Active() != "", "the PIN pad is not taking digits"
		}); err != nil {
			return err
		}
		if strings.HasPrefix(r.sim.PinPad.Active(), "pin") {
			r.secret(digits)
		}
		var keys []string
		for _, c := range digits {
			keys = append(keys, string(c))
		}
		return r.press(ctx, keys)
	case "press":
		return r.press(ctx, a)
	case "choose":
		return r.choose(ctx, a[0])
	case "wait":
		d, _ := time.ParseDuration(a[0])
		return r.wait(ctx, d)
	case "phone login", "phone logout", "phone use", "phone bind", "phone activate", "phone scan", "phone read":
		return r.phoneStep(ctx, st)
	case "phone delegate", "expect delegate", "expect alert", "expect no alert", "expect camera", "expect evidence", "camera sees", "host drop":
		return r.delegatedStep(ctx, st)
	case "host stop", "host start", "expect balance", "expect card-status":
		if r.h == nil {
			return fmt.Errorf("%s: the host is not run by this driver", st.Verb)
		}
	}
	switch st.Verb {
	case "host stop":
		r.stopHost()
		return r.settle(ctx)
	case "host start":
		if r.hostStop != nil {
			return errors.New("the host is already running")
		}
		ln, err := net.Listen("tcp", r.hostAddr)
		if err != nil {
			return fmt.Errorf("cannot listen on %s again: %w", r.hostAddr, err)
		}
		r.serveHost(ctx, ln)
		return nil
	case "fault", "clear":
		dev, ok := r.faulty(a[0])
		if !ok {
			return fmt.Errorf("no device %q (devices: cardreader, pinpad, display, opdisplay, nfctag, dispenser, printer, camera, sensors)", a[0])
		}
		if st.Verb == "clear" {
			dev.Clear()
		} else if err := dev.Inject(a[1]); err != nil {
			return err
		}
		return r.settle(ctx)
	case "expect screen":
		return r.expectScreen(ctx, a[0])
	case "expect text":
		return r.poll(ctx, func() (bool, string) {
			s := r.sim.Display.Current()
			return strings.Contains(s.Text(), a[0]), fmt.Sprintf("screen %s says %q", s.ID, s.Text())
		})
	case "expect state":
		return r.poll(ctx, func() (bool, string) {
			s := r.d.Runner.Snapshot()
			return s.Service == a[0], fmt.Sprintf("the ATM is %s (%s), state %s", s.Service, s.Reason, s.State)
		})
	case "expect cash":
		return r.expectCash(ctx, a)
	case "expect card":
		return r.expectCard(ctx, a[0])
	case "expect receipt":
		return r.expectReceipt(ctx, a)
	case "expect journal":
		return r.poll(ctx, func() (bool, string) { return r.journalHas(a[0], a[1:]) })
	case "expect no journal":
		if err := r.settle(ctx); err != nil {
			return err
		}
		if ok, _ := r.journalHas(a[0], nil); ok {
			recs := r.d.Journal.Records(func(rec journal.Record) bool { return rec.Kind == a[0] })
			return fmt.Errorf("the journal has %s", recs[0])
		}
		return nil
	case "expect host":
		return r.expectHost(ctx, a)
	case "expect card-status":
		return r.poll(ctx, func() (bool, string) {
			got, err := r.h.CardStatus(ctx, a[0])
			if err != nil {
				return false, err.Error()
			}
			return string(got) == a[1], "card " + a[0] + " is " + string(got)
		})
	case "expect balance":
		want, _ := parseAmount(a[1])
		return r.poll(ctx, func() (bool, string) {
			got, err := r.h.Balance(ctx, a[0])
			if err != nil {
				return false, err.Error()
			}
			return got == r.minor(want), "balance is " + r.cur.Format(got)
		})
	}
	return fmt.Errorf("step not implemented")
}

func (r *run) notReady(err error, what string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the ATM was not waiting for %s within %v (screen %s)", what, r.o.Patience, r.sim.Display.Current().ID)
	}
	return err
}

func (r *run) minor(v float64) int64 { return int64(math.Round(v * float64(r.cur.Major()))) }

func (r *run) cardIDs() string {
	var ids []string
	for _, cu := range r.seed.Customers {
		for _, c := range cu.Cards {
			ids = append(ids, c.ID)
		}
	}
	return "cards: " + strings.Join(ids, ", ")
}

func (r *run) press(ctx context.Context, names []string) error {
	for _, n := range names {
		k, err := keyName(n)
		if err != nil {
			return err
		}
		pctx, cancel := r.patience(ctx)
		err = r.sim.PinPad.Press(pctx, k)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("the PIN pad did not take key %s within %v (entry %q, screen %s)", n, r.o.Patience, r.sim.PinPad.Active(), r.sim.Display.Current().ID)
			}
			return err
		}
	}
	return nil
}

// choose presses the function key of a menu item on the current screen.
func (r *run) choose(ctx context.Context, want string) error {
	var key string
	err := r.poll(ctx, func() (bool, string) {
		s := r.sim.Display.Current()
		var have []string
		for _, m := range s.Menu {
			if m.ID == want || strings.EqualFold(m.Label, want) {
				key = m.Key
				return true, ""
			}
			have = append(have, m.ID)
		}
		return false, fmt.Sprintf("screen %s has no item %q (items: %s)", s.ID, want, strings.Join(have, ", "))
	})
	if err != nil {
		return err
	}
	return r.press(ctx, []string{key})
}

// wait lets simulated time pass, a second at a time, so every timer
// fires at its moment and the ATM reacts to each before the next.
func (r *run) wait(ctx context.Context, d time.Duration) error {
	if err := r.settle(ctx); err != nil {
		return err
	}
	if r.clk == nil {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for d > 0 {
		// A request on its way to the host (an echo, a poll) is answered
		// before its own timeout can be reached by moving time on.
		if err := r.linkIdle(ctx); err != nil {
			return err
		}
		r.del.timedOut(r.d.Link)
		s := min(d, time.Second)
		r.clk.Advance(s)
		d -= s
		if err := r.settle(ctx); err != nil {
			return err
		}
	}
	return nil
}

// linkIdle waits, up to the run's patience, until no request to the
// host awaits its answer (a stopped host never answers: then it returns
// at once).
func (r *run) linkIdle(ctx context.Context) error {
	if r.d.Link == nil || r.hostStop == nil || r.del.replyLost() {
		return nil
	}
	// Let a request the last step started reach the link first.
	time.Sleep(time.Millisecond)
	deadline := time.Now().Add(r.o.Patience)
	for r.d.Link.InFlight() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func (r *run) faulty(name string) (devsim.Faulty, bool) {
	f, ok := r.sim.Faults[name]
	return f, ok
}

func (r *run) expectScreen(ctx context.Context, id string) error {
	var seen []display.Screen
	err := r.poll(ctx, func() (bool, string) {
		hist := r.sim.Display.History()
		seen = hist[min(r.scrCursor, len(hist)):]
		for i, s := range seen {
			if s.ID == id {
				r.scrCursor += i + 1
				return true, ""
			}
		}
		var ids []string
		for _, s := range seen {
			if len(ids) == 0 || ids[len(ids)-1] != s.ID {
				ids = append(ids, s.ID)
			}
		}
		cur := r.sim.Display.Current()
		if len(ids) == 0 {
			return false, fmt.Sprintf("no new screen; still %s (%q)", cur.ID, cur.Title)
		}
		return false, fmt.Sprintf("saw %s instead (now %q)", strings.Join(ids, ", "), cur.Title)
	})
	return err
}

func (r *run) denominations() map[int]int64 {
	out := map[int]int64{}
	cs, _ := r.d.Devices.Dispenser.Cassettes(context.Background())
	for _, c := range cs {
		out[c.ID] = c.Denomination
	}
	return out
}

func (r *run) describeNotes(ns []dispenser.Notes) (int64, map[float64]int, string) {
	den := r.denominations()
	var total int64
	byDen := map[float64]int{}
	for _, n := range ns {
		total += den[n.Cassette] * int64(n.Count)
		byDen[float64(den[n.Cassette])/float64(r.cur.Major())] += n.Count
	}
	var parts []string
	for d, c := range byDen {
		parts = append(parts, fmt.Sprintf("%gx%d", d, c))
	}
	sort.Strings(parts)
	return total, byDen, r.cur.Format(total) + " in notes " + strings.Join(parts, ",")
}

func (r *run) expectCash(ctx context.Context, a []string) error {
	if a[0] == "none" {
		if err := r.settle(ctx); err != nil {
			return err
		}
		taken := r.sim.Dispenser.Taken()
		tray := r.sim.Dispenser.Tray()
		if len(taken)+len(tray) > 0 {
			_, _, got := r.describeNotes(append(taken, tray...))
			return fmt.Errorf("cash was dispensed: %s", got)
		}
		return nil
	}
	want, _ := parseAmount(a[0])
	var notes map[float64]int
	if len(a) == 3 {
		notes, _ = parseNotes(a[2])
	}
	return r.poll(ctx, func() (bool, string) {
		tray := r.sim.Dispenser.Tray()
		if len(tray) == 0 {
			return false, "no cash presented"
		}
		total, byDen, desc := r.describeNotes(tray)
		if total != r.minor(want) {
			return false, "presented " + desc
		}
		if notes != nil {
			if len(notes) != len(byDen) {
				return false, "presented " + desc
			}
			for d, c := range notes {
				if byDen[d] != c {
					return false, "presented " + desc
				}
			}
		}
		return true, ""
	})
}

func (r *run) expectCard(ctx context.Context, want string) error {
	return r.poll(ctx, func() (bool, string) {
		st := r.sim.CardReader.State()
		ret := len(r.sim.CardReader.Retained())
		var ok bool
		switch want {
		case "ejected":
			ok = st == devsim.CardPresented
		case "inside":
			ok = st == devsim.CardInside
		case "retained":
			ok = ret > 0 && st == devsim.CardEmpty
		case "none":
			ok = st == devsim.CardEmpty && ret == 0
		}
		return ok, fmt.Sprintf("the card is %s, %d retained", st, ret)
	})
}

func (r *run) expectReceipt(ctx context.Context, a []string) error {
	if a[0] == "none" {
		if err := r.settle(ctx); err != nil {
			return err
		}
		if rs := r.sim.Printer.Receipts(); len(rs) > 0 {
			return fmt.Errorf("a receipt was printed:\n%s", strings.Join(rs[0].Lines, "\n"))
		}
		return nil
	}
	return r.poll(ctx, func() (bool, string) {
		rs := r.sim.Printer.Receipts()
		if len(rs) == 0 {
			return false, "no receipt printed"
		}
		text := strings.Join(rs[len(rs)-1].Lines, "\n")
		return strings.Contains(text, a[1]), "the receipt says:\n" + text
	})
}

func (r *run) journalHas(kind string, kvs []string) (bool, string) {
	recs := r.d.Journal.Records(nil)
	var kinds []string
	for _, rec := range recs {
		kinds = append(kinds, rec.Kind)
		if rec.Kind != kind {
			continue
		}
		match := true
		for _, kv := range kvs {
			k, v, _ := strings.Cut(kv, "=")
			if rec.Fields[k] != v {
				match = false
			}
		}
		if match {
			return true, ""
		}
	}
	return false, "journal has " + strings.Join(kinds, ", ")
}

func (r *run) expectHost(ctx context.Context, a []string) error {
	want := map[string]string{}
	for i := 1; i+1 < len(a); i += 2 {
		want[a[i]] = a[i+1]
	}
	return r.poll(ctx, func() (bool, string) {
		var seen []string
		for _, m := range r.d.HostMessages(r.msgCursor) {
			seen = append(seen, fmt.Sprintf("%s proc %s rc %s", m.MTI, m.Proc, m.RC))
			if m.MTI != a[0] {
				continue
			}
			ok := true
			for k, v := range want {
				switch k {
				case "proc":
					ok = ok && m.Proc == v
				case "rc":
					ok = ok && m.RC == v
				case "amount":
					f, _ := parseAmount(v)
					ok = ok && m.Amount == r.minor(f)
				}
			}
			if ok {
				r.msgCursor = m.Seq
				return true, ""
			}
		}
		if len(seen) == 0 {
			return false, "no new host messages"
		}
		return false, "host messages since the last match: " + strings.Join(seen, "; ")
	})
}
