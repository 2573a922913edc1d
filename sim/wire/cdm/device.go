package cdm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/pinblock"
)

// Fault codes the simulated device reports or can be put into.
const (
	FaultOffline = "DSP-OFFLINE" // injected: the device is silent, as if unpowered
	FaultJam     = "DSP-JAM"
	FaultShutter = "DSP-SHUTTER"
	FaultPick    = "DSP-PICK"
	FaultStorage = "DSP-STORAGE" // the device cannot save its counters
)

// Options configure the simulated dispenser.
type Options struct {
	// Cassettes are loaded when StateFile holds no state yet.
	Cassettes []dispenser.Cassette
	// Key is the dispense key shared with the host. With no key every
	// token is refused.
	Key []byte
	// ATM is the terminal id tokens must be bound to.
	ATM string
	// StateFile keeps the nonce counter, the cassette counters, the
	// retract bin and the last dispense record across restarts; "" keeps
	// them in memory, and then only the random half of a nonce keeps it
	// apart from an earlier run's.
	StateFile string
	// MaxNotes is the most notes one dispense may pick (1..65535); 0
	// means DefaultOptions.MaxNotes.
	MaxNotes int
	// PickTime is how long picking one note takes; 0 picks instantly.
	PickTime time.Duration
	// Rand supplies the random half of each nonce; nil means crypto/rand.
	// Tests set it to get the byte-exact exchanges of the protocol page.
	Rand io.Reader
	// Log receives commands, refusals and line trouble (never keys or
	// tokens); the zero value discards.
	Log zerolog.Logger
}

// DefaultOptions load three TWD cassettes (NT$1000, NT$500, NT$100) and
// pick at most 40 notes, for terminal SIM00001, like the in-process
// simulator. They carry no Key: set the one the host uses.
var DefaultOptions = Options{
	Cassettes: []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Currency: "TWD", Count: 2000, Initial: 2000, Low: 200},
		{ID: 2, Denomination: 50000, Currency: "TWD", Count: 1000, Initial: 1000, Low: 100},
		{ID: 3, Denomination: 10000, Currency: "TWD", Count: 1000, Initial: 1000, Low: 100},
	},
	ATM:      "SIM00001",
	MaxNotes: 40,
}

// Refusal is a dispense the device refused on security grounds.
type Refusal struct {
	Txn    string // the transaction the request named
	Reason string // why: "no nonce outstanding", "token does not verify", ...
}

// Sim is a simulated cash dispenser that speaks the protocol of
// docs/devices/dispenser.md on a serial line. See the package
// documentation.
type Sim struct {
	opts Options
	rnd  io.Reader

	mu         sync.Mutex
	cassettes  []dispenser.Cassette
	nonces     uint64 // nonces issued, ever: the counter half of the last nonce
	nonce      []byte // the outstanding nonce, nil when none
	stacked    []dispenser.Notes
	presented  []dispenser.Notes
	shutter    bool // open
	tookLast   bool // the customer took the last presented notes
	taken      []dispenser.Notes
	retractBin int
	fault      string // injected DSP-OFFLINE, DSP-JAM or DSP-SHUTTER
	pickArmed  bool
	pickAfter  int
	pickFailed string  // what the last pick failure did, until Clear
	last       *record // the last DISPENSE that picked notes, and where they are
	lastTest   *record // the last TEST-DISPENSE that picked notes
	keys       map[string][]byte
	refusals   []Refusal
	wake       chan struct{} // closed and replaced on every change

	// The line: what the serving loop picks up (under mu).
	events   []frame  // unsolicited frames waiting to be sent
	raw      [][]byte // bytes to write as they are (SendRaw)
	kick     chan struct{}
	garble   int // corrupt the CRC of the next n frames sent
	truncate int // cut the next n frames sent short
	nakNext  int // NAK the next n good command frames
	dropResp int // swallow the next n responses to DISPENSE / TEST-DISPENSE
	stall    bool
	lastCmd  []byte // the last command frame executed, as received
	lastResp *frame // its response
	serving  bool
}

