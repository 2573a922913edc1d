package maint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
)

// Request is one maintenance request on the control socket (the
// "maint" object of a control request). Reading ops (status, faults,
// counters) need no credentials: the socket is the owner's only, as for
// `atmd status`. Every other op either runs in a session opened with
// "open" (the menu asks for the technician's id and PIN) or carries them
// (Tech, PIN), and is journaled with the technician's id.
type Request struct {
	// Op: status, faults, counters; open, keys, screen, close (a menu
	// session of the local console); journal, run (with credentials).
	Op      string            `json:"op"`
	Session string            `json:"session,omitempty"` // keys, screen, close
	Keys    []string          `json:"keys,omitempty"`    // keys: key names (F1..F8, 0..9, ENTER, CANCEL, CLEAR, BACKSPACE)
	After   int               `json:"after,omitempty"`   // screen: wait for a newer screen than this version
	History int               `json:"history,omitempty"` // faults: how many past faults too
	Filter  *Filter           `json:"filter,omitempty"`  // journal
	Export  string            `json:"export,omitempty"`  // journal: the records are for this file (journaled)
	Tech    string            `json:"tech,omitempty"`    // journal, run
	PIN     string            `json:"pin,omitempty"`     // journal, run: the technician's PIN, hashed at once
	Action  string            `json:"action,omitempty"`  // run: see Actions
	Args    map[string]string `json:"args,omitempty"`
}

