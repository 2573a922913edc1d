package saf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
)

// Advice is one message to deliver. ID is the caller's reference (the
// flows transaction id); a second Add with the same ID is ignored.
type Advice struct {
	ID     string           `json:"id"`
	Msg    hostlink.Message `json:"msg"`
	Queued time.Time        `json:"queued"`
}

// Options configure a queue.
type Options struct {
	Clock      clock.Clock // default clock.Real
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Log        zerolog.Logger
	// OnAck is called once per advice, when the host acknowledged it.
	OnAck func(a Advice, resp *hostlink.Message, attempts int)
}

// Sender sends one message and returns the host's response.
type Sender func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error)

// Errors.
var (
	ErrClosed = errors.New("saf: queue closed")
	ErrBadMTI = errors.New("saf: only 0420 reversal advices can be queued")
)

type record struct {
	Op     string  `json:"op"` // "add" or "ack"
	Advice *Advice `json:"advice,omitempty"`
	ID     string  `json:"id,omitempty"`
	RC     string  `json:"rc,omitempty"`
}

// Queue is a durable FIFO of advices. It is safe for concurrent use.
type Queue struct {
	o       Options
	mu      sync.Mutex
	f       *os.File
	pending []Advice
	known   map[string]bool // every id ever added in this file
	old     map[string]bool // ids replayed from the file: maybe sent by an earlier run
	wake    chan struct{}
}

// Open opens or creates the queue file and replays it.
func Open(path string, o Options) (*Queue, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = time.Minute
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("saf: %w", err)
	}
	q := &Queue{o: o, f: f, known: map[string]bool{}, old: map[string]bool{}, wake: make(chan struct{}, 1)}
	good, err := q.replay()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("saf: %w", err)
	}
	for _, a := range q.pending {
		q.old[a.ID] = true
	}
	if len(q.pending) == 0 && good > 0 {
		// Everything was acknowledged: start a fresh file.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("saf: %w", err)
		}
		q.known = map[string]bool{}
	}
	return q, nil
}

func (q *Queue) replay() (int64, error) {
	data, err := io.ReadAll(q.f)
	if err != nil {
		return 0, fmt.Errorf("saf: read: %w", err)
	}
	var off int64
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			q.o.Log.Warn().Int64("offset", off).Msg("saf: cut an unfinished last record")
			return off, nil
		}
		r, err := decode(data[:i])
		if err != nil {
			if len(bytes.TrimSpace(data[i+1:])) == 0 {
				q.o.Log.Warn().Err(err).Msg("saf: cut a damaged last record")
				return off, nil
			}
			return 0, fmt.Errorf("saf: record at offset %d: %w", off, err)
		}
		q.apply(r)
		off += int64(i + 1)
		data = data[i+1:]
	}
	return off, nil
}

func decode(b []byte) (record, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	switch r.Op {
	case "add":
		if r.Advice == nil || r.Advice.ID == "" {
			return r, errors.New("add without an advice")
		}
	case "ack":
		if r.ID == "" {
			return r, errors.New("ack without an id")
		}
	default:
		return r, fmt.Errorf("unknown op %q", r.Op)
	}
	return r, nil
}

func (q *Queue) apply(r record) {
	switch r.Op {
	case "add":
		if !q.known[r.Advice.ID] {
			q.known[r.Advice.ID] = true
			q.pending = append(q.pending, *r.Advice)
		}
	case "ack":
		for i, a := range q.pending {
			if a.ID == r.ID {
				q.pending = append(q.pending[:i], q.pending[i+1:]...)
				break
			}
		}
	}
}

func (q *Queue) write(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("saf: %w", err)
	}
	if _, err := q.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("saf: write: %w", err)
	}
	if err := q.f.Sync(); err != nil {
		return fmt.Errorf("saf: sync: %w", err)
	}
	return nil
}