// New returns a simulated dispenser loaded from opts.StateFile when it
// holds state, or with opts.Cassettes otherwise. It fails when the
// cassettes are invalid or the state file cannot be read or written: a
// device that cannot keep its nonce counter must not issue nonces.
func New(opts Options) (*Sim, error) {
	if opts.MaxNotes <= 0 {
		opts.MaxNotes = DefaultOptions.MaxNotes
	}
	if opts.MaxNotes > 0xFFFF {
		return nil, fmt.Errorf("sim/wire/cdm: MaxNotes %d over 65535: %w", opts.MaxNotes, hal.ErrInvalid)
	}
	opts.Key = slices.Clone(opts.Key)
	s := &Sim{opts: opts, rnd: opts.Rand, wake: make(chan struct{}), kick: make(chan struct{}, 1)}
	if s.rnd == nil {
		s.rnd = rand.Reader
	}
	st, found, err := loadState(opts.StateFile)
	if err != nil {
		return nil, err
	}
	if !found {
		st = state{Version: stateVersion, Cassettes: slices.Clone(opts.Cassettes)}
		for i := range st.Cassettes {
			if st.Cassettes[i].Initial == 0 {
				st.Cassettes[i].Initial = st.Cassettes[i].Count
			}
		}
		if err := validCassettes(st.Cassettes); err != nil {
			return nil, err
		}
		if err := saveState(opts.StateFile, st); err != nil {
			return nil, err
		}
	}
	s.cassettes, s.nonces, s.retractBin, s.last, s.lastTest = st.Cassettes, st.Nonces, st.RetractBin, st.Last, st.LastTest
	// Keys live in memory only, as in the in-process simulator: a
	// restarted device is loaded again (master key components, then the
	// dispense key from the host); until then Options.Key applies.
	s.keys = map[string][]byte{}
	// Notes a power cut left in the transport are still there.
	if s.last != nil {
		switch s.last.State {
		case dispenser.LastPicking, dispenser.LastStacked:
			s.stacked = slices.Clone(s.last.Notes)
		case dispenser.LastPresented:
			s.presented, s.shutter = slices.Clone(s.last.Notes), true
		}
	}
	s.derive()
	return s, nil
}

// state returns what the device keeps, with changes applied by the
// caller; s.mu must be held.
func (s *Sim) state() state {
	return state{Version: stateVersion, Nonces: s.nonces, Cassettes: slices.Clone(s.cassettes), RetractBin: s.retractBin, Last: s.last, LastTest: s.lastTest}
}

// derive sets each cassette's status from its count; s.mu must be held
// (or s not yet shared).
func (s *Sim) derive() {
	for i := range s.cassettes {
		c := &s.cassettes[i]
		switch {
		case c.Status == dispenser.CassetteMissing:
		case c.Count == 0:
			c.Status = dispenser.CassetteEmpty
		case c.Count <= c.Low:
			c.Status = dispenser.CassetteLow
		default:
			c.Status = dispenser.CassetteOK
		}
	}
}

