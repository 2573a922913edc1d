package main

// These tests run the real atmd binary, built once in TestMain, the way
// an operator does: subcommands, exit codes, stdout and stderr, the
// control socket, signals, and the journal left behind. Everything is on
// loopback, on free ports, in temporary directories; every wait is a
// poll with a deadline.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// atmdBin is the binary under test, built by TestMain; childTmp is the
// TMPDIR every atmd it runs gets (a failed scenario keeps its state
// there), removed with the binary.
var atmdBin, childTmp string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	dir, err := os.MkdirTemp("", "atmd-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	childTmp = filepath.Join(dir, "tmp")
	if err := os.Mkdir(childTmp, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	atmdBin = filepath.Join(dir, "atmd")
	args := []string{"build", "-o", atmdBin}
	// With the race detector on the tests, build atmd with it too: the
	// packages are compiled for it already, so it costs little, and a
	// race in the daemon then fails the test (exit 66 and a report on
	// stderr).
	if raceEnabled() {
		args = append(args, "-race")
	}
	build := exec.Command(goTool, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building atmd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// pollInterval is how often a wait looks again.
const pollInterval = 50 * time.Millisecond

// eventually polls cond until it reports true or the deadline passes,
// then fails with cond's last description of what it saw.
func eventually(t *testing.T, deadline time.Time, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
		}
		time.Sleep(pollInterval)
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// cfgOpts says how to turn configs/sim.yaml into a test config.
type cfgOpts struct {
	addr     string // host_link.addr and host.listen
	dir      string // state, socket and database go here
	noHost   bool   // drop the host section
	fastLink bool   // reconnect backoff 200ms..1s
}

// writeConfig writes a copy of configs/sim.yaml adjusted by o to
// o.dir/atmd.yaml and returns its path. Every replaced line must exist,
// so a change to sim.yaml fails here rather than silently.
func writeConfig(t *testing.T, o cfgOpts) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := filepath.Abs("../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	edit := func(old, new string) {
		t.Helper()
		out := strings.Replace(text, old, new, 1)
		if out == text {
			t.Fatalf("configs/sim.yaml has no %q", old)
		}
		text = out
	}
	state := filepath.Join(o.dir, "state")
	// A unix socket path has room for about 104 bytes.
	if sock := filepath.Join(state, "atmd.sock"); len(sock) > 100 {
		t.Fatalf("control socket path %s is too long for a unix socket; use a shorter TMPDIR", sock)
	}
	edit("addr: 127.0.0.1:5800", "addr: "+o.addr)
	edit("state_dir: ../var/sim", "state_dir: "+state)
	edit("control_socket: ../var/sim/atmd.sock", "control_socket: "+filepath.Join(state, "atmd.sock"))
	edit("listen: 127.0.0.1:5800", "listen: "+o.addr)
	edit("db: ../var/sim/host.db", "db: "+filepath.Join(o.dir, "host.db"))
	edit("seed: seed.yaml", "seed: "+seed)
	// The mobile API and the web page on ports of their own: tests run
	// in parallel, and beside a `make run`.
	edit("listen: 127.0.0.1:5801", "listen: "+freeAddr(t))
	edit("addr: 127.0.0.1:8080", "addr: "+freeAddr(t))
	if o.fastLink {
		edit("min_backoff: 1s", "min_backoff: 200ms")
		edit("max_backoff: 10s", "max_backoff: 1s")
	}
	if o.noHost {
		i, j := strings.Index(text, "\nhost:\n"), strings.Index(text, "\nlog:\n")
		if i < 0 || j < i {
			t.Fatal("configs/sim.yaml: cannot find the host section before log")
		}
		text = text[:i] + text[j:]
	}
	path := filepath.Join(o.dir, "atmd.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// buffer is a bytes.Buffer safe to read while a process writes to it.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a running atmd.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr buffer
	started        time.Time
	done           chan struct{} // closed when the process has exited
	err            error         // Wait's result, set before done closes
}

// command makes an atmd command with a clean environment: no
// ATMD_CONFIG, and TMPDIR set to childTmp. Stdin is /dev/null. A race
// build does not linger a second at exit (the detector's default), or
// every `atmd status` poll would cost that second.
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, atmdBin, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATMD_CONFIG=") && !strings.HasPrefix(kv, "TMPDIR=") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(env, "TMPDIR="+childTmp, "GORACE="+gorace)
	return cmd
}

// start starts atmd with args; t.Cleanup kills it if it still runs.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = command(context.Background(), args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("atmd %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and returns the exit code, failing if the process
// does not exit within timeout.
func (p *proc) stop(t *testing.T, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	sent := time.Now()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("atmd still running %v after SIGTERM; stderr:\n%s", timeout, p.stderr.String())
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	return exitCode(t, p.err)
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("running atmd: %v", err)
		return -1
	}
}

// runAtmd runs atmd to completion within timeout and returns stdout, stderr
// and the exit code.
func runAtmd(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("atmd %s did not finish within %v; stderr:\n%s", strings.Join(args, " "), timeout, e.String())
	}
	return o.String(), e.String(), exitCode(t, err)
}

