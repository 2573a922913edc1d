package loadgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/keymat"
)

// ATMOptions shape a run of whole withdrawals through a real atmd.
// Config, Fleet, Addr, Dir, Count and Duration are required.
type ATMOptions struct {
	// Config is the atmd config to start from (configs/sim.yaml): its
	// devices, customer timers and cassettes are used as they are, except
	// that the terminal becomes Fleet.Terminals[Terminal] (id and master
	// key components), its state goes to Dir, it connects to Addr, the
	// reference host of the config is not started, and notices time out
	// at once so the next customer need not wait.
	Config   string
	Fleet    *Fleet
	Terminal int    // index into Fleet.Terminals; not one a concurrent Run uses
	Addr     string // the host serving Fleet, loopback only
	Dir      string // atmd's state directory; a fresh one
	Count    int    // customers at most
	Duration time.Duration
	// Amount is the fast amount each customer picks, major units; 1000
	// when zero. It must be one of the config's fast amounts.
	Amount int64
	// Log receives the daemon's log; a JSON logger on io.Discard measures
	// the cost of logging without keeping it.
	Log zerolog.Logger
}

// ATMResult is what a run of whole withdrawals measured.
type ATMResult struct {
	Start     time.Duration // atm.Start until the card slot first opened
	Customers int           // customers served to the end
	Errors    int
	Problems  []string
	// Cycles are card in → cash taken → the welcome screen back, the
	// slot open for the next customer, sorted.
	Cycles Latencies
	// HostRT are the 0200 → 0210 round trips inside the cycles, as the
	// daemon's host link saw them, sorted.
	HostRT    Latencies
	Dispensed int64         // minor units the customers took
	CPU       time.Duration // user and system CPU of this process during the customers
}

// RunATM starts a real atmd with the config's (simulated) devices,
// connected to the host at o.Addr, and plays o.Count customers through
// it one after the other (or as many as o.Duration allows): card in,
// PIN, "withdrawal", the fast amount, no receipt, card out, cash out, and
// back to the welcome screen. The daemon is stopped before RunATM
// returns.
func RunATM(ctx context.Context, o ATMOptions) (*ATMResult, error) {
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, err
	}
	switch {
	case o.Fleet == nil || o.Terminal < 0 || o.Terminal >= len(o.Fleet.Terminals):
		return nil, fmt.Errorf("%w: no such terminal in the fleet", ErrOptions)
	case o.Count < 1 || o.Duration <= 0:
		return nil, fmt.Errorf("%w: Count and Duration must bound the run", ErrOptions)
	case o.Dir == "":
		return nil, fmt.Errorf("%w: no state directory", ErrOptions)
	}
	if o.Amount == 0 {
		o.Amount = 1000
	}
	cfg, err := atmConfig(o)
	if err != nil {
		return nil, err
	}
	var (
		tapMu sync.Mutex
		sent  time.Time
		rts   []time.Duration
	)
	tap := func(dir hostlink.Direction, m *hostlink.Message) {
		tapMu.Lock()
		defer tapMu.Unlock()
		switch {
		case dir == hostlink.Outbound && m.MTI == hostlink.MTIFinRequest:
			sent = time.Now()
		case dir == hostlink.Inbound && m.MTI == hostlink.MTIFinResponse && !sent.IsZero():
			rts = append(rts, time.Since(sent))
			sent = time.Time{}
		}
	}
	begin := time.Now()
	d, err := atm.Start(ctx, cfg, atm.DaemonOptions{Log: o.Log, NoControl: true, Observe: tap})
	if err != nil {
		return nil, fmt.Errorf("loadgen: start atmd: %w", err)
	}
	defer d.Stop()
	if d.Sim == nil || d.Sim.Display == nil {
		return nil, fmt.Errorf("%w: the config's devices are not simulated", ErrOptions)
	}
	p := &player{d: d, cursor: -1}
	res := &ATMResult{}
	deadline := begin.Add(o.Duration)
	cpu0 := cpuTime()
	for i := 0; i < o.Count && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		c := o.Fleet.Cards[i%len(o.Fleet.Cards)]
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		err := p.withdraw(cctx, c, o.Amount, func() {
			if res.Start == 0 {
				res.Start = time.Since(begin)
			}
		})
		cancel()
		if err != nil {
			res.Errors++
			if len(res.Problems) < maxProblems {
				res.Problems = append(res.Problems, fmt.Sprintf("customer %d (%s): %v", i+1, c.ID, err))
			}
			break // the ATM is in an unknown state: stop rather than pile up errors
		}
		res.Cycles = append(res.Cycles, time.Since(t0))
		res.Customers++
		res.Dispensed += o.Amount * 100
	}
	res.CPU = cpuTime() - cpu0
	res.Cycles = NewLatencies(res.Cycles)
	tapMu.Lock()
	res.HostRT = NewLatencies(append([]time.Duration(nil), rts...))
	tapMu.Unlock()
	if err := d.Stop(); err != nil && !errors.Is(err, context.Canceled) {
		res.Problems = append(res.Problems, "stopping atmd: "+err.Error())
	}
	return res, nil
}

