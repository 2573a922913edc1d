package netfault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
)

// Mode is what the proxy does to the traffic.
type Mode string

// The modes; see the package documentation.
const (
	Pass      Mode = "pass"
	Drop      Mode = "drop"
	Slow      Mode = "slow"
	Duplicate Mode = "duplicate"
	Reorder   Mode = "reorder"
)

// Modes lists the fault modes (every mode but Pass) in the order the
// fault-injection suite runs them.
var Modes = []Mode{Drop, Slow, Duplicate, Reorder}

// Defaults for the zero fields of Options.
const (
	DefaultDelay   = 3 * time.Second
	DefaultMaxHold = 500 * time.Millisecond
)

// ErrBadMode: a mode name the proxy does not know.
var ErrBadMode = errors.New("netfault: unknown mode")

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.TrimSpace(s))
	if m == Pass || slices.Contains(Modes, m) {
		return m, nil
	}
	return "", fmt.Errorf("%w %q (modes: pass, drop, slow, duplicate, reorder)", ErrBadMode, s)
}

// Direction is the way a frame travels.
type Direction int

// Directions.
const (
	ToHost Direction = iota // from the ATM to the host
	ToATM                   // from the host to the ATM
)

// String names the direction.
func (d Direction) String() string {
	if d == ToHost {
		return "to-host"
	}
	return "to-atm"
}

// Options configure a Proxy.
type Options struct {
	// Target is the host's address, host:port.
	Target string
	// Mode is the fault; Pass when empty.
	Mode Mode
	// Delay is how long Slow holds a 0210; DefaultDelay when zero. Make
	// it longer than the ATM's response timeout.
	Delay time.Duration
	// MaxHold is the longest Reorder holds a message waiting for the
	// next one; DefaultMaxHold when zero. Make it shorter than the ATM's
	// response timeout, or every held response arrives too late.
	MaxHold time.Duration
	// Observe, when set, sees the message of every frame read, in either
	// direction, before the fault is applied (a copy; Observe may keep
	// it). Calls may come from several goroutines at once; Observe must
	// not block for long.
	Observe func(dir Direction, msg []byte)
	// Log receives connection events; disabled by default. It never
	// receives message contents.
	Log zerolog.Logger
}

// Stats count what the proxy did.
type Stats struct {
	Conns      int // ATM connections accepted
	ToHost     int // frames from ATMs
	ToATM      int // frames from the host
	Dropped    int // ATM connections dropped after a 0200 (Drop)
	Swallowed  int // host frames read after such a drop and not delivered
	Delayed    int // 0210s held for Delay (Slow)
	Duplicated int // host frames sent twice (Duplicate)
	Reordered  int // host frames sent after a later one (Reorder)
	Released   int // host frames that Reorder sent alone after MaxHold
	Lost       int // held host frames dropped with their connection
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	o  Options
	ln net.Listener

	mu    sync.Mutex
	st    Stats
	held  int           // frames delayed or held, not yet sent or lost
	wake  chan struct{} // closed and replaced when held changes
	conns map[*pair]struct{}
}

// Listen starts listening on addr (e.g. "127.0.0.1:0") for ATMs; Serve
// then forwards them to o.Target.
func Listen(addr string, o Options) (*Proxy, error) {
	if o.Mode == "" {
		o.Mode = Pass
	}
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(o.Target); err != nil {
		return nil, fmt.Errorf("netfault: target %q: %w", o.Target, err)
	}
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
	}
	if o.MaxHold <= 0 {
		o.MaxHold = DefaultMaxHold
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netfault: listen: %w", err)
	}
	return &Proxy{o: o, ln: ln, wake: make(chan struct{}), conns: map[*pair]struct{}{}}, nil
}

// Addr is the address ATMs connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode is the proxy's fault.
func (p *Proxy) Mode() Mode { return p.o.Mode }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// Serve accepts ATM connections until ctx ends, then closes the listener
// and every connection and returns nil; it returns an error only when
// accepting fails otherwise.
func (p *Proxy) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { p.ln.Close() })
	defer stop()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.closeAll()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("netfault: accept: %w", err)
		}
		p.count(func(s *Stats) { s.Conns++ })
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.handle(ctx, c)
		}()
	}
}

// Settle waits until no frame is delayed or held: every late response has
// been delivered (or lost with its connection).
func (p *Proxy) Settle(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, wake := p.held, p.wake
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("netfault: %d frames still held: %w", n, ctx.Err())
		}
	}
}

func (p *Proxy) count(f func(*Stats)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.st)
}

// hold adds d (±1) to the frames held.
func (p *Proxy) hold(d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held += d
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	conns := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// pair is one ATM connection and its host connection.
type pair struct {
	p         *Proxy
	atm, host net.Conn
	log       zerolog.Logger

	mu       sync.Mutex // guards writes to atm and the fields below
	closed   bool
	draining bool                     // Drop: the ATM side is closed, the host's answer awaited
	timers   map[*time.Timer]struct{} // delayed frames (Slow, Reorder)
	held     []byte                   // Reorder: the frame held back
	heldT    *time.Timer              // Reorder: releases held after MaxHold
}

func (p *Proxy) handle(ctx context.Context, atm net.Conn) {
	d := net.Dialer{Timeout: 5 * time.Second}
	host, err := d.DialContext(ctx, "tcp", p.o.Target)
	if err != nil {
		p.o.Log.Warn().Err(err).Msg("netfault: cannot reach the host; ATM connection closed")
		atm.Close()
		return
	}
	c := &pair{p: p, atm: atm, host: host, timers: map[*time.Timer]struct{}{},
		log: p.o.Log.With().Str("atm", atm.RemoteAddr().String()).Str("mode", string(p.o.Mode)).Logger()}
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	if ctx.Err() != nil { // Serve is stopping: closeAll may have missed c
		c.close()
	}
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.upstream()
	}()
	c.downstream()
	<-done
}

