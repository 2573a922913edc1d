package hostlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/internal/clock"
)

// wait bounds every wait on the real clock; the client's own timers run
// on a testClock and move only when a test advances it.
const wait = 5 * time.Second

const (
	testTimeout = 30 * time.Second
	testEcho    = 60 * time.Second
	testMinBack = 1 * time.Second
	testMaxBack = 8 * time.Second
)

// testClock is a fake clock that records every timer armed, so a test can
// wait until the client is waiting before it moves time on.
type testClock struct {
	*clock.Fake
	mu      sync.Mutex
	armed   []time.Duration
	changed chan struct{} // closed and replaced on every After
}

func newTestClock() *testClock {
	start := time.Date(2026, 3, 15, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	return &testClock{Fake: clock.NewFake(start), changed: make(chan struct{})}
}

func (c *testClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.mu.Lock()
	c.armed = append(c.armed, d)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return ch
}

// mark is the position in the record of armed timers.
func (c *testClock) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.armed)
}

// waitArmed waits until a timer of d is armed after position since and
// returns the position after it.
func (c *testClock) waitArmed(t *testing.T, d time.Duration, since int) int {
	t.Helper()
	deadline := time.After(wait)
	for {
		c.mu.Lock()
		for i := since; i < len(c.armed); i++ {
			if c.armed[i] == d {
				c.mu.Unlock()
				return i + 1
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %v timer armed", d)
		}
	}
}

// testHost is a Server on 127.0.0.1 that records every request.
type testHost struct {
	addr   string
	reqs   chan *Message
	cancel context.CancelFunc
	done   chan error
}

func startHost(t *testing.T, addr string, h HandlerFunc) *testHost {
	t.Helper()
	return startHostWith(t, addr, h, nil)
}

// startHostWith is startHost with a hook to set the Server's MAC, TLS
// and other options before it serves.
func startHostWith(t *testing.T, addr string, h HandlerFunc, configure func(*Server)) *testHost {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	host := &testHost{addr: ln.Addr().String(), reqs: make(chan *Message, 100), cancel: cancel, done: make(chan error, 1)}
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req *Message) *Message {
		host.reqs <- req
		return h(ctx, req)
	})}
	if configure != nil {
		configure(srv)
	}
	go func() { host.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { host.stop(t) })
	return host
}

func (h *testHost) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok && err != nil {
			t.Errorf("Serve: %v", err)
		}
		if ok {
			close(h.done)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return")
	}
}

// next returns the next request the host received.
func (h *testHost) next(t *testing.T) *Message {
	t.Helper()
	select {
	case m := <-h.reqs:
		return m
	case <-time.After(wait):
		t.Fatal("host received no request")
		return nil
	}
}

func approve(_ context.Context, req *Message) *Message {
	return &Message{
		MTI: ResponseMTI(req.MTI), STAN: req.STAN, TerminalID: req.TerminalID,
		NetCode: req.NetCode, Amount: req.Amount, RespCode: RCApproved,
	}
}

type testClient struct {
	*Client
	clk  *testClock
	stop func()
}

func startClient(t *testing.T, addr string, observe func(Direction, *Message)) *testClient {
	t.Helper()
	return startClientWith(t, addr, func(cfg *Config) { cfg.Observe = observe })
}

// startClientWith is startClient with a hook to set MAC, TLS, OnReject
// and the rest of the Config before the client starts.
func startClientWith(t *testing.T, addr string, configure func(*Config)) *testClient {
	t.Helper()
	clk := newTestClock()
	cfg := Config{
		Addr: addr, TerminalID: demoTID, AcceptorID: demoAccID,
		Timeout: testTimeout, EchoInterval: testEcho, MinBackoff: testMinBack, MaxBackoff: testMaxBack,
		Clock: clk,
	}
	if configure != nil {
		configure(&cfg)
	}
	c := NewClient(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(wait):
				t.Fatal("Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return &testClient{Client: c, clk: clk, stop: stop}
}

func (c *testClient) waitLink(t *testing.T, up bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case got := <-c.Events():
			if got == up {
				return
			}
		case <-deadline:
			t.Fatalf("link never went up=%v", up)
		}
	}
}

