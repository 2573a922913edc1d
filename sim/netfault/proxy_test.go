package netfault

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
)

// The tests put the proxy between a fake host, which answers every
// request with the response MTI followed by the request's bytes after its
// MTI, and a client that writes and reads frames. Every wait has a
// deadline.

const testWait = 5 * time.Second

// fakeHost answers frames; got receives every request it read.
type fakeHost struct {
	ln  net.Listener
	got chan string
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{ln: ln, got: make(chan string, 100)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for {
					msg, err := hostlink.ReadFrame(c, 0)
					if err != nil {
						return
					}
					h.got <- string(msg)
					resp := hostlink.ResponseMTI(string(msg[:4])) + string(msg[4:])
					if hostlink.WriteFrame(c, []byte(resp)) != nil {
						return
					}
				}
			}()
		}
	}()
	return h
}

// startProxy runs a proxy in front of h until the test ends.
func startProxy(t *testing.T, h *fakeHost, o Options) *Proxy {
	t.Helper()
	o.Target = h.ln.Addr().String()
	p, err := Listen("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(testWait):
			t.Error("Serve did not return after cancel")
		}
	})
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testWait))
	return c
}

func write(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := hostlink.WriteFrame(c, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := hostlink.ReadFrame(c, 0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestPassForwardsBothWays(t *testing.T) {
	h := newFakeHost(t)
	var mu sync.Mutex
	var seen []string
	p := startProxy(t, h, Options{Observe: func(d Direction, msg []byte) {
		mu.Lock()
		seen = append(seen, d.String()+":"+string(msg))
		mu.Unlock()
	}})
	c := dial(t, p)
	write(t, c, "0800A")
	if got := read(t, c); got != "0810A" {
		t.Fatalf("got %q, want 0810A", got)
	}
	write(t, c, "0200B")
	if got := read(t, c); got != "0210B" {
		t.Fatalf("got %q, want 0210B", got)
	}
	st := p.Stats()
	if st.Conns != 1 || st.ToHost != 2 || st.ToATM != 2 {
		t.Errorf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"to-host:0800A", "to-atm:0810A", "to-host:0200B", "to-atm:0210B"}
	if len(seen) != len(want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("observed %v, want %v", seen, want)
		}
	}
}

// Drop: the 0200 reaches the host, then the ATM's connection is closed
// before any answer; other requests are answered.
func TestDropClosesAfterFinancialRequest(t *testing.T) {
	h := newFakeHost(t)
	p := startProxy(t, h, Options{Mode: Drop})
	c := dial(t, p)
	write(t, c, "0800A")
	if got := read(t, c); got != "0810A" {
		t.Fatalf("got %q", got)
	}
	write(t, c, "0200B")
	if _, err := hostlink.ReadFrame(c, 0); err == nil {
		t.Fatal("read a response after the 0200; want the connection closed")
	}
	deadline := time.After(testWait)
	for _, want := range []string{"0800A", "0200B"} {
		select {
		case got := <-h.got:
			if got != want {
				t.Fatalf("host got %q, want %q", got, want)
			}
		case <-deadline:
			t.Fatalf("host never got %q", want)
		}
	}
	// The host's answer is read and swallowed before its side closes.
	waitStats(t, p, "the 0210 swallowed", func(s Stats) bool { return s.Swallowed == 1 })
	if st := p.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
	// The ATM reconnects and carries on.
	c2 := dial(t, p)
	write(t, c2, "0420C")
	if got := read(t, c2); got != "0430C" {
		t.Fatalf("after reconnect got %q", got)
	}
}

// Slow: a 0210 arrives Delay late, behind later responses; Settle waits
// for it.
func TestSlowDelaysFinancialResponses(t *testing.T) {
	h := newFakeHost(t)
	const delay = 300 * time.Millisecond
	p := startProxy(t, h, Options{Mode: Slow, Delay: delay})
	c := dial(t, p)
	start := time.Now()
	write(t, c, "0200A")
	write(t, c, "0800B")
	if got := read(t, c); got != "0810B" {
		t.Fatalf("first got %q, want the echo answer 0810B ahead of the delayed 0210", got)
	}
	if got := read(t, c); got != "0210A" {
		t.Fatalf("second got %q, want 0210A", got)
	}
	if el := time.Since(start); el < delay {
		t.Errorf("0210 after %v, want at least %v", el, delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Delayed != 1 || st.Lost != 0 {
		t.Errorf("stats %+v, want 1 delayed, 0 lost", st)
	}
}

func TestDuplicateSendsTwice(t *testing.T) {
	h := newFakeHost(t)
	p := startProxy(t, h, Options{Mode: Duplicate})
	c := dial(t, p)
	write(t, c, "0200A")
	for i := range 2 {
		if got := read(t, c); got != "0210A" {
			t.Fatalf("copy %d: got %q", i+1, got)
		}
	}
	if st := p.Stats(); st.Duplicated != 1 {
		t.Errorf("Duplicated = %d, want 1", st.Duplicated)
	}
}

// Reorder: the first answer is held until the second arrives and goes
// out behind it; a lone answer goes out after MaxHold.
func TestReorderSwapsResponses(t *testing.T) {
	h := newFakeHost(t)
	p := startProxy(t, h, Options{Mode: Reorder, MaxHold: time.Hour})
	c := dial(t, p)
	write(t, c, "0200A")
	// Let the host answer A (held by the proxy) before B goes.
	select {
	case <-h.got:
	case <-time.After(testWait):
		t.Fatal("host never got A")
	}
	waitHeld(t, p, 1)
	write(t, c, "0800B")
	if got := read(t, c); got != "0810B" {
		t.Fatalf("first got %q, want 0810B", got)
	}
	if got := read(t, c); got != "0210A" {
		t.Fatalf("second got %q, want 0210A", got)
	}
	if st := p.Stats(); st.Reordered != 1 {
		t.Errorf("Reordered = %d, want 1", st.Reordered)
	}
}

func TestReorderReleasesLoneResponse(t *testing.T) {
	h := newFakeHost(t)
	p := startProxy(t, h, Options{Mode: Reorder, MaxHold: 50 * time.Millisecond})
	c := dial(t, p)
	write(t, c, "0200A")
	if got := read(t, c); got != "0210A" {
		t.Fatalf("got %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Released != 1 || st.Reordered != 0 {
		t.Errorf("stats %+v, want 1 released", st)
	}
}

// A frame held when its connection closes is lost, and Settle does not
// wait for it.
func TestHeldFrameLostWithConnection(t *testing.T) {
	h := newFakeHost(t)
	p := startProxy(t, h, Options{Mode: Slow, Delay: time.Hour})
	c := dial(t, p)
	write(t, c, "0200A")
	waitHeld(t, p, 1)
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Lost != 1 {
		t.Errorf("Lost = %d, want 1", st.Lost)
	}
}

func TestSettleHonoursContext(t *testing.T) {
	h := newFakeHost(t)
	p := startProxy(t, h, Options{Mode: Slow, Delay: time.Hour})
	c := dial(t, p)
	write(t, c, "0200A")
	waitHeld(t, p, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Settle(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Settle = %v, want deadline exceeded", err)
	}
}

// waitStats waits until cond holds for the proxy's stats.
func waitStats(t *testing.T, p *Proxy, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitHeld waits until the proxy holds n frames.
func waitHeld(t *testing.T, p *Proxy, n int) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		p.mu.Lock()
		held, wake := p.held, p.wake
		p.mu.Unlock()
		if held == n {
			return
		}
		select {
		case <-wake:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("proxy holds %d frames, want %d", held, n)
		}
	}
}

func TestListenRejectsBadOptions(t *testing.T) {
	if _, err := Listen("127.0.0.1:0", Options{Target: "127.0.0.1:1", Mode: "flaky"}); !errors.Is(err, ErrBadMode) {
		t.Errorf("bad mode: %v, want ErrBadMode", err)
	}
	if _, err := Listen("127.0.0.1:0", Options{Target: "nowhere"}); err == nil {
		t.Error("a target without a port was accepted")
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range append([]Mode{Pass}, Modes...) {
		if got, err := ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMode("Drop!"); !errors.Is(err, ErrBadMode) {
		t.Errorf("ParseMode(Drop!) = %v, want ErrBadMode", err)
	}
}

func TestMTIOf(t *testing.T) {
	for in, want := range map[string]string{"0200abc": "0200", "0210": "0210", "021": "", "02A0": "", "": ""} {
		if got := mtiOf([]byte(in)); got != want {
			t.Errorf("mtiOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzMTIOf(f *testing.F) {
	for _, s := range []string{"0200", "0210xyz", "", "02", "\x00\x00\x00\x00", "0a00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m := mtiOf(msg)
		if m == "" {
			return
		}
		if len(m) != 4 || string(msg[:4]) != m {
			t.Fatalf("mtiOf(%q) = %q", msg, m)
		}
		for _, c := range m {
			if c < '0' || c > '9' {
				t.Fatalf("mtiOf(%q) = %q: not digits", msg, m)
			}
		}
	})
}
