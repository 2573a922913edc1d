package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/loadgen"
)

// fleetRow is one fleet run: the load generator's view and the host
// process's cost.
type fleetRow struct {
	ATMs    int
	Rate    float64 // offered withdrawals a second; 0 for back to back
	R       *loadgen.Result
	HostCPU time.Duration // the host process's CPU during the run
	HostRSS int64         // its resident set after the run
}

// hostCPUPerWithdrawal is the host's CPU per withdrawal started.
func (r fleetRow) hostCPUPerWithdrawal() time.Duration {
	if r.R.Started == 0 {
		return 0
	}
	return r.HostCPU / time.Duration(r.R.Started)
}

// fleetSection is everything measured against the fleet's host.
type fleetSection struct {
	Terminals, Cards int
	Setup            time.Duration // generate the fleet and create the host database
	Rows             []fleetRow
	Paced            *fleetRow
	Bare             *loadgen.Result    // one ATM, back to back: the bare ISO 8583 round trip
	Full             *loadgen.ATMResult // whole withdrawals through atmd
	JournalRecords   float64            // journal records per whole withdrawal
	HostPeakRSS      int64
	Balanced         bool
	Problems         []string // ledger problems and host/ATM disagreements
	Entries          int      // withdrawals the ledger holds
	Errs             []string // runs that could not be made
}

// hostChild is `atmd bench host` serving the fleet in its own process.
type hostChild struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	out  *bytes.Buffer
}

// startHost starts the bench host and waits for its address.
func startHost(ctx context.Context, atmd, fleetDir string) (*hostChild, error) {
	cmd := exec.Command(atmd, "bench", "host", "--fleet", fleetDir, "--reset")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &hostChild{cmd: cmd, done: make(chan error, 1), out: &errOut}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { h.done <- cmd.Wait() }()
	t := time.NewTimer(2 * time.Minute)
	defer t.Stop()
	select {
	case h.addr = <-lines:
		return h, nil
	case err := <-h.done:
		return nil, fmt.Errorf("bench host exited: %v: %s", err, errOut.String())
	case <-t.C:
	case <-ctx.Done():
	}
	h.stop()
	return nil, fmt.Errorf("bench host did not start: %s", errOut.String())
}

// stop sends SIGTERM, waits up to 30 s, then kills it.
func (h *hostChild) stop() error {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case err := <-h.done:
		return err
	case <-t.C:
		_ = h.cmd.Process.Kill()
		<-h.done
		return errors.New("bench host did not stop on SIGTERM; killed")
	}
}

// fleetOptions size the fleet part of the report.
type fleetOptions struct {
	Sizes         []int
	Duration      time.Duration // each back-to-back run
	Count         int           // each run, at most
	Rate          float64       // the paced run's offered load
	PacedATMs     int
	PacedDuration time.Duration
	Cards         int
	BareCount     int
	FullCount     int
}