// Response answers a Request.
type Response struct {
	Session  string            `json:"session,omitempty"`
	Screen   *display.Screen   `json:"screen,omitempty"`
	Keys     []pinpad.Key      `json:"keys,omitempty"`    // the keys the screen takes
	Version  int               `json:"version,omitempty"` // of the screen
	Ended    bool              `json:"ended,omitempty"`   // the session is over
	Status   *Status           `json:"status,omitempty"`
	History  []health.Fault    `json:"history,omitempty"`
	Counters *Counters         `json:"counters,omitempty"`
	Records  []journal.Record  `json:"records,omitempty"`
	Lines    []string          `json:"lines,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
}

// Actions are the ops `run` takes, with their arguments.
var Actions = map[string]string{
	"test":          "device=cardreader|pinpad|printer|nfctag|display|sensors",
	"test-dispense": "cassette=N notes=N (into the reject bin)",
	"load":          "cassettes=ID:DENOMxCOUNT[,ID:missing]... (denominations in major units)",
	"clear-totals":  "",
	"reconcile":     "",
	"echo":          "",
	"service":       "out=true|false",
}

// Limits of a request.
const (
	maxKeysPerRequest = 64
	maxRequestLen     = 16 * 1024
	screenWait        = 20 * time.Second
)

// ErrRequest is wrapped by every malformed request.
var ErrRequest = errors.New("maint: bad request")

// ParseRequest decodes and checks a request: known op, known keys,
// known action, sane sizes. Unknown JSON keys are errors.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if len(b) > maxRequestLen {
		return r, fmt.Errorf("%w: %d bytes", ErrRequest, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Validate checks a request without running it.
func (r Request) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrRequest, fmt.Sprintf(format, args...))
	}
	switch r.Op {
	case "status", "faults", "counters", "open":
	case "keys":
		if r.Session == "" || len(r.Keys) == 0 || len(r.Keys) > maxKeysPerRequest {
			return bad("keys needs a session and 1 to %d keys", maxKeysPerRequest)
		}
		for _, k := range r.Keys {
			if !pinpad.Key(k).Valid() {
				return bad("no key %q", k)
			}
		}
	case "screen", "close":
		if r.Session == "" {
			return bad("%s needs a session", r.Op)
		}
	case "journal", "run":
		if !validID(r.Tech) || !validPIN(r.PIN) {
			return bad("%s needs a technician id and a 4 to 12 digit PIN", r.Op)
		}
		if r.Op == "run" {
			if _, ok := Actions[r.Action]; !ok {
				return bad("no action %q", r.Action)
			}
		}
	default:
		return bad("no op %q", r.Op)
	}
	if r.History < 0 || r.History > health.HistorySize || r.After < 0 {
		return bad("history or after out of range")
	}
	if len(r.Args) > 8 {
		return bad("too many arguments")
	}
	return nil
}

// ParseLoad reads a replenishment: "1:1000x2000,2:500x1000,3:missing",
// cassette id, denomination in major units of cur, number of notes; a
// cassette "missing" is removed.
func ParseLoad(spec string, cur currency.Currency) ([]dispenser.Cassette, error) {
	var out []dispenser.Cassette
	seen := map[int]bool{}
	for _, part := range strings.Split(spec, ",") {
		id, rest, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(id)
		if !ok || err != nil || n < 1 || n > 99 || seen[n] {
			return nil, fmt.Errorf("%w: %q: want ID:DENOMxCOUNT or ID:missing, ids 1 to 99 once each", ErrRequest, part)
		}
		seen[n] = true
		if rest == "missing" {
			out = append(out, dispenser.Cassette{ID: n, Currency: cur.Alpha, Status: dispenser.CassetteMissing})
			continue
		}
		d, c, ok := strings.Cut(rest, "x")
		den, err1 := strconv.ParseInt(d, 10, 64)
		count, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || den < 1 || den > 1_000_000 || count < 0 || count > 100_000 {
			return nil, fmt.Errorf("%w: %q: want ID:DENOMxCOUNT (denomination 1 to 1000000, count 0 to 100000)", ErrRequest, part)
		}
		out = append(out, dispenser.Cassette{ID: n, Denomination: den * cur.Major(), Currency: cur.Alpha, Count: count})
	}
	if len(out) == 0 || len(out) > maxCassettes {
		return nil, fmt.Errorf("%w: 1 to %d cassettes", ErrRequest, maxCassettes)
	}
	return out, nil
}

// Handle answers a maintenance request from the control socket.
func (s *Supervisor) Handle(ctx context.Context, r Request) (Response, error) {
	if err := r.Validate(); err != nil {
		return Response{}, err
	}
	switch r.Op {
	case "status":
		st := s.Status()
		return Response{Status: &st}, nil
	case "faults":
		st := s.Status()
		resp := Response{Status: &st}
		if r.History > 0 {
			resp.History = s.o.Terminal.History(r.History)
		}
		return resp, nil
	case "counters":
		c, err := s.counters(ctx)
		if err != nil {
			return Response{}, err
		}
		return Response{Counters: c}, nil
	case "open":
		var ss *session
		var err error
		if perr := s.post(ctx, func() { ss, err = s.open(ConsoleLocal) }); perr != nil {
			return Response{}, perr
		}
		if err != nil {
			return Response{}, err
		}
		return screenOf(ss), nil
	case "keys":
		ss, err := s.session(ctx, r.Session)
		if err != nil {
			return Response{}, err
		}
		err = s.post(ctx, func() {
			for _, k := range r.Keys {
				s.step(ss, Key{Key: pinpad.Key(k)})
			}
		})
		if err != nil {
			return Response{}, err
		}
		return screenOf(ss), nil
	case "screen":
		ss, err := s.session(ctx, r.Session)
		if err != nil {
			return Response{}, err
		}
		wctx, cancel := context.WithTimeout(ctx, screenWait)
		defer cancel()
		for {
			ss.mu.Lock()
			v, ch, ended := ss.version, ss.changed, ss.ended
			ss.mu.Unlock()
			if v > r.After || ended {
				break
			}
			select {
			case <-ch:
			case <-wctx.Done():
				return screenOf(ss), nil
			}
		}
		return screenOf(ss), nil
	case "close":
		ss, err := s.session(ctx, r.Session)
		if err != nil {
			return Response{}, err
		}
		if err := s.post(ctx, func() { s.step(ss, Quit{Reason: "client left"}) }); err != nil {
			return Response{}, err
		}
		return Response{Ended: true}, nil
	case "journal":
		return s.journalRequest(ctx, r)
	case "run":
		return s.runRequest(ctx, r)
	}
	return Response{}, fmt.Errorf("%w: no op %q", ErrRequest, r.Op)
}

// ErrNoSession: the session ended or never was.
var ErrNoSession = errors.New("maint: no such session (it ended or timed out)")

func (s *Supervisor) session(ctx context.Context, id string) (*session, error) {
	var ss *session
	if err := s.post(ctx, func() { ss = s.sessions[id] }); err != nil {
		return nil, err
	}
	if ss == nil || ss.console != ConsoleLocal {
		return nil, ErrNoSession
	}
	return ss, nil
}

func screenOf(ss *session) Response {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sc := ss.screen
	return Response{Session: ss.id, Screen: &sc, Keys: append([]pinpad.Key(nil), ss.keys...), Version: ss.version, Ended: ss.ended}
}

// login checks a request's credentials, journaling a failure or a
// lockout as the menu does.
func (s *Supervisor) login(ctx context.Context, r Request, what string) (Technician, error) {
	now := s.o.Clock.Now()
	t, wrong, locked, err := s.auth.Check(now, r.Tech, r.PIN)
	f := func(kv ...string) map[string]string {
		return fields(ConsoleLocal, r.Tech, append(kv, "command", what)...)
	}
	switch {
	case errors.Is(err, ErrLocked):
		s.o.Journal.Append("MAINT-LOGIN-REFUSED", "", f("reason", "locked"))
		return Technician{}, err
	case err != nil:
		s.o.Journal.Append("MAINT-LOGIN-FAILED", "", f("wrong", strconv.Itoa(wrong)))
		if locked {
			_, until := s.auth.Locked(now, r.Tech)
			s.o.Journal.Append("MAINT-LOCKED", "", f("until", until.UTC().Format(time.RFC3339), "tries", strconv.Itoa(wrong)))
			return Technician{}, fmt.Errorf("%w; now %w", err, ErrLocked)
		}
		return Technician{}, err
	}
	return t, nil
}

func (s *Supervisor) journalRequest(ctx context.Context, r Request) (Response, error) {
	what := "journal"
	if r.Export != "" {
		what = "journal export"
	}
	t, err := s.login(ctx, r, what)
	if err != nil {
		return Response{}, err
	}
	var f Filter
	if r.Filter != nil {
		f = *r.Filter
	}
	recs := f.Apply(s.o.Journal.Records(nil))
	kind, kv := "MAINT-JOURNAL-VIEW", []string{"records", strconv.Itoa(len(recs))}
	if r.Export != "" {
		kind, kv = "MAINT-JOURNAL-EXPORT", append(kv, "path", r.Export)
	}
	if _, err := s.o.Journal.Append(kind, "", fields(ConsoleLocal, t.ID, kv...)); err != nil {
		return Response{}, ErrJournal
	}
	return Response{Records: recs}, nil
}

// runRequest carries out one action for the local command: the same
// ops and journal records as the menu's, with the technician's id.
// Device actions put the ATM into supervisor mode for their duration.
func (s *Supervisor) runRequest(ctx context.Context, r Request) (Response, error) {
	t, err := s.login(ctx, r, r.Action)
	if err != nil {
		return Response{}, err
	}
	a := r.Args
	jr := func(kind string, kv ...string) error {
		_, err := s.o.Journal.Append(kind, "", fields(ConsoleLocal, t.ID, kv...))
		return err
	}
	var op Op
	intent, done, role := "", "", ""
	var kv []string
	device := false
	switch r.Action {
	case "test":
		dev := a["device"]
		switch dev {
		case DeviceCard, DeviceKeys, DevicePrint, DeviceNFC, DeviceDisplay, DeviceSensors:
		default:
			return Response{}, fmt.Errorf("%w: test device=%q", ErrRequest, dev)
		}
		op, intent, done, kv, device = OpTest{Device: dev}, "MAINT-TEST-INTENT", "MAINT-TEST", []string{"device", dev}, true
	case "test-dispense":
		c, err1 := strconv.Atoi(a["cassette"])
		n, err2 := strconv.Atoi(a["notes"])
		if err1 != nil || err2 != nil || n < 1 || n > 10 {
			return Response{}, fmt.Errorf("%w: test-dispense cassette=N notes=1..10", ErrRequest)
		}
		mix := []dispenser.Notes{{Cassette: c, Count: n}}
		op, intent, done, role, device = OpTestDispense{Mix: mix}, KindTestDispense+"-INTENT", KindTestDispense, RoleCash, true
		kv = []string{"mix", mixText(mix)}
	case "load":
		cs, err := ParseLoad(a["cassettes"], s.o.Currency)
		if err != nil {
			return Response{}, err
		}
		op, intent, done, role, device = OpLoad{Cassettes: cs}, "MAINT-REPLENISH-INTENT", KindReplenished, RoleCash, true
		kv = []string{"cassettes", loadText(cs)}
	case "clear-totals":
		op, done, role = OpClearTotals{}, KindTotalsCleared, RoleCash
	case "reconcile":
		op, intent, done, role = OpReconcile{}, "MAINT-RECONCILE-INTENT", "MAINT-RECONCILE", RoleCash
	case "echo":
		op, intent, done = OpEcho{}, "MAINT-HOST-TEST-INTENT", "MAINT-HOST-TEST"
	case "service":
		out, err := strconv.ParseBool(a["out"])
		if err != nil {
			return Response{}, fmt.Errorf("%w: service out=true|false", ErrRequest)
		}
		op, done = OpService{OutOfService: out}, "MAINT-SERVICE"
		kv = []string{"out_of_service", strconv.FormatBool(out)}
	}
	if role != "" && !t.Has(role) {
		jr("MAINT-DENIED", "action", r.Action, "needs", role)
		return Response{}, fmt.Errorf("maint: %s needs the %s role", r.Action, role)
	}
	if device {
		release, err := s.hold(ctx)
		if err != nil {
			return Response{}, err
		}
		defer release()
	}
	if intent != "" {
		if err := jr(intent, kv...); err != nil {
			return Response{}, ErrJournal
		}
	}
	res := s.exec(ctx, op)
	if r.Action == "load" && res.Err != nil {
		done = "MAINT-REPLENISH-FAILED"
	}
	if !(r.Action == "clear-totals" && res.Err != nil) {
		jr(done, withResult(res, kv...)...)
	}
	resp := Response{Lines: outcome(res), Fields: res.Fields, Status: res.Status}
	if res.Err != nil {
		return resp, res.Err
	}
	return resp, nil
}

// hold puts the ATM into supervisor mode for a local command and waits
// until it is (a customer session ends first); release gives it back.
func (s *Supervisor) hold(ctx context.Context) (release func(), err error) {
	h := &session{id: "hold-" + newToken(), console: "hold", wants: true, changed: make(chan struct{})}
	if err := s.post(ctx, func() {
		s.holds = append(s.holds, h)
		s.updateOperator()
	}); err != nil {
		return nil, err
	}
	release = func() {
		s.post(context.WithoutCancel(ctx), func() {
			for i, x := range s.holds {
				if x == h {
					s.holds = append(s.holds[:i], s.holds[i+1:]...)
					break
				}
			}
			s.updateOperator()
		})
	}
	for {
		var ready bool
		var ch chan struct{}
		if err := s.post(ctx, func() { ready, ch = s.ready, s.readyBC }); err != nil {
			release()
			return nil, err
		}
		if ready {
			return release, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			release()
			return nil, fmt.Errorf("maint: supervisor mode did not begin: %w", ctx.Err())
		}
	}
}
