package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/atmd/atmd/maint"
)

// These tests run `atmd maint` against a real running atmd (the binary
// built by TestMain, configs/sim.yaml with its demo technicians), the
// terminal UI on a pseudo-terminal as a technician would use it.

// startMaintATM starts atmd in a fresh directory and waits until it is
// in service; the menu's export goes to dir/usb.
func startMaintATM(t *testing.T) (cfg, dir string, p *proc) {
	t.Helper()
	dir = t.TempDir()
	cfg = writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir})
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	const export = "export_dir: ../var/sim/export"
	if !strings.Contains(text, export) {
		t.Fatalf("configs/sim.yaml has no %q", export)
	}
	text = strings.Replace(text, export, "export_dir: "+filepath.Join(dir, "usb"), 1)
	// No fixed ports: other tests may be running beside these (where
	// writeConfig has not taken its own already).
	text = strings.Replace(text, "addr: 127.0.0.1:8080", "addr: 127.0.0.1:0", 1)
	text = strings.Replace(text, "listen: 127.0.0.1:5801", "listen: 127.0.0.1:0", 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p = start(t, "run", "--config", cfg)
	waitService(t, p, cfg, time.Now().Add(30*time.Second), "in-service", nil)
	return cfg, dir, p
}

// runWith runs atmd with extra environment and stdin.
func runWith(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := command(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("atmd %s did not finish; stderr:\n%s", strings.Join(args, " "), e.String())
	}
	return o.String(), e.String(), exitCode(t, err)
}

// tui is `atmd maint` on a pseudo-terminal.
type tui struct {
	t      *testing.T
	cmd    *exec.Cmd
	tty    *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	seen   int // output before this was matched already
	done   chan struct{}
	waitEr error
}