func withdrawal(amount int64) *Message {
	return &Message{MTI: MTIFinRequest, ProcCode: ProcWithdrawal, PAN: demoPAN, Amount: amount, Currency: "901"}
}

func TestClientSignOnSendSignOff(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	var (
		mu   sync.Mutex
		seen []string
	)
	c := startClient(t, host.addr, func(d Direction, m *Message) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%v %s %s", d, m.MTI, m.STAN))
	})
	c.waitLink(t, true)
	if !c.Up() {
		t.Fatal("Up() = false after the up event")
	}
	signOn := host.next(t)
	if signOn.MTI != MTINetRequest || signOn.NetCode != NetSignOn || signOn.TerminalID != demoTID || signOn.AcceptorID != demoAccID {
		t.Errorf("sign-on = %s", Describe(signOn))
	}

	req := withdrawal(300000)
	resp, err := c.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MTI != MTIFinResponse || resp.STAN != req.STAN || resp.RespCode != RCApproved {
		t.Errorf("response = %s", Describe(resp))
	}
	// Send filled the request in place, times from the Clock.
	want := Message{MTI: MTIFinRequest, ProcCode: ProcWithdrawal, PAN: demoPAN, Amount: 300000, Currency: "901",
		STAN: "000002", TerminalID: demoTID, AcceptorID: demoAccID,
		TransmitTime: "0315013000", LocalTime: "093000", LocalDate: "0315"}
	if !reflect.DeepEqual(*req, want) {
		t.Errorf("sent %+v\nwant %+v", *req, want)
	}
	if got := host.next(t); got.STAN != "000002" || got.PAN != demoPAN {
		t.Errorf("host received %s", Describe(got))
	}

	c.stop()
	if bye := host.next(t); bye.NetCode != NetSignOff {
		t.Errorf("after stop the host received %s, want a sign-off", Describe(bye))
	}
	if c.Up() {
		t.Error("Up() = true after Run returned")
	}
	if up := <-c.Events(); up {
		t.Error("last event is up after Run returned")
	}
	mu.Lock()
	defer mu.Unlock()
	wantSeen := []string{"out 0800 000001", "in 0810 000001", "out 0200 000002", "in 0210 000002", "out 0800 000003", "in 0810 000003"}
	if fmt.Sprint(seen) != fmt.Sprint(wantSeen) {
		t.Errorf("Observe saw %q\nwant %q", seen, wantSeen)
	}
}

func TestClientRepeatKeepsSTANAndLocalTime(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	rev := &Message{MTI: MTIReversalRepeat, STAN: "000777", LocalTime: "080000", LocalDate: "0314"}
	if _, err := c.Send(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	if rev.STAN != "000777" || rev.LocalTime != "080000" || rev.LocalDate != "0314" || rev.TransmitTime != "0315013000" {
		t.Errorf("repeat sent as %+v", *rev)
	}
}

func TestClientSignOnRefusedThenRetried(t *testing.T) {
	var mu sync.Mutex
	refuse := true
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		resp := approve(ctx, req)
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			resp.RespCode = RCIssuerDown
			refuse = false
		}
		return resp
	})
	c := startClient(t, host.addr, nil)
	c.clk.waitArmed(t, testMinBack, 0)
	if c.Up() {
		t.Fatal("link up after a refused sign-on")
	}
	c.clk.Advance(testMinBack)
	c.waitLink(t, true)
	if a, b := host.next(t), host.next(t); a.NetCode != NetSignOn || b.NetCode != NetSignOn {
		t.Errorf("host saw %s and %s, want two sign-ons", Describe(a), Describe(b))
	}
}

func TestClientEchoWhenIdle(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	host.next(t) // sign-on

	at := c.clk.waitArmed(t, testEcho, 0)
	c.clk.Advance(testEcho - time.Second)
	select {
	case m := <-host.reqs:
		t.Fatalf("host received %s before the echo interval", Describe(m))
	default:
	}
	c.clk.Advance(time.Second)
	if echo := host.next(t); echo.MTI != MTINetRequest || echo.NetCode != NetEcho {
		t.Fatalf("host received %s, want an echo", Describe(echo))
	}
	c.clk.waitArmed(t, testEcho, at) // answered: idle again, next echo armed
	if !c.Up() {
		t.Error("link down after an answered echo")
	}
}