// changed wakes waiters; s.mu must be held.
func (s *Sim) changed() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// poke tells the serving loop that something is waiting for the line.
func (s *Sim) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// execute runs one command frame and returns its response DATA. ctx
// ending cuts the mechanism's waits short.
func (s *Sim) execute(ctx context.Context, f frame, raw []byte) []byte {
	if f.cmd == cmdDispense || f.cmd == cmdTestDispense {
		return s.dispense(ctx, f, raw)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.cmd {
	case cmdStatus:
		if len(f.data) > 0 {
			return header(stBadParams, "STATUS takes no data")
		}
		return s.statusLocked(false)
	case cmdCassettes:
		if len(f.data) > 0 {
			return header(stBadParams, "CASSETTES takes no data")
		}
		return s.cassettesLocked()
	case cmdNonce:
		return s.nonceLocked(f)
	case cmdPresent:
		return s.presentLocked(f)
	case cmdRetract:
		return s.retractLocked(f)
	case cmdCloseShutter, cmdHalt:
		return s.closeLocked(f)
	case cmdLoad:
		return s.loadLocked(f)
	case cmdLastDispense:
		return s.lastLocked(f)
	case cmdLoadKey:
		return s.loadKeyLocked(f)
	case cmdDeleteKey:
		return s.deleteKeyLocked(f)
	}
	return header(stUnknown, fmt.Sprintf("unknown command %02X", f.cmd))
}

// statusLocked builds the STATUS response; busy says a command is being
// executed.
func (s *Sim) statusLocked(busy bool) []byte {
	w := header(stOK, "")
	state, fault, detail := byte(stateReady), "", ""
	switch {
	case s.fault == FaultJam:
		state, fault, detail = stateHardware, FaultJam, "notes jammed in the transport"
	case s.fault == FaultShutter:
		state, fault, detail = stateHardware, FaultShutter, "shutter does not move"
	case s.pickFailed != "":
		fault, detail = FaultPick, s.pickFailed
	}
	if busy && state == stateReady {
		state = stateBusy
	}
	w.u8(state)
	w.str([]byte(fault))
	w.str([]byte(detail))
	if s.shutter {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.u16(count(s.stacked))
	w.u16(count(s.presented))
	var flags byte
	if s.tookLast {
		flags |= 1
	}
	if s.nonce != nil {
		flags |= 2
	}
	w.u8(flags)
	w.u16(s.opts.MaxNotes)
	w.u8(byte(len(s.cassettes)))
	for _, c := range s.cassettes {
		w.u16(c.ID)
		w.u8(cassetteCodes[c.Status])
	}
	return w
}

func (s *Sim) cassettesLocked() []byte {
	w := header(stOK, "")
	w.u32(int64(s.retractBin))
	w.u8(byte(len(s.cassettes)))
	for _, c := range s.cassettes {
		w.u16(c.ID)
		w.u32(c.Denomination)
		w.bytes([]byte(c.Currency))
		for _, v := range []int{c.Count, c.Initial, c.Dispensed, c.Rejected, c.Low} {
			w.u32(int64(v))
		}
		w.u8(cassetteCodes[c.Status])
	}
	return w
}

// nonceLocked saves the next counter value, then returns it with 8
// random bytes; it voids the previous nonce, also when it fails to make a
// new one.
func (s *Sim) nonceLocked(f frame) []byte {
	if len(f.data) > 0 {
		return header(stBadParams, "NONCE takes no data")
	}
	s.nonce = nil
	st := s.state()
	st.Nonces++
	if err := saveState(s.opts.StateFile, st); err != nil {
		s.opts.Log.Error().Err(err).Msg("cannot save the nonce counter; no nonce issued")
		return header(stHardware, FaultStorage)
	}
	s.nonces = st.Nonces
	nonce := binary.BigEndian.AppendUint64(make([]byte, 0, 16), s.nonces)
	nonce = append(nonce, make([]byte, 8)...)
	if _, err := io.ReadFull(s.rnd, nonce[8:]); err != nil {
		s.opts.Log.Error().Err(err).Msg("no random bytes; no nonce issued")
		return header(stHardware, FaultStorage)
	}
	s.nonce = nonce
	s.changed()
	w := header(stOK, "")
	w.str(nonce)
	return w
}

// dispense runs DISPENSE or TEST-DISPENSE: the checks, then the
// picking — note by note when PickTime is set, s.mu released while the
// mechanism works — saving the counters and the dispense record as it
// goes, so that after a power cut the record says where the notes are.
// Only a dispense that gets as far as picking is recorded: a refusal
// moves nothing and must not hide where the last notes went.
func (s *Sim) dispense(ctx context.Context, f frame, raw []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	test := f.cmd == cmdTestDispense
	req, refused := s.admit(f)
	if refused != nil {
		return refused
	}
	log := s.opts.Log.With().Str("txn", req.Txn).Int64("amount", req.Amount).Str("currency", req.Currency).Bool("test", test).Logger()
	want := count(req.Mix)
	pick := want
	if s.pickArmed {
		s.pickArmed = false
		pick = min(pick, s.pickAfter)
	}
	rec := record{Cmd: f.cmd, Seq: f.seq, CRC: binary.BigEndian.Uint16(raw[len(raw)-3:]), Txn: req.Txn, Nonce: req.Nonce, State: dispenser.LastPicking}
	if test {
		rec.State = stateRejected
	}
	// commit saves rec and the cassettes cs, then makes them current.
	commit := func(rec record, cs []dispenser.Cassette) error {
		st := s.state()
		st.Cassettes = cs
		if test {
			st.LastTest = &rec
		} else {
			st.Last = &rec
		}
		if err := saveState(s.opts.StateFile, st); err != nil {
			return err
		}
		s.cassettes, s.last, s.lastTest = st.Cassettes, st.Last, st.LastTest
		s.derive()
		if !test {
			s.stacked = slices.Clone(rec.Notes)
		}
		s.changed()
		return nil
	}
	failed := func(err error) []byte {
		log.Error().Err(err).Int("picked", count(rec.Notes)).Msg("dispense stopped: cannot save the counters")
		w := header(stHardware, FaultStorage)
		w.result(result{notes: rec.Notes, rejected: rejected(test, rec.Notes)})
		return w
	}
	if err := commit(rec, slices.Clone(s.cassettes)); err != nil {
		log.Error().Err(err).Msg("dispense refused: cannot save the counters")
		return header(stHardware, FaultStorage)
	}
	left := pick
	for _, n := range req.Mix {
		k := min(n.Count, left)
		left -= k
		for k > 0 {
			step := k
			if s.opts.PickTime > 0 {
				step = 1
				s.mu.Unlock()
				t := time.NewTimer(s.opts.PickTime)
				select {
				case <-t.C:
				case <-ctx.Done():
				}
				t.Stop()
				s.mu.Lock()
			}
			k -= step
			cs := slices.Clone(s.cassettes)
			for i := range cs {
				if cs[i].ID == n.Cassette {
					cs[i].Count -= step
					if test {
						cs[i].Rejected += step
					} else {
						cs[i].Dispensed += step
					}
				}
			}
			next := rec
			next.Notes = addNotes(rec.Notes, n.Cassette, step)
			if err := commit(next, cs); err != nil {
				return failed(err)
			}
			rec = next
		}
	}
	res := result{notes: rec.Notes, rejected: rejected(test, rec.Notes)}
	w := header(stOK, "")
	if pick < want {
		s.pickFailed = fmt.Sprintf("pick failure: %d of %d notes picked", pick, want)
		log.Error().Int("picked", pick).Int("notes", want).Msg("pick failure")
		w = header(stHardware, FaultPick)
	}
	w.result(res)
	rec.Status, rec.Reason = w[0], ""
	if w[0] != stOK {
		rec.Reason = FaultPick
	}
	if !test {
		rec.State = dispenser.LastStacked
	}
	if err := commit(rec, slices.Clone(s.cassettes)); err != nil {
		return failed(err)
	}
	switch {
	case pick < want:
	case test:
		log.Info().Int("notes", want).Msg("test notes sent to the reject bin")
	default:
		log.Info().Int("notes", want).Msg("notes stacked")
	}
	return w
}

// admit runs a dispense's checks, in the order of the protocol page, and
// returns the request, or the refusal to send.
func (s *Sim) admit(f frame) (dispenser.DispenseRequest, []byte) {
	test := f.cmd == cmdTestDispense
	if s.fault == FaultJam {
		return dispenser.DispenseRequest{}, header(stHardware, FaultJam)
	}
	var req dispenser.DispenseRequest
	var err error
	outstanding := s.nonce
	if test {
		req.Mix, err = decodeTestDispense(f.data)
	} else {
		s.nonce = nil // any DISPENSE that reaches its checks consumes the nonce
		req, err = decodeDispense(f.data)
	}
	log := s.opts.Log.With().Str("txn", req.Txn).Int64("amount", req.Amount).Str("currency", req.Currency).Bool("test", test).Logger()
	if err != nil {
		log.Warn().Err(err).Msg("dispense refused: malformed request")
		return req, header(stBadParams, "malformed request")
	}
	if len(s.stacked) > 0 || len(s.presented) > 0 {
		log.Warn().Msg("dispense refused: notes still in the transport")
		return req, header(stNotReady, "notes still in the transport")
	}
	if test {
		err = s.checkTestMix(req.Mix)
	} else {
		err = dispenser.CheckMix(req, s.cassettes, s.opts.MaxNotes)
	}
	if err != nil {
		log.Warn().Err(err).Msg("dispense refused: bad mix")
		return req, header(stBadParams, err.Error())
	}
	if !test {
		if why := s.tokenProblem(req, outstanding); why != "" {
			log.Warn().Str("reason", why).Msg("dispense refused: bad token")
			s.refusals = append(s.refusals, Refusal{Txn: req.Txn, Reason: why})
			return req, header(stSecurity, "token refused")
		}
	}
	return req, nil
}

// rejected is the REJECTED count of a RESULT: every note of a test
// dispense, none of a dispense.
func rejected(test bool, notes []dispenser.Notes) int {
	if test {
		return count(notes)
	}
	return 0
}

func addNotes(ns []dispenser.Notes, cassette, k int) []dispenser.Notes {
	out := slices.Clone(ns)
	for i := range out {
		if out[i].Cassette == cassette {
			out[i].Count += k
			return out
		}
	}
	return append(out, dispenser.Notes{Cassette: cassette, Count: k})
}

// checkTestMix validates a TEST-DISPENSE mix: known cassettes present,
// positive counts, each cassette once, enough notes, at most MaxNotes.
func (s *Sim) checkTestMix(mix []dispenser.Notes) error {
	total := 0
	seen := map[int]bool{}
	for _, n := range mix {
		i := slices.IndexFunc(s.cassettes, func(c dispenser.Cassette) bool { return c.ID == n.Cassette })
		switch {
		case n.Count <= 0 || seen[n.Cassette]:
			return fmt.Errorf("bad count for cassette %d", n.Cassette)
		case i < 0 || s.cassettes[i].Status == dispenser.CassetteMissing:
			return fmt.Errorf("no cassette %d", n.Cassette)
		case n.Count > s.cassettes[i].Count:
			return fmt.Errorf("cassette %d has %d notes", n.Cassette, s.cassettes[i].Count)
		}
		seen[n.Cassette] = true
		total += n.Count
	}
	if total == 0 || total > s.opts.MaxNotes {
		return fmt.Errorf("%d notes", total)
	}
	return nil
}

// tokenProblem says why req's token is not good for the outstanding
// nonce, or "" when it is.
func (s *Sim) tokenProblem(req dispenser.DispenseRequest, outstanding []byte) string {
	switch {
	case outstanding == nil:
		return "no nonce outstanding"
	case !bytes.Equal(req.Nonce, outstanding):
		return "not the outstanding nonce"
	case req.ATM != s.opts.ATM:
		return "bound to another ATM"
	case len(req.Token) == 0:
		return "no token"
	case !dispenser.VerifyToken(s.opts.Key, dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: req.Nonce}, req.Token):
		return "token does not verify"
	}
	return ""
}

func (s *Sim) presentLocked(f frame) []byte {
	switch {
	case len(f.data) > 0:
		return header(stBadParams, "PRESENT takes no data")
	case s.fault == FaultJam:
		return header(stHardware, FaultJam)
	case len(s.stacked) == 0:
		return header(stNotReady, "nothing stacked")
	case s.fault == FaultShutter:
		return header(stHardware, FaultShutter)
	}
	if err := s.moveLast(dispenser.LastPresented, 0); err != nil {
		return header(stHardware, FaultStorage)
	}
	s.presented, s.stacked = s.stacked, nil
	s.shutter, s.tookLast = true, false
	s.changed()
	s.opts.Log.Info().Int("notes", count(s.presented)).Msg("cash presented")
	w := header(stOK, "")
	w.u16(count(s.presented))
	return w
}

func (s *Sim) retractLocked(f frame) []byte {
	n := count(s.stacked) + count(s.presented)
	switch {
	case len(f.data) > 0:
		return header(stBadParams, "RETRACT takes no data")
	case s.fault == FaultJam:
		return header(stHardware, FaultJam)
	case n == 0:
		return header(stNotReady, "nothing to retract")
	case s.shutter && s.fault == FaultShutter:
		return header(stHardware, FaultShutter)
	}
	if err := s.moveLast(dispenser.LastRetracted, n); err != nil {
		s.opts.Log.Error().Err(err).Msg("retract refused: cannot save the counters")
		return header(stHardware, FaultStorage)
	}
	s.stacked, s.presented, s.shutter = nil, nil, false
	s.changed()
	s.opts.Log.Warn().Int("notes", n).Msg("notes retracted")
	w := header(stOK, "")
	w.u16(n)
	return w
}

// closeLocked runs CLOSE-SHUTTER and HALT: presented notes go back
// behind the shutter; HALT also voids the outstanding nonce.
func (s *Sim) closeLocked(f frame) []byte {
	if len(f.data) > 0 {
		return header(stBadParams, "no data expected")
	}
	if f.cmd == cmdHalt {
		s.nonce = nil
	}
	if s.shutter {
		if s.fault == FaultShutter {
			return header(stHardware, FaultShutter)
		}
		if len(s.presented) > 0 {
			if err := s.moveLast(dispenser.LastStacked, 0); err != nil {
				return header(stHardware, FaultStorage)
			}
		}
		s.stacked = append(s.stacked, s.presented...)
		s.presented, s.shutter = nil, false
		s.changed()
	}
	return header(stOK, "")
}

// moveLast records where the last dispense's notes went, and retracted
// notes in the retract bin, and saves it; s.mu must be held.
func (s *Sim) moveLast(to dispenser.LastState, retracted int) error {
	st := s.state()
	st.RetractBin += retracted
	if st.Last != nil {
		l := *st.Last
		l.State = to
		st.Last = &l
	}
	if err := saveState(s.opts.StateFile, st); err != nil {
		return err
	}
	s.retractBin, s.last = st.RetractBin, st.Last
	return nil
}

func (s *Sim) loadLocked(f frame) []byte {
	cs, err := decodeLoad(f.data)
	if err == nil {
		err = validCassettes(cs)
	}
	if err != nil {
		return header(stBadParams, err.Error())
	}
	if len(s.stacked) > 0 || len(s.presented) > 0 {
		return header(stNotReady, "notes still in the transport")
	}
	if err := s.loadCassettes(cs); err != nil {
		return header(stHardware, FaultStorage)
	}
	return header(stOK, "")
}

// loadCassettes replaces the cassettes and saves them; s.mu must be held.
func (s *Sim) loadCassettes(cs []dispenser.Cassette) error {
	st := s.state()
	st.Cassettes = slices.Clone(cs)
	if err := saveState(s.opts.StateFile, st); err != nil {
		return err
	}
	s.cassettes = st.Cassettes
	s.derive()
	s.changed()
	s.opts.Log.Info().Int("cassettes", len(cs)).Msg("cassettes loaded")
	return nil
}

// lastLocked answers LAST-DISPENSE: the record of the last DISPENSE, or
// with DATA 08 of the last TEST-DISPENSE.
func (s *Sim) lastLocked(f frame) []byte {
	l := s.last
	switch {
	case len(f.data) == 1 && f.data[0] == cmdTestDispense:
		l = s.lastTest
	case len(f.data) == 1 && f.data[0] == cmdDispense, len(f.data) == 0:
	default:
		return header(stBadParams, "LAST-DISPENSE takes nothing, 04 or 08")
	}
	if l == nil {
		return header(stNotReady, "no dispense recorded")
	}
	w := header(stOK, "")
	w.u8(l.Cmd)
	w.u8(l.Seq)
	w.u16(int(l.CRC))
	w.u8(stateCodes[l.State])
	w.str([]byte(l.Txn))
	w.str(l.Nonce)
	w.u8(l.Status)
	w.str([]byte(l.Reason))
	w.result(result{notes: l.Notes, rejected: rejected(l.Cmd == cmdTestDispense, l.Notes)})
	return w
}

// loadKeyLocked answers LOAD-KEY: the terminal master key as clear
// components (name "tmk", no KEK), each XORed into the key so far, or the
// dispense key encrypted under it (name "dispense", KEK "tmk", TDES-ECB).
// It answers the check value: TDES for the master key, the first three
// bytes of HMAC-SHA256(key, 16 zero bytes) for the dispense key.
func (s *Sim) loadKeyLocked(f frame) []byte {
	r := &reader{b: f.data}
	name, kek, value := string(r.str()), string(r.str()), r.str()
	if err := r.end(); err != nil {
		return header(stBadParams, "malformed LOAD-KEY")
	}
	var key, kcv []byte
	switch {
	case name == "tmk" && kek == "":
		if len(value) != 16 && len(value) != 24 {
			return header(stBadParams, fmt.Sprintf("master key component of %d bytes", len(value)))
		}
		key = slices.Clone(value)
		if old := s.keys["tmk"]; len(old) == len(key) {
			for i := range key {
				key[i] ^= old[i]
			}
		}
		var err error
		if kcv, err = pinblock.KCV(key); err != nil {
			return header(stBadParams, "bad master key")
		}
	case name == "dispense" && kek == "tmk":
		c, err := pinblock.TDES(s.keys["tmk"])
		if err != nil {
			return header(stBadParams, "no master key loaded")
		}
		if len(value) < 32 || len(value)%8 != 0 || len(value) > 64 {
			return header(stBadParams, "the dispense key is not 32 to 64 bytes in whole blocks")
		}
		key = make([]byte, len(value))
		for i := 0; i < len(value); i += 8 {
			c.Decrypt(key[i:i+8], value[i:i+8])
		}
		kcv = dispenser.DispenseKCV(key)
	default:
		return header(stBadParams, fmt.Sprintf("cannot load key %q under %q", name, kek))
	}
	if old := s.keys[name]; old != nil {
		pinblock.Wipe(old)
	}
	s.keys[name] = key
	if name == "dispense" {
		s.opts.Key = key
	}
	s.opts.Log.Info().Str("key", name).Str("kcv", hex.EncodeToString(kcv)).Msg("key loaded")
	w := header(stOK, "")
	w.str(kcv)
	return w
}

// deleteKeyLocked answers DELETE-KEY: the key's bytes are overwritten
// and it is gone (08 when no such key is loaded). Deleting the master key
// leaves the dispense key, which was loaded under it, in force.
func (s *Sim) deleteKeyLocked(f frame) []byte {
	r := &reader{b: f.data}
	name := string(r.str())
	if err := r.end(); err != nil || name == "" {
		return header(stBadParams, "malformed DELETE-KEY")
	}
	old, ok := s.keys[name]
	if !ok {
		return header(stNotReady, "no such key")
	}
	pinblock.Wipe(old)
	delete(s.keys, name)
	s.opts.Log.Info().Str("key", name).Msg("key deleted")
	return header(stOK, "")
}

// Take plays the customer taking the presented notes. It blocks until
// notes are presented, then returns once they are in the customer's hand.
// The device closes its shutter behind them (unless DSP-SHUTTER is
// injected) and reports CASH-TAKEN to the host.
func (s *Sim) Take(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.presented) > 0 {
			if err := s.moveLast(dispenser.LastTaken, 0); err != nil {
				s.mu.Unlock()
				return fmt.Errorf("sim/wire/cdm: take: %w", err)
			}
			notes := s.presented
			s.taken = append(s.taken, notes...)
			s.presented, s.tookLast = nil, true
			if s.fault != FaultShutter {
				s.shutter = false
			}
			w := writer{}
			w.u16(count(notes))
			s.events = append(s.events, frame{seq: 0, cmd: evCashTaken, data: w})
			s.changed()
			s.mu.Unlock()
			s.poke()
			s.opts.Log.Info().Int("notes", count(notes)).Msg("customer took the cash")
			return nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("sim/wire/cdm: take: %w", ctx.Err())
		}
	}
}

