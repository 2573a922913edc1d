package atm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/saf"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/failpoint"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/maint"
	"github.com/atmd/atmd/sim/host"
)

// DaemonOptions adjust Start for tests and the scenario runner.
type DaemonOptions struct {
	Clock       clock.Clock // default clock.Real
	ManualTicks bool        // see Options.ManualTicks
	Log         zerolog.Logger
	// ResetHost rebuilds the reference host's database from the seed.
	ResetHost bool
	// NoControl skips the control socket.
	NoControl bool
	// Extend, when set, runs once the daemon is assembled and before its
	// control socket serves: the place to set ControlHook without a race.
	Extend func(d *Daemon) error
	// Observe taps every host message (after the journal's own tap).
	Observe func(dir hostlink.Direction, m *hostlink.Message)
	// DevicePoll, when positive, is how often the drivers of devices on
	// their wire simulators (port sim) check the device and reach for
	// one that went away; see DeviceOptions.Poll.
	DevicePoll time.Duration
}

// Daemon is a running atmd: devices, journal, host link, runner, and the
// reference host when the config has one.
type Daemon struct {
	Config  *Config
	Runner  *Runner
	Devices Devices
	Sim     *SimDevices
	Journal *journal.Journal
	SAF     *saf.Queue
	// Evidence delivers evidence stills to the host (evidence.go).
	Evidence *EvidenceQueue
	// Web is the customer screen's page (nil when there is none); URL
	// gives its address.
	Web    *webscreen.Dev
	Link   *hostlink.Client
	Maint  *maint.Supervisor // supervisor mode and the maintenance menu
	Host   *host.Host
	HostLn net.Listener

	cancel  context.CancelFunc
	lock    *os.File   // flock on the state dir, held for the daemon's life
	devices *DeviceSet // closed by Stop, after the runner halted them

	msgMu sync.Mutex
	msgs  []HostMsg // recent host messages, without card data
	// ControlHook handles control requests the daemon does not know
	// itself (cmd/atmd plugs the scenario verbs in here).
	ControlHook func(ctx context.Context, req ControlRequest) ControlResponse
	wg          sync.WaitGroup
	mu          sync.Mutex
	errs        []error
	log         zerolog.Logger
}

