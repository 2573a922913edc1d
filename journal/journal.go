package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/atmd/atmd/internal/mask"
)

// Record is one journal entry. Fields holds the details; values are
// strings so that the journal reads the same to a person and a program.
type Record struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Kind    string            `json:"kind"`
	Session string            `json:"session,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// String formats a record as one readable line: "000042 2026-11-22T10:00:00Z
// DISPENSE-INTENT session=s1 amount=100000 stan=000123".
func (r Record) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%06d %s %s", r.Seq, r.Time.UTC().Format(time.RFC3339), r.Kind)
	if r.Session != "" {
		b.WriteString(" session=" + r.Session)
	}
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := r.Fields[k]
		if strings.ContainsAny(v, " \t") {
			v = fmt.Sprintf("%q", v)
		}
		b.WriteString(" " + k + "=" + v)
	}
	return b.String()
}

// line is the on-disk form: the record plus its checksum.
type line struct {
	Record
	CRC uint32 `json:"crc"`
}

// Errors.
var (
	ErrClosed  = errors.New("journal: closed")
	ErrCorrupt = errors.New("journal: corrupt record")
)

// Journal is an open journal file. It is safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	next    uint64
	records []Record // everything, in order; an ATM's journal between exports is small
	subs    map[chan Record]struct{}
	now     func() time.Time
	// Recovered is set when Open cut off a torn or corrupt tail.
	Recovered string
}

// Options configure Open.
type Options struct {
	// Now stamps records; default time.Now.
	Now func() time.Time
}

// Open opens or creates the journal at path, verifies it and truncates a
// torn tail (recording that in Recovered and as a JOURNAL-RECOVERED
// record). A corrupt record in the middle is an error: the file is left
// untouched for a person to look at.
func Open(path string, opts Options) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{f: f, path: path, next: 1, subs: map[chan Record]struct{}{}, now: opts.Now}
	if j.now == nil {
		j.now = time.Now
	}
	good, err := j.load()
	if err != nil {
		f.Close()
		return nil, err
	}
	if j.Recovered != "" {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: truncate torn tail: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	if j.Recovered != "" {
		if _, err := j.Append("JOURNAL-RECOVERED", "", map[string]string{"detail": j.Recovered}); err != nil {
			f.Close()
			return nil, err
		}
	}
	return j, nil
}

// load reads every line; it returns the offset after the last good line.
func (j *Journal) load() (int64, error) {
	data, err := io.ReadAll(j.f)
	if err != nil {
		return 0, fmt.Errorf("journal: read: %w", err)
	}
	var off int64
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			j.Recovered = fmt.Sprintf("cut %d bytes of an unfinished last record at offset %d", len(data), off)
			return off, nil
		}
		rec, err := decodeLine(data[:i])
		if err != nil || rec.Seq != j.next {
			if err == nil {
				err = fmt.Errorf("%w: sequence %d where %d was expected", ErrCorrupt, rec.Seq, j.next)
			}
			if len(bytes.TrimSpace(data[i+1:])) == 0 {
				// The last line is bad: a write torn by power loss.
				j.Recovered = fmt.Sprintf("cut a damaged last record at offset %d: %v", off, err)
				return off, nil
			}
			return 0, fmt.Errorf("journal: %s offset %d: %w", j.path, off, err)
		}
		j.records = append(j.records, rec)
		j.next = rec.Seq + 1
		off += int64(i + 1)
		data = data[i+1:]
	}
	return off, nil
}

func decodeLine(b []byte) (Record, error) {
	var l line
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if sum(l.Record) != l.CRC {
		return Record{}, fmt.Errorf("%w: checksum mismatch at sequence %d", ErrCorrupt, l.Seq)
	}
	return l.Record, nil
}

func sum(r Record) uint32 {
	b, _ := json.Marshal(r) // map keys are sorted: deterministic
	return crc32.ChecksumIEEE(b)
}

// Append writes a record and returns once it is on disk.
func (j *Journal) Append(kind, session string, fields map[string]string) (Record, error) {
	recs, err := j.AppendBatch(session, []Entry{{Kind: kind, Fields: fields}})
	if err != nil {
		return Record{}, err
	}
	return recs[0], nil
}

// Entry is one record to append: its kind and fields.
type Entry struct {
	Kind   string
	Fields map[string]string
}

// AppendBatch writes several records with one write and one fsync, and
// returns once all are on disk: the records a flow step produces together
// cost one disk flush. Either every record of the batch is in the journal
// afterwards or, on error, none is counted (a torn tail is cut at the
// next Open).
func (j *Journal) AppendBatch(session string, es []Entry) ([]Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil, ErrClosed
	}
	now := j.now().UTC().Round(time.Millisecond)
	recs := make([]Record, len(es))
	var buf []byte
	for i, e := range es {
		rec := Record{Seq: j.next + uint64(i), Time: now, Kind: e.Kind, Session: session}
		if len(e.Fields) > 0 {
			rec.Fields = make(map[string]string, len(e.Fields))
			for k, v := range e.Fields {
				rec.Fields[k] = maskPANs(v)
			}
		}
		b, err := json.Marshal(line{rec, sum(rec)})
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		buf = append(append(buf, b...), '\n')
		recs[i] = rec
	}
	if _, err := j.f.Write(buf); err != nil {
		return nil, fmt.Errorf("journal: write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return nil, fmt.Errorf("journal: sync: %w", err)
	}
	j.next += uint64(len(es))
	j.records = append(j.records, recs...)
	for _, rec := range recs {
		for ch := range j.subs {
			select {
			case ch <- rec:
			default: // a slow reader misses live records, never blocks the ATM
			}
		}
	}
	return recs, nil
}

// Records returns the records that match f (nil: all), oldest first.
func (j *Journal) Records(f func(Record) bool) []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Record
	for _, r := range j.records {
		if f == nil || f(r) {
			out = append(out, r)
		}
	}
	return out
}

// Subscribe returns a channel of records appended from now on, and a
// function to stop.
func (j *Journal) Subscribe() (<-chan Record, func()) {
	ch := make(chan Record, 256)
	j.mu.Lock()
	j.subs[ch] = struct{}{}
	j.mu.Unlock()
	return ch, func() {
		j.mu.Lock()
		delete(j.subs, ch)
		j.mu.Unlock()
	}
}

// Close closes the file. Appends after Close fail with ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// ReadFile reads and verifies a journal file without opening it for
// writing (for export and for tools).
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		rec, err := decodeLine(sc.Bytes())
		if err != nil {
			return out, fmt.Errorf("journal: %s line %d: %w", path, n, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// maskPANs masks every run of 12–19 digits that passes the Luhn check.
func maskPANs(v string) string {
	out := []byte(v)
	for i := 0; i < len(out); {
		if out[i] < '0' || out[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(out) && out[j] >= '0' && out[j] <= '9' {
			j++
		}
		if n := j - i; n >= 12 && n <= 19 && luhn(out[i:j]) {
			copy(out[i:j], mask.PAN(string(out[i:j])))
		}
		i = j
	}
	return string(out)
}

func luhn(d []byte) bool {
	s := 0
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		s += n
	}
	return s%10 == 0
}