// status is what `atmd status --json` prints, as much as the tests use.
type status struct {
	Service string `json:"service"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
	Host    string `json:"host"`
	Devices map[string]struct {
		State string `json:"state"`
		Fault string `json:"fault"`
	} `json:"devices"`
}

// getStatus asks the running atmd for its status with `atmd status --json`.
func getStatus(t *testing.T, cfg string) (status, error) {
	t.Helper()
	out, errOut, code := runAtmd(t, 10*time.Second, "status", "--json", "--config", cfg)
	var s status
	if code != 0 {
		return s, fmt.Errorf("exit %d: %s", code, strings.TrimSpace(errOut))
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return s, fmt.Errorf("bad JSON %q: %v", out, err)
	}
	return s, nil
}

// waitService polls `atmd status` until the service is want and match
// (if any) accepts it, and returns that status. It fails at once if p,
// the atmd asked, exits.
func waitService(t *testing.T, p *proc, cfg string, deadline time.Time, want string, match func(status) bool) status {
	t.Helper()
	var got status
	eventually(t, deadline, "service "+want, func() (bool, string) {
		if !p.running() {
			t.Fatalf("atmd exited (%v) while waiting for %s; stderr:\n%s", p.err, want, p.stderr.String())
		}
		s, err := getStatus(t, cfg)
		if err != nil {
			return false, err.Error()
		}
		got = s
		return s.Service == want && (match == nil || match(s)), fmt.Sprintf("%+v", s)
	})
	return got
}

func TestVersion(t *testing.T) {
	out, errOut, code := runAtmd(t, 10*time.Second, "version")
	if code != 0 || !strings.HasPrefix(out, "atmd ") || errOut != "" {
		t.Errorf("atmd version: exit %d, stdout %q, stderr %q; want exit 0 and \"atmd ...\"", code, out, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"unknown command", []string{"frobnicate"}, 2, `atmd: unknown command "frobnicate"`},
		{"no command", nil, 2, "usage:"},
		{"bad flag", []string{"run", "--no-such-flag"}, 2, "atmd run: flag provided but not defined"},
		{"scenario without files", []string{"scenario"}, 2, "no scenario files given"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runAtmd(t, 10*time.Second, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and stderr with %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	out, errOut, code := runAtmd(t, 10*time.Second, "frobnicate")
	for _, cmd := range []string{"run", "host", "scenario", "status", "version"} {
		if !strings.Contains(errOut, "atmd "+cmd) {
			t.Errorf("usage does not list %q: %q", cmd, errOut)
		}
	}
	if code != 2 || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	out, _, code = runAtmd(t, 10*time.Second, "help")
	if code != 0 || !strings.Contains(out, "usage:") {
		t.Errorf("atmd help: exit %d, stdout %q", code, out)
	}
}

func TestRunBadConfig(t *testing.T) {
	good, err := os.ReadFile("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, old, new string
		want           []string // in stderr
	}{
		{"unknown key", "  printer: {driver: sim}\n", "  printer:\n    driver: sim\n    colour: red\n",
			[]string{"devices.printer.colour", "line "}},
		{"missing device", "  printer: {driver: sim}\n", "", []string{"devices.printer: missing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(string(good), tt.old, tt.new, 1)
			if text == string(good) {
				t.Fatalf("configs/sim.yaml has no %q", tt.old)
			}
			// Make sure a run that got past the config could not touch
			// the real state: point it all at a temporary directory.
			dir := t.TempDir()
			text = strings.Replace(text, "../var/sim", filepath.Join(dir, "var"), -1)
			bad := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(bad, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			begun := time.Now()
			out, errOut, code := runAtmd(t, 5*time.Second, "run", "--config", bad)
			took := time.Since(begun)
			if code == 0 {
				t.Fatalf("atmd run with a bad config exited 0; stderr %q", errOut)
			}
			for _, w := range append(tt.want, bad) {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if took > 2*time.Second {
				t.Errorf("took %v to reject a bad config", took)
			}
			if _, err := os.Stat(filepath.Join(dir, "var")); err == nil {
				t.Error("atmd created its state directory from a config it rejected")
			}
		})
	}
}

func TestScenarioBadFile(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir})
	file := filepath.Join(dir, "bad.scn")
	scn := "title: a step nobody knows\ninsert card alice-debit\nfrobnicate the card\nexpect screen enter-pin\n"
	if err := os.WriteFile(file, []byte(scn), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runAtmd(t, 10*time.Second, "scenario", "--config", cfg, file)
	if code == 0 {
		t.Fatalf("exit 0 for a bad scenario file; stdout %q", out)
	}
	if want := file + ":3"; !strings.Contains(errOut, want) || !strings.Contains(errOut, "frobnicate") {
		t.Errorf("stderr %q, want it to name %s and the step", errOut, want)
	}
	if strings.Contains(out, "passed") {
		t.Errorf("stdout %q: scenarios ran although a file was bad", out)
	}
}

func TestScenarioWrongExpectation(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir})
	file := filepath.Join(dir, "wrong.scn")
	scn := "title: expects the menu before the PIN\ninsert card alice-debit\nexpect screen main-menu\n"
	if err := os.WriteFile(file, []byte(scn), 0o600); err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	out, errOut, code := runAtmd(t, 30*time.Second, "scenario", "--config", cfg, file)
	t.Logf("failed scenario took %v", time.Since(begun).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, errOut)
	}
	for _, w := range []string{"FAIL " + file, file + ":3", "expect screen main-menu", "enter-pin", "scenarios: 0 passed, 1 failed"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout does not contain %q:\n%s", w, out)
		}
	}
}

// journalKinds reads the kinds of the records in a journal file.
func journalKinds(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kinds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		kinds = append(kinds, rec.Kind)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kinds
}

func TestRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir})
	p := start(t, "run", "--config", cfg)

	// Acceptance: in service within 5 seconds of starting.
	s := waitService(t, p, cfg, p.started.Add(5*time.Second), "in-service", nil)
	t.Logf("in service %v after starting atmd", time.Since(p.started).Round(time.Millisecond))

	want := []string{"camera", "cardreader", "dispenser", "display", "nfctag", "opdisplay", "pinpad", "printer", "sensors"}
	var got []string
	for name, d := range s.Devices {
		got = append(got, name)
		if d.State != "online" || d.Fault != "" {
			t.Errorf("device %s is %s %s, want online", name, d.State, d.Fault)
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("devices %v, want %v", got, want)
	}
	if s.Host != "up" || s.Reason != "" {
		t.Errorf("host %q, reason %q; want up and no reason", s.Host, s.Reason)
	}

	out, errOut, code := runAtmd(t, 10*time.Second, "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "service  in-service") || !strings.Contains(out, "host     up") ||
		!strings.Contains(out, "printer") {
		t.Errorf("atmd status: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// The control socket is the owner's alone.
	sock := filepath.Join(dir, "state", "atmd.sock")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket with 0600", fi.Mode())
	}

	if code := p.stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.stderr.String(), "atmd stopped: devices halted, journal closed") {
		t.Errorf("stderr does not report the stop:\n%s", p.stderr.String())
	}
	kinds := journalKinds(t, filepath.Join(dir, "state", "journal.jsonl"))
	if len(kinds) == 0 || kinds[len(kinds)-1] != "SHUTDOWN" {
		t.Errorf("journal %v does not end with SHUTDOWN", kinds)
	}
	found := false
	for _, k := range kinds {
		found = found || k == "STARTUP"
	}
	if !found {
		t.Errorf("journal %v has no STARTUP", kinds)
	}
}

func TestRunHostRestart(t *testing.T) {
	addr := freeAddr(t)
	hostDir, atmDir := t.TempDir(), t.TempDir()
	hostCfg := writeConfig(t, cfgOpts{addr: addr, dir: hostDir})
	atmCfg := writeConfig(t, cfgOpts{addr: addr, dir: atmDir, noHost: true, fastLink: true})

	h := start(t, "host", "--config", hostCfg)
	a := start(t, "run", "--config", atmCfg)
	pid := a.cmd.Process.Pid
	waitService(t, a, atmCfg, a.started.Add(10*time.Second), "in-service", nil)
	t.Logf("in service %v after starting atmd", time.Since(a.started).Round(time.Millisecond))

	if code := h.stop(t, 10*time.Second); code != 0 {
		t.Errorf("atmd host exited %d after SIGTERM, want 0; stderr:\n%s", code, h.stderr.String())
	}
	down := time.Now()
	s := waitService(t, a, atmCfg, down.Add(10*time.Second), "out-of-service", func(s status) bool {
		return strings.Contains(s.Reason, "host")
	})
	t.Logf("out of service %v after the host stopped: %s", time.Since(down).Round(time.Millisecond), s.Reason)
	if s.Host != "down" {
		t.Errorf("host %q, want down", s.Host)
	}

	h2 := start(t, "host", "--config", hostCfg)
	waitService(t, a, atmCfg, h2.started.Add(15*time.Second), "in-service", func(s status) bool { return s.Host == "up" })
	t.Logf("in service again %v after the host restarted", time.Since(h2.started).Round(time.Millisecond))

	// The same process throughout (waitService fails if it exits; the
	// journal below shows it never started twice).
	if !a.running() {
		t.Fatalf("atmd (pid %d) exited; stderr:\n%s", pid, a.stderr.String())
	}
	if code := a.stop(t, 10*time.Second); code != 0 {
		t.Errorf("atmd run exited %d after SIGTERM, want 0", code)
	}
	if code := h2.stop(t, 10*time.Second); code != 0 {
		t.Errorf("atmd host exited %d after SIGTERM, want 0", code)
	}
	// One process, one start: the journal has a single STARTUP, and
	// records the service going down and coming back.
	kinds := journalKinds(t, filepath.Join(atmDir, "state", "journal.jsonl"))
	n, service := 0, ""
	for _, k := range kinds {
		switch k {
		case "STARTUP":
			n++
		case "IN-SERVICE", "OUT-OF-SERVICE":
			service += " " + k
		}
	}
	if n != 1 {
		t.Errorf("journal %v has %d STARTUP records, want 1", kinds, n)
	}
	if !strings.Contains(service, "IN-SERVICE OUT-OF-SERVICE IN-SERVICE") {
		t.Errorf("journal %v does not record in, out of, and back in service", kinds)
	}
}

// TestRunTwice starts a second `atmd run` on a running atmd's config:
// the second must fail, and the first must carry on with its journal
// intact — one STARTUP, sequence numbers 1, 2, 3, ..., every line whole.
func TestRunTwice(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir})
	first := start(t, "run", "--config", cfg)
	waitService(t, first, cfg, first.started.Add(5*time.Second), "in-service", nil)

	_, errOut, code := runAtmd(t, 10*time.Second, "run", "--config", cfg)
	if code == 0 {
		t.Fatalf("a second atmd run on the same config exited 0; stderr:\n%s", errOut)
	}
	t.Logf("second atmd run: exit %d: %s", code, lastLine(errOut))
	if s, err := getStatus(t, cfg); err != nil || s.Service != "in-service" {
		t.Errorf("first atmd after the second failed: %+v, %v", s, err)
	}
	if code := first.stop(t, 10*time.Second); code != 0 {
		t.Errorf("first atmd exited %d after SIGTERM, want 0", code)
	}

	data, err := os.ReadFile(filepath.Join(dir, "state", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	startups := 0
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var rec struct {
			Seq  int    `json:"seq"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			problems = append(problems, fmt.Sprintf("line %d is not a record: %q", i+1, line))
			continue
		}
		if rec.Seq != i+1 {
			problems = append(problems, fmt.Sprintf("line %d has seq %d", i+1, rec.Seq))
		}
		if rec.Kind == "STARTUP" {
			startups++
		}
	}
	if startups != 1 {
		problems = append(problems, fmt.Sprintf("%d STARTUP records, want 1", startups))
	}
	if len(problems) > 0 {
		t.Errorf("the second atmd disturbed the first's journal: %s\njournal:\n%s",
			strings.Join(problems, "; "), data)
	}
	if !strings.Contains(errOut, "state dir") {
		t.Errorf("the second atmd did not say its state dir is in use: %s", lastLine(errOut))
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
