// Command atmd is the ATM terminal daemon. See README.md for the
// subcommands; `atmd help` lists them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/scenario"
)

// version is set by the linker (-X main.version=...); otherwise the
// module build info is used.
var version = ""

const usage = `atmd — ATM terminal daemon

usage:
  atmd run      [--config FILE] [--reset-host]  run the ATM (and the reference host if the config has one)
  atmd host     [--config FILE] [--reset]  run only the reference host
  atmd scenario [--config FILE] [-v] FILE...   run scenario files against a fresh ATM and host
  atmd status   [--config FILE] [--json]   ask the running atmd for its service state and devices
  atmd step     [--config FILE] STEP...    act on the running atmd's simulated devices, one scenario line per argument
  atmd maint    [SUBCOMMAND] [--config FILE] [flags]   the maintenance menu as a terminal UI, or status, faults,
                                           counters, journal, tests, cash and hash-pin for scripts (atmd maint help)
  atmd phone    login|devices|bind|intent|scan|inbox|wait|code [--api URL --user ID --password PW --phone N --sms --kind K --json]
                                           the banking-app simulator against the host's mobile API
  atmd bench    fleet|host [flags]         fleet load generator and bench host over loopback (make bench: docs/bench.md)
  atmd faults   [--config FILE] [--kills N] [--points LIST] [--net] [--keep DIR] [-v]   fault-injection suite
  atmd simdev   KIND [--port PATH] [--baud N] [--listen ADDR] [--vpcd ADDR --card ID] [--config FILE]
                                           run one wire simulator by itself: epp, pn532, cdm, escpos, lcd, snapcam, vcard
  atmd smoke    [--config FILE] [--record DIR] [--wait D] [-v]   exercise every configured device once (never dispenses)
  atmd version                             print the version

FILE defaults to $ATMD_CONFIG, then configs/sim.yaml.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(args, stdout, stderr)
	case "host":
		err = cmdHost(args, stderr)
	case "scenario":
		return cmdScenario(args, stdout, stderr)
	case "status":
		err = cmdStatus(args, stdout)
	case "step":
		err = cmdStep(args, stdout)
	case "maint":
		return cmdMaint(args, os.Stdin, stdout, stderr)
	case "bench":
		return cmdBench(args, stdout, stderr)
	case "phone":
		err = cmdPhone(args, stdout, stderr)
	case "faults":
		return cmdFaults(args, stdout, stderr)
	case "simdev":
		err = cmdSimdev(args, stdout, stderr)
	case "smoke":
		return cmdSmoke(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "atmd", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "atmd: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "atmd %s: %v\n", cmd, err)
			return 2
		}
		fmt.Fprintf(stderr, "atmd %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "devel"
}

func defaultConfig() string {
	if c := os.Getenv("ATMD_CONFIG"); c != "" {
		return c
	}
	return "configs/sim.yaml"
}

func flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := fs.String("config", defaultConfig(), "config file")
	return fs, cfg
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	return nil
}

// logger writes readable lines on a terminal and JSON otherwise.
func logger(c *atm.Config, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(c.Log.Level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	console := c.Log.Format == "console"
	if c.Log.Format == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// signals: SIGTERM and SIGINT stop gracefully (devices halted, journal
// closed); SIGQUIT keeps Go's default (exit with a goroutine dump).
func signals() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs, path := flags("run")
	resetHost := fs.Bool("reset-host", false, "rebuild the reference host's database from the seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := atm.LoadConfig(*path)
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	ctx, stop := signals()
	defer stop()
	start := time.Now()
	d, err := atm.Start(ctx, cfg, atm.DaemonOptions{Log: log, ResetHost: *resetHost, Extend: func(d *atm.Daemon) error {
		// `atmd step` is ready before the control socket answers.
		if d.Sim != nil {
			if err := attachSteps(d, cfg); err != nil {
				log.Warn().Err(err).Msg("`atmd step` is not available")
			}
		}
		return nil
	}})
	if err != nil {
		return err
	}
	log.Info().Str("atm", cfg.ATM.ID).Str("host", cfg.HostLink.Addr).Str("control", cfg.Path(cfg.ATM.ControlSocket)).Msg("atmd started")
	if u := d.URL(); u != "" {
		fmt.Fprintf(stdout, "customer screen: %s\n", u)
		log.Info().Str("url", u).Msg("customer screen served")
	}
	go reportService(ctx, d, log, start)
	err = d.Wait(ctx)
	log.Info().Msg("atmd stopped: devices halted, journal closed")
	return err
}

// reportService logs each change between in and out of service.
func reportService(ctx context.Context, d *atm.Daemon, log zerolog.Logger, start time.Time) {
	last := ""
	for {
		s := d.Runner.Snapshot()
		if s.Service != "" && s.Service != last {
			ev := log.Info()
			if s.Service != "in-service" {
				ev = log.Warn().Str("reason", s.Reason)
			}
			ev.Dur("after", time.Since(start).Round(time.Millisecond)).Msg(s.Service)
			last = s.Service
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func cmdHost(args []string, stderr io.Writer) error {
	fs, path := flags("host")
	reset := fs.Bool("reset", false, "rebuild the database from the seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := atm.LoadConfig(*path)
	if err != nil {
		return err
	}
	if cfg.Host == nil {
		return fmt.Errorf("config %s has no host section", *path)
	}
	log := logger(cfg, stderr)
	ctx, stop := signals()
	defer stop()
	return atm.RunHost(ctx, cfg, *reset, log)
}

func cmdStatus(args []string, stdout io.Writer) error {
	fs, path := flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	sock := fs.String("socket", "", "control socket (default: from the config)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *sock == "" {
		cfg, err := atm.LoadConfig(*path)
		if err != nil {
			return err
		}
		*sock = cfg.Path(cfg.ATM.ControlSocket)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := atm.Ask(ctx, *sock, atm.ControlRequest{Cmd: "status"})
	if err != nil {
		return err
	}
	s := resp.Status
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(stdout, "service  %s", s.Service)
	if s.Reason != "" {
		fmt.Fprintf(stdout, " (%s)", s.Reason)
	}
	fmt.Fprintf(stdout, "\nstate    %s\nhost     %s\n", s.State, s.Host)
	if s.Session != "" {
		fmt.Fprintf(stdout, "session  %s\n", s.Session)
	}
	names := make([]string, 0, len(s.Devices))
	for n := range s.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(stdout, "devices")
	for _, n := range names {
		fmt.Fprintf(stdout, "  %-11s %s\n", n, s.Devices[n])
	}
	if len(s.Faults) > 0 {
		fmt.Fprintln(stdout, "faults")
		for _, f := range s.Faults {
			where := f.Device
			if f.Unit != "" {
				where += " " + f.Unit
			}
			fmt.Fprintf(stdout, "  %s  %s: %s (since %s)\n", f.Code, where, f.Entry.Title, f.Since.Format("15:04:05"))
			fmt.Fprintf(stdout, "      cause:  %s\n      remedy: %s\n", f.Entry.Cause, f.Entry.Remedy)
		}
	}
	if len(s.Cash) > 0 {
		fmt.Fprintln(stdout, "cassettes")
		for _, c := range s.Cash {
			den := fmt.Sprintf("%s %d", c.Currency, c.Denomination)
			if cur, err := currency.ByAlpha(c.Currency); err == nil {
				den = cur.Format(c.Denomination)
			}
			fmt.Fprintf(stdout, "  %d  %-9s x %5d  %s\n", c.ID, den, c.Count, c.Status)
		}
	}
	return nil
}

func cmdScenario(args []string, stdout, stderr io.Writer) int {
	fs, path := flags("scenario")
	verbose := fs.Bool("v", false, "print each step as it runs")
	if err := parse(fs, args); err != nil {
		fmt.Fprintf(stderr, "atmd scenario: %v\n", err)
		return 2
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "atmd scenario: no scenario files given")
		return 2
	}
	cfg, err := atm.LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "atmd scenario: %v\n", err)
		return 1
	}
	// Parse every file first: a bad file fails before anything runs.
	var scs []*scenario.Scenario
	var bad []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			var sc *scenario.Scenario
			if sc, err = scenario.Parse(f, data); err == nil {
				scs = append(scs, sc)
				continue
			}
		}
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "atmd scenario: bad scenario file:\n%s\n", strings.Join(bad, "\n"))
		return 1
	}
	ctx, stop := signals()
	defer stop()
	passed, failed := 0, 0
	for _, sc := range scs {
		start := time.Now()
		var trace io.Writer
		if *verbose {
			trace = stdout
		}
		err := scenario.Run(ctx, cfg, sc, scenario.Options{Trace: trace})
		d := time.Since(start).Round(time.Millisecond)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s (%v)\n     %v\n", sc.File, d, err)
			continue
		}
		passed++
		fmt.Fprintf(stdout, "ok   %s (%v)\n", sc.File, d)
	}
	fmt.Fprintf(stdout, "scenarios: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// attachSteps lets `atmd step` drive the simulated devices of a running
// atmd with scenario lines, through the control socket.
func attachSteps(d *atm.Daemon, cfg *atm.Config) error {
	var sd *seed.Seed
	if p := cfg.Devices.CardReader.Seed; p != "" {
		var err error
		if sd, err = seed.Load(p); err != nil {
			return err
		}
	} else {
		sd = &seed.Seed{}
	}
	dr, err := scenario.Attach(d, sd, scenario.Options{})
	if err != nil {
		return err
	}
	d.ControlHook = func(ctx context.Context, req atm.ControlRequest) atm.ControlResponse {
		if req.Cmd != "step" {
			return atm.ControlResponse{Error: fmt.Sprintf("control: unknown command %q", req.Cmd)}
		}
		if err := dr.Do(ctx, req.Step); err != nil {
			return atm.ControlResponse{Error: err.Error()}
		}
		return atm.ControlResponse{OK: true}
	}
	return nil
}

func cmdStep(args []string, stdout io.Writer) error {
	fs, path := flags("step")
	sock := fs.String("socket", "", "control socket (default: from the config)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New(`no step given; e.g. atmd step "insert card alice-debit" "enter 7968" "press enter"`)}
	}
	if *sock == "" {
		cfg, err := atm.LoadConfig(*path)
		if err != nil {
			return err
		}
		*sock = cfg.Path(cfg.ATM.ControlSocket)
	}
	for _, st := range fs.Args() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := atm.Ask(ctx, *sock, atm.ControlRequest{Cmd: "step", Step: st})
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
		fmt.Fprintf(stdout, "ok  %s\n", st)
	}
	return nil
}
