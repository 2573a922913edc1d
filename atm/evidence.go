package atm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal/camera"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/journal"
)

// Evidence stills (DESIGN.md §2, document 004): when the flows ask for a
// still (flows.Capture: the helper's face at a delegated withdrawal, the
// cardholder's when the face check is on), the runner takes it with the
// camera and puts it in the evidence queue, which delivers it to the
// host in 0620 advices, one part of at most hostlink.EvidencePartSize
// bytes each, with field 90 naming the withdrawal's 0200 — until the
// host has acknowledged every part, across restarts.
//
// The queue is a directory of the state dir: one file per still, written
// and fsync'd before Add returns, removed once delivered. A still holds
// no card data and no secret (a face is personal data: it lives on the
// ATM only until the host has it).

// evidence is one still waiting for the host.
type evidence struct {
	ID     string    `json:"id"`   // the flows transaction id and the kind
	Txn    string    `json:"txn"`  // the flows transaction id
	Kind   string    `json:"kind"` // hostlink.Evidence*
	MTI    string    `json:"mti"`  // the withdrawal's request, for field 90
	STAN   string    `json:"stan"`
	Time   string    `json:"time"` // its transmission time, MMDDhhmmss
	Format string    `json:"format"`
	Taken  time.Time `json:"taken"`
	Image  []byte    `json:"image"`
}

func (e *evidence) sum() []byte {
	s := sha256.Sum256(e.Image)
	return s[:]
}

// parts returns how many advices the still needs.
func (e *evidence) parts() int {
	return (len(e.Image) + hostlink.EvidencePartSize - 1) / hostlink.EvidencePartSize
}

// advice builds the 0620 of part i (1-based).
func (e *evidence) advice(i int, stan string) (*hostlink.Message, error) {
	n := e.parts()
	lo, hi := (i-1)*hostlink.EvidencePartSize, min(len(e.Image), i*hostlink.EvidencePartSize)
	f48, err := hostlink.TLV{
		{Tag: hostlink.TagEvKind, Value: e.Kind},
		{Tag: hostlink.TagEvFormat, Value: e.Format},
		{Tag: hostlink.TagEvHash, Value: hex.EncodeToString(e.sum())},
		{Tag: hostlink.TagEvSize, Value: strconv.Itoa(len(e.Image))},
		{Tag: hostlink.TagEvTaken, Value: e.Taken.UTC().Format("20060102150405")},
		{Tag: hostlink.TagEvPart, Value: fmt.Sprintf("%d/%d", i, n)},
		{Tag: hostlink.TagEvData, Value: base64.StdEncoding.EncodeToString(e.Image[lo:hi])},
	}.Encode()
	if err != nil {
		return nil, err
	}
	return &hostlink.Message{MTI: hostlink.MTIAdminAdvice, STAN: stan, Private: f48,
		Original: hostlink.OriginalData(&hostlink.Message{MTI: e.MTI, STAN: e.STAN, TransmitTime: e.Time})}, nil
}

// EvidenceOptions configure an evidence queue.
type EvidenceOptions struct {
	Clock      clock.Clock
	MinBackoff time.Duration // first wait after a failed part
	MaxBackoff time.Duration // the wait doubles up to this
	Journal    *journal.Journal
	Log        zerolog.Logger
}

// EvidenceQueue delivers evidence stills to the host. It is safe for
// concurrent use.
type EvidenceQueue struct {
	dir  string
	o    EvidenceOptions
	wake chan struct{}

	mu      sync.Mutex
	pending []*evidence // oldest first
}

// ErrEvidence wraps the queue's errors.
var ErrEvidence = errors.New("atm: evidence")

// OpenEvidence opens (or creates) the queue directory and loads the
// stills a previous run left undelivered. A file that does not decode
// (torn by a crash before its rename, which cannot happen, or damaged)
// is moved aside as .bad and journaled.
func OpenEvidence(dir string, o EvidenceOptions) (*EvidenceQueue, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	q := &EvidenceQueue{dir: dir, o: o, wake: make(chan struct{}, 1)}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(n)
		var e evidence
		if err == nil {
			err = json.Unmarshal(data, &e)
		}
		if err == nil && (e.ID == "" || len(e.Image) == 0 || len(e.Image) > hostlink.MaxEvidence) {
			err = errors.New("incomplete")
		}
		if err != nil {
			_ = os.Rename(n, n+".bad")
			q.journal("EVIDENCE-DAMAGED", map[string]string{"file": filepath.Base(n), "error": err.Error()})
			continue
		}
		q.pending = append(q.pending, &e)
	}
	return q, nil
}

func (q *EvidenceQueue) journal(kind string, f map[string]string) {
	if q.o.Journal != nil {
		if _, err := q.o.Journal.Append(kind, "", f); err != nil {
			q.o.Log.Error().Err(err).Str("kind", kind).Msg("journal write failed")
		}
	}
}

// fileName is the still's file: its time of capture first, so a
// directory listing is the delivery order.
func (q *EvidenceQueue) fileName(e *evidence) string {
	safe := strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return '_'
	}, e.ID)
	return filepath.Join(q.dir, e.Taken.UTC().Format("20060102T150405.000000000")+"-"+safe+".json")
}

