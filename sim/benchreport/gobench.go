package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// bench is one Go benchmark result line.
type bench struct {
	Name    string             // without the -GOMAXPROCS suffix
	N       int                // iterations
	Metrics map[string]float64 // by unit: "ns/op", "B/op", "allocs/op", custom ones
	Skipped bool
}

// ns returns ns/op.
func (b bench) ns() float64 { return b.Metrics["ns/op"] }

// goBin returns the go command: GO from the environment (the Makefile
// sets it), then PATH, then /usr/local/go/bin/go.
func goBin() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join("/usr/local/go/bin", "go")
}

// runBench runs `go test -run ^$ -bench pattern` in pkg and returns the
// results by name; with count > 1 each name keeps its fastest run (the
// least disturbed by other processes). Skipped benchmarks are reported
// with Skipped set.
func runBench(ctx context.Context, pkg, pattern, benchtime string, count int) (map[string]bench, string, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime,
		"-count", strconv.Itoa(count), "-timeout", "5m", pkg}
	cmd := exec.CommandContext(ctx, goBin(), args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	res := parseBench(out.String())
	if err != nil {
		return res, out.String(), fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return res, out.String(), nil
}

// parseBench reads `go test -bench` output.
func parseBench(out string) map[string]bench {
	res := map[string]bench{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "---" && f[1] == "SKIP:" && len(f) >= 3 {
			name := trimProcs(f[2])
			res[name] = bench{Name: name, Skipped: true}
			continue
		}
		if len(f) == 0 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := trimProcs(f[0])
		if len(f) < 4 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		b := bench{Name: name, N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			b.Metrics[f[i+1]] = v
		}
		if old, ok := res[name]; ok && !old.Skipped && old.ns() > 0 && old.ns() <= b.ns() {
			continue // keep the fastest of -count runs
		}
		res[name] = b
	}
	return res
}

// trimProcs drops the -GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
