package atm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/seed"
)

// TestMACRejectedResponseIsReversed is issue 4's "a response with a bad
// MAC is rejected, journaled, and treated as no response", end to end:
// atmd (configs/sim.yaml, simulated devices, fake clock) talks to the
// reference host through a loopback proxy that changes one character of
// field 39 in the host's 0210 — the approval "00" becomes the decline
// "05" — and leaves field 128 as the host signed it.
//
// The host approved and debited the account; the ATM must not act on
// the altered answer either way: it journals HOST-MESSAGE-REJECTED, waits
// out its response timeout as if nothing had come, presents no cash,
// and sends a reversal (0420) that the host acknowledges, after which
// the host's ledger balances and the account is back at its seed
// balance.
func TestMACRejectedResponseIsReversed(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	e := startMACRig(ctx, t)
	d, j := e.d, e.d.Journal

	bob, ok := e.seed.Card("bob-debit")
	if !ok {
		t.Fatal("no card bob-debit in the seed")
	}
	opening := e.seedBalance(t, bob.Account)

	// Wait until the ATM has exchanged keys (MACs need the TAK) and opens
	// its card slot: Insert blocks until then.
	if err := e.waitRecord(ctx, "KEYS-EXCHANGED", nil); err != nil {
		t.Fatal(err)
	}
	e.proxy.armed.Store(true) // the next 0210 is altered
	if err := d.Sim.CardReader.Insert(ctx, chipCardOf(bob)); err != nil {
		t.Fatal(err)
	}
	e.expectScreen(ctx, t, "enter-pin")
	e.press(ctx, t, "9", "8", "6", "7", pinpad.KeyEnter)
	e.choose(ctx, t, "main-menu", "withdrawal")
	e.choose(ctx, t, "amount-menu", "amount-1000")
	e.choose(ctx, t, "receipt-choice", "no")

	// The host answers; the proxy alters the answer.
	select {
	case err := <-e.proxy.tampered:
		if err != nil {
			t.Fatalf("proxy: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("no 0210 came from the host: %v", ctx.Err())
	}
	// Whichever comes first: the rejection, or (wrongly) a reply.
	first, err := e.waitFirst(ctx, "HOST-MESSAGE-REJECTED", "TXN-REPLY")
	if err != nil {
		t.Fatal(err)
	}
	if first.Kind != "HOST-MESSAGE-REJECTED" {
		t.Fatalf("the ATM acted on the altered 0210: %s", first)
	}
	rej := j.Records(func(r journal.Record) bool { return r.Kind == "HOST-MESSAGE-REJECTED" })
	if len(rej) != 1 {
		t.Fatalf("%d HOST-MESSAGE-REJECTED records, want 1", len(rej))
	}
	if r := rej[0].Fields["reason"]; !strings.Contains(r, hostlink.ErrBadMAC.Error()) {
		t.Errorf("HOST-MESSAGE-REJECTED reason = %q, want it to name %q", r, hostlink.ErrBadMAC)
	}
	if m := rej[0].Fields["msg"]; !strings.HasPrefix(m, hostlink.MTIFinResponse+" ") || !strings.Contains(m, " rc=05") {
		t.Errorf("HOST-MESSAGE-REJECTED msg = %q, want the altered 0210 (rc=05)", m)
	}
	if strings.Contains(rej[0].String(), bob.PAN) {
		t.Errorf("HOST-MESSAGE-REJECTED shows the full PAN: %s", rej[0])
	}

	// Treated as no response: nothing happens until the response
	// timeout, and then the outcome is unknown.
	timeout := d.Config.HostLink.Timeout
	if err := e.advance(ctx, timeout-time.Second); err != nil {
		t.Fatal(err)
	}
	if recs := j.Records(func(r journal.Record) bool { return r.Kind == "TXN-REPLY" }); len(recs) != 0 {
		t.Fatalf("the ATM took the rejected response as an answer: %s", recs[0])
	}
	if err := e.advance(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.waitRecord(ctx, "TXN-REPLY", map[string]string{"outcome": "unknown"}); err != nil {
		t.Fatal(err)
	}
	if err := e.waitRecord(ctx, "REVERSAL-QUEUED", map[string]string{"reason": "timeout"}); err != nil {
		t.Fatal(err)
	}
	if err := e.waitRecord(ctx, "REVERSAL-ACKED", map[string]string{"rc": hostlink.RCApproved}); err != nil {
		t.Fatal(err)
	}

	// The customer is told and gets the card back; no cash.
	e.expectScreen(ctx, t, "unable-to-complete")
	if err := e.advance(ctx, d.Config.ATM.Timeouts.Message+time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.Sim.CardReader.Take(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.waitRecord(ctx, "CARD-TAKEN", nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Runner.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if tray, taken := d.Sim.Dispenser.Tray(), d.Sim.Dispenser.Taken(); len(tray)+len(taken) != 0 {
		t.Errorf("cash left the dispenser: tray %v, taken %v", tray, taken)
	}
	for _, kind := range []string{"DISPENSE-INTENT", "DISPENSED", "CASH-PRESENTED", "FLOW-ERROR"} {
		if recs := j.Records(func(r journal.Record) bool { return r.Kind == kind }); len(recs) != 0 {
			t.Errorf("journal has %s", recs[0])
		}
	}

	// The rejected 0210 never reached the ATM's logic; what did cross
	// the link, in order: the 0200, and later its reversal.
	for _, m := range d.HostMessages(0) {
		if !m.Out && m.MTI == hostlink.MTIFinResponse {
			t.Errorf("the ATM accepted a 0210 (rc %s stan %s)", m.RC, m.STAN)
		}
	}
	sent := e.proxy.sentToHost()
	i200 := slices.Index(sent, hostlink.MTIFinRequest)
	i420 := slices.Index(sent, hostlink.MTIReversal)
	if i200 < 0 || i420 < i200 || slices.Contains(sent[i200+1:], hostlink.MTIFinRequest) {
		t.Errorf("messages that reached the host: %v, want one 0200 and then a 0420", sent)
	}

	// The host's books: one approval, reversed in full, and the account
	// back where it started.
	rep, err := e.host.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Errorf("Reconcile: %v", err)
	}
	tr := rep.Terminal(d.Config.ATM.ID, d.Config.ATM.Currency)
	if tr.ApprovedCount != 1 || tr.ReversedCount != 1 || tr.Dispensed != 0 {
		t.Errorf("host's terminal totals: %+v, want 1 approval, reversed, nothing dispensed", tr)
	}
	bal, err := e.host.Balance(ctx, bob.Account)
	if err != nil {
		t.Fatal(err)
	}
	if bal != opening {
		t.Errorf("balance of %s = %d, want the seed's %d", bob.Account, bal, opening)
	}

	if strings.Contains(e.logText(), bob.PAN) {
		t.Error("the log shows the full PAN")
	}
}

// macRig is atmd with simulated devices, the reference host, and the
// tampering proxy between them, all on loopback and one fake clock.
type macRig struct {
	d     *atm.Daemon
	host  *host.Host
	seed  *seed.Seed
	clk   *clock.Fake
	proxy *tamperProxy
	cur   currency.Currency

	screen int // Display history index of the last screen looked at

	logMu sync.Mutex
	log   bytes.Buffer
}

func startMACRig(ctx context.Context, t *testing.T) *macRig {
	t.Helper()
	cfg, err := atm.LoadConfig(simConfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host == nil {
		t.Fatal("configs/sim.yaml has no host section")
	}
	dir := t.TempDir()
	e := &macRig{clk: clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)), screen: -1}
	log := zerolog.New(rigLogWriter{e}).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("atmd and host log:\n%s", e.logText())
		}
	})
	if e.cur, err = currency.ByAlpha(cfg.ATM.Currency); err != nil {
		t.Fatal(err)
	}

	hc := *cfg.Host
	hc.DB = filepath.Join(dir, "host.db")
	if e.seed, err = seed.Load(hc.Seed); err != nil {
		t.Fatal(err)
	}
	if e.host, err = host.New(hc, host.WithClock(e.clk), host.WithReset(), host.WithLogger(log)); err != nil {
		t.Fatal(err)
	}
	if err := e.host.Open(ctx); err != nil {
		e.host.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.host.Close()
		t.Fatal(err)
	}
	hctx, stopHost := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.host.Serve(hctx, ln) }()
	t.Cleanup(func() {
		stopHost()
		if err := <-served; err != nil {
			t.Errorf("host Serve: %v", err)
		}
		e.host.Close()
	})

	e.proxy = startTamperProxy(t, ln.Addr().String())

	acfg := *cfg
	acfg.Host = nil
	acfg.ATM.StateDir = filepath.Join(dir, "atm")
	acfg.HostLink.Addr = e.proxy.addr()
	e.d, err = atm.Start(ctx, &acfg, atm.DaemonOptions{Clock: e.clk, ManualTicks: true, NoControl: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.d.Stop(); err != nil {
			t.Errorf("daemon Stop: %v", err)
		}
	})
	return e
}