// measureFleet generates the fleet, starts its host as a child process
// and makes every fleet run, the bare round trips and the whole
// withdrawals against it; then it stops the host and reconciles.
func measureFleet(ctx context.Context, o fleetOptions, atmd, work, config string, progress func(string, ...any)) *fleetSection {
	fs := &fleetSection{Cards: o.Cards}
	for _, n := range append(o.Sizes, o.PacedATMs) {
		fs.Terminals = max(fs.Terminals, n)
	}
	fs.Terminals++ // the last one is the whole-withdrawal atmd's
	start := time.Now()
	dir := filepath.Join(work, "fleet")
	f, err := loadgen.Generate(dir, fs.Terminals, o.Cards)
	if err != nil {
		fs.Errs = append(fs.Errs, "generating the fleet: "+err.Error())
		return fs
	}
	h, err := startHost(ctx, atmd, dir)
	if err != nil {
		fs.Errs = append(fs.Errs, "starting the host: "+err.Error())
		return fs
	}
	fs.Setup = time.Since(start)
	progress("fleet of %d terminals and %d cards ready in %v; host pid %d on %s", fs.Terminals, o.Cards, fs.Setup.Round(time.Millisecond), h.cmd.Process.Pid, h.addr)
	paid := map[string]int64{}
	pid := h.cmd.Process.Pid
	run := func(n int, rate float64, d time.Duration, count int) (*fleetRow, error) {
		cpu0, _ := procCPU(pid)
		r, err := loadgen.Run(ctx, loadgen.Options{Addr: h.addr, Fleet: f, ATMs: n, Count: count, Duration: d, Rate: rate})
		if err != nil {
			return nil, err
		}
		cpu1, _ := procCPU(pid)
		rss, _, _ := procMem(pid)
		loadgen.Merge(paid, r.Dispensed)
		return &fleetRow{ATMs: n, Rate: rate, R: r, HostCPU: cpu1 - cpu0, HostRSS: rss}, nil
	}
	for _, n := range o.Sizes {
		row, err := run(n, 0, o.Duration, o.Count)
		if err != nil {
			fs.Errs = append(fs.Errs, fmt.Sprintf("fleet of %d: %v", n, err))
			continue
		}
		progress("  %4d ATMs back to back: %6.0f withdrawals/s, p99 %v, %d errors", n, row.R.TPS(), row.R.Latencies.Percentile(99).Round(10*time.Microsecond), row.R.Errors)
		fs.Rows = append(fs.Rows, *row)
	}
	if o.PacedATMs > 0 {
		row, err := run(o.PacedATMs, o.Rate, o.PacedDuration, int(o.Rate*o.PacedDuration.Seconds())+o.PacedATMs)
		if err != nil {
			fs.Errs = append(fs.Errs, fmt.Sprintf("paced fleet of %d: %v", o.PacedATMs, err))
		} else {
			progress("  %4d ATMs paced at %.0f/s: %6.0f withdrawals/s, p99 %v, %d errors", o.PacedATMs, o.Rate, row.R.TPS(), row.R.Latencies.Percentile(99).Round(10*time.Microsecond), row.R.Errors)
			fs.Paced = row
		}
	}
	// The ratio: whole withdrawals through atmd, and bare round trips of
	// one ATM, against the same host, one after the other.
	if r, err := loadgen.Run(ctx, loadgen.Options{Addr: h.addr, Fleet: f, ATMs: 1, Count: o.BareCount, Duration: time.Minute}); err != nil {
		fs.Errs = append(fs.Errs, "bare round trips: "+err.Error())
	} else {
		loadgen.Merge(paid, r.Dispensed)
		fs.Bare = r
	}
	atmDir := filepath.Join(work, "atm-state")
	term := fs.Terminals - 1
	if r, err := loadgen.RunATM(ctx, loadgen.ATMOptions{
		Config: config, Fleet: f, Terminal: term, Addr: h.addr, Dir: atmDir, Count: o.FullCount, Duration: 2 * time.Minute,
		Log: zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Logger(),
	}); err != nil {
		fs.Errs = append(fs.Errs, "whole withdrawals: "+err.Error())
	} else {
		fs.Full = r
		paid[f.Terminals[term].ID] += r.Dispensed
		if r.Customers > 0 {
			fs.JournalRecords = float64(countLines(filepath.Join(atmDir, "journal.jsonl"))) / float64(r.Customers)
		}
		progress("  whole withdrawals: %d, mean %v; bare round trip mean %v", r.Customers, r.Cycles.Mean().Round(time.Microsecond), fs.Bare.Latencies.Mean().Round(time.Microsecond))
	}
	_, fs.HostPeakRSS, _ = procMem(pid)
	if err := h.stop(); err != nil {
		fs.Errs = append(fs.Errs, "stopping the host: "+err.Error())
	}
	rep, err := loadgen.Reconcile(context.WithoutCancel(ctx), f)
	if err != nil {
		fs.Errs = append(fs.Errs, "reconciling: "+err.Error())
		return fs
	}
	fs.Balanced = rep.Balanced()
	fs.Problems = append(append(fs.Problems, rep.Problems...), loadgen.Compare(rep, paid)...)
	for _, t := range rep.Terminals {
		fs.Entries += t.ApprovedCount
	}
	return fs
}

// countLines counts the lines of a file, 0 when it cannot be read.
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}
