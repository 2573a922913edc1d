package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/atmd/atmd/atm"
)

// pollEvery is how often the harness looks again while it waits for the
// ATM (status) or a process (exit).
const pollEvery = 20 * time.Millisecond

// child is one atmd process.
type child struct {
	cmd   *exec.Cmd
	sock  string
	point string // armed failpoint, "" for none
	done  chan struct{}
	state *os.ProcessState // set before done closes
	err   error            // Wait's error, set before done closes
}

// spawn starts `atmd run --config cfg` with ATMD_FAILPOINT=point (none
// when point is ""), its output appended to log.
func (h *harness) spawn(cfg, point string) (*child, error) {
	cmd := exec.Command(h.o.Binary, "run", "--config", cfg)
	env := make([]string, 0, len(os.Environ())+2)
	gorace := "atexit_sleep_ms=0" // a race build would linger a second at every exit
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "ATMD_FAILPOINT="), strings.HasPrefix(kv, "ATMD_CONFIG="):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimSpace(strings.TrimPrefix(kv, "GORACE=") + " " + gorace)
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "GORACE="+gorace)
	if point != "" {
		env = append(env, "ATMD_FAILPOINT="+point)
	}
	cmd.Env = env
	h.procs++
	fmt.Fprintf(h.atmdLog, "\n== atmd #%d failpoint=%q %s\n", h.procs, point, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = h.atmdLog, h.atmdLog
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("faults: starting atmd: %w", err)
	}
	h.starts++
	c := &child{cmd: cmd, sock: h.sock, point: point, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	h.live = c
	return c, nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits until the process ends or ctx does.
func (c *child) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// killedBySIGKILL reports whether the process died of SIGKILL.
func (c *child) killedBySIGKILL() bool {
	if c.state == nil {
		return false
	}
	ws, ok := c.state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// how says how the process ended.
func (c *child) how() string {
	switch {
	case c.state == nil:
		return "still running"
	case c.killedBySIGKILL():
		return "killed by SIGKILL"
	}
	if ws, ok := c.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit code %d", c.state.ExitCode())
}

// kill ends the process with SIGKILL if it still runs and waits for it;
// for cleanup only.
func (c *child) kill() {
	if c == nil || c.exited() {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// terminate stops the process gracefully (SIGTERM) and expects exit code
// 0 before ctx ends; after that it kills it.
func (c *child) terminate(ctx context.Context) error {
	if c.exited() {
		return fmt.Errorf("faults: atmd had already ended (%s)", c.how())
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("faults: SIGTERM: %w", err)
	}
	if err := c.wait(ctx); err != nil {
		c.kill()
		return fmt.Errorf("faults: atmd did not stop after SIGTERM: %w", err)
	}
	if c.state.ExitCode() != 0 {
		return fmt.Errorf("faults: atmd stopped by SIGTERM with %s, want exit code 0", c.how())
	}
	return nil
}

// errExited: the process ended while the harness waited for something
// else.
var errExited = errors.New("faults: atmd ended")

// status asks the process for its state.
func (c *child) status(ctx context.Context) (atm.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := atm.Ask(ctx, c.sock, atm.ControlRequest{Cmd: "status"})
	if err != nil {
		return atm.Snapshot{}, err
	}
	if resp.Status == nil {
		return atm.Snapshot{}, errors.New("faults: status answer without a status")
	}
	return *resp.Status, nil
}

// step carries out one scenario line on the process's simulated devices.
// what names the step in errors (a PIN step must not show its digits).
func (c *child) step(ctx context.Context, line, what string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := atm.Ask(ctx, c.sock, atm.ControlRequest{Cmd: "step", Step: line}); err != nil {
		return fmt.Errorf("faults: step %q: %w", what, err)
	}
	return nil
}

// await polls the status until cond holds, the process ends (errExited)
// or ctx ends; the error then says what the ATM was doing.
func (c *child) await(ctx context.Context, what string, cond func(atm.Snapshot) bool) (atm.Snapshot, error) {
	var last atm.Snapshot
	var lastErr error
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if c.exited() {
			return last, fmt.Errorf("%w (%s) while waiting for %s", errExited, c.how(), what)
		}
		s, err := c.status(ctx)
		if err == nil && cond(s) {
			return s, nil
		}
		if err == nil {
			last, lastErr = s, nil
		} else {
			lastErr = err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			saw := fmt.Sprintf("service %s (%s), state %s, host %s, %d advices pending", last.Service, last.Reason, last.State, last.Host, last.SAFPending)
			if lastErr != nil {
				saw = lastErr.Error()
			}
			return last, fmt.Errorf("faults: timed out waiting for %s; last saw: %s", what, saw)
		case <-c.done:
		}
	}
}