// rigLogWriter collects the log of atmd and the host, shown when the
// test fails.
type rigLogWriter struct{ e *macRig }

func (w rigLogWriter) Write(p []byte) (int, error) {
	w.e.logMu.Lock()
	defer w.e.logMu.Unlock()
	return w.e.log.Write(p)
}

func (e *macRig) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

// seedBalance is an account's opening balance in minor units.
func (e *macRig) seedBalance(t *testing.T, account string) int64 {
	t.Helper()
	for _, c := range e.seed.Customers {
		for _, a := range c.Accounts {
			if a.ID == account {
				return a.Balance * e.cur.Major()
			}
		}
	}
	t.Fatalf("no account %s in the seed", account)
	return 0
}

// chipCardOf is what a chip reader reads from a seed card (as the scenario
// driver builds it).
func chipCardOf(c seed.Card) cardreader.Card {
	return cardreader.Card{
		PAN: c.PAN, PANSeq: fmt.Sprintf("%03d", c.PANSeq), Expiry: c.Expiry,
		Track2: c.PAN + "=" + c.Expiry + "201" + "0000000000", Name: c.Name, Technology: cardreader.Chip,
	}
}

// waitRecord waits until the journal has a record of kind whose fields
// include want.
func (e *macRig) waitRecord(ctx context.Context, kind string, want map[string]string) error {
	_, err := e.wait(ctx, func(r journal.Record) bool {
		if r.Kind != kind {
			return false
		}
		for k, v := range want {
			if r.Fields[k] != v {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("no journal record %s %v: %w", kind, want, err)
	}
	return nil
}

// waitFirst waits for a record of any of kinds and returns the first.
func (e *macRig) waitFirst(ctx context.Context, kinds ...string) (journal.Record, error) {
	r, err := e.wait(ctx, func(r journal.Record) bool { return slices.Contains(kinds, r.Kind) })
	if err != nil {
		return r, fmt.Errorf("no journal record %v: %w", kinds, err)
	}
	return r, nil
}

// wait returns the first journal record that matches, waiting for one
// to be appended until ctx ends.
func (e *macRig) wait(ctx context.Context, match func(journal.Record) bool) (journal.Record, error) {
	j := e.d.Journal
	sub, stop := j.Subscribe()
	defer stop()
	for {
		// Subscribed first, then looked: a record appended in between
		// is in Records or wakes the loop.
		if recs := j.Records(match); len(recs) > 0 {
			return recs[0], nil
		}
		select {
		case <-sub:
		case <-ctx.Done():
			var kinds []string
			for _, r := range j.Records(nil) {
				kinds = append(kinds, r.Kind)
			}
			return journal.Record{}, fmt.Errorf("%w (journal: %s)", ctx.Err(), strings.Join(kinds, ", "))
		}
	}
}

// expectScreen waits for the screen id to be shown after the last screen
// looked at, and returns it.
func (e *macRig) expectScreen(ctx context.Context, t *testing.T, id string) display.Screen {
	t.Helper()
	var seen []string
	for {
		s, i, err := e.d.Sim.Display.Next(ctx, e.screen)
		if err != nil {
			t.Fatalf("screen %s not shown (saw %v): %v", id, seen, err)
		}
		e.screen = i
		if s.ID == id {
			return s
		}
		seen = append(seen, s.ID)
	}
}

// choose waits for screen id and presses the key of its menu item.
func (e *macRig) choose(ctx context.Context, t *testing.T, id, item string) {
	t.Helper()
	s := e.expectScreen(ctx, t, id)
	for _, m := range s.Menu {
		if m.ID == item {
			e.press(ctx, t, pinpad.Key(m.Key))
			return
		}
	}
	t.Fatalf("screen %s has no item %s: %+v", id, item, s.Menu)
}

func (e *macRig) press(ctx context.Context, t *testing.T, keys ...pinpad.Key) {
	t.Helper()
	if err := e.d.Sim.PinPad.Press(ctx, keys...); err != nil {
		t.Fatalf("PIN pad (entry %q, screen %s): %v", e.d.Sim.PinPad.Active(), e.d.Sim.Display.Current().ID, err)
	}
}

// advance lets simulated time pass a second at a time, so every timer
// fires at its moment and the ATM reacts to each before the next.
func (e *macRig) advance(ctx context.Context, d time.Duration) error {
	if err := e.d.Runner.Tick(ctx); err != nil {
		return err
	}
	for d > 0 {
		s := min(d, time.Second)
		e.clk.Advance(s)
		d -= s
		if err := e.d.Runner.Tick(ctx); err != nil {
			return err
		}
	}
	return nil
}

// tamperProxy forwards the host link both ways, frame by frame. When
// armed it alters the next 0210 from the host: field 39 "00" becomes
// "05", one character, field 128 left as the host computed it. It
// reports the result on tampered.
type tamperProxy struct {
	t        *testing.T
	ln       net.Listener
	upstream string
	armed    atomic.Bool
	tampered chan error

	mu     sync.Mutex
	closed bool
	conns  []net.Conn
	toHost []string // MTIs of the frames forwarded to the host
	wg     sync.WaitGroup
}

func startTamperProxy(t *testing.T, upstream string) *tamperProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tamperProxy{t: t, ln: ln, upstream: upstream, tampered: make(chan error, 1)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *tamperProxy) addr() string { return p.ln.Addr().String() }

func (p *tamperProxy) accept() {
	defer p.wg.Done()
	for {
		atmConn, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		hostConn, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			atmConn.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			atmConn.Close()
			hostConn.Close()
			return
		}
		p.conns = append(p.conns, atmConn, hostConn)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pump(atmConn, hostConn, true)
		go p.pump(hostConn, atmConn, false)
	}
}

// pump copies frames from src to dst until either side closes, then
// closes both.
func (p *tamperProxy) pump(src, dst net.Conn, toHost bool) {
	defer p.wg.Done()
	defer src.Close()
	defer dst.Close()
	for {
		b, err := hostlink.ReadFrame(src, 0)
		if err != nil {
			return
		}
		mti := string(b[:min(4, len(b))])
		if toHost {
			p.mu.Lock()
			p.toHost = append(p.toHost, mti)
			p.mu.Unlock()
		} else if mti == hostlink.MTIFinResponse && p.armed.CompareAndSwap(true, false) {
			var err error
			b, err = alterResponseCode(b)
			p.tampered <- err
		}
		if err := hostlink.WriteFrame(dst, b); err != nil {
			return
		}
	}
}

// alterResponseCode turns field 39 "00" into "05" and checks that
// exactly one byte changed and that field 128 is the host's.
func alterResponseCode(b []byte) ([]byte, error) {
	m, err := hostlink.Unpack(b)
	if err != nil {
		return nil, err
	}
	if m.RespCode != hostlink.RCApproved {
		return nil, fmt.Errorf("the host answered rc %s, not an approval", m.RespCode)
	}
	if len(m.MAC) == 0 {
		return nil, errors.New("the host's 0210 has no MAC")
	}
	m.RespCode = hostlink.RCDoNotHonour
	out, err := hostlink.Pack(m) // m.MAC as the host computed it
	if err != nil {
		return nil, err
	}
	diff := 0
	for i := range min(len(b), len(out)) {
		if b[i] != out[i] {
			diff++
		}
	}
	if len(out) != len(b) || diff != 1 {
		return nil, fmt.Errorf("altering field 39 changed %d bytes and the length from %d to %d", diff, len(b), len(out))
	}
	return out, nil
}

func (p *tamperProxy) sentToHost() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.toHost)
}

func (p *tamperProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
