package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/failpoint"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/netfault"
)

// Defaults for the zero fields of Options.
const (
	DefaultConfig           = "configs/sim.yaml"
	DefaultKills            = 20
	DefaultNetWithdrawals   = 3
	DefaultTimeout          = 10 * time.Minute
	DefaultIterationTimeout = 45 * time.Second
)

// The ATM's host link and timers in the suite: short, so a run is quick,
// and in proportion (the slow host answers after the timeout, the
// reordering proxy holds a response well within it).
const (
	linkTimeout  = 2 * time.Second
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = time.Second
	killEcho     = 30 * time.Second       // kill runs: echoes only when idle for long
	netEcho      = 100 * time.Millisecond // net runs: echoes to be reordered with the responses
	slowDelay    = linkTimeout + time.Second
	reorderHold  = 300 * time.Millisecond
	messageTimer = time.Second          // notices and goodbye
	pickDelay    = 5 * time.Millisecond // per note, so mid-dispense can be hit
	notesPerTxn  = 3                    // notes in every withdrawal
)

// Options configure Run.
type Options struct {
	// Config is the base config: the ATM's devices and keys, and a host
	// section for the reference host (its seed, keys and terminals).
	// DefaultConfig when empty.
	Config string
	// Binary is the atmd executable to run; os.Executable() when empty.
	Binary string
	// Kills is the number of kills per failpoint; DefaultKills when zero,
	// none when negative.
	Kills int
	// Points are the failpoints to kill at; every one
	// (failpoint.Points) when empty.
	Points []string
	// Net runs the network faults too, NetWithdrawals withdrawals per
	// mode (DefaultNetWithdrawals when zero) in every mode of NetModes
	// (netfault.Modes when empty).
	Net            bool
	NetModes       []netfault.Mode
	NetWithdrawals int
	// Dir is the work directory (state, journal, host database, logs);
	// kept afterwards. When empty a temporary one is made, removed after
	// a run that passed and kept after one that failed.
	Dir string
	// Timeout bounds the whole run (DefaultTimeout), IterationTimeout
	// each kill and each withdrawal (DefaultIterationTimeout).
	Timeout          time.Duration
	IterationTimeout time.Duration
	// Progress, when set, receives a line per iteration.
	Progress io.Writer
}

// ErrSetup: the suite could not be set up (bad options or config, no
// binary, no work directory); nothing was tested.
var ErrSetup = errors.New("faults: setup")

// harness is one run.
type harness struct {
	o     Options
	base  *atm.Config
	cur   currency.Currency
	dir   string
	state string // the ATM's state dir
	sock  string
	jpath string // the ATM's journal
	dpath string // the dispenser's state file

	host     *host.Host
	hostAddr string
	hostLog  *hostLog
	hostStop context.CancelFunc
	hostDone chan error
	tap      *wireTap

	atmdLog *os.File
	procs   int    // atmd processes started (log numbering)
	starts  int    // ...that started
	stops   int    // ...stopped by SIGTERM with exit code 0
	live    *child // the process running now, for cleanup

	killRecords        int      // kills whose last record was found on disk
	killRecordProblems []string // ...and those whose was not

	amount int64 // minor units per withdrawal
	denom  int64 // minor units per note
	cards  []*cardPlan
	nonces []nonceSample
	rep    *Report
}

// cardPlan is a seed card the suite withdraws with, and what its account
// can still give.
type cardPlan struct {
	id      string
	pin     seed.PIN
	account string
	left    *int64 // minor units; shared by the cards of one account
}

// nonceSample is the dispenser's nonce counter after a process ended.
type nonceSample struct {
	after   string // what had just happened
	counter uint64
	grow    bool // a withdrawal ran: the counter must have grown
}

// Run runs the suite and returns its report; the report's OK says
// whether every check passed. The error is for a suite that could not
// run at all (wrapping ErrSetup) — failures found by the run are in the
// report, never an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	h := &harness{o: o, rep: &Report{Start: time.Now(), Config: o.Config}}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := h.setup(ctx); err != nil {
		h.close()
		if o.Dir == "" && h.dir != "" {
			os.RemoveAll(h.dir)
		}
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	err := h.run(ctx)
	if err != nil {
		h.rep.fail("run stopped: %v", err)
	}
	h.check(context.WithoutCancel(ctx))
	h.close()
	h.rep.Duration = time.Since(h.rep.Start)
	if o.Dir == "" {
		if h.rep.OK() {
			os.RemoveAll(h.dir)
		} else {
			h.rep.Kept = true
		}
	} else {
		h.rep.Kept = true
	}
	return h.rep, nil
}