// Start brings the daemon up. On error everything already started is
// stopped again.
func Start(ctx context.Context, cfg *Config, o DaemonOptions) (_ *Daemon, err error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &Daemon{Config: cfg, cancel: cancel, log: o.Log}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	state := cfg.Path(cfg.ATM.StateDir)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("atm: state dir: %w", err)
	}
	// One atmd per state dir: a second one would write into the first's
	// journal and fight over the devices.
	if d.lock, err = lockDir(state); err != nil {
		return nil, err
	}
	if d.Journal, err = journal.Open(filepath.Join(state, "journal.jsonl"), journal.Options{Now: o.Clock.Now}); err != nil {
		return nil, err
	}
	if d.Journal.Recovered != "" {
		o.Log.Warn().Str("detail", d.Journal.Recovered).Msg("journal tail recovered")
	}
	boot, err := d.Journal.Append("STARTUP", "", map[string]string{"atm": cfg.ATM.ID})
	if err != nil {
		return nil, err
	}

	if cfg.Host != nil {
		if err := d.startHost(ctx, o); err != nil {
			return nil, err
		}
	}
	if d.devices, err = OpenDevices(ctx, cfg, DeviceOptions{Clock: o.Clock, Log: o.Log, StateDir: state, Poll: o.DevicePoll}); err != nil {
		return nil, err
	}
	devs := d.devices.Devices
	d.Devices, d.Sim = devs, d.devices.Sim
	for name, drv := range d.devices.Drivers {
		o.Log.Debug().Str("device", name).Str("driver", drv).Msg("device opened")
	}
	stan, err := openSTAN(filepath.Join(state, "stan"))
	if err != nil {
		return nil, err
	}
	j := d.Journal
	d.SAF, err = saf.Open(filepath.Join(state, "saf.jsonl"), saf.Options{
		Clock: o.Clock, MinBackoff: cfg.HostLink.MinBackoff, MaxBackoff: cfg.HostLink.MaxBackoff,
		Log: o.Log.With().Str("component", "saf").Logger(),
		OnAck: func(a saf.Advice, resp *hostlink.Message, attempts int) {
			j.Append("REVERSAL-ACKED", "", map[string]string{"txn": a.ID, "stan": a.Msg.STAN, "rc": resp.RespCode, "attempts": fmt.Sprint(attempts)})
		},
	})
	if err != nil {
		return nil, err
	}
	d.Evidence, err = OpenEvidence(filepath.Join(state, "evidence"), EvidenceOptions{
		Clock: o.Clock, MinBackoff: cfg.HostLink.MinBackoff, MaxBackoff: cfg.HostLink.MaxBackoff,
		Journal: d.Journal, Log: o.Log.With().Str("component", "evidence").Logger(),
	})
	if err != nil {
		return nil, err
	}
	// Before the first customer: settle whatever a crash left open.
	rec := &recovery{j: d.Journal, q: d.SAF, disp: devs.Dispenser, stan: stan, log: o.Log.With().Str("component", "recovery").Logger()}
	if err := rec.run(ctx); err != nil {
		return nil, err
	}
	// Keys: the master key into the PIN pad and the dispenser, working
	// keys from the host at every sign-on.
	// A real EPP and dispenser keep the master key they were loaded with
	// under dual control; a config gives it only for simulated ones.
	km := &keyManager{pad: devs.PinPad, disp: devs.Dispenser, j: d.Journal, log: o.Log.With().Str("component", "keys").Logger()}
	if mk := cfg.Devices.PinPad.MasterKey; len(mk) > 0 {
		if err := km.loadMaster(ctx, keyBytes(mk)); err != nil {
			return nil, err
		}
	}
	macer, ok := devs.PinPad.(pinpad.MACer)
	if !ok {
		return nil, fmt.Errorf("atm: the PIN pad cannot compute MACs")
	}
	var tlsConf *tls.Config
	if t := cfg.HostLink.TLS; t != nil {
		if tlsConf, err = hostlink.LoadClientTLS(t.CA, t.Cert, t.Key, t.ServerName); err != nil {
			return nil, err
		}
	}
	linkLog := o.Log.With().Str("component", "hostlink").Logger()
	d.Link = hostlink.NewClient(hostlink.Config{
		MAC: padMAC{pp: macer, key: keyMAC}, TLS: tlsConf,
		OnReject: func(m *hostlink.Message, reason error) {
			d.Journal.Append("HOST-MESSAGE-REJECTED", "", map[string]string{"msg": hostlink.Describe(m), "reason": reason.Error()})
		},
		Addr: cfg.HostLink.Addr, TerminalID: cfg.ATM.ID, AcceptorID: cfg.ATM.Institution,
		Timeout: cfg.HostLink.Timeout, EchoInterval: cfg.HostLink.EchoInterval,
		MinBackoff: cfg.HostLink.MinBackoff, MaxBackoff: cfg.HostLink.MaxBackoff,
		Clock: o.Clock, STAN: stan, Log: linkLog,
		Written: func(m *hostlink.Message) {
			if m.MTI == hostlink.MTIFinRequest {
				failpoint.Hit(failpoint.RequestSent) // the 0200 is on the wire
			}
		},
		Observe: func(dir hostlink.Direction, m *hostlink.Message) {
			linkLog.Debug().Str("dir", dir.String()).Str("msg", hostlink.Describe(m)).Msg("host message")
			d.record(dir, m)
			if o.Observe != nil {
				o.Observe(dir, m)
			}
		},
	})
	// The STARTUP record's sequence number tells this run from every
	// other: session and transaction ids carry it.
	flowConfig := cfg.FlowConfig()
	flowConfig.Boot = strconv.FormatUint(boot.Seq, 10)
	var sup *maint.Supervisor // told by the runner when supervisor mode begins and ends
	d.Runner, err = New(Options{
		Flows: flowConfig, Devices: devs, Link: d.Link, Journal: d.Journal,
		Clock: o.Clock, Log: o.Log.With().Str("component", "runner").Logger(), ManualTicks: o.ManualTicks,
		SAF: d.SAF, STAN: stan, OnLinkUp: km.exchange, OnSupervise: func(on bool) { sup.Supervising(on) },
		Evidence: d.Evidence,
	})
	if err != nil {
		return nil, err
	}
	if sup, err = d.newSupervisor(o.Clock, o.Log); err != nil {
		return nil, err
	}
	d.Maint = sup
	km.link = d.Link
	d.goRun("hostlink", func() error { return d.Link.Run(ctx) })
	d.goRun("runner", func() error { return d.Runner.Run(ctx) })
	d.goRun("saf", func() error { return d.SAF.Run(ctx, d.Runner.SendAdvice) })
	d.goRun("maint", func() error { return d.Maint.Run(ctx) })
	d.goRun("status-report", func() error { return d.reportStatus(ctx) })
	d.goRun("evidence", func() error { return d.Evidence.Run(ctx, d.Runner.SendAdvice, stan) })
	if err := d.startWeb(ctx, o.Log); err != nil {
		// The page is a view of the simulated screen, not the screen
		// itself: the ATM runs without it.
		o.Log.Warn().Err(err).Msg("customer screen page not served")
	}
	if o.Extend != nil {
		if err := o.Extend(d); err != nil {
			return nil, err
		}
	}
	if !o.NoControl {
		sock := cfg.Path(cfg.ATM.ControlSocket)
		d.goRun("control", func() error { return ServeControl(ctx, sock, d.control, o.Log) })
	}
	return d, nil
}

