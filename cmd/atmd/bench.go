package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/loadgen"
)

const benchUsage = `usage:
  atmd bench fleet [--atms 1,10,100,1000] [--count N] [--duration D] [--rate R]
                   [--terminals N] [--cards N] [--fleet DIR] [--host ADDR]
      simulated ATMs (sim/loadgen) against the reference host, over loopback;
      the host runs in this process unless --host names one serving --fleet
  atmd bench host  --fleet DIR [--listen ADDR] [--reset]
      serve a generated fleet's reference host (for a load generator in
      another process); prints "listening ADDR", stops on SIGTERM

The full report is make bench (docs/bench.md).
`

// cmdBench runs the fleet load generator or a bench host; see benchUsage.
// It returns 0 on success, 1 when a run failed or did not balance, 2 for
// bad usage.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "fleet":
		err = benchFleet(args[1:], stdout)
	case "host":
		err = benchHost(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, benchUsage)
		return 0
	default:
		err = usageError{fmt.Errorf("unknown bench command %q", args[0])}
	}
	if err != nil {
		fmt.Fprintf(stderr, "atmd bench %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, loadgen.ErrOptions) || errors.Is(err, loadgen.ErrNotLoopback) {
			fmt.Fprint(stderr, benchUsage)
			return 2
		}
		return 1
	}
	return 0
}

func benchFleet(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench fleet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	atms := fs.String("atms", "1,10,100,1000", "comma-separated fleet sizes, one run each")
	count := fs.Int("count", 20000, "withdrawals per run, at most")
	duration := fs.Duration("duration", 10*time.Second, "length of a run, at most")
	rate := fs.Float64("rate", 0, "withdrawals a second in all (0: every ATM back to back)")
	terminals := fs.Int("terminals", 0, "terminals to generate (default: the largest fleet size)")
	cards := fs.Int("cards", 10000, "cards to generate")
	dir := fs.String("fleet", "", "fleet directory (default: a new temporary one)")
	hostAddr := fs.String("host", "", "a host already serving --fleet (default: one in this process)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var sizes []int
	for _, s := range strings.Split(*atms, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return usageError{fmt.Errorf("--atms: %q is not a fleet size", s)}
		}
		sizes = append(sizes, n)
	}
	if *terminals == 0 {
		for _, n := range sizes {
			*terminals = max(*terminals, n)
		}
	}
	ctx, stop := signals()
	defer stop()
	var f *loadgen.Fleet
	var err error
	switch {
	case *dir != "" && *hostAddr != "":
		f, err = loadgen.Load(*dir)
	case *hostAddr != "":
		return usageError{errors.New("--host needs the --fleet it serves")}
	default:
		if *dir == "" {
			tmp, terr := os.MkdirTemp("", "atmd-bench-")
			if terr != nil {
				return terr
			}
			defer os.RemoveAll(tmp)
			*dir = tmp
		}
		fmt.Fprintf(stdout, "generating %d terminals and %d cards in %s\n", *terminals, *cards, *dir)
		f, err = loadgen.Generate(*dir, *terminals, *cards)
	}
	if err != nil {
		return err
	}
	var rh *loadgen.RunningHost
	if *hostAddr == "" {
		if rh, err = loadgen.ServeHost(ctx, f, "", true, zerolog.Nop()); err != nil {
			return err
		}
		defer rh.Stop()
		*hostAddr = rh.Addr
	}
	fmt.Fprintf(stdout, "%6s %10s %8s %8s %8s %10s %10s %10s %8s %12s\n",
		"atms", "connect", "started", "errors", "declined", "tps", "p50", "p99", "p99.9", "cpu/withdr.")
	paid := map[string]int64{}
	failed := false
	for _, n := range sizes {
		r, err := loadgen.Run(ctx, loadgen.Options{Addr: *hostAddr, Fleet: f, ATMs: n, Count: *count, Duration: *duration, Rate: *rate})
		if err != nil {
			return err
		}
		loadgen.Merge(paid, r.Dispensed)
		ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
		fmt.Fprintf(stdout, "%6d %10s %8d %8d %8d %10.0f %10s %10s %10s %12s\n", n, r.Connect.Round(time.Millisecond), r.Started,
			r.Errors, r.Declined, r.TPS(), ms(r.Latencies.Percentile(50)), ms(r.Latencies.Percentile(99)),
			ms(r.Latencies.Percentile(99.9)), r.CPUPerWithdrawal().Round(time.Microsecond))
		for _, p := range r.Problems {
			fmt.Fprintf(stdout, "       %s\n", p)
		}
		failed = failed || r.Errors > 0 || r.Declined > 0
		if ctx.Err() != nil {
			break
		}
	}
	if rh == nil {
		fmt.Fprintln(stdout, "ledger: reconcile it with the host that served the run")
	} else {
		rep, err := rh.Host.Reconcile(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		diff := loadgen.Compare(rep, paid)
		fmt.Fprintf(stdout, "ledger: balanced %v, host's dispensed = ATMs' paid out %v\n", rep.Balanced(), len(diff) == 0)
		for _, p := range append(rep.Problems, diff...) {
			fmt.Fprintf(stdout, "       %s\n", p)
		}
		failed = failed || !rep.Balanced() || len(diff) > 0
	}
	if failed {
		return errors.New("errors, declines or an unbalanced ledger (see above)")
	}
	return nil
}

func benchHost(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench host", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("fleet", "", "fleet directory written by sim/loadgen (atmd bench fleet --fleet, make bench)")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to serve on")
	reset := fs.Bool("reset", false, "rebuild the host database from the fleet's seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{errors.New("--fleet is required")}
	}
	f, err := loadgen.Load(*dir)
	if err != nil {
		return err
	}
	ctx, stop := signals()
	defer stop()
	// The host logs as `atmd host` does; the lines are not kept.
	log := zerolog.New(io.Discard).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	rh, err := loadgen.ServeHost(ctx, f, *listen, *reset, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", rh.Addr)
	<-ctx.Done()
	return rh.Stop()
}
