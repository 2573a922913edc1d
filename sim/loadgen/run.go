package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/host"
)

// Defaults of Options.
const (
	DefaultAmount          = 100_000 // minor units: NT$1,000
	DefaultConnectParallel = 32
	DefaultConnectTimeout  = 2 * time.Minute
)

// Options shape and bound a fleet run. Addr, Fleet, ATMs, Count and
// Duration are required.
type Options struct {
	Addr     string        // the host, loopback only
	Fleet    *Fleet        // terminals and cards
	ATMs     int           // simulated ATMs, 1 to len(Fleet.Terminals)
	Count    int           // withdrawals started at most, in all
	Duration time.Duration // no withdrawal starts after this
	// Rate, when positive, paces the fleet to this many withdrawals a
	// second in all: each ATM starts one every ATMs/Rate seconds, the ATMs
	// evenly staggered (an open loop, as customers arrive). A withdrawal
	// that cannot start on time (the previous one is still out) starts
	// late, and its latency counts from when it should have started, so
	// a slow host is not hidden by the load backing off. Zero means back
	// to back (a closed loop).
	Rate float64
	// Amount of every withdrawal in minor units, a whole number of major
	// units; DefaultAmount when zero.
	Amount int64
	// ConnectParallel ATMs dial, sign on and exchange keys at once;
	// DefaultConnectParallel when zero.
	ConnectParallel int
	// ConnectTimeout bounds the whole connect phase;
	// DefaultConnectTimeout when zero.
	ConnectTimeout time.Duration
	// Timeout and ReversalPatience are each ATM's (ATMConfig).
	Timeout, ReversalPatience time.Duration
	Log                       zerolog.Logger
}

// Result is what a fleet run measured.
type Result struct {
	ATMs     int
	Connect  time.Duration // until every ATM was signed on with working keys
	Elapsed  time.Duration // from the first withdrawal started to the last one settled
	Started  int           // withdrawals started
	Approved int           // approved with a valid dispense token: cash out
	Declined int           // answered with another response code
	// Errors counts withdrawals without a usable answer: no response,
	// link lost, a bad dispense token, or a send that failed. Each was
	// reversed when its outcome was unknown.
	Errors   int
	Reversed int      // reversals acknowledged
	Problems []string // the first few errors, for the report
	// Latencies are the round trips that got a response, sorted; in a
	// paced run each counts from when its withdrawal was due.
	Latencies Latencies
	Rate      float64 // Options.Rate
	// CPU is the user and system CPU time of this process during the
	// run phase: the load generator, plus the host when it runs here.
	CPU time.Duration
	// Dispensed is the cash paid out per terminal, minor units.
	Dispensed map[string]int64
}

// TPS returns approved withdrawals per second of Elapsed.
func (r *Result) TPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Approved) / r.Elapsed.Seconds()
}

// CPUPerWithdrawal returns CPU divided by the withdrawals started.
func (r *Result) CPUPerWithdrawal() time.Duration {
	if r.Started == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Started)
}

// maxProblems is how many errors a Result quotes.
const maxProblems = 5

// Run connects o.ATMs simulated ATMs to the host at o.Addr, then has each
// send withdrawals back to back (each ATM with its own share of the
// fleet's cards) until o.Count have been started or o.Duration has
// passed, and waits for every one started to settle. It fails only when
// the options are bad or the ATMs cannot connect; failed withdrawals are
// counted in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	atms, connect, err := connectAll(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		var wg sync.WaitGroup
		for _, a := range atms {
			wg.Add(1)
			go func() { defer wg.Done(); a.Close() }()
		}
		wg.Wait()
	}()

	type tally struct {
		started, approved, declined, errors, reversed int
		problems                                      []string
		lat                                           []time.Duration
		dispensed                                     int64
	}
	tallies := make([]tally, len(atms))
	var issued atomic.Int64
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	for i, a := range atms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[i]
			t.lat = make([]time.Duration, 0, min(o.Count/len(atms)+1, 1<<16))
			var every time.Duration // between this ATM's withdrawals when paced
			due := start
			if o.Rate > 0 {
				every = time.Duration(float64(len(atms)) / o.Rate * float64(time.Second))
				due = start.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))
			}
			timer := time.NewTimer(0)
			defer timer.Stop()
			<-timer.C
			for k := i; ; k += len(atms) {
				if every > 0 {
					if !due.Before(deadline) {
						return
					}
					if wait := time.Until(due); wait > 0 {
						timer.Reset(wait)
						select {
						case <-timer.C:
						case <-ctx.Done():
							return
						}
					}
				}
				late := time.Duration(0)
				if every > 0 {
					late = max(time.Since(due), 0)
					due = due.Add(every)
				}
				if issued.Add(1) > int64(o.Count) || !time.Now().Before(deadline) || ctx.Err() != nil {
					return
				}
				c := o.Fleet.Cards[k%len(o.Fleet.Cards)]
				t.started++
				out, err := a.Withdraw(ctx, c, o.Amount)
				if out.RespCode != "" {
					t.lat = append(t.lat, late+out.Latency)
				}
				if out.Reversed {
					t.reversed++
				}
				switch {
				case err != nil:
					t.errors++
					if len(t.problems) < maxProblems {
						t.problems = append(t.problems, err.Error())
					}
				case out.Dispensed:
					t.approved++
					t.dispensed += out.Amount
				default:
					t.declined++
					if len(t.problems) < maxProblems {
						t.problems = append(t.problems, fmt.Sprintf("%s: card %s declined with response code %s", a.cfg.Terminal.ID, c.ID, out.RespCode))
					}
				}
			}
		}()
	}
	wg.Wait()
	r := &Result{ATMs: len(atms), Rate: o.Rate, Connect: connect, Elapsed: time.Since(start), CPU: cpuTime() - cpu0, Dispensed: map[string]int64{}}
	var lat []time.Duration
	for i, t := range tallies {
		r.Started += t.started
		r.Approved += t.approved
		r.Declined += t.declined
		r.Errors += t.errors
		r.Reversed += t.reversed
		if len(r.Problems) < maxProblems {
			r.Problems = append(r.Problems, t.problems[:min(len(t.problems), maxProblems-len(r.Problems))]...)
		}
		lat = append(lat, t.lat...)
		if t.dispensed != 0 {
			r.Dispensed[atms[i].cfg.Terminal.ID] += t.dispensed
		}
	}
	r.Latencies = NewLatencies(lat)
	return r, nil
}