func (o *Options) defaults() error {
	if o.Config == "" {
		o.Config = DefaultConfig
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("%w: cannot find the atmd binary: %w", ErrSetup, err)
		}
		o.Binary = exe
	}
	if o.Kills == 0 {
		o.Kills = DefaultKills
	}
	o.Kills = max(o.Kills, 0)
	if len(o.Points) == 0 {
		o.Points = slices.Clone(failpoint.Points)
	}
	for _, p := range o.Points {
		if !slices.Contains(failpoint.Points, p) {
			return fmt.Errorf("%w: unknown failpoint %q (points: %s)", ErrSetup, p, strings.Join(failpoint.Points, ", "))
		}
	}
	if len(o.NetModes) == 0 {
		o.NetModes = slices.Clone(netfault.Modes)
	}
	for _, m := range o.NetModes {
		if _, err := netfault.ParseMode(string(m)); err != nil || m == netfault.Pass {
			return fmt.Errorf("%w: network fault mode %q (modes: drop, slow, duplicate, reorder)", ErrSetup, m)
		}
	}
	if fi, err := os.Stat(o.Binary); err != nil || fi.IsDir() {
		return fmt.Errorf("%w: no atmd binary at %s", ErrSetup, o.Binary)
	}
	if o.Kills == 0 && !o.Net {
		return fmt.Errorf("%w: nothing to run: no kills and no network faults", ErrSetup)
	}
	if o.NetWithdrawals <= 0 {
		o.NetWithdrawals = DefaultNetWithdrawals
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.IterationTimeout <= 0 {
		o.IterationTimeout = DefaultIterationTimeout
	}
	return nil
}

// withdrawals is how many withdrawals the run makes at most.
func (o *Options) withdrawals() int {
	n := o.Kills * len(o.Points)
	if o.Net {
		n += o.NetWithdrawals * len(o.NetModes)
	}
	return n
}

func (h *harness) progress(format string, args ...any) {
	if h.o.Progress != nil {
		fmt.Fprintf(h.o.Progress, format+"\n", args...)
	}
}

