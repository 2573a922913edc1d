package maint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/camera"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/nfctag"
	"github.com/atmd/atmd/hal/opdisplay"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hal/sensors"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
)

// Devices are the ATM's devices as supervisor mode uses them.
type Devices struct {
	CardReader cardreader.Reader
	PinPad     pinpad.PinPad
	Display    display.Display
	OpDisplay  opdisplay.Display
	NFCTag     nfctag.Tag
	Dispenser  dispenser.Dispenser
	Printer    printer.Printer
	Camera     camera.Camera
	Sensors    sensors.Sensors
}

// Terminal is what supervisor mode needs of the running ATM (package atm
// provides it over its runner).
type Terminal interface {
	// Status reports the service, the devices and the faults.
	Status() Status
	// Operate passes supervisor mode and out-of-service to the flows. A
	// customer session finishes first; the ATM then calls Supervising.
	Operate(ctx context.Context, supervisor, outOfService bool) error
	// Rekey has the working keys exchanged with the host again (after a
	// new master key).
	Rekey(ctx context.Context) error
	// History returns the last n faults, newest first, active or cleared.
	History(n int) []health.Fault
}

// Link is the host link (hostlink.Client).
type Link interface {
	Send(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error)
	Up() bool
}

// Options configure a Supervisor.
type Options struct {
	ATM         string
	Institution string
	Currency    currency.Currency
	Technicians []Technician
	// MaxTries wrong PINs lock a technician out for LockFor.
	MaxTries int
	LockFor  time.Duration
	// Timeout is the technician's inactivity limit (DefaultTimeout).
	Timeout time.Duration
	// ExportDir is where the menu's journal export writes (a USB drive's
	// mount point); "" disables it.
	ExportDir string
	// StateFile keeps the technician's out-of-service choice across
	// restarts; "" keeps it in memory.
	StateFile string
	// TestWait bounds device tests that wait for a person (card read,
	// NFC read); 0 means 30 s.
	TestWait time.Duration
	Devices  Devices
	Journal  *journal.Journal
	Link     Link
	Terminal Terminal
	Clock    clock.Clock
	Log      zerolog.Logger
}

// Supervisor runs supervisor mode: it watches the supervisor switch,
// puts a menu on the panel (PIN pad, customer screen, operator display)
// while supervisor mode lasts, serves local console sessions over the
// control socket (Handle), and carries out the menus' effects. One loop
// goroutine owns every menu; device and host calls run beside it and
// report back.
type Supervisor struct {
	o    Options
	auth *Auth
	log  zerolog.Logger

	in      chan func()   // run in the loop
	done    chan struct{} // closed when Run has returned
	readyCh chan struct{} // Supervising was called
	readyOn bool          // guarded by readyMu
	readyMu sync.Mutex

	opCh   chan struct{} // the operator wishes changed
	opMu   sync.Mutex
	opWant [2]bool // supervisor, out of service: the latest wishes

	// Owned by the loop.
	ctx       context.Context
	sessions  map[string]*session
	panel     *session
	holds     []*session    // local commands holding supervisor mode
	readyBC   chan struct{} // closed and replaced when ready changes
	switchOn  bool
	ready     bool
	outOfSvc  bool
	wg        sync.WaitGroup
	panelNote []string // what the operator display shows while no panel menu runs

	mu   sync.Mutex // guards the copies below, read by Handle and Status
	info []SessionInfo
	sw   bool
	oos  bool
}

// session is one menu and its console.
type session struct {
	id      string
	console string
	menu    *Menu
	since   time.Time
	wants   bool // a local session asks for supervisor mode

	mu      sync.Mutex // guards the screen below, read by Handle
	screen  display.Screen
	keys    []pinpad.Key
	version int
	changed chan struct{} // closed and replaced at every new screen
	ended   bool

	// The panel's PIN pad read (loop only).
	readStop context.CancelFunc
	readDone chan struct{}
	readKeys []pinpad.Key
}

// ErrJournal: the journal could not record an intent; the action was not
// carried out.
var ErrJournal = errors.New("maint: journal write failed; action not carried out")

