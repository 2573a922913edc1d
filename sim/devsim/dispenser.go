package devsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/failpoint"
	"github.com/atmd/atmd/internal/pinblock"
)

// DispenserOptions configure the dispenser simulator.
type DispenserOptions struct {
	// Cassettes are loaded when StateFile holds no state yet.
	Cassettes []dispenser.Cassette
	// Key is the dispense key shared with the host. With no key every
	// token is refused.
	Key []byte
	// ATM is the terminal id tokens must be bound to.
	ATM string
	// StateFile keeps the nonce counter, the cassette counters and the
	// retract bin across restarts; "" keeps them in memory, and then only
	// the random half of a nonce keeps it apart from an earlier run's.
	StateFile string
	// MaxNotes is the most notes one dispense may pick; 0 means
	// DefaultDispenserOptions.MaxNotes.
	MaxNotes int
	// Log receives dispenses, refusals and retracts (never keys or
	// tokens); the zero value discards.
	Log zerolog.Logger
	// PickDelay, when set, makes picking take this long per note, saving
	// the counters after each one, so a test can stop the process in the
	// middle of a dispense.
	PickDelay time.Duration
}

// DefaultDispenserOptions load three TWD cassettes (NT$1000, NT$500,
// NT$100) and pick at most 40 notes, for terminal SIM00001. They carry no
// Key: set the one the host uses.
var DefaultDispenserOptions = DispenserOptions{
	Cassettes: []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Currency: "TWD", Count: 2000, Initial: 2000, Low: 200},
		{ID: 2, Denomination: 50000, Currency: "TWD", Count: 1000, Initial: 1000, Low: 100},
		{ID: 3, Denomination: 10000, Currency: "TWD", Count: 1000, Initial: 1000, Low: 100},
	},
	ATM:      "SIM00001",
	MaxNotes: 40,
}

// Dispenser simulates a cash dispenser that enforces the end-to-end
// dispense token.
//
// Nonces are 16 bytes: an 8-byte big-endian counter, saved to the state
// file (written to a temporary file, fsync'd and renamed into place)
// before the nonce is returned, then 8 random bytes; so a nonce never
// repeats, across restarts too. Issuing a nonce voids the previous one;
// every Dispense that gets as far as its checks consumes the outstanding
// nonce, whatever nonce it presents and whether it succeeds or not (an
// offline or jammed dispenser refuses before that); Halt voids it too.
//
// Dispense checks, in this order, that nothing is left in the transport
// (hal.ErrBusy), the mix (dispenser.CheckMix against the cassettes now)
// and the token (bound to the configured ATM and the outstanding nonce);
// any failure moves no note. Only then are the notes picked, the counters
// saved and the notes stacked behind the shutter.
//
// TestDispense (dispenser.Tester) picks notes straight into the reject
// bin with no token: Count goes down, Rejected up, nothing is stacked.
//
// Control surface: Take plays the customer, Tray and Taken show where
// the notes are, Load (dispenser.Loader) replenishes, Counters and
// RetractBin report.
// Injectable faults: DSP-OFFLINE (every command fails with
// hal.ErrOffline), DSP-JAM (Dispense, Present and Retract fail), DSP-SHUTTER
// (the shutter neither opens nor closes) and DSP-PICK (the next Dispense
// stops after the number of notes set by SetPickFailure, 0 unless set).
// DSP-CASS-LOW and DSP-CASS-EMPTY are not injected: Status derives them
// from the counts and stays Online.
type Dispenser struct {
	status
	opts DispenserOptions

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
	pickFailed string        // what the last pick failure did, until Clear
	wake       chan struct{} // closed and replaced on every change
	last       dispenser.LastDispense
	keys       map[string][]byte
}

var (
	_ dispenser.Dispenser  = (*Dispenser)(nil)
	_ dispenser.Recoverer  = (*Dispenser)(nil)
	_ dispenser.KeyLoader  = (*Dispenser)(nil)
	_ dispenser.Tester     = (*Dispenser)(nil)
	_ dispenser.KeyDeleter = (*Dispenser)(nil)
	_ dispenser.Loader     = (*Dispenser)(nil)
	_ Faulty               = (*Dispenser)(nil)

	_ dispenser.RetractCounter = (*Dispenser)(nil)
)

