package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/internal/failpoint"
	"github.com/atmd/atmd/sim/netfault"
)

// atmdBin is the atmd binary the suite runs, built by TestMain (with the
// race detector when the tests have it, so a race in the daemon fails
// the run: the process then exits 66 instead of 0).
var atmdBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	dir, err := os.MkdirTemp("", "atmd-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	atmdBin = filepath.Join(dir, "atmd")
	args := []string{"build", "-o", atmdBin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	build := exec.Command(goTool, append(args, "github.com/atmd/atmd/cmd/atmd")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building atmd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

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

// testLog passes progress lines to t.Log.
type testLog struct {
	mu sync.Mutex
	t  *testing.T
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The suite, small: a few kills at every failpoint, a few withdrawals in
// every network fault. Every check must pass, and each failpoint must
// lead to the recovery decision atm/recover.go makes for it.
func TestSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs atmd processes for half a minute")
	}
	const kills, netRuns = 3, 2
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		Config: "../../configs/sim.yaml", Binary: atmdBin, Kills: kills, Net: true, NetWithdrawals: netRuns,
		Timeout: 150 * time.Second, Progress: &testLog{t: t},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Write(&b)
	t.Logf("report:\n%s", b.String())
	if !rep.OK() {
		t.Fatalf("the suite failed; work directory kept in %s", rep.Dir)
	}
	if rep.Kept {
		t.Errorf("work directory %s kept after a run that passed", rep.Dir)
	} else if _, err := os.Stat(rep.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work directory %s not removed: %v", rep.Dir, err)
	}

	// What recovery must decide after a kill at each point.
	want := map[string]string{
		failpoint.BeforeSend:       "reverse-no-reply",
		failpoint.RequestSent:      "reverse-no-reply",
		failpoint.ApprovalReceived: "reverse-not-dispensed",
		failpoint.MidDispense:      "reverse-retracted",
		failpoint.CashPresented:    "reverse-retracted",
		failpoint.CashTaken:        "", // the journal says the cash was taken: nothing to recover
	}
	if len(rep.Points) != len(failpoint.Points) {
		t.Fatalf("%d failpoints reported, want %d", len(rep.Points), len(failpoint.Points))
	}
	for _, p := range rep.Points {
		if p.Kills != kills {
			t.Errorf("%s: %d kills, want %d", p.Point, p.Kills, kills)
		}
		action := want[p.Point]
		if action == "" {
			if len(p.Recovery) != 0 || p.Ledger.Notes != kills*notesPerTxn || p.Ledger.ReversedCount != 0 {
				t.Errorf("%s: recovery %v, %d notes out, %d reversed; want no recovery, %d notes, none reversed",
					p.Point, p.Recovery, p.Ledger.Notes, p.Ledger.ReversedCount, kills*notesPerTxn)
			}
			continue
		}
		if len(p.Recovery) != 1 || p.Recovery[action] != kills {
			t.Errorf("%s: recovery %v, want %s × %d", p.Point, p.Recovery, action, kills)
		}
		if p.Reversals != kills || p.Ledger.Notes != 0 || p.Ledger.Dispensed != 0 {
			t.Errorf("%s: %d reversals, %d notes out, %d dispensed at the host; want %d reversals and no cash",
				p.Point, p.Reversals, p.Ledger.Notes, p.Ledger.Dispensed, kills)
		}
	}
	if len(rep.Net) != len(netfault.Modes) {
		t.Fatalf("%d network faults reported, want %d", len(rep.Net), len(netfault.Modes))
	}
	for _, n := range rep.Net {
		if n.Withdrawals != netRuns {
			t.Errorf("net %s: %d withdrawals, want %d", n.Mode, n.Withdrawals, netRuns)
		}
		switch n.Mode {
		case netfault.Drop, netfault.Slow:
			// The host approved, the ATM never (or too late) heard of it.
			if n.WithCash != 0 || n.Ledger.ApprovedCount != netRuns || n.Ledger.ReversedCount != netRuns {
				t.Errorf("net %s: %d with cash, %d approved, %d reversed; want 0, %d, %d",
					n.Mode, n.WithCash, n.Ledger.ApprovedCount, n.Ledger.ReversedCount, netRuns, netRuns)
			}
		default:
			if n.WithCash != netRuns || n.Ledger.ReversedCount != 0 {
				t.Errorf("net %s: %d with cash, %d reversed; want %d, 0", n.Mode, n.WithCash, n.Ledger.ReversedCount, netRuns)
			}
		}
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"unknown failpoint", Options{Config: "../../configs/sim.yaml", Binary: atmdBin, Points: []string{"mid-air"}}},
		{"unknown net mode", Options{Config: "../../configs/sim.yaml", Binary: atmdBin, Net: true, NetModes: []netfault.Mode{"flaky"}}},
		{"no such config", Options{Config: "no/such.yaml", Binary: atmdBin}},
		{"too many kills for the seed", Options{Config: "../../configs/sim.yaml", Binary: atmdBin, Kills: 100000}},
		{"no binary", Options{Config: "../../configs/sim.yaml", Binary: "/no/such/atmd"}},
		{"nothing to run", Options{Config: "../../configs/sim.yaml", Binary: atmdBin, Kills: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(ctx, tc.o)
			if !errors.Is(err, ErrSetup) || rep != nil {
				t.Fatalf("Run = %v, %v; want ErrSetup", rep, err)
			}
		})
	}
	// A base config without a host section.
	b, err := os.ReadFile("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "\nhost:\n")
	j := strings.Index(string(b), "\nlog:\n")
	if i < 0 || j < i {
		t.Fatal("configs/sim.yaml: no host section before log")
	}
	path := filepath.Join(t.TempDir(), "nohost.yaml")
	if err := os.WriteFile(path, append(b[:i:i], b[j:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Options{Config: path, Binary: atmdBin}); !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "no host section") {
		t.Errorf("config without a host: %v", err)
	}
}