// atmConfig loads o.Config and turns it into the fleet terminal's.
func atmConfig(o ATMOptions) (*atm.Config, error) {
	cfg, err := atm.LoadConfig(o.Config)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	t := o.Fleet.Terminals[o.Terminal]
	// Two components whose XOR is the TMK, as two custodians would
	// bring them.
	c1, err := randomBytes(len(t.TMK))
	if err != nil {
		return nil, err
	}
	c2 := make([]byte, len(t.TMK))
	for i := range c2 {
		c2[i] = c1[i] ^ t.TMK[i]
	}
	comps := []keymat.Key{c1, c2}
	if cfg.Devices.PinPad == nil || cfg.Devices.Dispenser == nil {
		return nil, fmt.Errorf("%w: %s has no PIN pad or dispenser", ErrOptions, o.Config)
	}
	cfg.ATM.ID = t.ID
	cfg.ATM.StateDir = dir
	cfg.ATM.ControlSocket = filepath.Join(dir, "atmd.sock")
	cfg.ATM.Timeouts.Message = time.Nanosecond
	cfg.HostLink.Addr = o.Addr
	cfg.HostLink.EchoInterval = time.Hour
	cfg.Host = nil
	cfg.Devices.PinPad.MasterKey = comps
	cfg.Devices.Dispenser.MasterKey = comps
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loadgen: %s adapted for the bench: %w", o.Config, err)
	}
	return cfg, nil
}

// player plays one customer after another at a running atmd.
type player struct {
	d      *atm.Daemon
	cursor int // index in the display's history of the last screen seen
}

// withdraw plays one customer taking amount (major units) with card c.
// ready is called once the card is in.
func (p *player) withdraw(ctx context.Context, c Card, amount int64, ready func()) error {
	sim := p.d.Sim
	if err := sim.CardReader.Insert(ctx, cardreader.Card{
		PAN: c.PAN, PANSeq: fmt.Sprintf("%03d", c.PANSeq), Expiry: c.Expiry,
		Track2: c.PAN + "=" + c.Expiry + "2010000000000", Name: "BENCH CUSTOMER", Technology: cardreader.Chip,
	}); err != nil {
		return fmt.Errorf("insert card: %w", err)
	}
	ready()
	keys := make([]pinpad.Key, 0, len(c.PIN)+1)
	for _, d := range string(c.PIN) {
		keys = append(keys, pinpad.Key(string(d)))
	}
	if err := sim.PinPad.Press(ctx, append(keys, pinpad.KeyEnter)...); err != nil {
		return fmt.Errorf("enter PIN: %w", err)
	}
	for _, item := range []string{"withdrawal", fmt.Sprintf("amount-%d", amount), "no"} {
		if err := p.choose(ctx, item); err != nil {
			return err
		}
	}
	if err := sim.CardReader.Take(ctx); err != nil {
		return fmt.Errorf("take card: %w", err)
	}
	if err := sim.Dispenser.Take(ctx); err != nil {
		return fmt.Errorf("take cash: %w", err)
	}
	if _, err := p.await(ctx, func(s display.Screen) bool { return s.ID == "goodbye" }); err != nil {
		return err
	}
	// The goodbye notice times out at once (ATMOptions.Config): one tick
	// and the welcome screen is back, the slot open.
	if err := p.d.Runner.Tick(ctx); err != nil {
		return fmt.Errorf("tick: %w", err)
	}
	_, err := p.await(ctx, func(s display.Screen) bool { return s.ID == "welcome" })
	return err
}

// choose waits for a screen offering the menu item id and presses its
// key.
func (p *player) choose(ctx context.Context, id string) error {
	s, err := p.await(ctx, func(s display.Screen) bool { return menuKey(s, id) != "" })
	if err != nil {
		return err
	}
	if err := p.d.Sim.PinPad.Press(ctx, pinpad.Key(menuKey(s, id))); err != nil {
		return fmt.Errorf("choose %s: %w", id, err)
	}
	return nil
}

// await returns the first screen after the last one seen that satisfies
// ok, waiting for it on the display.
func (p *player) await(ctx context.Context, ok func(display.Screen) bool) (display.Screen, error) {
	var seen []string
	for {
		s, i, err := p.d.Sim.Display.Next(ctx, p.cursor)
		if err != nil {
			return display.Screen{}, fmt.Errorf("waiting for a screen (saw %s): %w", strings.Join(seen, ", "), err)
		}
		p.cursor = i
		if ok(s) {
			return s, nil
		}
		seen = append(seen, s.ID)
	}
}

func menuKey(s display.Screen, id string) string {
	for _, m := range s.Menu {
		if m.ID == id {
			return m.Key
		}
	}
	return ""
}