// NewDispenser returns a dispenser loaded from opts.StateFile when it
// holds state, or with opts.Cassettes otherwise. It fails when the
// cassettes are invalid or the state file cannot be read or written: a
// dispenser that cannot keep its nonce counter must not issue nonces.
func NewDispenser(opts DispenserOptions) (*Dispenser, error) {
	if opts.MaxNotes <= 0 {
		opts.MaxNotes = DefaultDispenserOptions.MaxNotes
	}
	opts.Key = slices.Clone(opts.Key)
	d := &Dispenser{opts: opts, wake: make(chan struct{})}
	st, found, err := loadDispenserState(opts.StateFile)
	if err != nil {
		return nil, err
	}
	if !found {
		st = dispenserState{Version: dispenserStateVersion, Cassettes: slices.Clone(opts.Cassettes)}
		if err := st.validate(); err != nil {
			return nil, err
		}
		if err := d.save(st); err != nil {
			return nil, err
		}
	}
	d.cassettes, d.nonces, d.retractBin, d.last = st.Cassettes, st.Nonces, st.RetractBin, st.Last
	// Keys live in memory only: a restarted simulator is loaded again
	// (master key components, then the dispense key from the host).
	d.keys = map[string][]byte{}
	// Notes left in the transport by a power loss are still there.
	switch d.last.State {
	case dispenser.LastPicking, dispenser.LastStacked:
		d.stacked = slices.Clone(d.last.Notes)
	case dispenser.LastPresented:
		d.presented = slices.Clone(d.last.Notes)
	}
	d.deriveCassettes()
	d.publish()
	return d, nil
}

// state is the current persistent state, to be changed and saved; d.mu
// must be held.
func (d *Dispenser) state() dispenserState {
	st := dispenserState{Version: dispenserStateVersion, Nonces: d.nonces, Cassettes: slices.Clone(d.cassettes),
		RetractBin: d.retractBin, Last: d.last}
	st.Last.Notes = slices.Clone(d.last.Notes)
	return st
}

// LastDispense reports the last dispense and where its notes are.
func (d *Dispenser) LastDispense(ctx context.Context) (dispenser.LastDispense, error) {
	if err := ctx.Err(); err != nil {
		return dispenser.LastDispense{}, fmt.Errorf("devsim: dispenser: last dispense: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return dispenser.LastDispense{}, d.faultErr()
	}
	l := d.last
	l.Notes = slices.Clone(l.Notes)
	return l, nil
}

// LoadKey loads the master key as clear components ("tmk", kek "") or the
// dispense key encrypted under the master key ("dispense", kek "tmk").
func (d *Dispenser) LoadKey(ctx context.Context, name, kek string, value []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devsim: dispenser: load key: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return nil, d.faultErr()
	}
	var key, kcv []byte
	switch {
	case name == "tmk" && kek == "":
		if len(value) != 16 && len(value) != 24 {
			return nil, fmt.Errorf("devsim: dispenser: master key component of %d bytes: %w", len(value), hal.ErrInvalid)
		}
		key = slices.Clone(value)
		if old := d.keys["tmk"]; len(old) == len(key) {
			for i := range key {
				key[i] ^= old[i]
			}
		}
		var err error
		if kcv, err = pinblock.KCV(key); err != nil {
			return nil, err
		}
	case name == "dispense" && kek == "tmk":
		tmk := d.keys["tmk"]
		c, err := pinblock.TDES(tmk)
		if err != nil || len(value) < 32 || len(value)%8 != 0 {
			return nil, fmt.Errorf("devsim: dispenser: no master key, or a dispense key that is not whole blocks: %w", hal.ErrInvalid)
		}
		key = make([]byte, len(value))
		for i := 0; i < len(value); i += 8 {
			c.Decrypt(key[i:i+8], value[i:i+8])
		}
		kcv = dispenser.DispenseKCV(key)
	default:
		return nil, fmt.Errorf("devsim: dispenser: cannot load key %q under %q: %w", name, kek, hal.ErrInvalid)
	}
	d.keys[name] = key
	if name == "dispense" {
		d.opts.Key = key
	}
	d.opts.Log.Info().Str("key", name).Str("kcv", hex.EncodeToString(kcv)).Msg("key loaded")
	return kcv, nil
}

// DeleteKey erases a key (dispenser.KeyDeleter); dispenser.ErrNoKey
// when it is not loaded. The dispense key stays in force when the master
// key is deleted.
func (d *Dispenser) DeleteKey(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: dispenser: delete key: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return d.faultErr()
	}
	old, ok := d.keys[name]
	if !ok {
		return fmt.Errorf("devsim: dispenser: delete key %q: %w", name, dispenser.ErrNoKey)
	}
	pinblock.Wipe(old)
	delete(d.keys, name)
	return nil
}