func (d *Daemon) startHost(ctx context.Context, o DaemonOptions) error {
	opts := []host.Option{host.WithClock(o.Clock), host.WithLogger(o.Log)}
	if _, err := os.Stat(d.Config.Host.DB); o.ResetHost || os.IsNotExist(err) {
		opts = append(opts, host.WithReset())
	}
	if err := os.MkdirAll(filepath.Dir(d.Config.Host.DB), 0o700); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	h, err := host.New(*d.Config.Host, opts...)
	if err != nil {
		return err
	}
	if err := h.Open(ctx); err != nil {
		h.Close()
		return err
	}
	ln, err := net.Listen("tcp", d.Config.Host.Listen)
	if err != nil {
		h.Close()
		return fmt.Errorf("host: listen: %w", err)
	}
	d.Host, d.HostLn = h, ln
	d.goRun("host", func() error { return h.Serve(ctx, ln) })
	if m := d.Config.Host.Mobile; m != nil && m.Listen != "" {
		// The phone's API is an extra of the in-process host: the ATM
		// runs without it.
		mln, err := net.Listen("tcp", m.Listen)
		if err != nil {
			o.Log.Warn().Err(err).Msg("mobile-banking API not served")
			return nil
		}
		d.goRun("mobile", func() error { return h.ServeMobile(ctx, mln) })
	}
	return nil
}

func (d *Daemon) goRun(name string, f func() error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error().Err(err).Str("component", name).Msg("stopped with an error")
			d.mu.Lock()
			d.errs = append(d.errs, fmt.Errorf("%s: %w", name, err))
			d.mu.Unlock()
			d.cancel()
		}
	}()
}

// Stop stops everything and waits: the runner halts the devices, then
// their drivers close, and the simulators behind them stop. It works
// after a partial start too.
func (d *Daemon) Stop() error {
	d.cancel()
	d.wg.Wait()
	if d.devices != nil {
		d.devices.Close() // logs what failed
		d.devices = nil
	}
	if d.Host != nil {
		d.Host.Close()
	}
	if d.SAF != nil {
		d.SAF.Close()
	}
	if d.Journal != nil {
		d.Journal.Close()
	}
	if d.lock != nil {
		d.lock.Close() // releases the flock
		d.lock = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.errs...)
}