// setup loads the base config, makes the work directory, plans the
// cards and starts the reference host.
func (h *harness) setup(ctx context.Context) error {
	var err error
	if h.base, err = atm.LoadConfig(h.o.Config); err != nil {
		return err
	}
	if h.base.Host == nil {
		return fmt.Errorf("config %s has no host section: the suite runs the reference host from it", h.o.Config)
	}
	if !slices.ContainsFunc(h.base.Host.Terminals, func(t host.Terminal) bool { return t.ID == h.base.ATM.ID }) {
		return fmt.Errorf("config %s: the host does not serve terminal %s", h.o.Config, h.base.ATM.ID)
	}
	if h.cur, err = currency.ByAlpha(h.base.ATM.Currency); err != nil {
		return err
	}
	// The smallest note of the base config; every withdrawal is
	// notesPerTxn of them, from one cassette.
	var denom int64
	for _, c := range h.base.Devices.Dispenser.Cassettes {
		if denom == 0 || c.Denomination < denom {
			denom = c.Denomination
		}
	}
	h.denom = denom * h.cur.Major()
	h.amount = notesPerTxn * h.denom
	if h.amount/h.cur.Major() > h.base.ATM.MaxAmount {
		return fmt.Errorf("a withdrawal of %s is above atm.max_amount", h.cur.Format(h.amount))
	}

	if h.o.Dir != "" {
		h.dir, err = filepath.Abs(h.o.Dir)
		if err == nil {
			err = os.MkdirAll(h.dir, 0o700)
		}
	} else {
		h.dir, err = os.MkdirTemp("", "atmd-faults-")
	}
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	h.rep.Dir = h.dir
	if entries, _ := os.ReadDir(h.dir); len(entries) > 0 {
		return fmt.Errorf("work directory %s is not empty", h.dir)
	}
	h.state = filepath.Join(h.dir, "state")
	h.sock = filepath.Join(h.state, "atmd.sock")
	h.jpath = filepath.Join(h.state, "journal.jsonl")
	h.dpath = filepath.Join(h.state, "dispenser.json")
	if len(h.sock) > 100 { // sun_path holds about 104 bytes
		return fmt.Errorf("control socket %s: path too long for a unix socket; use a shorter work directory", h.sock)
	}
	if h.atmdLog, err = os.OpenFile(filepath.Join(h.dir, "atmd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	if err := h.planCards(); err != nil {
		return err
	}
	return h.startHost(ctx)
}

// planCards picks the seed's usable cards (active, not expired, an
// account in the ATM's currency) and what each account can give: the
// smaller of its balance and its daily limit.
func (h *harness) planCards() error {
	sd, err := seed.Load(h.base.Host.Seed)
	if err != nil {
		return err
	}
	now := time.Now().Format("0601")
	left := map[string]*int64{}
	total := int64(0)
	for _, cu := range sd.Customers {
		for _, a := range cu.Accounts {
			if a.Currency != h.cur.Alpha {
				continue
			}
			v := min(a.Balance, a.DailyLimit) * h.cur.Major()
			left[a.ID] = &v
			total += v / h.amount * h.amount
		}
	}
	for _, cu := range sd.Customers {
		for _, c := range cu.Cards {
			l, ok := left[c.Account]
			// Expiry and now are both YYMM, so they compare as strings.
			if !ok || c.Status != seed.StatusActive || c.Expiry < now || c.PIN == "" {
				continue
			}
			h.cards = append(h.cards, &cardPlan{id: c.ID, pin: c.PIN, account: c.Account, left: l})
		}
	}
	if need := int64(h.o.withdrawals()) * h.amount; need > total || len(h.cards) == 0 {
		return fmt.Errorf("the seed's active cards can fund %s, the run needs %s (%d withdrawals of %s): use fewer kills",
			h.cur.Format(total), h.cur.Format(need), h.o.withdrawals(), h.cur.Format(h.amount))
	}
	return nil
}

// nextCard returns a card whose account can still give a withdrawal.
func (h *harness) nextCard() (*cardPlan, error) {
	for _, c := range h.cards {
		if *c.left >= h.amount {
			*c.left -= h.amount
			return c, nil
		}
	}
	return nil, errors.New("faults: no seed card can fund another withdrawal")
}

// startHost creates the host's database from the seed in the work
// directory and serves it on a free loopback port, in this process.
func (h *harness) startHost(ctx context.Context) error {
	f, err := os.OpenFile(filepath.Join(h.dir, "host.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	h.hostLog = newHostLog(f)
	hc := *h.base.Host
	hc.DB = filepath.Join(h.dir, "host.db")
	hc.Listen = "127.0.0.1:0"
	hc.TLS = nil // the fault proxy reads the frames: plain TCP
	hh, err := host.New(hc, host.WithReset(), host.WithLogger(zerolog.New(h.hostLog).With().Timestamp().Logger()))
	if err != nil {
		f.Close()
		return err
	}
	if err := hh.Open(ctx); err != nil {
		f.Close()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hh.Close()
		f.Close()
		return fmt.Errorf("host: listen: %w", err)
	}
	h.host, h.hostAddr = hh, ln.Addr().String()
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h.hostStop, h.hostDone = stop, make(chan error, 1)
	go func() { h.hostDone <- hh.Serve(hctx, ln) }()
	return nil
}

// close stops whatever still runs: an atmd process, the host.
func (h *harness) close() {
	h.live.kill()
	if h.hostStop != nil {
		h.hostStop()
		<-h.hostDone
		h.hostStop = nil
	}
	if h.host != nil {
		h.host.Close()
	}
	if h.atmdLog != nil {
		h.atmdLog.Close()
	}
	if h.hostLog != nil {
		if f, ok := h.hostLog.w.(*os.File); ok {
			f.Close()
		}
	}
}

// writeConfig writes the ATM's config for a host address and echo
// interval and returns its path.
func (h *harness) writeConfig(name, addr string, echo time.Duration) (string, error) {
	base, err := os.ReadFile(h.o.Config)
	if err != nil {
		return "", err
	}
	out, err := deriveConfig(base, atmParams{
		StateDir: h.state, Socket: h.sock, HostAddr: addr, Seed: h.base.Host.Seed,
		Timeout: linkTimeout, MinBackoff: minBackoff, MaxBackoff: maxBackoff, Echo: echo,
		Message: messageTimer, PickDelay: pickDelay,
		FastAmount: h.amount / h.cur.Major(), Denomination: h.denom / h.cur.Major(),
		Notes: notesPerTxn*h.o.withdrawals() + 100,
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(h.dir, name)
	return path, os.WriteFile(path, out, 0o600)
}

// proxy runs a netfault proxy in front of the host until ctx ends.
func (h *harness) proxy(ctx context.Context, mode netfault.Mode) (*netfault.Proxy, func(), error) {
	p, err := netfault.Listen("127.0.0.1:0", netfault.Options{
		Target: h.hostAddr, Mode: mode, Delay: slowDelay, MaxHold: reorderHold, Observe: h.tap.observe,
	})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Serve(ctx)
	}()
	return p, func() { cancel(); wg.Wait() }, nil
}

// run runs every failpoint, then every network fault.
func (h *harness) run(ctx context.Context) error {
	h.tap = newWireTap()
	if h.o.Kills > 0 && len(h.o.Points) > 0 {
		// Kill runs go through a pass-through proxy: it taps the nonces
		// and the reversal advices on the wire.
		p, stop, err := h.proxy(ctx, netfault.Pass)
		if err != nil {
			return err
		}
		defer stop()
		cfg, err := h.writeConfig("atmd.yaml", p.Addr(), killEcho)
		if err != nil {
			return err
		}
		for _, point := range h.o.Points {
			if err := h.runPoint(ctx, cfg, point); err != nil {
				return err
			}
		}
		stop()
	}
	if h.o.Net {
		for _, mode := range h.o.NetModes {
			if err := h.runNet(ctx, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// mark is where the ATM and the host stand between two phases.
type mark struct {
	seq  uint64 // last journal record
	term host.TerminalReport
	disp dispState
}

func (h *harness) mark(ctx context.Context) (mark, error) {
	var m mark
	recs, err := journal.ReadFile(h.jpath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return m, err
	}
	if len(recs) > 0 {
		m.seq = recs[len(recs)-1].Seq
	}
	rep, err := h.host.Reconcile(ctx)
	if err != nil {
		return m, err
	}
	m.term = rep.Terminal(h.base.ATM.ID, h.cur.Alpha)
	if _, err := os.Stat(h.dpath); err == nil {
		if m.disp, err = readDispState(h.dpath); err != nil {
			return m, err
		}
	}
	return m, nil
}

// since returns the journal records after m.
func (h *harness) since(m mark) ([]journal.Record, error) {
	recs, err := journal.ReadFile(h.jpath)
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearchFunc(recs, m.seq+1, func(r journal.Record, seq uint64) int { return int(r.Seq) - int(seq) })
	return recs[i:], nil
}

func figures(a, b mark) Figures {
	return Figures{
		Approved: b.term.Approved - a.term.Approved, ApprovedCount: b.term.ApprovedCount - a.term.ApprovedCount,
		Reversed: b.term.Reversed - a.term.Reversed, ReversedCount: b.term.ReversedCount - a.term.ReversedCount,
		Dispensed: b.term.Dispensed - a.term.Dispensed, Notes: b.disp.notesOut() - a.disp.notesOut(),
	}
}

// sampleNonce records the dispenser's nonce counter after a process
// ended.
func (h *harness) sampleNonce(after string, grow bool) {
	s, err := readDispState(h.dpath)
	if err != nil {
		h.rep.fail("%s: %v", after, err)
		return
	}
	h.nonces = append(h.nonces, nonceSample{after: after, counter: s.Nonces, grow: grow})
}

// stepLine is one scenario line, and how to name it (a PIN step must
// not show its digits).
type stepLine struct{ line, what string }

// withdrawal is a whole withdrawal with card c, without a receipt.
func (h *harness) withdrawal(c *cardPlan) []stepLine {
	amt := "amount-" + strconv.FormatInt(h.amount/h.cur.Major(), 10)
	return []stepLine{
		{"insert card " + c.id, "insert card " + c.id},
		{"enter " + string(c.pin), "enter PIN"},
		{"press enter", "press enter"},
		{"choose withdrawal", "choose withdrawal"},
		{"choose " + amt, "choose " + amt},
		{"choose no", "choose no (receipt)"},
		{"take card", "take card"},
		{"take cash", "take cash"},
	}
}

// stepsTo is how many steps of a withdrawal it takes to reach point: the
// process must die during or soon after the last of them.
func stepsTo(point string) int {
	switch point {
	case failpoint.CashPresented:
		return 7 // the card taken, the cash is presented
	case failpoint.CashTaken:
		return 8
	}
	return 6 // the request goes as the receipt question is answered
}

func inService(s atm.Snapshot) bool { return s.Service == "in-service" }

func idle(s atm.Snapshot) bool {
	return s.Service == "in-service" && s.State == string(flows.Idle)
}

func settled(s atm.Snapshot) bool { return idle(s) && s.SAFPending == 0 }

// runPoint kills atmd at point Kills times, each time followed by a
// recovery run.
func (h *harness) runPoint(ctx context.Context, cfg, point string) error {
	pr := PointReport{Point: point, Recovery: map[string]int{}}
	before, err := h.mark(ctx)
	if err != nil {
		return err
	}
	start, wire := time.Now(), h.tap.figures().Requests
	var runErr error
	for i := 1; i <= h.o.Kills && runErr == nil; i++ {
		pr.Iterations++
		t := time.Now()
		killed, err := h.killOnce(ctx, cfg, point, i)
		if killed {
			pr.Kills++
		} else {
			pr.Failures++
		}
		runErr = err
		h.progress("%-17s %2d/%d  %-18s %v", point, i, h.o.Kills, map[bool]string{true: "killed, recovered", false: "FAILED"}[killed && err == nil], time.Since(t).Round(time.Millisecond))
	}
	pr.Duration = time.Since(start)
	pr.OnWire = h.tap.figures().Requests - wire
	after, err := h.mark(context.WithoutCancel(ctx))
	if err != nil {
		return errors.Join(runErr, err)
	}
	pr.Ledger = figures(before, after)
	recs, err := h.since(before)
	if err != nil {
		return errors.Join(runErr, err)
	}
	for _, r := range recs {
		switch r.Kind {
		case "RECOVERED":
			pr.Recovery[r.Fields["action"]]++
		case "REVERSAL-ACKED":
			pr.Reversals++
		}
	}
	h.rep.Points = append(h.rep.Points, pr)
	return runErr
}

// killOnce runs one withdrawal with the failpoint armed, expects atmd to
// die of SIGKILL there, then runs atmd again until it has recovered. It
// reports whether the process died as expected; an error means the ATM
// did not recover and the run cannot go on.
func (h *harness) killOnce(ctx context.Context, cfg, point string, i int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.o.IterationTimeout)
	defer cancel()
	name := fmt.Sprintf("%s #%d", point, i)
	card, err := h.nextCard()
	if err != nil {
		return false, err
	}
	before, err := h.lastSeq()
	if err != nil {
		return false, err
	}
	c, err := h.spawn(cfg, point)
	if err != nil {
		return false, err
	}
	killed := false
	if _, err := c.await(ctx, "in service", inService); err != nil {
		h.rep.fail("%s: atmd with the failpoint armed: %v", name, err)
		c.kill()
	} else {
		var stepErr error
		for _, st := range h.withdrawal(card)[:stepsTo(point)] {
			if stepErr = c.step(ctx, st.line, st.what); stepErr != nil {
				break
			}
		}
		// The point is hit by now, or a moment after the last step.
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		werr := c.wait(wctx)
		wcancel()
		switch {
		case werr != nil:
			why := "every step done"
			if stepErr != nil {
				why = stepErr.Error()
			}
			h.rep.fail("%s: the failpoint was never hit: atmd still runs (%s)", name, why)
			c.kill()
		case !c.killedBySIGKILL():
			h.rep.fail("%s: atmd ended with %s, not SIGKILL at the failpoint", name, c.how())
		default:
			killed = true
			h.checkKillRecord(name, point, before)
		}
	}
	// Every failpoint comes after the nonce for the withdrawal was issued.
	h.sampleNonce(name+": killed", killed)
	return killed, h.recoverOnce(ctx, cfg, name)
}

// killRecords are the journal records written just before atmd reaches
// each failpoint: after the kill, the record must be on disk.
var killRecords = map[string]struct{ kind, outcome string }{
	failpoint.BeforeSend:       {kind: "HOST-SEND"},
	failpoint.RequestSent:      {kind: "HOST-SEND"},
	failpoint.ApprovalReceived: {kind: "TXN-REPLY", outcome: string(flows.Approved)},
	failpoint.MidDispense:      {kind: "DISPENSE-INTENT"},
	failpoint.CashPresented:    {kind: "CASH-PRESENTED"},
	failpoint.CashTaken:        {kind: "CASH-TAKEN"},
}

// lastSeq is the sequence number of the journal's last record, 0 when
// there is no journal yet.
func (h *harness) lastSeq() (uint64, error) {
	recs, err := journal.ReadFile(h.jpath)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return recs[len(recs)-1].Seq, nil
}

// checkKillRecord checks that the killed process's journal holds the
// record it wrote just before the failpoint.
func (h *harness) checkKillRecord(name, point string, before uint64) {
	want, ok := killRecords[point]
	if !ok {
		return
	}
	recs, err := h.since(mark{seq: before})
	if err != nil {
		h.killRecordProblems = append(h.killRecordProblems, fmt.Sprintf("%s: %v", name, err))
		return
	}
	for _, r := range recs {
		if r.Kind == want.kind && (want.outcome == "" || r.Fields["outcome"] == want.outcome) {
			h.killRecords++
			return
		}
	}
	h.killRecordProblems = append(h.killRecordProblems, fmt.Sprintf("%s: the %s record written just before the kill is not in the journal", name, want.kind))
}

// recoverOnce starts atmd without a failpoint, waits until it has
// recovered (in service, idle, no advice pending) and stops it with
// SIGTERM.
func (h *harness) recoverOnce(ctx context.Context, cfg, name string) error {
	c, err := h.spawn(cfg, "")
	if err != nil {
		return err
	}
	if _, err := c.await(ctx, "recovery (in service, idle, no advice pending)", settled); err != nil {
		c.kill()
		return fmt.Errorf("faults: %s: restart: %w", name, err)
	}
	if err := c.terminate(ctx); err != nil {
		return fmt.Errorf("faults: %s: restart: %w", name, err)
	}
	h.stops++
	h.sampleNonce(name+": recovered", false)
	return nil
}

// runNet runs NetWithdrawals withdrawals through a proxy in mode, in one
// atmd process.
func (h *harness) runNet(ctx context.Context, mode netfault.Mode) error {
	nr := NetReport{Mode: mode}
	start := time.Now()
	defer func() {
		nr.Duration = time.Since(start)
		h.rep.Net = append(h.rep.Net, nr)
	}()
	p, stop, err := h.proxy(ctx, mode)
	if err != nil {
		return err
	}
	defer stop()
	cfg, err := h.writeConfig("atmd-"+string(mode)+".yaml", p.Addr(), netEcho)
	if err != nil {
		return err
	}
	before, err := h.mark(ctx)
	if err != nil {
		return err
	}
	c, err := h.spawn(cfg, "")
	if err != nil {
		return err
	}
	defer c.kill()
	for i := 1; i <= h.o.NetWithdrawals; i++ {
		t := time.Now()
		cash, err := h.netWithdrawal(ctx, c)
		nr.Withdrawals++
		if cash {
			nr.WithCash++
		}
		what := map[bool]string{true: "cash", false: "no cash"}[cash]
		if err != nil {
			what = "FAILED"
			h.rep.fail("net %s #%d: %v", mode, i, err)
		}
		h.progress("net %-13s %2d/%d  %-18s %v", mode, i, h.o.NetWithdrawals, what, time.Since(t).Round(time.Millisecond))
		if err != nil {
			break
		}
	}
	// Every late response delivered, every reversal acknowledged.
	sctx, cancel := context.WithTimeout(ctx, h.o.IterationTimeout)
	defer cancel()
	if err := p.Settle(sctx); err != nil {
		h.rep.fail("net %s: %v", mode, err)
	}
	if _, err := c.await(sctx, "the ATM to settle (idle, no advice pending)", settled); err != nil {
		return fmt.Errorf("faults: net %s: %w", mode, err)
	}
	if err := c.terminate(sctx); err != nil {
		return fmt.Errorf("faults: net %s: %w", mode, err)
	}
	h.stops++
	h.sampleNonce("net "+string(mode), nr.Withdrawals > 0)
	stop()
	nr.Proxy = p.Stats()
	after, err := h.mark(ctx)
	if err != nil {
		return err
	}
	nr.Ledger = figures(before, after)
	recs, err := h.since(before)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Kind == "REVERSAL-ACKED" {
			nr.Reversals++
		}
	}
	h.expectNet(&nr)
	return nil
}

// expectNet checks what each network fault must lead to.
func (h *harness) expectNet(nr *NetReport) {
	n, s := nr.Withdrawals, nr.Proxy
	bad := func(format string, args ...any) {
		h.rep.fail("net %s: "+format, append([]any{nr.Mode}, args...)...)
	}
	switch nr.Mode {
	case netfault.Drop:
		if nr.WithCash > 0 {
			bad("%d withdrawals gave cash although the link dropped before every answer", nr.WithCash)
		}
		if s.Dropped < n {
			bad("%d connections dropped for %d withdrawals", s.Dropped, n)
		}
	case netfault.Slow:
		if nr.WithCash > 0 {
			bad("%d late approvals led to cash", nr.WithCash)
		}
		if s.Delayed < n || s.Lost > 0 && s.Delayed-s.Lost < n {
			bad("%d approvals delivered late (%d delayed, %d lost) for %d withdrawals", s.Delayed-s.Lost, s.Delayed, s.Lost, n)
		}
	case netfault.Duplicate:
		if nr.WithCash != n {
			bad("%d of %d withdrawals gave cash; duplicated responses must not stop a withdrawal", nr.WithCash, n)
		}
		if s.Duplicated == 0 {
			bad("no response was duplicated")
		}
	case netfault.Reorder:
		if nr.WithCash != n {
			bad("%d of %d withdrawals gave cash; reordered responses must not stop a withdrawal", nr.WithCash, n)
		}
		if n > 0 && s.Reordered == 0 {
			bad("no response was reordered")
		}
	}
}

// netWithdrawal makes one withdrawal, whatever the host link does to it,
// and reports whether cash was presented (and taken).
func (h *harness) netWithdrawal(ctx context.Context, c *child) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.o.IterationTimeout)
	defer cancel()
	card, err := h.nextCard()
	if err != nil {
		return false, err
	}
	if _, err := c.await(ctx, "in service and idle", idle); err != nil {
		return false, err
	}
	steps := h.withdrawal(card)
	for _, st := range steps[:6] {
		if err := c.step(ctx, st.line, st.what); err != nil {
			return false, err
		}
	}
	// The card comes back before the cash, or at the end of a
	// transaction that failed.
	if _, err := c.await(ctx, "the card to be given back", func(s atm.Snapshot) bool {
		st := flows.State(s.State)
		return st == flows.CardBeforeCash || st == flows.Ending
	}); err != nil {
		return false, err
	}
	if err := c.step(ctx, steps[6].line, steps[6].what); err != nil {
		return false, err
	}
	s, err := c.await(ctx, "the cash or the end of the session", func(s atm.Snapshot) bool {
		st := flows.State(s.State)
		return st != flows.CardBeforeCash && st != flows.Ending
	})
	if err != nil {
		return false, err
	}
	cash := flows.State(s.State) == flows.TakeCash
	if cash {
		if err := c.step(ctx, steps[7].line, steps[7].what); err != nil {
			return false, err
		}
	}
	_, err = c.await(ctx, "the session to end", idle)
	return cash, err
}