func TestClientTrafficDefersEcho(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	host.next(t)

	at := c.clk.waitArmed(t, testEcho, 0)
	c.clk.Advance(20 * time.Second)
	if _, err := c.Send(context.Background(), withdrawal(100)); err != nil {
		t.Fatal(err)
	}
	host.next(t)
	c.clk.Advance(40 * time.Second) // the echo timer fires, but the link was busy 40s ago
	c.clk.waitArmed(t, 20*time.Second, at)
	select {
	case m := <-host.reqs:
		t.Fatalf("host received %s, want no echo yet", Describe(m))
	default:
	}
	c.clk.Advance(20 * time.Second)
	if echo := host.next(t); echo.NetCode != NetEcho {
		t.Fatalf("host received %s, want an echo", Describe(echo))
	}
}

func TestClientEchoTimeoutReconnects(t *testing.T) {
	var mu sync.Mutex
	dropEchoes := true
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		mu.Lock()
		defer mu.Unlock()
		if req.NetCode == NetEcho && dropEchoes {
			dropEchoes = false
			return nil
		}
		return approve(ctx, req)
	})
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	host.next(t)

	c.clk.waitArmed(t, testEcho, 0)
	at := c.clk.mark()
	c.clk.Advance(testEcho)
	if echo := host.next(t); echo.NetCode != NetEcho {
		t.Fatalf("host received %s, want an echo", Describe(echo))
	}
	c.clk.waitArmed(t, testTimeout, at)
	c.clk.Advance(testTimeout)
	c.waitLink(t, false)

	c.clk.waitArmed(t, testMinBack, at)
	c.clk.Advance(testMinBack)
	c.waitLink(t, true)
	if m := host.next(t); m.NetCode != NetSignOn {
		t.Errorf("after reconnecting the host received %s, want a sign-on", Describe(m))
	}
}

func TestClientReconnectsAfterHostRestart(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)

	host.stop(t)
	c.waitLink(t, false)
	if _, err := c.Send(context.Background(), withdrawal(100)); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send while down = %v, want ErrNotConnected", err)
	}

	// The host is still down: the first retry fails and the backoff doubles.
	at := c.clk.waitArmed(t, testMinBack, 0)
	c.clk.Advance(testMinBack)
	c.clk.waitArmed(t, 2*testMinBack, at)

	restarted := startHost(t, host.addr, approve)
	c.clk.Advance(2 * testMinBack)
	c.waitLink(t, true)
	if m := restarted.next(t); m.NetCode != NetSignOn {
		t.Errorf("restarted host received %s, want a sign-on", Describe(m))
	}
	if _, err := c.Send(context.Background(), withdrawal(100)); err != nil {
		t.Errorf("Send after reconnecting: %v", err)
	}
}

func TestClientTimeoutAndLateResponse(t *testing.T) {
	release := make(chan struct{})
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		if req.MTI == MTIFinRequest && req.Amount == 999 {
			select {
			case <-release:
			case <-ctx.Done():
				return nil
			}
		}
		return approve(ctx, req)
	})
	late := make(chan *Message, 1)
	c := startClient(t, host.addr, func(d Direction, m *Message) {
		if d == Inbound && m.MTI == MTIFinResponse && m.Amount == 999 {
			late <- m
		}
	})
	c.waitLink(t, true)
	host.next(t)

	at := c.clk.mark()
	errc := make(chan error, 1)
	req := withdrawal(999)
	go func() {
		_, err := c.Send(context.Background(), req)
		errc <- err
	}()
	host.next(t)
	c.clk.waitArmed(t, testTimeout, at)
	c.clk.Advance(testTimeout)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("Send = %v, want ErrTimeout", err)
		}
	case <-time.After(wait):
		t.Fatal("Send did not time out")
	}

	close(release)
	select {
	case m := <-late:
		if m.STAN != req.STAN {
			t.Errorf("late response has STAN %s, want %s", m.STAN, req.STAN)
		}
	case <-time.After(wait):
		t.Fatal("late response not observed")
	}
	if !c.Up() {
		t.Fatal("a late response took the link down")
	}
	if resp, err := c.Send(context.Background(), withdrawal(100)); err != nil || resp.Amount != 100 {
		t.Errorf("Send after the late response = %+v, %v", resp, err)
	}
}

