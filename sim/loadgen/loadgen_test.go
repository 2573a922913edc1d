package loadgen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/loadgen"
)

func fleet(t *testing.T, terminals, cards int) *loadgen.Fleet {
	t.Helper()
	f, err := loadgen.Generate(t.TempDir(), terminals, cards)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func serve(t *testing.T, f *loadgen.Fleet) *loadgen.RunningHost {
	t.Helper()
	rh, err := loadgen.ServeHost(t.Context(), f, "", true, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rh.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return rh
}

// A small fleet runs to its count, every withdrawal approved with a valid
// token, and the host's ledger balances against what the ATMs paid out.
func TestRunBalances(t *testing.T) {
	f := fleet(t, 3, 12)
	rh := serve(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	paid := map[string]int64{}
	for _, n := range []int{1, 3} {
		r, err := loadgen.Run(ctx, loadgen.Options{Addr: rh.Addr, Fleet: f, ATMs: n, Count: 30, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if r.Started != 30 || r.Approved != 30 || r.Errors != 0 || r.Declined != 0 {
			t.Fatalf("ATMs %d: started %d approved %d declined %d errors %d: %v", n, r.Started, r.Approved, r.Declined, r.Errors, r.Problems)
		}
		if len(r.Latencies) != 30 || r.Latencies.Percentile(50) <= 0 || r.Latencies.Percentile(100) != r.Latencies.Max() {
			t.Errorf("latencies: %d samples, p50 %v", len(r.Latencies), r.Latencies.Percentile(50))
		}
		loadgen.Merge(paid, r.Dispensed)
	}
	rep, err := rh.Host.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := loadgen.Compare(rep, paid); len(diff) > 0 {
		t.Fatalf("host and ATMs disagree: %v", diff)
	}
	var total int64
	for _, v := range paid {
		total += v
	}
	if total != 60*loadgen.DefaultAmount {
		t.Errorf("paid out %d, want %d", total, 60*loadgen.DefaultAmount)
	}
}

// The duration bounds a run as well as the count.
func TestRunStopsAtDuration(t *testing.T) {
	f := fleet(t, 2, 4)
	rh := serve(t, f)
	start := time.Now()
	r, err := loadgen.Run(t.Context(), loadgen.Options{Addr: rh.Addr, Fleet: f, ATMs: 2, Count: 1 << 30, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Started == 0 || r.Errors != 0 {
		t.Fatalf("started %d errors %d: %v", r.Started, r.Errors, r.Problems)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a 300ms run took %v", took)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:5800": true, "[::1]:5800": true, "127.1.2.3:1": true,
		"localhost:5800": false, "10.0.0.1:5800": false, "example.com:80": false, "127.0.0.1": false,
	} {
		err := loadgen.CheckLoopback(addr)
		if (err == nil) != ok || (err != nil && !errors.Is(err, loadgen.ErrNotLoopback)) {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
	f := fleet(t, 1, 1)
	_, err := loadgen.Run(t.Context(), loadgen.Options{Addr: "192.0.2.1:5800", Fleet: f, ATMs: 1, Count: 1, Duration: time.Second})
	if !errors.Is(err, loadgen.ErrNotLoopback) {
		t.Errorf("Run to a remote address: %v", err)
	}
}

func TestRunNeedsBounds(t *testing.T) {
	f := fleet(t, 1, 1)
	for _, o := range []loadgen.Options{
		{Addr: "127.0.0.1:1", Fleet: f, ATMs: 1, Duration: time.Second},
		{Addr: "127.0.0.1:1", Fleet: f, ATMs: 1, Count: 1},
		{Addr: "127.0.0.1:1", Fleet: f, ATMs: 2, Count: 1, Duration: time.Second},
	} {
		if _, err := loadgen.Run(t.Context(), o); !errors.Is(err, loadgen.ErrOptions) {
			t.Errorf("Run(%+v) = %v, want ErrOptions", o, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	l := loadgen.NewLatencies(d)
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 99.9: 100, 100: 100, 1: 1, 0.5: 1} {
		if got := l.Percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if l.Mean() != 50 {
		t.Errorf("mean %v", l.Mean())
	}
	if (loadgen.Latencies{}).Percentile(50) != 0 {
		t.Error("empty p50 not 0")
	}
}

func TestFleetSaveLoad(t *testing.T) {
	f := fleet(t, 2, 3)
	g, err := loadgen.Load(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Terminals) != 2 || len(g.Cards) != 3 || string(g.Terminals[1].TMK) != string(f.Terminals[1].TMK) ||
		g.Cards[2] != f.Cards[2] || g.Host.DB != f.Host.DB {
		t.Fatalf("loaded fleet differs")
	}
}

// A paced run keeps to its rate: 2 ATMs at 40 a second for half a second
// start about 20 withdrawals, not as many as they could.
func TestRunPaced(t *testing.T) {
	f := fleet(t, 2, 4)
	rh := serve(t, f)
	r, err := loadgen.Run(t.Context(), loadgen.Options{Addr: rh.Addr, Fleet: f, ATMs: 2, Rate: 40, Count: 1000, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Started < 10 || r.Started > 21 || r.Errors != 0 {
		t.Fatalf("started %d (want about 20) errors %d: %v", r.Started, r.Errors, r.Problems)
	}
}

// Whole withdrawals through a real atmd with simulated devices: every
// customer gets the cash, and the host's ledger agrees.
func TestRunATM(t *testing.T) {
	f := fleet(t, 2, 4)
	rh := serve(t, f)
	r, err := loadgen.RunATM(t.Context(), loadgen.ATMOptions{
		Config: "../../configs/sim.yaml", Fleet: f, Terminal: 1, Addr: rh.Addr, Dir: t.TempDir(),
		Count: 3, Duration: time.Minute, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Customers != 3 || r.Errors != 0 || len(r.Cycles) != 3 || len(r.HostRT) != 3 || r.Start <= 0 {
		t.Fatalf("customers %d errors %d cycles %d host round trips %d start %v: %v", r.Customers, r.Errors, len(r.Cycles), len(r.HostRT), r.Start, r.Problems)
	}
	rep, err := rh.Host.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := loadgen.Compare(rep, map[string]int64{f.Terminals[1].ID: r.Dispensed}); len(diff) > 0 {
		t.Fatal(diff)
	}
}