// Take plays the customer taking the presented notes. It blocks until
// notes are presented, then returns once they are in the customer's hand.
func (d *Dispenser) Take(ctx context.Context) error {
	for {
		d.mu.Lock()
		if len(d.presented) > 0 {
			notes := d.presented
			d.last.State = dispenser.LastTaken
			if err := d.save(d.state()); err != nil {
				d.last.State = dispenser.LastPresented
				d.mu.Unlock()
				return err
			}
			d.taken = append(d.taken, notes...)
			d.presented, d.tookLast = nil, true
			d.changed()
			d.mu.Unlock()
			d.opts.Log.Info().Int("notes", countNotes(notes)).Msg("customer took the cash")
			return nil
		}
		wake := d.wake
		d.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("devsim: dispenser: take: %w", ctx.Err())
		}
	}
}

// Tray returns the notes presented to the customer now.
func (d *Dispenser) Tray() []dispenser.Notes {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.presented)
}

// Taken returns every note customers took, in order.
func (d *Dispenser) Taken() []dispenser.Notes {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.taken)
}

// RetractBin returns how many notes were retracted, ever.
func (d *Dispenser) RetractBin() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.retractBin
}

// Counters returns the cassettes and their counters.
func (d *Dispenser) Counters() []dispenser.Cassette {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.cassettes)
}

// Load replaces the cassettes, as a replenishment does, and saves them
// (dispenser.Loader). A cassette loaded without an Initial count gets its
// Count as Initial. It fails while notes are in the transport.
func (d *Dispenser) Load(ctx context.Context, cs []dispenser.Cassette) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: dispenser: load: %w", err)
	}
	st := dispenserState{Version: dispenserStateVersion, Cassettes: slices.Clone(cs)}
	for i := range st.Cassettes {
		if st.Cassettes[i].Initial == 0 {
			st.Cassettes[i].Initial = st.Cassettes[i].Count
		}
	}
	if err := st.validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" || d.fault == "DSP-JAM" {
		return d.faultErr()
	}
	if len(d.stacked) > 0 || len(d.presented) > 0 {
		return fmt.Errorf("devsim: dispenser: load: notes still in the transport: %w", hal.ErrBusy)
	}
	cur := d.state()
	cur.Cassettes = st.Cassettes
	st = cur
	if err := d.save(st); err != nil {
		return err
	}
	d.cassettes = st.Cassettes
	d.deriveCassettes()
	d.publish()
	d.opts.Log.Info().Int("cassettes", len(cs)).Msg("cassettes loaded")
	return nil
}

// RetractCount returns how many notes were retracted, ever
// (dispenser.RetractCounter).
func (d *Dispenser) RetractCount(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("devsim: dispenser: retract count: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return 0, d.faultErr()
	}
	return d.retractBin, nil
}