func startTUI(t *testing.T, args ...string) *tui {
	t.Helper()
	u := &tui{t: t, cmd: command(context.Background(), args...), done: make(chan struct{})}
	var err error
	if u.tty, err = pty.StartWithSize(u.cmd, &pty.Winsize{Rows: 50, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := u.tty.Read(buf)
			u.mu.Lock()
			u.out.Write(buf[:n])
			u.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { u.waitEr = u.cmd.Wait(); close(u.done) }()
	t.Cleanup(func() {
		select {
		case <-u.done:
		default:
			u.cmd.Process.Kill()
			<-u.done
		}
		u.tty.Close()
		if t.Failed() {
			t.Logf("terminal output:\n%s", u.text())
		}
	})
	return u
}

func (u *tui) text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.out.String()
}

// expect waits for s in the output after what was matched before.
func (u *tui) expect(s string) {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := u.text()
		if i := strings.Index(all[u.seen:], s); i >= 0 {
			u.seen += i + len(s)
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("the terminal never showed %q; after the last match it shows:\n%s", s, all[u.seen:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// typeLine types a line and Enter, once the prompt is up.
func (u *tui) typeLine(s string) {
	u.t.Helper()
	u.expect("> ")
	if _, err := io.WriteString(u.tty, s+"\r"); err != nil {
		u.t.Fatal(err)
	}
}

// Acceptance 3: the terminal UI end to end against a running atmd —
// log in (supervisor mode begins), run a test dispense, read the
// journal, leave (back in service).
func TestMaintTerminalUI(t *testing.T) {
	cfg, _, p := startMaintATM(t)
	u := startTUI(t, "maint", "--config", cfg)
	u.expect("Technician ID")
	u.typeLine("1001")
	u.expect("PIN")
	u.typeLine("1234")
	u.expect("Maintenance menu")
	s := waitService(t, p, cfg, time.Now().Add(20*time.Second), "out-of-service", func(s status) bool { return s.State == "supervisor" })
	if s.Reason != "supervisor mode" {
		t.Errorf("out of service because %q", s.Reason)
	}
	u.typeLine("2") // device tests
	u.expect("Device tests")
	u.typeLine("3") // test dispense
	u.expect("Select the cassette")
	u.typeLine("1")
	u.expect("how many notes")
	u.typeLine("2")
	u.expect("into the reject bin?")
	u.typeLine("1")
	u.expect("2 note(s) went into the reject bin")
	u.typeLine("8")
	u.expect("Device tests")
	u.typeLine("8")
	u.expect("Maintenance menu")
	u.typeLine("4") // journal
	u.expect("Journal")
	u.typeLine("4") // maintenance actions
	u.expect("MAINT-TEST-DISPENSE ")
	u.typeLine("8")
	u.typeLine("8")
	u.expect("Maintenance menu")
	u.typeLine("8") // exit
	u.expect("Session ended.")
	select {
	case <-u.done:
	case <-time.After(20 * time.Second):
		t.Fatal("atmd maint did not exit")
	}
	if u.waitEr != nil {
		t.Errorf("atmd maint: %v", u.waitEr)
	}
	if strings.Contains(u.text(), "1234") {
		t.Error("the PIN was echoed on the terminal")
	}
	waitService(t, p, cfg, time.Now().Add(20*time.Second), "in-service", nil)

	// The journal holds every action with the technician's id; the
	// counters hold the test dispense as rejected notes.
	env := []string{"ATMD_TECH_PIN=1234"}
	out, errOut, code := runWith(t, env, "", "maint", "journal", "--config", cfg, "--tech", "1001", "--kind", "MAINT-*", "--json")
	if code != 0 {
		t.Fatalf("atmd maint journal: exit %d: %s", code, errOut)
	}
	var recs []struct {
		Kind   string            `json:"kind"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("journal JSON: %v\n%s", err, out)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
		if r.Fields["tech"] != "1001" {
			t.Errorf("%s without the technician: %v", r.Kind, r.Fields)
		}
	}
	for _, k := range []string{"MAINT-LOGIN", "MAINT-TEST-DISPENSE-INTENT", "MAINT-TEST-DISPENSE", "MAINT-JOURNAL-VIEW", "MAINT-LOGOUT"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("journal lacks %s: %v", k, kinds)
		}
	}
	out, errOut, code = runWith(t, nil, "", "maint", "counters", "--config", cfg, "--json")
	var ctr maint.Counters
	if code != 0 || json.Unmarshal([]byte(out), &ctr) != nil {
		t.Fatalf("atmd maint counters: exit %d %s\n%s", code, errOut, out)
	}
	if len(ctr.Cassettes) == 0 || ctr.Cassettes[0].Rejected != 2 || !ctr.Balanced || ctr.Period.TestNotes != 2 {
		t.Errorf("counters %+v", ctr)
	}
	file := filepath.Join(t.TempDir(), "journal.jsonl")
	if _, errOut, code = runWith(t, env, "", "maint", "journal", "--config", cfg, "--tech", "1001", "--export", file); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Contains(b, []byte(`"MAINT-JOURNAL-VIEW"`)) {
		t.Errorf("export file: %v", err)
	}
}

// Acceptance 1 on the command line: a fault injected into the running
// ATM shows in `atmd maint status --json` with cause and remedy, takes
// the ATM out of service, and clears.
func TestMaintStatusJSON(t *testing.T) {
	cfg, _, p := startMaintATM(t)
	get := func() maint.Status {
		t.Helper()
		out, errOut, code := runWith(t, nil, "", "maint", "status", "--config", cfg, "--json")
		var s maint.Status
		if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
			t.Fatalf("atmd maint status --json: exit %d %s\n%s", code, errOut, out)
		}
		return s
	}
	if _, errOut, code := runWith(t, nil, "", "step", "--config", cfg, "fault dispenser DSP-JAM"); code != 0 {
		t.Fatalf("step: %s", errOut)
	}
	eventually(t, time.Now().Add(20*time.Second), "DSP-JAM in the status", func() (bool, string) {
		s := get()
		for _, f := range s.Faults {
			if f.Code == "DSP-JAM" && f.Entry.Cause != "" && f.Entry.Remedy != "" && s.Service == "out-of-service" {
				return true, ""
			}
		}
		return false, s.Service + " " + s.Reason
	})
	out, _, _ := runWith(t, nil, "", "maint", "faults", "--config", cfg)
	if !strings.Contains(out, "DSP-JAM") || !strings.Contains(out, "remedy: Open the safe under dual control") {
		t.Errorf("atmd maint faults:\n%s", out)
	}
	runWith(t, nil, "", "step", "--config", cfg, "clear dispenser")
	waitService(t, p, cfg, time.Now().Add(20*time.Second), "in-service", nil)
	if s := get(); len(s.Faults) != 0 {
		t.Errorf("faults after clearing: %v", s.Faults)
	}
}

// Wrong PINs on the command line lock the technician out too.
func TestMaintCommandLockout(t *testing.T) {
	cfg, _, _ := startMaintATM(t)
	for i := 0; i < 3; i++ {
		_, errOut, code := runWith(t, []string{"ATMD_TECH_PIN=0000"}, "", "maint", "echo", "--config", cfg, "--tech", "1003")
		if code != 1 || !strings.Contains(errOut, "wrong technician id or PIN") {
			t.Fatalf("wrong PIN %d: exit %d %q", i+1, code, errOut)
		}
	}
	_, errOut, code := runWith(t, []string{"ATMD_TECH_PIN=2468"}, "", "maint", "echo", "--config", cfg, "--tech", "1003")
	if code != 1 || !strings.Contains(errOut, "locked out") {
		t.Errorf("right PIN while locked: exit %d %q", code, errOut)
	}
	// Another technician still gets in, with the PIN on stdin.
	out, errOut, code := runWith(t, nil, "1234\n", "maint", "echo", "--config", cfg, "--tech", "1001", "--json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Errorf("echo: exit %d %q %q", code, out, errOut)
	}
}

func TestMaintHashPIN(t *testing.T) {
	out, errOut, code := runWith(t, nil, "2468\n2468\n", "maint", "hash-pin", "--iterations", "1000")
	h, err := maint.ParseHash(strings.TrimSpace(out))
	if code != 0 || err != nil || !h.Matches("2468") {
		t.Fatalf("hash-pin: exit %d %q %q: %v", code, out, errOut, err)
	}
	if _, _, code := runWith(t, nil, "2468\n2469\n", "maint", "hash-pin"); code != 1 {
		t.Errorf("different PINs: exit %d", code)
	}
	if _, errOut, code := runWith(t, nil, "", "maint", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown subcommand") {
		t.Errorf("unknown subcommand: exit %d %q", code, errOut)
	}
	if _, _, code := runWith(t, nil, "", "maint", "test", "--socket", "/nonexistent"); code != 2 {
		t.Errorf("test without a device: exit %d", code)
	}
}