// Wait blocks until the daemon stops by itself (a component failed) or
// ctx ends, then stops it.
func (d *Daemon) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-ctx.Done():
	case <-done:
	}
	return d.Stop()
}

func keyBytes(ks []HexKey) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = k
	}
	return out
}

// HostMsg is the summary of one host message that the daemon keeps for
// status and scenario checks: no card data.
type HostMsg struct {
	Seq    int    `json:"seq"`
	Out    bool   `json:"out"` // sent by the ATM
	MTI    string `json:"mti"`
	Proc   string `json:"proc,omitempty"`
	RC     string `json:"rc,omitempty"`
	STAN   string `json:"stan"`
	Amount int64  `json:"amount,omitempty"`
}

const keepMsgs = 1000

func (d *Daemon) record(dir hostlink.Direction, m *hostlink.Message) {
	d.msgMu.Lock()
	defer d.msgMu.Unlock()
	seq := 1
	if n := len(d.msgs); n > 0 {
		seq = d.msgs[n-1].Seq + 1
	}
	d.msgs = append(d.msgs, HostMsg{Seq: seq, Out: dir == hostlink.Outbound, MTI: m.MTI, Proc: m.ProcCode, RC: m.RespCode, STAN: m.STAN, Amount: m.Amount})
	if len(d.msgs) > keepMsgs {
		d.msgs = append([]HostMsg(nil), d.msgs[len(d.msgs)-keepMsgs/2:]...)
	}
}

// HostMessages returns the kept host messages with Seq > after.
func (d *Daemon) HostMessages(after int) []HostMsg {
	d.msgMu.Lock()
	defer d.msgMu.Unlock()
	var out []HostMsg
	for _, m := range d.msgs {
		if m.Seq > after {
			out = append(out, m)
		}
	}
	return out
}

// control answers a control request: status here, the rest through
// ControlHook.
func (d *Daemon) control(ctx context.Context, req ControlRequest) ControlResponse {
	switch req.Cmd {
	case "status":
		s := d.Runner.Snapshot()
		s.SAFPending = len(d.SAF.Pending())
		return ControlResponse{OK: true, Status: &s}
	case "screen":
		if d.Sim == nil || d.Sim.Display == nil {
			return ControlResponse{Error: "control: the customer screen is not simulated; look at the ATM"}
		}
		sc := d.Sim.Display.Current()
		return ControlResponse{OK: true, Screen: &sc}
	case "maint":
		if req.Maint == nil {
			return ControlResponse{Error: "control: maint without a request"}
		}
		resp, err := d.Maint.Handle(ctx, *req.Maint)
		if err != nil {
			return ControlResponse{Error: err.Error(), Maint: &resp}
		}
		return ControlResponse{OK: true, Maint: &resp}
	}
	if d.ControlHook != nil {
		return d.ControlHook(ctx, req)
	}
	return ControlResponse{Error: fmt.Sprintf("control: unknown command %q", req.Cmd)}
}

// RunHost runs only the reference host of cfg until ctx ends. With reset,
// or when the database does not exist yet, it is built from the seed.
func RunHost(ctx context.Context, cfg *Config, reset bool, log zerolog.Logger) error {
	opts := []host.Option{host.WithLogger(log)}
	if _, err := os.Stat(cfg.Host.DB); reset || os.IsNotExist(err) {
		opts = append(opts, host.WithReset())
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Host.DB), 0o700); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	h, err := host.New(*cfg.Host, opts...)
	if err != nil {
		return err
	}
	if err := h.Open(ctx); err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", cfg.Host.Listen)
	if err != nil {
		return fmt.Errorf("host: listen: %w", err)
	}
	log.Info().Str("listen", ln.Addr().String()).Str("db", cfg.Host.DB).Msg("reference host serving")
	if m := cfg.Host.Mobile; m != nil && m.Listen != "" {
		mln, err := net.Listen("tcp", m.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("host: mobile API listen: %w", err)
		}
		go h.ServeMobile(ctx, mln)
		log.Info().Str("listen", mln.Addr().String()).Msg("mobile-banking API serving")
	}
	return h.Serve(ctx, ln)
}
