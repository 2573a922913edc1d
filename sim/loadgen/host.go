package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/host"
)

// RunningHost is a reference host serving a fleet on a loopback port of
// this process.
type RunningHost struct {
	Host *host.Host
	Addr string // host:port it listens on

	cancel context.CancelFunc
	done   chan error
}

// ServeHost opens the fleet's reference host — creating its database
// from the seed when reset is true or when it does not exist yet — and
// serves terminals on addr, which must be a loopback address ("" means
// 127.0.0.1 on a free port). Stop ends it.
func ServeHost(ctx context.Context, f *Fleet, addr string, reset bool, log zerolog.Logger) (*RunningHost, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	opts := []host.Option{host.WithLogger(log)}
	if _, err := os.Stat(f.Host.DB); reset || errors.Is(err, os.ErrNotExist) {
		opts = append(opts, host.WithReset())
	}
	h, err := host.New(f.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if err := h.Open(ctx); err != nil {
		h.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("loadgen: listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rh := &RunningHost{Host: h, Addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { rh.done <- h.Serve(sctx, ln) }()
	return rh, nil
}

// Stop stops serving, waits for the server and closes the database.
func (rh *RunningHost) Stop() error {
	rh.cancel()
	err := <-rh.done
	return errors.Join(err, rh.Host.Close())
}

// CheckLoopback returns nil when addr is host:port with a loopback host
// IP address (127.0.0.0/8 or ::1), ErrNotLoopback otherwise. Names are
// refused, even "localhost": what they resolve to is not ours to trust.
func CheckLoopback(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %q is not host:port", ErrNotLoopback, addr)
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
}