func TestClientContextEndsWait(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		if req.MTI == MTIFinRequest {
			return nil
		}
		return approve(ctx, req)
	})
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	host.next(t)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, withdrawal(100))
		errc <- err
	}()
	host.next(t)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
			t.Errorf("Send = %v, want ErrTimeout wrapping context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("Send ignored its context")
	}

	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := c.Send(done, withdrawal(100)); err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrLinkLost) {
		t.Errorf("Send with a done context = %v, want a nothing-sent error", err)
	}
}

func TestClientLinkLostWhileWaiting(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		if req.MTI == MTIFinRequest {
			<-ctx.Done()
			return nil
		}
		return approve(ctx, req)
	})
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	host.next(t)

	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), withdrawal(100))
		errc <- err
	}()
	host.next(t)
	host.stop(t)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrLinkLost) {
			t.Errorf("Send = %v, want ErrLinkLost", err)
		}
	case <-time.After(wait):
		t.Fatal("Send did not notice the lost link")
	}
	c.waitLink(t, false)
}

func TestClientConcurrentSendsOutOfOrder(t *testing.T) {
	gate := make(chan struct{})
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		if req.Amount == 1 {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil
			}
		}
		return approve(ctx, req)
	})
	c := startClient(t, host.addr, nil)
	c.waitLink(t, true)
	host.next(t)

	// The first request is held at the host while 20 others are answered.
	type result struct {
		req, resp *Message
		err       error
	}
	slow := make(chan result, 1)
	go func() {
		req := withdrawal(1)
		resp, err := c.Send(context.Background(), req)
		slow <- result{req, resp, err}
	}()
	host.next(t)

	var wg sync.WaitGroup
	results := make(chan result, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := withdrawal(int64(100 + i))
			resp, err := c.Send(context.Background(), req)
			results <- result{req, resp, err}
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Fatalf("Send(%d): %v", r.req.Amount, r.err)
		}
		if r.resp.STAN != r.req.STAN || r.resp.Amount != r.req.Amount {
			t.Errorf("request %d stan %s got response %d stan %s", r.req.Amount, r.req.STAN, r.resp.Amount, r.resp.STAN)
		}
	}
	select {
	case r := <-slow:
		t.Fatalf("held request returned early: %+v", r)
	default:
	}

	close(gate)
	select {
	case r := <-slow:
		if r.err != nil || r.resp.STAN != r.req.STAN || r.resp.Amount != 1 {
			t.Errorf("held request: %+v, %v", r.resp, r.err)
		}
	case <-time.After(wait):
		t.Fatal("held request never answered")
	}
}

func TestClientNotConnected(t *testing.T) {
	c := NewClient(Config{Addr: "127.0.0.1:1", TerminalID: demoTID})
	if c.Up() {
		t.Error("Up() before Run")
	}
	if _, err := c.Send(context.Background(), withdrawal(100)); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send before Run = %v, want ErrNotConnected", err)
	}
}

func TestClientRunRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no address":       {TerminalID: demoTID},
		"no terminal id":   {Addr: "127.0.0.1:1"},
		"long terminal id": {Addr: "127.0.0.1:1", TerminalID: "ATM000001"},
		"long acceptor id": {Addr: "127.0.0.1:1", TerminalID: demoTID, AcceptorID: "0123456789ABCDEF"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := NewClient(cfg).Run(context.Background()); err == nil {
				t.Error("Run accepted the config")
			}
		})
	}
}

func TestEventsLatestStateWins(t *testing.T) {
	c := NewClient(Config{Addr: "x", TerminalID: demoTID})
	s := &session{}
	for range 5 { // nobody reads: the client must not block
		c.setSession(s)
		c.setSession(nil)
	}
	c.setSession(s)
	if up := <-c.Events(); !up {
		t.Error("Events holds a stale down")
	}
	select {
	case v := <-c.Events():
		t.Errorf("Events held a second value %v", v)
	default:
	}
}

func TestSTANCounterWraps(t *testing.T) {
	c := &stanCounter{n: 999998}
	for _, want := range []string{"999999", "000001", "000002"} {
		if got := c.NextSTAN(); got != want {
			t.Errorf("NextSTAN = %s, want %s", got, want)
		}
	}
}