// Add queues an advice durably. Card data is stripped first. Adding an id
// that is already queued (or was, since the file was last emptied) does
// nothing.
func (q *Queue) Add(a Advice) error {
	if a.Msg.MTI != hostlink.MTIReversal {
		return ErrBadMTI
	}
	if a.ID == "" || a.Msg.STAN == "" {
		return errors.New("saf: an advice needs an id and a STAN")
	}
	a.Msg.PAN, a.Msg.Track2, a.Msg.PINBlock, a.Msg.Expiry, a.Msg.ICC, a.Msg.MAC = "", "", nil, "", nil, nil
	if a.Queued.IsZero() {
		a.Queued = q.o.Clock.Now()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return ErrClosed
	}
	if q.known[a.ID] {
		return nil
	}
	if err := q.write(record{Op: "add", Advice: &a}); err != nil {
		return err
	}
	q.known[a.ID] = true
	q.pending = append(q.pending, a)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Has reports whether an advice with this id is waiting for delivery.
func (q *Queue) Has(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, a := range q.pending {
		if a.ID == id {
			return true
		}
	}
	return false
}

// Pending returns the advices not yet acknowledged, oldest first.
func (q *Queue) Pending() []Advice {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Advice(nil), q.pending...)
}

func (q *Queue) head() (Advice, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return Advice{}, false
	}
	return q.pending[0], true
}

func (q *Queue) ack(a Advice, rc string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return ErrClosed
	}
	if err := q.write(record{Op: "ack", ID: a.ID, RC: rc}); err != nil {
		return err
	}
	q.apply(record{Op: "ack", ID: a.ID})
	return nil
}

// Run delivers advices until ctx ends. Each advice is sent as 0420 the
// first time in this run and as 0421 after that — and always as 0421
// after a restart, since an earlier run may have sent it.
func (q *Queue) Run(ctx context.Context, send Sender) error {
	backoff := q.o.MinBackoff
	attempts := map[string]int{}
	for {
		a, ok := q.head()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-q.wake:
				continue
			}
		}
		m := a.Msg
		if attempts[a.ID] > 0 || q.old[a.ID] {
			m.MTI = hostlink.MTIReversalRepeat
		}
		resp, err := send(ctx, &m)
		if !errors.Is(err, hostlink.ErrNotConnected) {
			attempts[a.ID]++ // it may have reached the host: repeats are 0421
		}
		if err == nil && resp != nil && retryCode(resp.RespCode) {
			err = fmt.Errorf("saf: the host did not process the advice (rc %s)", resp.RespCode)
		}
		if err == nil && resp != nil {
			if err := q.ack(a, resp.RespCode); err != nil {
				return err
			}
			if q.o.OnAck != nil {
				q.o.OnAck(a, resp, attempts[a.ID])
			}
			delete(attempts, a.ID)
			backoff = q.o.MinBackoff
			continue
		}
		q.o.Log.Warn().Err(err).Str("id", a.ID).Str("stan", a.Msg.STAN).Int("attempt", attempts[a.ID]).Msg("advice not acknowledged; will repeat")
		select {
		case <-ctx.Done():
			return nil
		case <-q.o.Clock.After(backoff):
		}
		backoff = min(2*backoff, q.o.MaxBackoff)
	}
}

// retryCode reports response codes that do not acknowledge an advice:
// the host did not process it (63 security: a MAC under keys it no
// longer holds; 91 issuer unavailable; 96 system error), so it must come
// again. Any other code acknowledges, a refusal included: repeating the
// same advice would not change the answer, and the code is journaled.
func retryCode(rc string) bool {
	switch rc {
	case hostlink.RCSecurityViolation, hostlink.RCIssuerDown, hostlink.RCSystemError:
		return true
	}
	return false
}

// Close closes the file.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return nil
	}
	err := q.f.Close()
	q.f = nil
	return err
}

// ReadFile lists the pending advices of a queue file without opening it
// for writing (for tools and the maintenance menu).
func ReadFile(path string) ([]Advice, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("saf: %w", err)
	}
	defer f.Close()
	q := &Queue{known: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, err := decode(sc.Bytes())
		if err != nil {
			break
		}
		q.apply(r)
	}
	return q.pending, sc.Err()
}