func (o *Options) check() error {
	if err := CheckLoopback(o.Addr); err != nil {
		return err
	}
	if o.Amount == 0 {
		o.Amount = DefaultAmount
	}
	if o.ConnectParallel <= 0 {
		o.ConnectParallel = DefaultConnectParallel
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	switch {
	case o.Fleet == nil || len(o.Fleet.Cards) == 0:
		return fmt.Errorf("%w: no fleet", ErrOptions)
	case o.ATMs < 1 || o.ATMs > len(o.Fleet.Terminals):
		return fmt.Errorf("%w: ATMs %d out of range 1–%d (the fleet's terminals)", ErrOptions, o.ATMs, len(o.Fleet.Terminals))
	case o.Count < 1:
		return fmt.Errorf("%w: Count must bound the run", ErrOptions)
	case o.Duration <= 0:
		return fmt.Errorf("%w: Duration must bound the run", ErrOptions)
	case o.Rate < 0:
		return fmt.Errorf("%w: negative Rate", ErrOptions)
	case o.Amount < 0 || o.Amount%100 != 0:
		return fmt.Errorf("%w: Amount %d is not a whole number of major units", ErrOptions, o.Amount)
	}
	return nil
}

// connectAll connects the run's ATMs, ConnectParallel at a time.
func connectAll(ctx context.Context, o Options) ([]*ATM, time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	start := time.Now()
	atms := make([]*ATM, o.ATMs)
	errs := make([]error, o.ATMs)
	sem := make(chan struct{}, o.ConnectParallel)
	var wg sync.WaitGroup
	for i := range atms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-cctx.Done():
				errs[i] = cctx.Err()
				return
			}
			defer func() { <-sem }()
			atms[i], errs[i] = Connect(cctx, ATMConfig{
				Addr: o.Addr, Terminal: o.Fleet.Terminals[i], STAN: o.Fleet.STAN(i),
				Timeout: o.Timeout, ReversalPatience: o.ReversalPatience, Log: o.Log,
			})
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		for _, a := range atms {
			if a != nil {
				a.Close()
			}
		}
		return nil, took, fmt.Errorf("loadgen: connecting %d ATMs: %w", o.ATMs, firstErrors(errs, 3))
	}
	return atms, took, nil
}

// firstErrors joins the first n non-nil errors and says how many more
// there were.
func firstErrors(errs []error, n int) error {
	var out []error
	more := 0
	for _, e := range errs {
		switch {
		case e == nil:
		case len(out) < n:
			out = append(out, e)
		default:
			more++
		}
	}
	if more > 0 {
		out = append(out, fmt.Errorf("and %d more", more))
	}
	return errors.Join(out...)
}

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Latencies are round-trip times, sorted ascending.
type Latencies []time.Duration

// NewLatencies sorts d (in place) and returns it as Latencies.
func NewLatencies(d []time.Duration) Latencies {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return Latencies(d)
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100):
// the smallest sample with at least p% of the samples at or below it; 0
// when there are none.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(l)) + 0.999999999)
	rank = min(max(rank, 1), len(l))
	return l[rank-1]
}

// Mean returns the average, 0 when there are no samples.
func (l Latencies) Mean() time.Duration {
	if len(l) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	return sum / time.Duration(len(l))
}

// Max returns the largest sample, 0 when there are none.
func (l Latencies) Max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[len(l)-1]
}

// Reconcile opens the fleet's host database (not served) and reconciles
// its ledger; see host.Host.Reconcile. Use RunningHost.Host.Reconcile
// for a host served in this process.
func Reconcile(ctx context.Context, f *Fleet) (host.Report, error) {
	h, err := host.New(f.Host)
	if err != nil {
		return host.Report{}, fmt.Errorf("loadgen: %w", err)
	}
	if err := h.Open(ctx); err != nil {
		return host.Report{}, fmt.Errorf("loadgen: %w", err)
	}
	defer h.Close()
	rep, err := h.Reconcile(ctx)
	if err != nil {
		return host.Report{}, fmt.Errorf("loadgen: %w", err)
	}
	return rep, nil
}

// Compare checks what the host says each terminal dispensed (approved −
// reversed, in Currency) against what the simulated ATMs paid out,
// summed over runs; it returns one line per terminal that differs.
func Compare(rep host.Report, dispensed map[string]int64) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range rep.Terminals {
		if t.Currency != Currency {
			continue
		}
		seen[t.Terminal] = true
		if got := dispensed[t.Terminal]; got != t.Dispensed {
			out = append(out, fmt.Sprintf("terminal %s: host says %d dispensed, the ATMs paid out %d", t.Terminal, t.Dispensed, got))
		}
	}
	for id, v := range dispensed {
		if !seen[id] && v != 0 {
			out = append(out, fmt.Sprintf("terminal %s: host says nothing dispensed, the ATMs paid out %d", id, v))
		}
	}
	sort.Strings(out)
	return out
}

// Merge adds the cash paid out in b to a.
func Merge(a, b map[string]int64) {
	for k, v := range b {
		a[k] += v
	}
}