// NewSupervisor checks the options and builds the technicians' Auth.
func NewSupervisor(o Options) (*Supervisor, error) {
	if o.Journal == nil || o.Terminal == nil || o.Link == nil || o.ATM == "" || o.Currency.Alpha == "" {
		return nil, errors.New("maint: the supervisor needs the ATM id, currency, journal, terminal and host link")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MaxTries == 0 {
		o.MaxTries = 3
	}
	if o.LockFor == 0 {
		o.LockFor = 15 * time.Minute
	}
	if o.TestWait <= 0 {
		o.TestWait = 30 * time.Second
	}
	auth, err := NewAuth(o.Technicians, o.MaxTries, o.LockFor)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{o: o, auth: auth, log: o.Log, in: make(chan func(), 16), readyCh: make(chan struct{}, 1),
		opCh: make(chan struct{}, 1), sessions: map[string]*session{}, readyBC: make(chan struct{}), done: make(chan struct{})}
	s.outOfSvc, err = loadOutOfService(o.StateFile)
	if err != nil {
		return nil, err
	}
	s.oos = s.outOfSvc
	return s, nil
}

// Supervising tells the supervisor that supervisor mode began or ended
// (the runner's OnSupervise). It never blocks.
func (s *Supervisor) Supervising(on bool) {
	s.readyMu.Lock()
	s.readyOn = on
	s.readyMu.Unlock()
	select {
	case s.readyCh <- struct{}{}:
	default:
	}
}

// OutOfService reports whether a technician keeps the ATM out of
// service (the state the flows are given at start).
func (s *Supervisor) OutOfService() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oos
}

// Run runs supervisor mode until ctx ends: the switch watcher, the
// operator worker and the loop. At the end it logs out every session
// and gives the PIN pad back.
func (s *Supervisor) Run(ctx context.Context) error {
	s.ctx = ctx
	defer close(s.done)
	if s.outOfSvc {
		s.wish(false, true)
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.watchSwitch(ctx) }()
	go func() { defer s.wg.Done(); s.operatorWorker(ctx) }()
	tick := s.o.Clock.After(time.Second)
	for {
		select {
		case <-ctx.Done():
			for _, ss := range s.sessions {
				s.step(ss, Quit{Reason: "shutdown"})
			}
			s.wg.Wait()
			return nil
		case f := <-s.in:
			f()
		case <-s.readyCh:
			s.readyMu.Lock()
			on := s.readyOn
			s.readyMu.Unlock()
			s.setReady(on)
		case now := <-tick:
			tick = s.o.Clock.After(time.Second)
			for _, ss := range s.sessions {
				s.step(ss, Tick{Now: now})
			}
		}
	}
}

// ErrStopped: supervisor mode is not running (the daemon stops).
var ErrStopped = errors.New("maint: supervisor mode stopped")

// post runs f in the loop and waits for it.
func (s *Supervisor) post(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case s.in <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrStopped
	}
}

// postAsync runs f in the loop later; it never blocks the caller past
// the loop's end. Only goroutines Run started call it.
func (s *Supervisor) postAsync(f func()) {
	select {
	case s.in <- f:
	case <-s.ctx.Done():
	}
}

// ---- the switch and supervisor mode ----