// upstream forwards ATM frames to the host, unchanged and in order.
func (c *pair) upstream() {
	for {
		msg, err := hostlink.ReadFrame(c.atm, 0)
		if err != nil {
			c.close()
			return
		}
		c.p.count(func(s *Stats) { s.ToHost++ })
		c.observe(ToHost, msg)
		// Drop: the ATM's side goes first, so that not even a quick
		// answer can reach it.
		drop := c.p.o.Mode == Drop && mtiOf(msg) == hostlink.MTIFinRequest
		if drop {
			c.drop()
		}
		if err := hostlink.WriteFrame(c.host, msg); err != nil || drop {
			if err != nil {
				c.close()
			}
			return
		}
	}
}

// drop closes the ATM's side before the 0200 goes on to the host; the
// host's side stays open until the host has answered it (or Delay has
// passed), so that the host completes the transaction and only its
// answer is lost.
func (c *pair) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.draining = true
	c.atm.Close()
	_ = c.host.SetReadDeadline(time.Now().Add(c.p.o.Delay))
	c.p.count(func(s *Stats) { s.Dropped++ })
	c.log.Info().Msg("netfault: ATM connection dropped after a 0200")
}

func (c *pair) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// downstream passes host frames to the ATM through the fault.
func (c *pair) downstream() {
	defer c.close()
	for {
		msg, err := hostlink.ReadFrame(c.host, 0)
		if err != nil {
			return
		}
		c.p.count(func(s *Stats) { s.ToATM++ })
		c.observe(ToATM, msg)
		if c.isDraining() {
			c.p.count(func(s *Stats) { s.Swallowed++ })
			if mtiOf(msg) == hostlink.MTIFinResponse {
				return // the host has answered the 0200: the drop is complete
			}
			continue
		}
		switch c.p.o.Mode {
		case Slow:
			if mtiOf(msg) == hostlink.MTIFinResponse {
				c.p.count(func(s *Stats) { s.Delayed++ })
				c.later(c.p.o.Delay, msg)
				continue
			}
		case Duplicate:
			c.p.count(func(s *Stats) { s.Duplicated++ })
			if err := c.send(msg, msg); err != nil {
				return
			}
			continue
		case Reorder:
			if err := c.reorder(msg); err != nil {
				return
			}
			continue
		}
		if err := c.send(msg); err != nil {
			return
		}
	}
}

func (c *pair) observe(dir Direction, msg []byte) {
	if c.p.o.Observe != nil {
		c.p.o.Observe(dir, slices.Clone(msg))
	}
}

// send writes frames to the ATM, in order, as one unit.
func (c *pair) send(msgs ...[]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(msgs...)
}

func (c *pair) sendLocked(msgs ...[]byte) error {
	if c.closed {
		return net.ErrClosed
	}
	for _, m := range msgs {
		if err := hostlink.WriteFrame(c.atm, m); err != nil {
			return err
		}
	}
	return nil
}

// later sends msg to the ATM after d, unless the connection closes first.
func (c *pair) later(d time.Duration, msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.p.count(func(s *Stats) { s.Lost++ })
		return
	}
	c.p.hold(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.timers[t]; !ok {
			return // the connection closed and counted it lost
		}
		delete(c.timers, t)
		if err := c.sendLocked(msg); err != nil {
			c.p.count(func(s *Stats) { s.Lost++ })
		}
		c.p.hold(-1)
	})
	c.timers[t] = struct{}{}
}

// reorder holds msg when nothing is held; otherwise it sends msg, then
// the held one.
func (c *pair) reorder(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = msg
		c.p.hold(1)
		var t *time.Timer
		t = time.AfterFunc(c.p.o.MaxHold, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.heldT != t {
				return // sent behind a later frame, or lost
			}
			held := c.held
			c.held, c.heldT = nil, nil
			c.p.count(func(s *Stats) { s.Released++ })
			if err := c.sendLocked(held); err != nil {
				c.p.count(func(s *Stats) { s.Lost++ })
			}
			c.p.hold(-1)
		})
		c.heldT = t
		return nil
	}
	held := c.held
	c.held = nil
	c.heldT.Stop()
	c.heldT = nil
	c.p.count(func(s *Stats) { s.Reordered++ })
	defer c.p.hold(-1)
	return c.sendLocked(msg, held)
}

// close closes both connections and drops what is held, once.
func (c *pair) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.atm.Close()
	c.host.Close()
	lost := len(c.timers)
	for t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	if c.held != nil {
		c.heldT.Stop()
		c.held, c.heldT = nil, nil
		lost++
	}
	if lost > 0 {
		c.p.count(func(s *Stats) { s.Lost += lost })
		for range lost {
			c.p.hold(-1)
		}
	}
}

// mtiOf returns the MTI of a message: its first 4 bytes when they are
// digits, "" otherwise.
func mtiOf(msg []byte) string {
	if len(msg) < 4 {
		return ""
	}
	for _, b := range msg[:4] {
		if b < '0' || b > '9' {
			return ""
		}
	}
	return string(msg[:4])
}
