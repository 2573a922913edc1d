package pn532

import (
	"context"
	"fmt"

	"github.com/atmd/atmd/hal"
)

// WaitStatus blocks until cond holds for d's status or ctx ends; tests
// use it to wait for a fault or a recovery without polling.
func WaitStatus(ctx context.Context, d *Dev, cond func(hal.Status) bool) (hal.Status, error) {
	for {
		d.mu.Lock()
		wake := d.wake
		d.mu.Unlock()
		st := d.Status()
		if cond(st) {
			return st, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return st, fmt.Errorf("status stayed %v: %w", st, ctx.Err())
		}
	}
}

// Faults returns how many faults d has recorded.
func Faults(d *Dev) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.faults
}
