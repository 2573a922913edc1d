package webscreen_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/sim/host"
)

// simATM is atmd as `make run` starts it — configs/sim.yaml: every device
// on its simulator, the page with the virtual front panel, the reference
// host with its mobile API and the banking-app page in the phone pane —
// on free loopback ports and a fresh state directory, with the real
// clock. The host runs beside the daemon (as with `atmd host`), so either
// can be stopped and started again on its own address.
type simATM struct {
	t         *testing.T
	cfg       atm.Config // the daemon's config, ports filled in
	log       zerolog.Logger
	logPath   string
	h         *host.Host
	hostAddr  string
	mobileURL string // http://127.0.0.1:PORT
	hostStop  context.CancelFunc
	hostDone  chan error
	d         *atm.Daemon
}

// startSimATM starts the host and the daemon; both stop when the test
// ends. The daemon's log is printed when the test fails.
func startSimATM(t *testing.T) *simATM {
	t.Helper()
	chromium(t) // no browser, no point
	base, err := atm.LoadConfig("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := &simATM{t: t, logPath: filepath.Join(dir, "atmd.log")}
	lf, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lf.Close()
		if t.Failed() {
			a.dumpLog()
		}
	})
	a.log = zerolog.New(lf).With().Timestamp().Logger()

	hc := *base.Host
	hc.DB = filepath.Join(dir, "host.db")
	a.h, err = host.New(hc, host.WithReset(), host.WithLogger(a.log))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.h.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.hostAddr = ln.Addr().String()
	a.serveHost(ln)
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.mobileURL = "http://" + mln.Addr().String()
	mctx, mstop := context.WithCancel(context.Background())
	mdone := make(chan error, 1)
	go func() { mdone <- a.h.ServeMobile(mctx, mln) }()
	t.Cleanup(func() { mstop(); <-mdone })
	t.Cleanup(a.stopHost)

	a.cfg = *base
	a.cfg.Host = nil
	a.cfg.ATM.StateDir = filepath.Join(dir, "atm")
	a.cfg.ATM.ControlSocket = filepath.Join(dir, "atm", "atmd.sock")
	a.cfg.HostLink.Addr = a.hostAddr
	a.cfg.HostLink.MinBackoff, a.cfg.HostLink.MaxBackoff = 100*time.Millisecond, 500*time.Millisecond
	dc := *base.Devices.Display
	dc.Addr = "127.0.0.1:0"
	dc.Phone = a.mobileURL + "/app/"
	a.cfg.Devices.Display = &dc
	a.startDaemon()
	t.Cleanup(a.stopDaemon)
	return a
}

// URL is the page's address.
func (a *simATM) URL() string { return a.d.URL() }

// startDaemon starts atmd; after the first start, on the page's address
// of the first.
func (a *simATM) startDaemon() {
	a.t.Helper()
	d, err := atm.Start(context.Background(), &a.cfg, atm.DaemonOptions{Log: a.log, NoControl: true})
	if err != nil {
		a.t.Fatalf("start atmd: %v", err)
	}
	a.d = d
	if u := d.URL(); u == "" {
		a.t.Fatal("atmd serves no page")
	} else if a.cfg.Devices.Display.Addr == "127.0.0.1:0" {
		dc := *a.cfg.Devices.Display
		dc.Addr = strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/")
		a.cfg.Devices.Display = &dc
	}
}

// stopDaemon stops atmd the way SIGTERM does.
func (a *simATM) stopDaemon() {
	if a.d != nil {
		if err := a.d.Stop(); err != nil {
			a.t.Errorf("stop atmd: %v", err)
		}
		a.d = nil
	}
}

func (a *simATM) serveHost(ln net.Listener) {
	ctx, stop := context.WithCancel(context.Background())
	a.hostStop, a.hostDone = stop, make(chan error, 1)
	go func() { a.hostDone <- a.h.Serve(ctx, ln) }()
}

// stopHost stops the host's ISO 8583 server (the mobile API stays).
func (a *simATM) stopHost() {
	if a.hostStop != nil {
		a.hostStop()
		<-a.hostDone
		a.hostStop = nil
	}
}

// startHost serves the host again on its address.
func (a *simATM) startHost() {
	a.t.Helper()
	ln, err := net.Listen("tcp", a.hostAddr)
	if err != nil {
		a.t.Fatalf("host: listen on %s again: %v", a.hostAddr, err)
	}
	a.serveHost(ln)
}

// screen is what the simulated display shows now: the flows' screen,
// QR payload included.
func (a *simATM) screen() display.Screen { return a.d.Sim.Display.Current() }

func (a *simATM) dumpLog() {
	f, err := os.Open(a.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	a.t.Logf("atmd log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}