func (s *Supervisor) watchSwitch(ctx context.Context) {
	sens := s.o.Devices.Sensors
	if sens == nil {
		return
	}
	if rd, err := sens.Read(ctx); err == nil && rd[sensors.Supervisor] {
		s.postAsync(func() { s.setSwitch(true) })
	}
	for ctx.Err() == nil {
		ch, err := sens.Watch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Unreadable sensors are a fault (SEN-OFFLINE) the health
			// check reports; the local console still works.
			select {
			case <-s.o.Clock.After(time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		if ch.Input == sensors.Supervisor {
			on := ch.On
			s.postAsync(func() { s.setSwitch(on) })
		}
	}
}

func (s *Supervisor) setSwitch(on bool) {
	if on == s.switchOn {
		return
	}
	s.switchOn = on
	s.mu.Lock()
	s.sw = on
	s.mu.Unlock()
	s.o.Journal.Append("SUPERVISOR-SWITCH", "", map[string]string{"on": fmt.Sprint(on)})
	s.log.Info().Bool("on", on).Msg("supervisor switch")
	if !on && s.panel != nil {
		s.step(s.panel, Quit{Reason: "switch off"})
	}
	if on {
		s.note("SUPERVISOR MODE", "requested: the", "customer session", "ends first")
	}
	s.updateOperator()
	s.maybePanel()
}

func (s *Supervisor) setReady(on bool) {
	if on == s.ready {
		return
	}
	s.ready = on
	close(s.readyBC)
	s.readyBC = make(chan struct{})
	s.log.Info().Bool("on", on).Msg("supervisor mode")
	for _, ss := range s.sessions {
		s.step(ss, Ready{On: on})
	}
	s.maybePanel()
	if !on {
		s.note("")
	}
}

// maybePanel opens the panel's menu once supervisor mode has begun with
// the switch on: not before, for the PIN pad and the screen are the
// customer's until the session ends.
func (s *Supervisor) maybePanel() {
	if s.panel != nil || !s.switchOn || !s.ready {
		return
	}
	ss, err := s.open(ConsolePanel)
	if err != nil {
		s.log.Error().Err(err).Msg("panel menu not opened")
		return
	}
	s.panel = ss
}

// note writes lines on the operator display while no panel menu runs.
func (s *Supervisor) note(lines ...string) {
	s.panelNote = lines
	if s.panel != nil || s.o.Devices.OpDisplay == nil {
		return
	}
	od := s.o.Devices.OpDisplay
	caps := od.Capabilities()
	var out []string
	for _, l := range lines {
		if len(out) < caps.Rows {
			out = append(out, cut(l, caps.Cols))
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	if err := od.Show(ctx, out); err != nil {
		s.log.Debug().Err(err).Msg("operator display")
	}
}

// wish records what the flows should be told; the operator worker tells
// them, in order, off the loop (the runner calls Supervising from its
// own loop).
func (s *Supervisor) wish(supervisor, outOfService bool) {
	s.opMu.Lock()
	s.opWant = [2]bool{supervisor, outOfService}
	s.opMu.Unlock()
	select {
	case s.opCh <- struct{}{}:
	default:
	}
}

func (s *Supervisor) operatorWorker(ctx context.Context) {
	var told *[2]bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.opCh:
		}
		s.opMu.Lock()
		want := s.opWant
		s.opMu.Unlock()
		if told != nil && *told == want {
			continue
		}
		if err := s.o.Terminal.Operate(ctx, want[0], want[1]); err != nil {
			if ctx.Err() == nil {
				s.log.Error().Err(err).Msg("supervisor mode not passed to the flows")
			}
			continue
		}
		told = &want
	}
}

// updateOperator asks for supervisor mode while the switch is on or a
// local technician holds it.
func (s *Supervisor) updateOperator() {
	want := s.switchOn || len(s.holds) > 0
	for _, ss := range s.sessions {
		if ss.wants {
			want = true
		}
	}
	s.wish(want, s.outOfSvc)
}

// ---- sessions ----

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// open starts a menu on console.
func (s *Supervisor) open(console string) (*session, error) {
	m, err := New(Config{ATM: s.o.ATM, Currency: s.o.Currency, Console: console, Auth: s.auth, Timeout: s.o.Timeout},
		s.o.Clock.Now(), s.ready)
	if err != nil {
		return nil, err
	}
	ss := &session{id: newToken(), console: console, menu: m, since: s.o.Clock.Now(), changed: make(chan struct{})}
	if console == ConsolePanel {
		ss.id = ConsolePanel
	}
	s.sessions[ss.id] = ss
	s.apply(ss, m.Start())
	s.publish()
	return ss, nil
}

// step feeds a session's menu and carries out the effects.
func (s *Supervisor) step(ss *session, ev Event) {
	if ss.menu.Ended() {
		return
	}
	s.apply(ss, ss.menu.Step(ev))
	s.publish()
}

// apply carries out effects in order. A journal record that cannot be
// written stops the ops that follow it in the same batch.
func (s *Supervisor) apply(ss *session, effects []Effect) {
	journalFailed := false
	for _, e := range effects {
		switch e := e.(type) {
		case Show:
			s.show(ss, e)
		case Journal:
			if _, err := s.o.Journal.Append(e.Kind, "", e.Fields); err != nil {
				s.log.Error().Err(err).Str("kind", e.Kind).Msg("journal write failed")
				journalFailed = true
			}
		case Do:
			if journalFailed {
				id := e.ID
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.postAsync(func() { s.step(ss, Done{ID: id, Result: Result{Err: ErrJournal}}) })
				}()
				continue
			}
			s.run(ss, e)
		case Supervise:
			ss.wants = e.On
			s.updateOperator()
		case End:
			s.end(ss)
		}
	}
}

// run carries out an op beside the loop.
func (s *Supervisor) run(ss *session, d Do) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r := s.exec(s.ctx, d.Op)
		s.postAsync(func() { s.step(ss, Done{ID: d.ID, Result: r}) })
	}()
}

