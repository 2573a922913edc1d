package pcsc

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// watchWait bounds one SCardGetStatusChange of the watcher, so that it
// notices Close even if SCardCancel raced with the start of the wait.
const watchWait = 2 * time.Second

// watch is the watcher goroutine: it keeps a PC/SC context of its own,
// follows the reader's state with SCardGetStatusChange, and re-establishes
// the context every Options.Retry while pcscd or the reader is gone.
// first is closed once the first state (or failure) is known.
func (d *Dev) watch(first chan struct{}) {
	defer d.wg.Done()
	var once sync.Once
	ready := func() { once.Do(func() { close(first) }) }
	defer ready()
	for {
		err := d.watchOnce(ready)
		if d.isClosed() {
			return
		}
		d.setOffline(err)
		ready()
		select {
		case <-d.stop:
			return
		case <-time.After(d.opts.Retry):
		}
	}
}

// Errors of the watcher, for the offline detail.
var (
	errNoReader   = errors.New("reader not found")
	errReaderGone = errors.New("reader removed")
)

// watchOnce establishes a context, finds the reader and follows it until
// something fails; it returns why.
func (d *Dev) watchOnce(ready func()) error {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("pcscd unreachable: %w", err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		_ = ctx.Release()
		return nil
	}
	d.wctx = ctx
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.wctx = nil
		d.mu.Unlock()
		_ = ctx.Release()
	}()

	readers, err := ctx.ListReaders()
	if err != nil && !errors.Is(err, scard.ErrNoReadersAvailable) {
		return fmt.Errorf("list readers: %w", err)
	}
	name, ok := pickReader(readers, d.opts.Reader)
	if !ok {
		if d.opts.Reader != "" {
			return fmt.Errorf("%w: %q", errNoReader, d.opts.Reader)
		}
		return errNoReader
	}
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	for {
		if d.isClosed() {
			return nil
		}
		err := ctx.GetStatusChange(rs, watchWait)
		switch {
		case errors.Is(err, scard.ErrTimeout):
			continue
		case errors.Is(err, scard.ErrCancelled) && d.isClosed():
			return nil
		case errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable):
			return fmt.Errorf("%w: %s", errReaderGone, name)
		case err != nil:
			return fmt.Errorf("pcscd: %w", err)
		}
		ev := rs[0].EventState
		if ev&(scard.StateUnknown|scard.StateUnavailable|scard.StateIgnore) != 0 {
			return fmt.Errorf("%w: %s", errReaderGone, name)
		}
		d.update(name, ev&scard.StatePresent != 0)
		ready()
		rs[0].CurrentState = ev &^ scard.StateChanged
	}
}

// pickReader chooses the reader: want exactly, else the first whose name
// starts with want ("" matches the first reader).
func pickReader(readers []string, want string) (string, bool) {
	for _, r := range readers {
		if r == want {
			return r, true
		}
	}
	for _, r := range readers {
		if strings.HasPrefix(r, want) {
			return r, true
		}
	}
	return "", false
}

// update records what pcscd reports and moves the card position when the
// card leaves the reader.
func (d *Dev) update(reader string, present bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.online {
		d.log.Info().Str("reader", reader).Msg("card reader online")
	}
	d.reader, d.online, d.whyOff = reader, true, ""
	switch {
	case present && !d.present:
		d.inserted++
		d.log.Debug().Msg("card in the reader")
	case !present && d.present:
		d.cardLeftLocked()
	case !present && d.pos != Empty:
		// pcscd came back without the card we had.
		d.cardLeftLocked()
	}
	d.present = present
	d.broadcastLocked()
}

// cardLeftLocked: the card is no longer in the reader.
func (d *Dev) cardLeftLocked() {
	switch d.pos {
	case Presented:
		d.log.Info().Msg("card taken")
	case Inside:
		d.pulled = true
		d.log.Warn().Msg("card pulled out of the reader while held")
	}
	if d.sess != nil {
		d.sess.close(scard.LeaveCard)
		d.sess, d.k = nil, nil
	}
	d.pos = Empty
	d.cardFault, d.faultMsg = "", ""
}

// setOffline records that pcscd or the reader cannot be reached. A card
// that was held is lost from the session: it counts as presented, for
// the customer to take once the reader is back.
func (d *Dev) setOffline(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	why := "pcscd unreachable"
	if err != nil {
		why = err.Error()
	}
	if d.online || d.whyOff != why {
		d.log.Warn().Str("why", why).Msg("card reader offline")
	}
	d.online, d.whyOff = false, why
	if d.pos == Inside {
		d.pos = Presented
	}
	if d.sess != nil {
		d.sess.close(scard.LeaveCard)
		d.sess, d.k = nil, nil
	}
	d.broadcastLocked()
}

func (d *Dev) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