// Add queues a still durably: on disk (fsync'd) before it returns. A
// still with an id already queued is ignored.
func (q *EvidenceQueue) Add(e *evidence) error {
	if len(e.Image) == 0 || len(e.Image) > hostlink.MaxEvidence {
		return fmt.Errorf("%w: a still of %d bytes", ErrEvidence, len(e.Image))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.pending {
		if p.ID == e.ID {
			return nil
		}
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	name := q.fileName(e)
	if err := writeFileSync(name, data); err != nil {
		return fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	q.pending = append(q.pending, e)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// writeFileSync writes data to name atomically: a temporary file,
// fsync'd, renamed, and the directory fsync'd.
func writeFileSync(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Pending returns how many stills wait for the host.
func (q *EvidenceQueue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

func (q *EvidenceQueue) head() *evidence {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return nil
	}
	return q.pending[0]
}

// done removes the head still, delivered or refused for good.
func (q *EvidenceQueue) done(e *evidence) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) > 0 && q.pending[0] == e {
		q.pending = q.pending[1:]
	}
	if err := os.Remove(q.fileName(e)); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.o.Log.Error().Err(err).Str("txn", e.Txn).Msg("delivered still not removed")
	}
}

// Run delivers the stills, oldest first, part by part, until ctx ends.
// A part the host did not process (no answer, 63, 91, 96) is sent again
// after a doubling backoff; any other answer is final for the still: 00
// on every part delivers it, another code refuses it (journaled).
func (q *EvidenceQueue) Run(ctx context.Context, send func(context.Context, *hostlink.Message) (*hostlink.Message, error), stan hostlink.STANSource) error {
	backoff := q.o.MinBackoff
	for {
		e := q.head()
		if e == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-q.wake:
				continue
			}
		}
		rc, err := q.deliver(ctx, e, send, stan)
		if err == nil {
			backoff = q.o.MinBackoff
			if rc == hostlink.RCApproved {
				q.journal("EVIDENCE-SENT", map[string]string{"txn": e.Txn, "kind": e.Kind, "parts": strconv.Itoa(e.parts()),
					"sha256": hex.EncodeToString(e.sum())})
				q.o.Log.Info().Str("txn", e.Txn).Str("kind", e.Kind).Int("bytes", len(e.Image)).Msg("evidence delivered")
			} else {
				q.journal("EVIDENCE-REFUSED", map[string]string{"txn": e.Txn, "kind": e.Kind, "rc": rc})
				q.o.Log.Warn().Str("txn", e.Txn).Str("kind", e.Kind).Str("rc", rc).Msg("evidence refused by the host")
			}
			q.done(e)
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		q.o.Log.Warn().Err(err).Str("txn", e.Txn).Msg("evidence not delivered; will repeat")
		select {
		case <-ctx.Done():
			return nil
		case <-q.o.Clock.After(backoff):
		}
		backoff = min(2*backoff, q.o.MaxBackoff)
	}
}

// deliver sends every part of e; it returns the host's final answer, or
// an error when a part must be sent again.
func (q *EvidenceQueue) deliver(ctx context.Context, e *evidence, send func(context.Context, *hostlink.Message) (*hostlink.Message, error),
	stan hostlink.STANSource) (string, error) {
	for i := 1; i <= e.parts(); i++ {
		m, err := e.advice(i, stan.NextSTAN())
		if err != nil {
			return hostlink.RCFormatError, nil // cannot be built: nothing to repeat
		}
		resp, err := send(ctx, m)
		switch {
		case err != nil:
			return "", err
		case resp == nil:
			return "", errors.New("atm: no answer to an evidence advice")
		case resp.RespCode == hostlink.RCSecurityViolation || resp.RespCode == hostlink.RCIssuerDown || resp.RespCode == hostlink.RCSystemError:
			return "", fmt.Errorf("atm: the host did not process evidence part %d (rc %s)", i, resp.RespCode)
		case resp.RespCode != hostlink.RCApproved:
			return resp.RespCode, nil
		}
	}
	return hostlink.RCApproved, nil
}

// capture carries out a flows.Capture: a still from the camera, queued
// for the host with the withdrawal's request. The machine does not wait
// for it; a failure is journaled.
func (r *Runner) capture(c flows.Capture) {
	s, ok := r.sent[c.Txn]
	if !ok || r.o.Evidence == nil {
		r.o.Journal.Append("EVIDENCE-FAILED", r.m.Session(), map[string]string{"txn": c.Txn, "kind": c.Kind, "error": "no request or no evidence queue"})
		return
	}
	cam, q, session := r.o.Devices.Camera, r.o.Evidence, r.m.Session()
	r.async(func(ctx context.Context) flows.Event {
		select { // the request's STAN and times are final once its send is over
		case <-s.done:
		case <-ctx.Done():
			return nil
		}
		img, err := cam.Capture(ctx)
		if err == nil && len(img.Data) == 0 {
			err = errors.New("the camera returned no image")
		}
		var e *evidence
		if err == nil {
			e = evidenceOf(c, s.msg, img)
			err = q.Add(e)
		}
		if err != nil {
			r.o.Journal.Append("EVIDENCE-FAILED", session, map[string]string{"txn": c.Txn, "kind": c.Kind, "error": err.Error()})
			r.log.Error().Err(err).Str("txn", c.Txn).Msg("evidence still not taken")
			return nil
		}
		r.o.Journal.Append("EVIDENCE-STORED", session, map[string]string{"txn": c.Txn, "kind": c.Kind,
			"bytes": strconv.Itoa(len(e.Image)), "sha256": hex.EncodeToString(e.sum())})
		return nil
	})
}

// evidenceOf makes the queue's record of a still for the request m.
func evidenceOf(c flows.Capture, m *hostlink.Message, img camera.Image) *evidence {
	format := img.Format
	if format == "" {
		format = "image/png"
	}
	return &evidence{ID: c.Txn + "-" + c.Kind, Txn: c.Txn, Kind: c.Kind, MTI: m.MTI, STAN: m.STAN, Time: m.TransmitTime,
		Format: format, Taken: img.Taken, Image: img.Data}
}