func (s *Supervisor) show(ss *session, e Show) {
	ss.mu.Lock()
	ss.screen, ss.keys = e.Screen, e.Keys
	ss.version++
	close(ss.changed)
	ss.changed = make(chan struct{})
	ss.mu.Unlock()
	if ss.console != ConsolePanel {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	if d := s.o.Devices.Display; d != nil {
		if err := d.Show(ctx, e.Screen); err != nil {
			s.log.Warn().Err(err).Str("screen", e.Screen.ID).Msg("menu not shown on the customer screen")
		}
	}
	if od := s.o.Devices.OpDisplay; od != nil {
		c := od.Capabilities()
		if err := od.Show(ctx, OpLines(e.Screen, c.Rows, c.Cols)); err != nil {
			s.log.Debug().Err(err).Msg("menu not shown on the operator display")
		}
	}
	s.arm(ss, e.Keys)
}

// arm has the PIN pad read the next key of keys for the panel menu,
// after ending a read for other keys. A read for the same keys goes on.
func (s *Supervisor) arm(ss *session, keys []pinpad.Key) {
	if ss.readStop != nil && slices.Equal(keys, ss.readKeys) {
		return
	}
	s.stopRead(ss)
	pp := s.o.Devices.PinPad
	if len(keys) == 0 || pp == nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	ss.readStop, ss.readDone, ss.readKeys = cancel, done, keys
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		for ctx.Err() == nil {
			k, err := pp.ReadKey(ctx, keys)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// The PIN pad failed (its fault shows in the status);
				// try again shortly, the menu keeps its screen.
				select {
				case <-s.o.Clock.After(time.Second):
				case <-ctx.Done():
					return
				}
				continue
			}
			select {
			case s.in <- func() {
				if ss.readDone != done {
					return // the screen changed meanwhile: the key was for the old one
				}
				ss.readStop, ss.readDone, ss.readKeys = nil, nil, nil
				cancel()
				s.step(ss, Key{Key: k})
			}:
			case <-ctx.Done():
			}
			return
		}
	}()
}

// stopRead ends the panel's PIN pad read and waits (briefly) for the PIN
// pad to let it go: it takes one entry at a time.
func (s *Supervisor) stopRead(ss *session) {
	if ss.readStop == nil {
		return
	}
	ss.readStop()
	select {
	case <-ss.readDone:
	case <-time.After(2 * time.Second):
		s.log.Error().Msg("PIN pad did not end the menu's key entry")
	}
	ss.readStop, ss.readDone, ss.readKeys = nil, nil, nil
}

// end removes a session whose menu is over.
func (s *Supervisor) end(ss *session) {
	s.stopRead(ss)
	ss.mu.Lock()
	ss.ended = true
	close(ss.changed)
	ss.changed = make(chan struct{})
	ss.mu.Unlock()
	delete(s.sessions, ss.id)
	if s.panel == ss {
		s.panel = nil
	}
	ss.wants = false
	s.updateOperator()
	s.publish()
	// With the switch still on and supervisor mode on, the panel goes
	// back to its login screen.
	s.maybePanel()
}

// publish copies what Status reports.
func (s *Supervisor) publish() {
	var info []SessionInfo
	for _, ss := range s.sessions {
		if t := ss.menu.Tech(); t != "" {
			info = append(info, SessionInfo{Console: ss.console, Tech: t, Since: ss.since})
		}
	}
	slices.SortFunc(info, func(a, b SessionInfo) int { return a.Since.Compare(b.Since) })
	s.mu.Lock()
	s.info = info
	s.mu.Unlock()
}

// Status is the terminal's status with supervisor mode's own: the
// switch, the out-of-service choice, the technicians logged in.
func (s *Supervisor) Status() Status {
	st := s.o.Terminal.Status()
	st.ATM = s.o.ATM
	s.mu.Lock()
	st.Switch, st.OutOfService = s.sw, s.oos
	st.Sessions = append([]SessionInfo(nil), s.info...)
	s.mu.Unlock()
	st.Supervisor = st.State == "supervisor"
	return st
}

// ---- the out-of-service choice, kept across restarts ----

type serviceState struct {
	OutOfService bool `json:"out_of_service"`
}

func loadOutOfService(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("maint: %w", err)
	}
	var st serviceState
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("maint: %s: %w", path, err)
	}
	return st.OutOfService, nil
}

func saveOutOfService(path string, out bool) error {
	if path == "" {
		return nil
	}
	b, _ := json.Marshal(serviceState{OutOfService: out})
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("maint: %w", err)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("maint: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