// TestDispense picks the notes of mix straight into the reject bin, for a
// technician's test: no token, nothing stacked, nothing presented. It
// leaves the outstanding nonce and the last dispense's record alone.
func (d *Dispenser) TestDispense(ctx context.Context, mix []dispenser.Notes) (dispenser.Result, error) {
	if err := ctx.Err(); err != nil {
		return dispenser.Result{}, fmt.Errorf("devsim: dispenser: test dispense: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" || d.fault == "DSP-JAM" {
		return dispenser.Result{}, d.faultErr()
	}
	if len(d.stacked) > 0 || len(d.presented) > 0 {
		return dispenser.Result{}, fmt.Errorf("dispenser: notes still in the transport: %w", hal.ErrBusy)
	}
	if err := dispenser.CheckNotes(mix, d.cassettes, d.opts.MaxNotes); err != nil {
		return dispenser.Result{}, err
	}
	st := d.state()
	var res dispenser.Result
	for _, n := range mix {
		for i := range st.Cassettes {
			if st.Cassettes[i].ID == n.Cassette {
				st.Cassettes[i].Count -= n.Count
				st.Cassettes[i].Rejected += n.Count
			}
		}
		res.Dispensed = append(res.Dispensed, n)
		res.Rejected += n.Count
	}
	if err := d.save(st); err != nil {
		return dispenser.Result{}, err
	}
	d.cassettes = st.Cassettes
	d.deriveCassettes()
	d.publish()
	d.opts.Log.Info().Int("notes", res.Rejected).Msg("test dispense into the reject bin")
	return res, nil
}

// SetPickFailure arms DSP-PICK: the next Dispense stops after n notes and
// returns a *dispenser.PartialError naming what moved; those notes are
// stacked. A dispense of n notes or fewer is not affected, and consumes
// the failure all the same.
func (d *Dispenser) SetPickFailure(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pickArmed, d.pickAfter = true, max(n, 0)
}

// Inject puts the dispenser into a fault: DSP-OFFLINE, DSP-JAM,
// DSP-SHUTTER, or DSP-PICK (arms a pick failure, see SetPickFailure).
func (d *Dispenser) Inject(code string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch code {
	case "DSP-OFFLINE", "DSP-JAM", "DSP-SHUTTER":
		d.fault = code
	case "DSP-PICK":
		d.pickArmed = true
	default:
		return fmt.Errorf("devsim: dispenser: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	d.changed()
	d.publish()
	return nil
}

// Clear removes injected faults and a pending or reported pick failure.
func (d *Dispenser) Clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault, d.pickArmed, d.pickFailed = "", false, ""
	d.changed()
	d.publish()
}

// String names the simulator.
func (d *Dispenser) String() string { return "dispenser:sim:" + d.opts.ATM }

// Capabilities of the simulator.
func (d *Dispenser) Capabilities() dispenser.Capabilities {
	d.mu.Lock()
	defer d.mu.Unlock()
	return dispenser.Capabilities{MaxNotes: d.opts.MaxNotes, Shutter: true, Retract: true, Cassettes: len(d.cassettes)}
}

// Cassettes returns the cash units and their counters.
func (d *Dispenser) Cassettes(ctx context.Context) ([]dispenser.Cassette, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devsim: dispenser: cassettes: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return nil, d.faultErr()
	}
	return slices.Clone(d.cassettes), nil
}

// Nonce saves the next counter value, then returns it with 8 random
// bytes; it voids the previous nonce.
func (d *Dispenser) Nonce(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devsim: dispenser: nonce: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return nil, d.faultErr()
	}
	next := d.nonces + 1
	st := d.state()
	st.Nonces = next
	if err := d.save(st); err != nil {
		d.nonce = nil
		return nil, err
	}
	d.nonces = next
	nonce := binary.BigEndian.AppendUint64(make([]byte, 0, 16), next)
	nonce = append(nonce, make([]byte, 8)...)
	_, _ = rand.Read(nonce[8:]) // crypto/rand.Read never fails
	d.nonce = nonce
	return slices.Clone(nonce), nil
}

// Dispense checks the request and its token and stacks the notes.
func (d *Dispenser) Dispense(ctx context.Context, req dispenser.DispenseRequest) (dispenser.Result, error) {
	if err := ctx.Err(); err != nil {
		return dispenser.Result{}, fmt.Errorf("devsim: dispenser: dispense: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" || d.fault == "DSP-JAM" {
		return dispenser.Result{}, d.faultErr()
	}
	outstanding := d.nonce
	d.nonce = nil
	log := d.opts.Log.With().Str("txn", req.Txn).Int64("amount", req.Amount).Str("currency", req.Currency).Logger()
	if len(d.stacked) > 0 || len(d.presented) > 0 {
		log.Warn().Msg("dispense refused: notes still in the transport")
		return dispenser.Result{}, fmt.Errorf("dispenser: notes still in the transport: %w", hal.ErrBusy)
	}
	if err := dispenser.CheckMix(req, d.cassettes, d.opts.MaxNotes); err != nil {
		log.Warn().Err(err).Msg("dispense refused: bad mix")
		return dispenser.Result{}, err
	}
	if why := d.tokenProblem(req, outstanding); why != "" {
		log.Warn().Str("reason", why).Msg("dispense refused: bad token")
		return dispenser.Result{}, dispenser.ErrBadToken
	}

	want := countNotes(req.Mix)
	pick := want
	if d.pickArmed {
		d.pickArmed = false
		pick = min(pick, d.pickAfter)
	}
	moved, err := d.pick(ctx, req, pick)
	if err != nil {
		return dispenser.Result{Dispensed: moved}, err
	}
	d.stacked = moved
	d.changed()
	res := dispenser.Result{Dispensed: slices.Clone(moved)}
	if pick < want {
		d.pickFailed = fmt.Sprintf("pick failure: %d of %d notes picked", pick, want)
		d.publish()
		log.Error().Int("picked", pick).Int("notes", want).Msg("pick failure")
		return res, &dispenser.PartialError{
			Dispensed: slices.Clone(moved),
			Err:       &hal.Fault{Device: "dispenser", Code: "DSP-PICK", Msg: d.pickFailed, Recoverable: true},
		}
	}
	d.publish()
	log.Info().Int("notes", want).Msg("notes stacked")
	return res, nil
}

// pick moves up to n notes of req.Mix from the cassettes into the
// transport, recording each step in the state file: first that picking
// has begun for req.Txn, then (with PickDelay) after every note, and last
// that the notes are stacked. d.mu must be held; it is released while
// waiting out PickDelay so Status stays readable.
func (d *Dispenser) pick(ctx context.Context, req dispenser.DispenseRequest, n int) ([]dispenser.Notes, error) {
	d.last = dispenser.LastDispense{Txn: req.Txn, State: dispenser.LastPicking}
	if err := d.save(d.state()); err != nil {
		return nil, err
	}
	take := func(cassette, k int) error {
		st := d.state()
		for i := range st.Cassettes {
			if st.Cassettes[i].ID == cassette {
				st.Cassettes[i].Count -= k
				st.Cassettes[i].Dispensed += k
			}
		}
		notes := addNotes(st.Last.Notes, cassette, k)
		st.Last.Notes = notes
		if err := d.save(st); err != nil {
			return err
		}
		d.cassettes, d.last.Notes = st.Cassettes, notes
		d.deriveCassettes()
		return nil
	}
	left := n
	for _, m := range req.Mix {
		k := min(m.Count, left)
		left -= k
		if d.opts.PickDelay <= 0 {
			if k > 0 {
				if err := take(m.Cassette, k); err != nil {
					return slices.Clone(d.last.Notes), err
				}
			}
			continue
		}
		for ; k > 0; k-- {
			d.mu.Unlock()
			select {
			case <-time.After(d.opts.PickDelay):
			case <-ctx.Done():
			}
			d.mu.Lock()
			if err := take(m.Cassette, 1); err != nil {
				return slices.Clone(d.last.Notes), err
			}
			if left > 0 || k > 1 {
				failpoint.Hit(failpoint.MidDispense) // a power cut with notes half picked
			}
		}
	}
	d.last.State = dispenser.LastStacked
	if err := d.save(d.state()); err != nil {
		return slices.Clone(d.last.Notes), err
	}
	return slices.Clone(d.last.Notes), nil
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

// tokenProblem says why req's token is not good for the outstanding
// nonce, or "" when it is.
func (d *Dispenser) tokenProblem(req dispenser.DispenseRequest, outstanding []byte) string {
	switch {
	case outstanding == nil:
		return "no nonce outstanding"
	case !bytes.Equal(req.Nonce, outstanding):
		return "not the outstanding nonce"
	case req.ATM != d.opts.ATM:
		return "bound to another ATM"
	case !dispenser.VerifyToken(d.opts.Key, dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: req.Nonce}, req.Token):
		return "token does not verify"
	}
	return ""
}

// Present opens the shutter on the stacked notes.
func (d *Dispenser) Present(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("devsim: dispenser: present: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" || d.fault == "DSP-JAM" {
		return d.faultErr()
	}
	if len(d.stacked) == 0 {
		return dispenser.ErrNothingStack
	}
	if d.fault == "DSP-SHUTTER" {
		return d.faultErr()
	}
	d.last.State = dispenser.LastPresented
	if err := d.save(d.state()); err != nil {
		d.last.State = dispenser.LastStacked
		return err
	}
	d.presented, d.stacked = d.stacked, nil
	d.shutter, d.tookLast = true, false
	d.changed()
	d.publish()
	d.opts.Log.Info().Int("notes", countNotes(d.presented)).Msg("cash presented")
	return nil
}

// WaitTaken blocks until the customer took the presented notes, then
// closes the shutter. It fails with dispenser.ErrNothingStack when no
// notes are presented (or they were retracted meanwhile).
func (d *Dispenser) WaitTaken(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("devsim: dispenser: wait taken: %w", err)
		}
		d.mu.Lock()
		done, err := d.takenLocked()
		wake := d.wake
		d.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
		}
	}
}

// takenLocked reports whether WaitTaken is over, and how; once the
// customer took the notes it closes the shutter. d.mu must be held.
func (d *Dispenser) takenLocked() (bool, error) {
	switch {
	case d.fault == "DSP-OFFLINE":
		return true, d.faultErr()
	case d.tookLast:
		if d.fault == "DSP-SHUTTER" {
			return true, d.faultErr()
		}
		d.shutter = false
		d.publish()
		return true, nil
	case len(d.presented) == 0:
		return true, dispenser.ErrNothingStack
	}
	return false, nil
}

// Retract pulls presented and stacked notes into the retract bin.
func (d *Dispenser) Retract(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("devsim: dispenser: retract: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" || d.fault == "DSP-JAM" {
		return 0, d.faultErr()
	}
	n := countNotes(d.stacked) + countNotes(d.presented)
	if n == 0 {
		return 0, dispenser.ErrNothingStack
	}
	if d.shutter && d.fault == "DSP-SHUTTER" {
		return 0, d.faultErr()
	}
	st := d.state()
	st.RetractBin += n
	st.Last.State = dispenser.LastRetracted
	if err := d.save(st); err != nil {
		return 0, err
	}
	d.retractBin, d.last.State = st.RetractBin, st.Last.State
	d.stacked, d.presented, d.shutter = nil, nil, false
	d.changed()
	d.publish()
	d.opts.Log.Warn().Int("notes", n).Msg("notes retracted")
	return n, nil
}

// Halt voids the outstanding nonce and closes the shutter; presented
// notes stay behind it (Status reports them) until Retract. It never
// presents and never retracts.
func (d *Dispenser) Halt(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == "DSP-OFFLINE" {
		return d.faultErr()
	}
	d.nonce = nil
	if d.shutter {
		if d.fault == "DSP-SHUTTER" {
			return d.faultErr()
		}
		d.stacked = append(d.stacked, d.presented...)
		d.presented, d.shutter = nil, false
		d.changed()
		d.publish()
	}
	return nil
}

// faultErr is the error for the injected fault; d.mu must be held.
func (d *Dispenser) faultErr() error {
	switch d.fault {
	case "DSP-OFFLINE":
		return &hal.Fault{Device: "dispenser", Code: d.fault, Msg: "no answer from the dispenser", Recoverable: true, Err: hal.ErrOffline}
	case "DSP-JAM":
		return &hal.Fault{Device: "dispenser", Code: d.fault, Msg: "notes jammed in the transport"}
	default:
		return &hal.Fault{Device: "dispenser", Code: "DSP-SHUTTER", Msg: "shutter does not move", Err: dispenser.ErrShutter}
	}
}

// changed wakes waiters; d.mu must be held.
func (d *Dispenser) changed() {
	close(d.wake)
	d.wake = make(chan struct{})
}

// deriveCassettes sets each cassette's status from its count; d.mu must
// be held (or d not yet shared).
func (d *Dispenser) deriveCassettes() {
	for i := range d.cassettes {
		c := &d.cassettes[i]
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

// publish recomputes Status; d.mu must be held (or d not yet shared).
func (d *Dispenser) publish() {
	st := hal.Status{State: hal.Online, Extra: map[string]string{"shutter": "closed"}}
	if d.shutter {
		st.Extra["shutter"] = "open"
	}
	if n := countNotes(d.stacked); n > 0 {
		st.Extra["notes.stacked"] = strconv.Itoa(n)
	}
	if n := countNotes(d.presented); n > 0 {
		st.Extra["notes.presented"] = strconv.Itoa(n)
	}
	var low, empty []int
	for _, c := range d.cassettes {
		st.Extra["cassette."+strconv.Itoa(c.ID)] = string(c.Status)
		switch c.Status {
		case dispenser.CassetteLow:
			low = append(low, c.ID)
		case dispenser.CassetteEmpty:
			empty = append(empty, c.ID)
		}
	}
	switch {
	case d.fault == "DSP-OFFLINE":
		st.State, st.Fault, st.Detail = hal.Offline, d.fault, "no answer from the dispenser"
	case d.fault == "DSP-JAM":
		st.State, st.Fault, st.Detail = hal.HardwareError, d.fault, "notes jammed in the transport"
	case d.fault == "DSP-SHUTTER":
		st.State, st.Fault, st.Detail = hal.HardwareError, d.fault, "shutter does not move"
	case d.pickFailed != "":
		st.Fault, st.Detail = "DSP-PICK", d.pickFailed
	case len(empty) > 0:
		st.Fault, st.Detail = "DSP-CASS-EMPTY", fmt.Sprintf("cassettes %v empty", empty)
	case len(low) > 0:
		st.Fault, st.Detail = "DSP-CASS-LOW", fmt.Sprintf("cassettes %v low", low)
	}
	d.status.mu.Lock()
	d.status.st = st
	d.status.mu.Unlock()
}

func countNotes(ns []dispenser.Notes) int {
	n := 0
	for _, x := range ns {
		n += x.Count
	}
	return n
}