// Tray returns the notes presented to the customer now.
func (s *Sim) Tray() []dispenser.Notes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.presented)
}

// Taken returns every note customers took, in order.
func (s *Sim) Taken() []dispenser.Notes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.taken)
}

// RetractBin returns how many notes were retracted, ever.
func (s *Sim) RetractBin() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retractBin
}

// Counters returns the cassettes and their counters.
func (s *Sim) Counters() []dispenser.Cassette {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cassettes)
}

// Refusals returns the dispenses refused on security grounds, in order:
// the attempts a bank's fraud team would want to see.
func (s *Sim) Refusals() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refusals)
}

// Load replaces the cassettes, as a replenishment at the device does, and
// saves them. A cassette loaded without an Initial count gets its Count
// as Initial.
func (s *Sim) Load(cs []dispenser.Cassette) error {
	cs = slices.Clone(cs)
	for i := range cs {
		if cs[i].Initial == 0 {
			cs[i].Initial = cs[i].Count
		}
	}
	if err := validCassettes(cs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadCassettes(cs)
}

// SetPickFailure arms DSP-PICK: the next DISPENSE or TEST-DISPENSE stops
// after n notes and reports a partial dispense naming what moved; those
// notes are stacked. A dispense of n notes or fewer is not affected, and
// consumes the failure all the same.
func (s *Sim) SetPickFailure(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pickArmed, s.pickAfter = true, max(n, 0)
}

// Inject puts the device into a fault: DSP-OFFLINE (it falls silent: no
// ACK, no response, no event), DSP-JAM (DISPENSE, PRESENT and RETRACT
// fail), DSP-SHUTTER (the shutter neither opens nor closes) or DSP-PICK
// (arms a pick failure, see SetPickFailure).
func (s *Sim) Inject(code string) error {
	s.mu.Lock()
	switch code {
	case FaultOffline, FaultJam, FaultShutter:
		s.fault = code
	case FaultPick:
		s.pickArmed = true
	default:
		s.mu.Unlock()
		return fmt.Errorf("sim/wire/cdm: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	s.changed()
	s.mu.Unlock()
	s.poke()
	return nil
}

// Clear removes injected faults and a pending or reported pick failure.
// A shutter left open by DSP-SHUTTER stays open until the host closes it.
func (s *Sim) Clear() {
	s.mu.Lock()
	s.fault, s.pickArmed, s.pickFailed = "", false, ""
	s.changed()
	s.mu.Unlock()
	s.poke()
}

func count(ns []dispenser.Notes) int {
	n := 0
	for _, x := range ns {
		n += x.Count
	}
	return n
}
