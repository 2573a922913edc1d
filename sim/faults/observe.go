package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/sim/netfault"
)

// What the harness reads besides the journal and the host's ledger: the
// dispenser simulator's state file, the host's log (for the reversals it
// processed) and the wire (for the nonces and the reversal advices).

// dispState is the part of the dispenser simulator's state file
// (sim/devsim, DispenserOptions.StateFile) the checks use.
type dispState struct {
	Nonces     uint64                 `json:"nonces"` // counter of the last nonce issued
	Cassettes  []dispenser.Cassette   `json:"cassettes"`
	RetractBin int                    `json:"retract_bin"`
	Last       dispenser.LastDispense `json:"last"`
}

// errDispState: the dispenser's state file is missing or unreadable.
var errDispState = errors.New("faults: dispenser state")

// parseDispState decodes a dispenser state file. Unknown fields are
// ignored (the simulator checks its own file strictly); impossible
// counters are errors.
func parseDispState(b []byte) (dispState, error) {
	var s dispState
	if err := json.Unmarshal(b, &s); err != nil {
		return dispState{}, fmt.Errorf("%w: %w", errDispState, err)
	}
	if s.RetractBin < 0 {
		return dispState{}, fmt.Errorf("%w: retract bin %d", errDispState, s.RetractBin)
	}
	for _, c := range s.Cassettes {
		if c.Dispensed < 0 || c.Count < 0 || c.Denomination <= 0 {
			return dispState{}, fmt.Errorf("%w: cassette %d: count %d, dispensed %d, denomination %d", errDispState, c.ID, c.Count, c.Dispensed, c.Denomination)
		}
	}
	return s, nil
}

func readDispState(path string) (dispState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return dispState{}, fmt.Errorf("%w: %w", errDispState, err)
	}
	s, err := parseDispState(b)
	if err != nil {
		return dispState{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

// dispensed is the number of notes ever picked from the cassettes.
func (s dispState) dispensed() int {
	n := 0
	for _, c := range s.Cassettes {
		n += c.Dispensed
	}
	return n
}

// notesOut is the number of notes that reached customers: picked, and
// not pulled back into the retract bin.
func (s dispState) notesOut() int { return s.dispensed() - s.RetractBin }

// denomination returns the one denomination of every cassette (minor
// units); the notes-to-value arithmetic needs a single one.
func (s dispState) denomination() (int64, error) {
	var d int64
	for _, c := range s.Cassettes {
		if d != 0 && c.Denomination != d {
			return 0, fmt.Errorf("faults: cassettes of several denominations (%d, %d): the retract bin cannot be valued", d, c.Denomination)
		}
		d = c.Denomination
	}
	if d == 0 {
		return 0, errors.New("faults: no cassettes")
	}
	return d, nil
}

// hostLog receives the reference host's JSON log: it copies every line
// to w and counts, per ledger entry, the reversals the host processed
// (its "withdrawal reversed" lines). A reversal repeated or arriving
// twice is logged differently ("reversal already processed"), so a count
// above one means the host credited a withdrawal back twice.
type hostLog struct {
	w io.Writer

	mu       sync.Mutex
	partial  []byte
	reversed map[int64]int
}

func newHostLog(w io.Writer) *hostLog { return &hostLog{w: w, reversed: map[int64]int{}} }

// Write takes log output; zerolog writes one line per call, but partial
// lines are buffered all the same.
func (l *hostLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(p); err != nil {
		return 0, err
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if id, ok := parseReversalLine(l.partial[:i]); ok {
			l.reversed[id]++
		}
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 1<<20 {
		l.partial = nil // not a log line; never let it grow
	}
	return len(p), nil
}

// counts returns the reversals processed per ledger entry id.
func (l *hostLog) counts() map[int64]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int64]int, len(l.reversed))
	for k, v := range l.reversed {
		out[k] = v
	}
	return out
}

// reversalLogMsg is the message sim/host logs when a reversal credits a
// withdrawal back (sim/host/handle.go).
const reversalLogMsg = "withdrawal reversed"

// parseReversalLine reports whether line is a host log line saying that
// a reversal was processed, and for which ledger entry.
func parseReversalLine(line []byte) (int64, bool) {
	if !bytes.Contains(line, []byte(reversalLogMsg)) {
		return 0, false
	}
	var v struct {
		Msg      string `json:"message"`
		LedgerID *int64 `json:"ledger_id"`
	}
	if json.Unmarshal(line, &v) != nil || v.Msg != reversalLogMsg || v.LedgerID == nil {
		return 0, false
	}
	return *v.LedgerID, true
}

// wireTap watches the frames the ATM sends through the proxy.
type wireTap struct {
	mu         sync.Mutex
	nonces     map[string]int // NC of every 0200 withdrawal, how often seen
	requests   int            // 0200 withdrawals
	advices    map[string]int // 0420/0421 per original (field 90: MTI, STAN, time)
	repeats    int            // 0421s
	unreadable int            // ATM frames that did not unpack
}

func newWireTap() *wireTap {
	return &wireTap{nonces: map[string]int{}, advices: map[string]int{}}
}

// observe is a netfault.Options.Observe.
func (w *wireTap) observe(dir netfault.Direction, msg []byte) {
	if dir != netfault.ToHost || len(msg) < 4 {
		return
	}
	switch string(msg[:4]) {
	case hostlink.MTIFinRequest, hostlink.MTIReversal, hostlink.MTIReversalRepeat:
	default:
		return
	}
	m, err := hostlink.Unpack(msg)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.unreadable++
		return
	}
	switch m.MTI {
	case hostlink.MTIFinRequest:
		if m.ProcCode != hostlink.ProcWithdrawal {
			return
		}
		w.requests++
		nc := ""
		if t, err := hostlink.ParseTLV(m.Private); err == nil {
			nc, _ = t.Get(hostlink.TagNonce)
		}
		w.nonces[nc]++
	default:
		if m.MTI == hostlink.MTIReversalRepeat {
			w.repeats++
		}
		if len(m.Original) >= 20 {
			w.advices[m.Original[:20]]++
		}
	}
}

// wireFigures is a snapshot of the tap.
type wireFigures struct {
	Requests   int            // 0200 withdrawals
	Nonces     map[string]int // per nonce, how many 0200s carried it
	Originals  int            // distinct originals reversal advices named
	Advices    int            // 0420 and 0421
	Repeats    int            // 0421
	Unreadable int
}

func (w *wireTap) figures() wireFigures {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := wireFigures{Requests: w.requests, Nonces: map[string]int{}, Originals: len(w.advices), Repeats: w.repeats, Unreadable: w.unreadable}
	for k, v := range w.nonces {
		f.Nonces[k] = v
	}
	for _, n := range w.advices {
		f.Advices += n
	}
	return f
}
