package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

// stepTime is how long one part of the run took.
type stepTime struct {
	Name string
	Took time.Duration
}

func run() int {
	out := flag.String("out", "docs/bench.md", "report to write, relative to the repository root")
	svgOut := flag.String("svg", "docs/bench-fleet.svg", "fleet plot to write, relative to the repository root")
	quick := flag.Bool("quick", false, "short runs, to try the report out (not for the committed report)")
	keep := flag.Bool("keep", false, "keep the work directory (logs, configs, databases)")
	sizesFlag := flag.String("atms", "1,10,100,1000", "fleet sizes of the back-to-back runs")
	flag.Parse()
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	root, err := findRoot()
	if err != nil {
		progress("benchreport: %v", err)
		return 2
	}
	if err := os.Chdir(root); err != nil {
		progress("benchreport: %v", err)
		return 2
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			progress("benchreport: -atms: %q is not a fleet size", s)
			return 2
		}
		sizes = append(sizes, n)
	}
	work, err := os.MkdirTemp("", "atmd-bench-")
	if err != nil {
		progress("benchreport: %v", err)
		return 2
	}
	if *keep {
		progress("work directory: %s (kept)", work)
	} else {
		defer os.RemoveAll(work)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fo := fleetOptions{Sizes: sizes, Duration: 12 * time.Second, Count: 100_000, Rate: 1050, PacedATMs: 1000,
		PacedDuration: 20 * time.Second, Cards: 10_000, BareCount: 3000, FullCount: 300}
	po := footprintOptions{Settle: 3 * time.Second, IdleWindow: 10 * time.Second, Withdrawals: 10}
	codecTime, linkTime, deviceTime := "20000x", "3000x", "2000x"
	if *quick {
		fo = fleetOptions{Sizes: sizes, Duration: 3 * time.Second, Count: 20_000, Rate: 400, PacedATMs: min(1000, sizes[len(sizes)-1]),
			PacedDuration: 3 * time.Second, Cards: 2000, BareCount: 300, FullCount: 30}
		po = footprintOptions{Settle: time.Second, IdleWindow: 2 * time.Second, Withdrawals: 2}
		codecTime, linkTime, deviceTime = "2000x", "500x", "300x"
	}

	r := &report{Started: time.Now(), Quick: *quick, Fleet: &fleetSection{}, Footprint: &footprint{}}
	r.Machine = readMachine(work)
	progress("benchreport: %s, %d cores, load %s, fsync %v", r.Machine.CPU, r.Machine.Cores, r.Machine.Load, r.Machine.Fsync.Round(time.Microsecond))
	step := func(name string, f func()) {
		if ctx.Err() != nil {
			return
		}
		progress("== %s", name)
		t := time.Now()
		f()
		took := time.Since(t)
		r.Steps = append(r.Steps, stepTime{name, took})
		progress("   (%s: %v)", name, took.Round(100*time.Millisecond))
	}
	gobench := func(pkg, pattern, benchtime string, count int) map[string]bench {
		res, _, err := runBench(ctx, pkg, pattern, benchtime, count)
		if err != nil {
			r.Errs = append(r.Errs, err.Error())
			progress("   %v", err)
		}
		return res
	}
	var bin string
	var build time.Duration
	step("build atmd", func() {
		if bin, build, err = buildAtmd(ctx, root, work); err != nil {
			r.Errs = append(r.Errs, err.Error())
		}
	})
	step("codec benchmarks (hostlink vs bare moov-io)", func() {
		r.Codec = gobench("./hostlink", "^(BenchmarkCodec|BenchmarkMAC)$", codecTime, 1)
	})
	step("host link and host benchmarks", func() {
		r.Link = gobench("./hostlink", "^BenchmarkRoundTrip$", linkTime, 1)
		r.Handle = gobench("./sim/host", "^BenchmarkHandleWithdrawal$", linkTime, 1)
	})
	step("device benchmarks (drivers vs transport)", func() {
		r.Devices = map[string]map[string]bench{}
		for _, d := range devicePkgs {
			r.Devices[d.pkg] = gobench(d.pkg, d.pattern, deviceTime, 3)
		}
	})
	if bin != "" {
		step("fleet: reference host against simulated ATMs", func() {
			r.Fleet = measureFleet(ctx, fo, bin, work, filepath.Join(root, "configs", "sim.yaml"), progress)
		})
		step("footprint: atmd as a process", func() {
			r.Footprint = measureFootprint(ctx, po, bin, build, root, work, progress)
		})
	}
	if ctx.Err() != nil {
		progress("benchreport: interrupted; no report written")
		return 1
	}
	r.Machine.LoadEnd = loadavg()
	r.Took = time.Since(r.Started)
	svgName := filepath.Base(*svgOut)
	md := r.markdown(svgName)
	if svg := r.fleetSVG(); svg != "" {
		if err := writeFile(*svgOut, svg); err != nil {
			progress("benchreport: %v", err)
			return 1
		}
	}
	if err := writeFile(*out, md); err != nil {
		progress("benchreport: %v", err)
		return 1
	}
	pass, total := r.score()
	progress("wrote %s and %s in %v: %d of %d targets met", *out, *svgOut, r.Took.Round(time.Second), pass, total)
	for _, s := range r.Steps {
		progress("  %-46s %v", s.Name, s.Took.Round(100*time.Millisecond))
	}
	return 0
}

// findRoot returns the directory holding go.mod, from the working
// directory up.
func findRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("not inside the atmd module (no go.mod found)")
		}
		d = parent
	}
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
