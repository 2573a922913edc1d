package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/atmd/atmd/sim/faults"
	"github.com/atmd/atmd/sim/netfault"
)

// cmdFaults runs the fault-injection suite (docs/fault-injection.md): it
// prints the report and exits 0 when every check passed, 1 when one
// failed and 2 for bad usage or a suite that could not be set up.
func cmdFaults(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := fs.String("config", defaultConfig(), "base config (needs a host section)")
	kills := fs.Int("kills", faults.DefaultKills, "kills per failpoint (0: none)")
	points := fs.String("points", "", "failpoints, comma-separated (default: all)")
	net := fs.Bool("net", false, "also run the network faults (drop, slow, duplicate, reorder)")
	netRuns := fs.Int("net-withdrawals", faults.DefaultNetWithdrawals, "withdrawals per network fault")
	netModes := fs.String("net-modes", "", "network faults, comma-separated (default: drop,slow,duplicate,reorder)")
	keep := fs.String("keep", "", "work directory to use and keep (default: a temporary one, kept only on failure)")
	timeout := fs.Duration("timeout", faults.DefaultTimeout, "bound on the whole run")
	verbose := fs.Bool("v", false, "print a line per iteration")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "atmd faults: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "atmd faults: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o := faults.Options{
		Config: *cfg, Kills: *kills, Net: *net, NetWithdrawals: *netRuns, Dir: *keep, Timeout: *timeout,
	}
	if *kills == 0 {
		o.Kills = -1 // Options: 0 is the default, negative is none
	}
	if *points != "" {
		o.Points = strings.Split(*points, ",")
	}
	if *netModes != "" {
		for _, m := range strings.Split(*netModes, ",") {
			o.NetModes = append(o.NetModes, netfault.Mode(m))
		}
	}
	if *verbose {
		o.Progress = stdout
	}
	// SIGTERM or Ctrl-C end the run; the report then says it stopped.
	ctx, stop := signals()
	defer stop()
	rep, err := faults.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "atmd faults: %v\n", err)
		if errors.Is(err, faults.ErrSetup) {
			return 2
		}
		return 1
	}
	if err := rep.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "atmd faults: %v\n", err)
		return 1
	}
	if !rep.OK() {
		return 1
	}
	return 0
}
