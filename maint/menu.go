package maint

import (
	"encoding/hex"
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
	"github.com/atmd/atmd/internal/pinblock"
)

// Consoles a menu runs on.
const (
	ConsolePanel = "panel" // the PIN pad, the customer screen and the operator display
	ConsoleLocal = "local" // `atmd maint` over the control socket
)

// Config configures a Menu.
type Config struct {
	ATM      string
	Currency currency.Currency
	Console  string // ConsolePanel or ConsoleLocal
	Auth     *Auth
	// Timeout is how long a technician may leave the menu alone before
	// being logged out; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxTestNotes bounds a test dispense; 0 means 10.
	MaxTestNotes int
}

// DefaultTimeout is the technician's inactivity limit.
const DefaultTimeout = 5 * time.Minute

// Event is fed to Menu.Step.
type Event interface{ isEvent() }

// Events.
type (
	// Key is a key pressed on the PIN pad, or its name typed on the
	// local console.
	Key struct{ Key pinpad.Key }
	// Tick tells the menu the time.
	Tick struct{ Now time.Time }
	// Ready says supervisor mode began (On) or ended.
	Ready struct{ On bool }
	// Done is the outcome of the Do effect with the same ID.
	Done struct {
		ID     int
		Result Result
	}
	// Quit: the console goes away (the supervisor switch turned off, the
	// local client left or the daemon stops).
	Quit struct{ Reason string }
)

func (Key) isEvent()   {}
func (Tick) isEvent()  {}
func (Ready) isEvent() {}
func (Done) isEvent()  {}
func (Quit) isEvent()  {}

// Effect is returned by Menu.Step, to be carried out in order.
type Effect interface{ isEffect() }

// Effects.
type (
	// Show puts the screen on the console and arms Keys (none: no key
	// is taken until the next Show). At most 16 keys, so that an EPP
	// can take them in one entry command.
	Show struct {
		Screen display.Screen
		Keys   []pinpad.Key
	}
	// Journal writes a record; it is on disk before the next effect.
	Journal struct {
		Kind   string
		Fields map[string]string
	}
	// Do carries out an op; its result comes back as Done{ID}.
	Do struct {
		ID int
		Op Op
	}
	// Supervise asks for supervisor mode (On) or gives it up: the local
	// console's login puts the ATM into supervisor mode, its logout
	// takes it out unless the switch or another session holds it.
	Supervise struct{ On bool }
	// End: the session is over; the console may go.
	End struct{}
)

func (Show) isEffect()      {}
func (Journal) isEffect()   {}
func (Do) isEffect()        {}
func (Supervise) isEffect() {}
func (End) isEffect()       {}

// state is a screen of the menu.
type state string

const (
	stLogin      state = "login"
	stPIN        state = "pin"
	stMessage    state = "message"
	stWaiting    state = "waiting"
	stMain       state = "main"
	stBusy       state = "busy"
	stResult     state = "result"
	stConfirm    state = "confirm"
	stStatus     state = "status"
	stFault      state = "fault"
	stTests      state = "tests"
	stKeyEcho    state = "key-echo"
	stCassette   state = "dispense-cassette"
	stNotes      state = "dispense-notes"
	stCash       state = "cash"
	stDenom      state = "load-denomination"
	stCount      state = "load-count"
	stJournal    state = "journal"
	stService    state = "service"
	stComponent  state = "key-component"
	stKCV        state = "key-kcv"
	stSecondID   state = "key-second-id"
	stSecondPIN  state = "key-second-pin"
	stEnded      state = "ended"
	pageLines          = 10 // lines per page of a long result
	maxCassettes       = 6  // cassettes a menu can offer on F-keys
	componentLen       = 32 // hex digits of a double-length TDES component
)

// Menu is the supervisor menu of one console: a state machine without
// I/O, after the flows. Feed it events with Step; it returns effects.
// Time comes only with Tick. It is not safe for concurrent use.
type Menu struct {
	cfg      Config
	st       state
	now      time.Time
	deadline time.Time
	ready    bool
	out      []Effect

	tech    *Technician
	typedID string
	input   []byte // the entry field: digits, or hex for a key component
	nextID  int
	busy    int // the Do in flight, 0 when none

	// What the screens of the current function work on.
	title    string
	lines    []string
	page     int
	pageID   string // the screen id of the paged result or message
	back     state  // where F8 goes from a result or message
	onResult func(Result)
	onYes    func()
	status   *Status
	fault    health.Fault
	counters *Counters
	cassette int
	load     []dispenser.Cassette
	loadIdx  int
	echoed   []string
	comps    [][]byte
	custody  []string // the custodians' ids, one per component
	keysTech *Technician
}

// New returns a menu at its login screen. ready tells whether
// supervisor mode is on already.
func New(cfg Config, now time.Time, ready bool) (*Menu, error) {
	if cfg.Auth == nil || cfg.ATM == "" || cfg.Currency.Alpha == "" {
		return nil, errors.New("maint: a menu needs an ATM id, a currency and the technicians")
	}
	if cfg.Console != ConsolePanel && cfg.Console != ConsoleLocal {
		return nil, fmt.Errorf("maint: unknown console %q", cfg.Console)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxTestNotes <= 0 {
		cfg.MaxTestNotes = 10
	}
	m := &Menu{cfg: cfg, now: now, ready: ready}
	m.goTo(stLogin)
	return m, nil
}

// Start returns the effects of the first screen.
func (m *Menu) Start() []Effect {
	out := m.out
	m.out = nil
	return out
}

// Tech returns the technician logged in ("" when none).
func (m *Menu) Tech() string {
	if m.tech == nil {
		return ""
	}
	return m.tech.ID
}

// Ended reports whether the session is over.
func (m *Menu) Ended() bool { return m.st == stEnded }

// Step feeds one event and returns the effects to carry out, in order.
func (m *Menu) Step(ev Event) []Effect {
	m.out = nil
	if m.st == stEnded {
		return nil
	}
	switch e := ev.(type) {
	case Tick:
		m.now = e.Now
		if m.busy == 0 && !m.deadline.IsZero() && !m.now.Before(m.deadline) {
			m.timedOut()
		}
	case Ready:
		m.ready = e.On
		if e.On && m.st == stWaiting {
			m.goTo(stMain)
		}
	case Done:
		if e.ID == m.busy {
			m.busy = 0
			m.touch()
			f := m.onResult
			m.onResult = nil
			if f != nil {
				f(e.Result)
			}
		}
	case Quit:
		m.logout(e.Reason)
		m.goTo(stEnded)
	case Key:
		if m.busy != 0 || !e.Key.Valid() {
			return nil
		}
		m.touch()
		m.key(e.Key)
	}
	return m.out
}

func (m *Menu) touch() { m.deadline = m.now.Add(m.cfg.Timeout) }

func (m *Menu) emit(e ...Effect) { m.out = append(m.out, e...) }

// journal writes a record with the technician and the console (which
// no other field may replace).
func (m *Menu) journal(kind string, kv ...string) {
	id := ""
	if m.tech != nil {
		id = m.tech.ID
	}
	m.emit(Journal{Kind: kind, Fields: fields(m.cfg.Console, id, kv...)})
}

// fields makes a journal record's fields: kv, then the console and the
// technician.
func fields(console, tech string, kv ...string) map[string]string {
	f := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	f["console"] = console
	if tech != "" {
		f["tech"] = tech
	} else {
		delete(f, "tech")
	}
	return f
}

// do starts an op; then runs when its result arrives.
func (m *Menu) do(op Op, what string, then func(Result)) {
	m.nextID++
	m.busy = m.nextID
	m.onResult = then
	m.st = stBusy
	m.show(screen("maint-busy", "Working", what), nil)
	m.emit(Do{ID: m.busy, Op: op})
}

func (m *Menu) show(s display.Screen, keys []pinpad.Key) {
	s.Lang = "en"
	m.emit(Show{Screen: s, Keys: keys})
}

func screen(id, title string, lines ...string) display.Screen {
	return display.Screen{ID: id, Title: title, Lines: lines, Tone: display.Info}
}

// Key sets.
var (
	digitKeys = []pinpad.Key{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
		pinpad.KeyEnter, pinpad.KeyCancel, pinpad.KeyClear, pinpad.KeyBackspace}
	// hexKeys: F1..F6 stand for A..F while a key component is keyed.
	hexKeys = []pinpad.Key{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
		pinpad.F1, pinpad.F2, pinpad.F3, pinpad.F4, pinpad.F5, pinpad.F6}
)

// menu shows a screen whose items are bound to F-keys, and arms those
// keys and CANCEL.
func (m *Menu) menu(s display.Screen, items ...display.MenuItem) {
	s.Menu = items
	keys := make([]pinpad.Key, 0, len(items)+1)
	for _, it := range items {
		keys = append(keys, pinpad.Key(it.Key))
	}
	m.show(s, append(keys, pinpad.KeyCancel))
}

func item(key, id, label string) display.MenuItem {
	return display.MenuItem{Key: key, ID: id, Label: label}
}

// entry shows a screen with an entry field.
func (m *Menu) entry(s display.Screen, kind display.InputKind, label string, keys []pinpad.Key) {
	v := string(m.input)
	if kind == display.Secret {
		v = strings.Repeat("*", len(m.input))
	}
	s.Input = &display.Input{Kind: kind, Label: label, Value: v}
	m.show(s, keys)
}

// wipe clears the entry field, which may have held a PIN or a key
// component.
func (m *Menu) wipe() {
	for i := range m.input {
		m.input[i] = 0
	}
	m.input = m.input[:0]
}

// editDigits applies a digit entry key; it reports ENTER.
func (m *Menu) editDigits(k pinpad.Key, maxLen int) (enter bool) {
	switch {
	case k.IsDigit():
		if len(m.input) < maxLen {
			m.input = append(m.input, k[0])
		}
	case k == pinpad.KeyClear:
		m.wipe()
	case k == pinpad.KeyBackspace:
		if n := len(m.input); n > 0 {
			m.input[n-1] = 0
			m.input = m.input[:n-1]
		}
	case k == pinpad.KeyEnter:
		return true
	}
	return false
}

// goTo enters state s and shows its screen.
func (m *Menu) goTo(s state) {
	m.st = s
	switch s {
	case stLogin:
		m.wipe()
		m.showLogin()
	case stPIN:
		m.entry(screen("maint-pin", "Supervisor mode", "Technician "+m.typedID, "Enter your PIN, then ENTER."), display.Secret, "PIN", digitKeys)
	case stWaiting:
		m.show(screen("maint-waiting", "Supervisor mode requested",
			"The customer's session ends first; the menu opens as soon as it has.", "CANCEL logs out."), []pinpad.Key{pinpad.KeyCancel})
	case stMain:
		m.page = 0
		m.menu(screen("maint-main", "Maintenance menu", "ATM "+m.cfg.ATM+" - technician "+m.tech.ID, "Select a function."),
			item("F1", "status", "Device status and faults"), item("F2", "tests", "Device tests"),
			item("F3", "cash", "Cash management"), item("F4", "journal", "Journal"),
			item("F5", "host", "Host connection test"), item("F6", "service", "In / out of service"),
			item("F7", "keys", "Key loading"), item("F8", "exit", "Exit"))
	case stTests:
		m.menu(screen("maint-tests", "Device tests", "Select a device to test."),
			item("F1", "card", "Card read"), item("F2", "keys", "PIN pad keys"),
			item("F3", "dispense", "Test dispense (reject bin)"), item("F4", "print", "Test print"),
			item("F5", "nfc", "NFC tag"), item("F6", "display", "Displays"),
			item("F7", "sensors", "Sensors and camera"), item("F8", "back", "Back"))
	case stCash:
		m.menu(screen("maint-cash", "Cash management", "Select a function."),
			item("F1", "cassettes", "Cassette totals"), item("F2", "totals", "Day totals (trial)"),
			item("F3", "load", "Replenish cassettes"), item("F4", "clear", "Clear totals"),
			item("F5", "reconcile", "Reconcile with host"), item("F8", "back", "Back"))
	case stJournal:
		m.menu(screen("maint-journal", "Journal", "Select records to show, or export them all."),
			item("F1", "recent", "Last records"), item("F2", "faults", "Faults"),
			item("F3", "cash", "Cash and transactions"), item("F4", "maint", "Maintenance actions"),
			item("F5", "export", "Export to the export drive"), item("F8", "back", "Back"))
	case stComponent:
		m.wipe()
		m.showComponent()
	case stSecondID:
		m.wipe()
		m.showSecond(stSecondID)
	case stEnded:
		m.wipeKeys()
		m.emit(End{})
	}
}

func (m *Menu) showLogin() {
	lines := []string{"ATM " + m.cfg.ATM, "Enter your technician ID, then ENTER."}
	if m.cfg.Console == ConsolePanel {
		lines = append(lines, "Turn the supervisor switch off to return to service.")
	}
	m.entry(screen("maint-login", "Supervisor mode", lines...), display.Digits, "Technician ID", digitKeys)
}

// key handles one key in the current state.
func (m *Menu) key(k pinpad.Key) {
	switch m.st {
	case stLogin:
		if k == pinpad.KeyCancel {
			m.wipe()
			if m.cfg.Console == ConsoleLocal {
				m.goTo(stEnded)
				return
			}
			m.goTo(stLogin)
			return
		}
		if m.editDigits(k, MaxIDLen) {
			if len(m.input) == 0 {
				return
			}
			m.typedID = string(m.input)
			m.wipe()
			m.goTo(stPIN)
			return
		}
		m.showLogin()
	case stPIN:
		if k == pinpad.KeyCancel {
			m.goTo(stLogin)
			return
		}
		if m.editDigits(k, MaxPINLen) {
			m.login()
			return
		}
		m.goTo(stPIN)
	case stWaiting:
		if k == pinpad.KeyCancel {
			m.logout("cancelled")
			m.afterLogout()
		}
	case stMessage, stResult:
		m.pageKey(k)
	case stConfirm:
		switch k {
		case pinpad.F1:
			f := m.onYes
			m.onYes = nil
			if f != nil {
				f()
			}
		case pinpad.F8, pinpad.KeyCancel:
			m.onYes = nil
			m.goTo(m.back)
		}
	case stMain:
		m.mainKey(k)
	case stStatus:
		m.statusKey(k)
	case stFault:
		if k == pinpad.F8 || k == pinpad.KeyCancel {
			m.showStatus()
		}
	case stTests:
		m.testsKey(k)
	case stKeyEcho:
		if k == pinpad.KeyCancel {
			m.journal("MAINT-TEST", "device", DeviceKeys, "keys", strings.Join(m.echoed, " "), "result", "ok")
			m.echoed = nil
			m.goTo(stTests)
			return
		}
		m.echoed = append(m.echoed, string(k))
		m.showKeyEcho()
	case stCassette:
		m.cassetteKey(k)
	case stNotes:
		m.notesKey(k)
	case stCash:
		m.cashKey(k)
	case stDenom, stCount:
		m.loadKey(k)
	case stJournal:
		m.journalKey(k)
	case stService:
		m.serviceKey(k)
	case stComponent:
		m.componentKey(k)
	case stKCV:
		m.kcvKey(k)
	case stSecondID, stSecondPIN:
		m.secondKey(k)
	}
}

// ---- login and logout ----

func (m *Menu) login() {
	id, pin := m.typedID, string(m.input)
	m.wipe()
	t, wrong, locked, err := m.cfg.Auth.Check(m.now, id, pin)
	switch {
	case errors.Is(err, ErrLocked):
		_, until := m.cfg.Auth.Locked(m.now, id)
		m.journalAs(id, "MAINT-LOGIN-REFUSED", "reason", "locked", "until", until.UTC().Format(time.RFC3339))
		m.message(stLogin, "maint-locked", "Locked out", "Technician "+id+" is locked out after too many wrong PINs.",
			"Try again after "+until.Format("15:04")+", or ask the bank's operations to unlock.")
		return
	case err != nil:
		m.journalAs(id, "MAINT-LOGIN-FAILED", "wrong", strconv.Itoa(wrong))
		if locked {
			_, until := m.cfg.Auth.Locked(m.now, id)
			m.journalAs(id, "MAINT-LOCKED", "until", until.UTC().Format(time.RFC3339), "tries", strconv.Itoa(wrong))
			m.message(stLogin, "maint-locked", "Locked out", "Wrong technician ID or PIN.",
				"Technician "+id+" is locked out until "+until.Format("15:04")+".")
			return
		}
		m.message(stLogin, "maint-login-failed", "Login failed", "Wrong technician ID or PIN.",
			fmt.Sprintf("Tries left before lockout: %d.", max(m.cfg.Auth.MaxTries-wrong, 0)))
		return
	}
	m.tech = &t
	m.touch()
	m.journal("MAINT-LOGIN")
	if m.cfg.Console == ConsoleLocal {
		m.emit(Supervise{On: true})
	}
	if m.ready {
		m.goTo(stMain)
		return
	}
	m.goTo(stWaiting)
}

// journalAs journals for a technician who is not logged in (yet).
func (m *Menu) journalAs(id, kind string, kv ...string) {
	m.emit(Journal{Kind: kind, Fields: fields(m.cfg.Console, id, kv...)})
}

// logout ends the technician's session, if there is one.
func (m *Menu) logout(reason string) {
	m.wipeKeys()
	if m.tech == nil {
		return
	}
	m.journal("MAINT-LOGOUT", "reason", reason)
	m.tech = nil
	m.deadline = time.Time{}
	if m.cfg.Console == ConsoleLocal {
		m.emit(Supervise{On: false})
	}
}

// afterLogout: the local console's session ends; the panel's goes back
// to its login screen.
func (m *Menu) afterLogout() {
	if m.cfg.Console == ConsoleLocal {
		m.goTo(stEnded)
		return
	}
	m.goTo(stLogin)
}

func (m *Menu) timedOut() {
	if m.tech == nil {
		if m.cfg.Console == ConsoleLocal {
			m.goTo(stEnded)
		}
		return
	}
	m.logout("timeout")
	m.afterLogout()
}

// wipeKeys forgets key components keyed so far.
func (m *Menu) wipeKeys() {
	for _, c := range m.comps {
		pinblock.Wipe(c)
	}
	m.comps, m.custody, m.keysTech = nil, nil, nil
	m.wipe()
}

// ---- generic screens ----

// message shows lines until F8, then goes to next.
func (m *Menu) message(next state, id, title string, lines ...string) {
	m.st = stMessage
	m.back, m.title, m.lines, m.page = next, title, lines, 0
	m.showPage(id)
}

// result shows lines (paged) until F8, then goes to back.
func (m *Menu) result(back state, id, title string, lines []string) {
	m.st = stResult
	m.back, m.title, m.lines, m.page = back, title, lines, 0
	m.showPage(id)
}

func (m *Menu) showPage(id string) {
	m.pageID = id
	pages := max((len(m.lines)+pageLines-1)/pageLines, 1)
	m.page = min(max(m.page, 0), pages-1)
	lines := m.lines
	var items []display.MenuItem
	if pages > 1 {
		lines = lines[m.page*pageLines : min((m.page+1)*pageLines, len(lines))]
		lines = append(append([]string(nil), lines...), fmt.Sprintf("Page %d of %d", m.page+1, pages))
		if m.page > 0 {
			items = append(items, item("F6", "previous", "Previous page"))
		}
		if m.page < pages-1 {
			items = append(items, item("F7", "next", "Next page"))
		}
	}
	items = append(items, item("F8", "back", "Back"))
	s := screen(id, m.title, lines...)
	if id == "maint-locked" || id == "maint-denied" || strings.HasSuffix(id, "-failed") {
		s.Tone = display.Warning
	}
	m.menu(s, items...)
}

func (m *Menu) pageKey(k pinpad.Key) {
	switch k {
	case pinpad.F6:
		m.page--
		m.showPage(m.pageID)
	case pinpad.F7:
		m.page++
		m.showPage(m.pageID)
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(m.back)
	}
}

// confirm asks yes (F1) or no (F8, back to back).
func (m *Menu) confirm(back state, title string, yes func(), lines ...string) {
	m.st = stConfirm
	m.back, m.onYes = back, yes
	m.menu(screen("maint-confirm", title, lines...), item("F1", "yes", "Yes, go ahead"), item("F8", "no", "No"))
}

// outcome shows an op's result lines, or its error.
func outcome(r Result) []string {
	if r.Err != nil {
		return append([]string{"FAILED: " + r.Err.Error()}, r.Lines...)
	}
	return r.Lines
}

func resultWord(r Result) string {
	if r.Err != nil {
		return "error"
	}
	return "ok"
}

// allowed checks a role; a refusal is journaled and shown.
func (m *Menu) allowed(role, action string, back state) bool {
	if role == "" || m.tech.Has(role) {
		return true
	}
	m.journal("MAINT-DENIED", "action", action, "needs", role)
	m.message(back, "maint-denied", "Not permitted", "This function needs the "+role+" role.",
		"Technician "+m.tech.ID+" does not hold it.")
	return false
}

// ---- main menu ----

func (m *Menu) mainKey(k pinpad.Key) {
	switch k {
	case pinpad.F1:
		m.journal("MAINT-VIEW", "what", "status")
		m.do(OpStatus{}, "Reading the devices", func(r Result) {
			m.status = r.Status
			if r.Err != nil || r.Status == nil {
				m.result(stMain, "maint-result", "Device status", outcome(r))
				return
			}
			m.page = 0
			m.showStatus()
		})
	case pinpad.F2:
		m.goTo(stTests)
	case pinpad.F3:
		if m.allowed(RoleCash, "cash", stMain) {
			m.goTo(stCash)
		}
	case pinpad.F4:
		m.goTo(stJournal)
	case pinpad.F5:
		m.journal("MAINT-HOST-TEST-INTENT")
		m.do(OpEcho{}, "Testing the host connection (echo)", func(r Result) {
			m.journal("MAINT-HOST-TEST", withResult(r)...)
			m.result(stMain, "maint-result", "Host connection test", outcome(r))
		})
	case pinpad.F6:
		m.journal("MAINT-VIEW", "what", "service")
		m.do(OpStatus{}, "Reading the service state", func(r Result) {
			m.status = r.Status
			m.showService()
		})
	case pinpad.F7:
		if m.allowed(RoleKeys, "keys", stMain) {
			m.startKeys()
		}
	case pinpad.F8, pinpad.KeyCancel:
		m.logout("exit")
		m.afterLogout()
	}
}

// withResult lists result=ok|error, the error and the result's fields
// for a journal record.
func withResult(r Result, kv ...string) []string {
	kv = append(kv, "result", resultWord(r))
	if r.Err != nil {
		kv = append(kv, "error", r.Err.Error())
	}
	for k, v := range r.Fields {
		kv = append(kv, k, v)
	}
	return kv
}

// ---- status and faults ----

// faultsPerPage: F1..F5 pick a fault, F6/F7 page, F8 back.
const faultsPerPage = 5

func (m *Menu) showStatus() {
	m.st = stStatus
	s := m.status
	lines := []string{"Service: " + s.Service + " (" + s.State + ")"}
	if s.Reason != "" {
		lines = append(lines, "Reason: "+s.Reason)
	}
	lines = append(lines, "Host link: "+s.Host)
	if len(s.Degraded) > 0 {
		lines = append(lines, "Without: "+strings.Join(s.Degraded, "; "))
	}
	for _, d := range health.Devices() {
		st, ok := s.Devices[d]
		if !ok {
			continue
		}
		lines = append(lines, fmt.Sprintf("%-10s %s", d, st.String()))
	}
	var items []display.MenuItem
	if len(s.Faults) == 0 {
		lines = append(lines, "No active fault.")
	} else {
		lines = append(lines, fmt.Sprintf("%d active fault(s); select one for its cause and remedy:", len(s.Faults)))
	}
	pages := max((len(s.Faults)+faultsPerPage-1)/faultsPerPage, 1)
	m.page = min(max(m.page, 0), pages-1)
	for i := m.page * faultsPerPage; i < min((m.page+1)*faultsPerPage, len(s.Faults)); i++ {
		f := s.Faults[i]
		k := fmt.Sprintf("F%d", i-m.page*faultsPerPage+1)
		items = append(items, item(k, "fault-"+strconv.Itoa(i), f.Code+" "+where(f)+": "+f.Entry.Title))
	}
	if m.page > 0 {
		items = append(items, item("F6", "previous", "Previous faults"))
	}
	if m.page < pages-1 {
		items = append(items, item("F7", "next", "More faults"))
	}
	items = append(items, item("F8", "back", "Back"))
	m.menu(screen("maint-status", "Device status and faults", lines...), items...)
}

func where(f health.Fault) string {
	if f.Unit == "" {
		return f.Device
	}
	return f.Device + " " + f.Unit
}

func (m *Menu) statusKey(k pinpad.Key) {
	switch k {
	case pinpad.F6:
		m.page--
		m.showStatus()
	case pinpad.F7:
		m.page++
		m.showStatus()
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(stMain)
	default:
		n, err := strconv.Atoi(strings.TrimPrefix(string(k), "F"))
		i := m.page*faultsPerPage + n - 1
		if err != nil || n < 1 || n > faultsPerPage || i >= len(m.status.Faults) {
			return
		}
		m.fault = m.status.Faults[i]
		m.journal("MAINT-VIEW", "what", "fault", "code", m.fault.Code, "device", m.fault.Device)
		m.st = stFault
		f := m.fault
		lines := []string{
			f.Entry.TitleZH,
			"Code: " + f.Code + " (" + f.Entry.Severity.String() + ")",
			"Device: " + where(f),
			"Since: " + f.Since.Format("2006-01-02 15:04:05") + " (" + f.Duration(m.now).Round(time.Second).String() + ")",
		}
		if f.Detail != "" {
			lines = append(lines, "Detail: "+f.Detail)
		}
		if f.Entry.Degrades != "" {
			lines = append(lines, "While it lasts, no "+f.Entry.Degrades)
		}
		lines = append(lines, "Cause: "+f.Entry.Cause, "Remedy: "+f.Entry.Remedy)
		m.menu(screen("maint-fault", f.Entry.Title, lines...), item("F8", "back", "Back"))
	}
}

// ---- device tests ----

func (m *Menu) testsKey(k pinpad.Key) {
	test := func(device, what string) {
		m.journal("MAINT-TEST-INTENT", "device", device)
		m.do(OpTest{Device: device}, what, func(r Result) {
			m.journal("MAINT-TEST", withResult(r, "device", device)...)
			m.result(stTests, "maint-result", "Test: "+device, outcome(r))
		})
	}
	switch k {
	case pinpad.F1:
		test(DeviceCard, "Insert a test card within 30 s; it is read and given back (PAN shown masked)")
	case pinpad.F2:
		m.journal("MAINT-TEST-INTENT", "device", DeviceKeys)
		m.do(OpTest{Device: DeviceKeys}, "Reading the PIN pad's key check values", func(r Result) {
			m.lines = outcome(r)
			m.echoed = nil
			m.showKeyEcho()
		})
	case pinpad.F3:
		if !m.allowed(RoleCash, "test-dispense", stTests) {
			return
		}
		m.do(OpCounters{}, "Reading the cassettes", func(r Result) {
			if r.Err != nil || r.Counters == nil {
				m.result(stTests, "maint-result", "Test dispense", outcome(r))
				return
			}
			m.counters = r.Counters
			m.showCassettes()
		})
	case pinpad.F4:
		test(DevicePrint, "Printing a test receipt")
	case pinpad.F5:
		test(DeviceNFC, "Publishing a test message on the NFC tag: read it with a phone within 30 s")
	case pinpad.F6:
		test(DeviceDisplay, "Showing a test pattern on both displays")
	case pinpad.F7:
		test(DeviceSensors, "Reading the sensors and taking a still")
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(stMain)
	}
}

func (m *Menu) showKeyEcho() {
	m.st = stKeyEcho
	lines := append([]string(nil), m.lines...)
	lines = append(lines, "Press each key of the PIN pad; it is named here. CANCEL ends the test.",
		"Keys: "+strings.Join(m.echoed, " "))
	m.show(screen("maint-key-test", "PIN pad test", lines...), digitKeys)
}

func (m *Menu) showCassettes() {
	m.st = stCassette
	var items []display.MenuItem
	for i, c := range m.counters.Cassettes {
		if i >= maxCassettes {
			break
		}
		items = append(items, item(fmt.Sprintf("F%d", i+1), "cassette-"+strconv.Itoa(c.ID),
			fmt.Sprintf("Cassette %d: %s x %d", c.ID, m.fmtDenom(c.Denomination), c.Count)))
	}
	items = append(items, item("F8", "back", "Back"))
	m.menu(screen("maint-dispense-cassette", "Test dispense", "Notes go into the reject bin, never to the cash slot.",
		"Select the cassette to pick from."), items...)
}

func (m *Menu) fmtDenom(minor int64) string { return m.cfg.Currency.Format(minor) }

func (m *Menu) cassetteKey(k pinpad.Key) {
	if k == pinpad.F8 || k == pinpad.KeyCancel {
		m.goTo(stTests)
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(k), "F"))
	if err != nil || n < 1 || n > len(m.counters.Cassettes) || n > maxCassettes {
		return
	}
	m.cassette = m.counters.Cassettes[n-1].ID
	m.wipe()
	m.showNotes()
}

func (m *Menu) showNotes() {
	m.st = stNotes
	m.entry(screen("maint-dispense-notes", "Test dispense", fmt.Sprintf("Cassette %d: how many notes (1 to %d)?", m.cassette, m.cfg.MaxTestNotes)),
		display.Digits, "Notes", digitKeys)
}

func (m *Menu) notesKey(k pinpad.Key) {
	if k == pinpad.KeyCancel {
		m.wipe()
		m.goTo(stTests)
		return
	}
	if !m.editDigits(k, 3) {
		m.showNotes()
		return
	}
	n, _ := strconv.Atoi(string(m.input))
	m.wipe()
	if n < 1 || n > m.cfg.MaxTestNotes {
		m.showNotes()
		return
	}
	mix := []dispenser.Notes{{Cassette: m.cassette, Count: n}}
	m.confirm(stTests, "Test dispense", func() {
		m.journal(KindTestDispense+"-INTENT", "mix", mixText(mix))
		m.do(OpTestDispense{Mix: mix}, "Picking notes into the reject bin", func(r Result) {
			m.journal(KindTestDispense, withResult(r, "mix", mixText(mix))...)
			m.result(stTests, "maint-result", "Test dispense", outcome(r))
		})
	}, fmt.Sprintf("Pick %d note(s) from cassette %d into the reject bin?", n, m.cassette), "No note reaches the cash slot.")
}

// ---- cash management ----

func (m *Menu) cashKey(k pinpad.Key) {
	switch k {
	case pinpad.F1:
		m.journal("MAINT-VIEW", "what", "cassettes")
		m.do(OpCounters{}, "Reading the cassettes", func(r Result) {
			m.counters = r.Counters
			m.result(stCash, "maint-result", "Cassette totals", m.cassetteLines(r))
		})
	case pinpad.F2:
		m.journal("MAINT-TOTALS-TRIAL")
		m.do(OpCounters{}, "Adding up the day's totals", func(r Result) {
			m.result(stCash, "maint-result", "Day totals (trial)", m.totalsLines(r))
		})
	case pinpad.F3:
		m.do(OpCounters{}, "Reading the cassettes", func(r Result) {
			if r.Err != nil || r.Counters == nil || len(r.Counters.Cassettes) == 0 {
				m.result(stCash, "maint-result", "Replenish", outcome(r))
				return
			}
			m.counters = r.Counters
			m.load = nil
			for _, c := range r.Counters.Cassettes {
				m.load = append(m.load, dispenser.Cassette{ID: c.ID, Denomination: c.Denomination, Currency: c.Currency, Low: c.Low})
			}
			m.loadIdx = 0
			m.wipe()
			m.showDenom()
		})
	case pinpad.F4:
		m.confirm(stCash, "Clear totals", func() {
			m.do(OpClearTotals{}, "Closing the totals period", func(r Result) {
				if r.Err == nil {
					m.journal(KindTotalsCleared, withResult(r)...)
				}
				m.result(stCash, "maint-result", "Totals cleared", outcome(r))
			})
		}, "Close the day's totals and start a new period?", "Print or note the trial totals first.")
	case pinpad.F5:
		m.journal("MAINT-RECONCILE-INTENT")
		m.do(OpReconcile{}, "Comparing the totals with the host's", func(r Result) {
			m.journal("MAINT-RECONCILE", withResult(r)...)
			m.result(stCash, "maint-result", "Reconciliation", outcome(r))
		})
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(stMain)
	}
}

func (m *Menu) cassetteLines(r Result) []string {
	if r.Err != nil || r.Counters == nil {
		return outcome(r)
	}
	c := r.Counters
	lines := []string{"Cassette  denomination  loaded  dispensed  rejected  remaining  status"}
	for _, k := range c.Cassettes {
		lines = append(lines, fmt.Sprintf("%-8d  %-12s  %6d  %9d  %8d  %9d  %s", k.ID, m.fmtDenom(k.Denomination),
			k.Initial, k.Dispensed, k.Rejected, k.Count, k.Status))
	}
	bin := "unknown"
	if c.RetractBin >= 0 {
		bin = strconv.Itoa(c.RetractBin)
	}
	lines = append(lines, "Retract bin: "+bin+" notes in all, "+strconv.Itoa(c.RetractedSinceLoad)+" since the replenishment",
		"Pick rejects since the replenishment: "+strconv.Itoa(c.PickRejected))
	if c.Balanced {
		lines = append(lines, "Counters balance with the journal.")
	} else {
		lines = append(lines, "COUNTERS DO NOT BALANCE:")
		lines = append(lines, c.Problems...)
	}
	return lines
}

func (m *Menu) totalsLines(r Result) []string {
	if r.Err != nil || r.Counters == nil {
		return outcome(r)
	}
	t := r.Counters.Period
	return []string{
		"Period since " + t.Since.Format("2006-01-02 15:04:05"),
		fmt.Sprintf("Withdrawals paid out: %d, %s", t.Withdrawals, m.fmtDenom(t.Amount)),
		fmt.Sprintf("Dispensed: %s; reversals: %d (%s back)", m.fmtDenom(t.Dispensed), t.Reversals, m.fmtDenom(t.Reversed)),
		fmt.Sprintf("Retracts: %d (%d notes); in doubt: %d", t.Retracts, t.RetractedNotes, t.InDoubt),
		fmt.Sprintf("Test dispenses: %d (%d notes, in the reject bin)", t.TestDispenses, t.TestNotes),
	}
}

func (m *Menu) showDenom() {
	m.st = stDenom
	c := m.load[m.loadIdx]
	major := c.Denomination / m.cfg.Currency.Major()
	m.entry(screen("maint-load-denomination", "Replenish cassettes",
		fmt.Sprintf("Cassette %d of %d: denomination in %s (ENTER alone keeps %d).", m.loadIdx+1, len(m.load), m.cfg.Currency.Alpha, major),
		"0 marks the cassette as removed."),
		display.Amount, "Denomination", digitKeys)
}

func (m *Menu) showCount() {
	m.st = stCount
	c := m.load[m.loadIdx]
	m.entry(screen("maint-load-count", "Replenish cassettes",
		fmt.Sprintf("Cassette %d (%s): number of notes loaded.", c.ID, m.fmtDenom(c.Denomination))),
		display.Digits, "Notes", digitKeys)
}

func (m *Menu) loadKey(k pinpad.Key) {
	if k == pinpad.KeyCancel {
		m.wipe()
		m.goTo(stCash)
		return
	}
	maxLen := 6
	if !m.editDigits(k, maxLen) {
		if m.st == stDenom {
			m.showDenom()
		} else {
			m.showCount()
		}
		return
	}
	v, err := strconv.ParseInt(string(m.input), 10, 64)
	empty := len(m.input) == 0
	m.wipe()
	c := &m.load[m.loadIdx]
	if m.st == stDenom {
		switch {
		case empty:
		case err == nil && v == 0:
			c.Status, c.Count = dispenser.CassetteMissing, 0
			m.nextCassette()
			return
		case err == nil && v > 0:
			c.Denomination = v * m.cfg.Currency.Major()
		default:
			m.showDenom()
			return
		}
		c.Status = ""
		m.showCount()
		return
	}
	if empty || err != nil || v < 0 || v > 100_000 {
		m.showCount()
		return
	}
	c.Count = int(v)
	m.nextCassette()
}

func (m *Menu) nextCassette() {
	m.loadIdx++
	if m.loadIdx < len(m.load) {
		m.showDenom()
		return
	}
	load := append([]dispenser.Cassette(nil), m.load...)
	lines := []string{"Load these cassettes? Their counters start again."}
	for _, c := range load {
		if c.Status == dispenser.CassetteMissing {
			lines = append(lines, fmt.Sprintf("Cassette %d: removed", c.ID))
			continue
		}
		lines = append(lines, fmt.Sprintf("Cassette %d: %d x %s = %s", c.ID, c.Count, m.fmtDenom(c.Denomination),
			m.fmtDenom(int64(c.Count)*c.Denomination)))
	}
	m.confirm(stCash, "Replenish cassettes", func() {
		m.journal("MAINT-REPLENISH-INTENT", "cassettes", loadText(load))
		m.do(OpLoad{Cassettes: load}, "Loading the cassettes", func(r Result) {
			if r.Err != nil {
				m.journal("MAINT-REPLENISH-FAILED", withResult(r, "cassettes", loadText(load))...)
			} else {
				m.journal(KindReplenished, withResult(r, "cassettes", loadText(load))...)
			}
			m.result(stCash, "maint-result", "Replenish cassettes", outcome(r))
		})
	}, lines...)
}

// loadText writes cassettes as "1:100000x2000,2:missing".
func loadText(cs []dispenser.Cassette) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		if c.Status == dispenser.CassetteMissing {
			parts[i] = fmt.Sprintf("%d:missing", c.ID)
			continue
		}
		parts[i] = fmt.Sprintf("%d:%dx%d", c.ID, c.Denomination, c.Count)
	}
	return strings.Join(parts, ",")
}

// ---- journal ----

func (m *Menu) journalKey(k pinpad.Key) {
	var f Filter
	title := ""
	switch k {
	case pinpad.F1:
		f, title = Filter{Limit: 50}, "Last records"
	case pinpad.F2:
		f, title = Filter{Kinds: []string{"FAULT-*"}, Limit: 50}, "Faults"
	case pinpad.F3:
		f, title = Filter{Kinds: cashKinds, Limit: 50}, "Cash and transactions"
	case pinpad.F4:
		f, title = Filter{Kinds: []string{"MAINT-*", "SUPERVISOR-*"}, Limit: 50}, "Maintenance actions"
	case pinpad.F5:
		m.confirm(stJournal, "Export the journal", func() {
			m.journal("MAINT-JOURNAL-EXPORT-INTENT")
			m.do(OpExport{}, "Writing the journal to the export drive", func(r Result) {
				m.journal("MAINT-JOURNAL-EXPORT", withResult(r)...)
				m.result(stJournal, "maint-result", "Journal export", outcome(r))
			})
		}, "Write the whole journal to the export drive?")
		return
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(stMain)
		return
	default:
		return
	}
	m.journal("MAINT-JOURNAL-VIEW", "records", title)
	m.do(OpJournal{Filter: f}, "Reading the journal", func(r Result) {
		lines := outcome(r)
		if r.Err == nil {
			lines = nil
			for i := len(r.Records) - 1; i >= 0; i-- { // newest first
				lines = append(lines, r.Records[i].String())
			}
			if len(lines) == 0 {
				lines = []string{"No record."}
			}
		}
		m.result(stJournal, "maint-result", "Journal: "+title, lines)
	})
}

// cashKinds are the journal kinds about cash.
var cashKinds = []string{"TXN-*", "DISPENSE*", "CASH-*", "REVERSAL-*", "RETRACT-*", "MAINT-REPLENISH*", KindTotalsCleared, KindTestDispense + "*", "MAINT-RECONCILE*"}

// ---- in / out of service ----

func (m *Menu) showService() {
	m.st = stService
	lines := []string{}
	if m.status != nil {
		after := "return to service"
		if m.status.OutOfService {
			after = "stay out of service"
		}
		lines = append(lines, "Service now: "+m.status.Service+" ("+m.status.State+")",
			"When supervisor mode ends the ATM will "+after+".")
	}
	m.menu(screen("maint-service", "In / out of service", lines...),
		item("F1", "in", "Return to service on exit"), item("F2", "out", "Stay out of service on exit"), item("F8", "back", "Back"))
}

func (m *Menu) serviceKey(k pinpad.Key) {
	var out bool
	switch k {
	case pinpad.F1:
	case pinpad.F2:
		out = true
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(stMain)
		return
	default:
		return
	}
	m.do(OpService{OutOfService: out}, "Setting the service", func(r Result) {
		m.journal("MAINT-SERVICE", withResult(r, "out_of_service", strconv.FormatBool(out))...)
		if r.Status != nil {
			m.status = r.Status
		}
		if r.Err != nil {
			m.result(stMain, "maint-result", "In / out of service", outcome(r))
			return
		}
		m.showService()
	})
}

// ---- key loading under dual control ----

func (m *Menu) startKeys() {
	m.wipeKeys()
	m.keysTech = m.tech
	m.journal("MAINT-KEYS-START")
	m.showComponent()
}

func (m *Menu) showComponent() {
	m.st = stComponent
	n := len(m.comps) + 1
	v := strings.Repeat("*", len(m.input))
	s := screen("maint-key-component", "Load the master key",
		fmt.Sprintf("Custodian %d (technician %s): key in component %d, %d hex digits.", n, m.keysTech.ID, n, componentLen),
		"A-F are on F1-F6. It completes by itself at the last digit; nothing of it is shown.")
	s.Input = &display.Input{Kind: display.Secret, Label: fmt.Sprintf("Component %d", n), Value: v}
	m.show(s, hexKeys)
}

func (m *Menu) componentKey(k pinpad.Key) {
	if k == pinpad.KeyCancel {
		m.journal("MAINT-KEYS-ABANDONED", "at", "component")
		m.wipeKeys()
		m.goTo(stMain)
		return
	}
	c, ok := hexDigit(k)
	if !ok {
		return
	}
	m.input = append(m.input, c)
	if len(m.input) < componentLen {
		m.showComponent()
		return
	}
	comp := make([]byte, componentLen/2)
	_, err := hex.Decode(comp, m.input)
	m.wipe()
	if err != nil {
		m.showComponent()
		return
	}
	kcv, err := pinblock.KCV(comp)
	if err != nil {
		pinblock.Wipe(comp)
		m.message(stComponent, "maint-key-failed", "Key component refused", "That is not a usable key component: "+err.Error(), "Key it in again.")
		return
	}
	m.comps = append(m.comps, comp)
	m.custody = append(m.custody, m.keysTech.ID)
	m.st = stKCV
	m.menu(screen("maint-key-kcv", "Check the component",
		fmt.Sprintf("Component %d has check value %X.", len(m.comps), kcv),
		"Compare it with the value on your key sheet."),
		item("F1", "correct", "Correct"), item("F2", "again", "Key it in again"), item("F8", "abandon", "Abandon"))
}

func hexDigit(k pinpad.Key) (byte, bool) {
	switch {
	case k.IsDigit():
		return k[0], true
	case k.IsFDK() && k[1] >= '1' && k[1] <= '6':
		return 'A' + (k[1] - '1'), true
	}
	return 0, false
}

func (m *Menu) kcvKey(k pinpad.Key) {
	switch k {
	case pinpad.F1:
		kcv, _ := pinblock.KCV(m.comps[len(m.comps)-1])
		m.journal("MAINT-KEY-COMPONENT", "custodian", m.keysTech.ID, "component", strconv.Itoa(len(m.comps)), "kcv", fmt.Sprintf("%X", kcv))
		if len(m.comps) == 1 {
			m.wipe()
			m.showSecond(stSecondID)
			return
		}
		m.confirmKey()
	case pinpad.F2:
		last := len(m.comps) - 1
		pinblock.Wipe(m.comps[last])
		m.comps, m.custody = m.comps[:last], m.custody[:last]
		m.showComponent()
	case pinpad.F8, pinpad.KeyCancel:
		m.journal("MAINT-KEYS-ABANDONED", "at", "check value")
		m.wipeKeys()
		m.goTo(stMain)
	}
}

func (m *Menu) showSecond(s state) {
	m.st = s
	if s == stSecondID {
		m.entry(screen("maint-key-second-id", "Load the master key", "Dual control: the second key custodian logs in.",
			"Technician ID, then ENTER."), display.Digits, "Technician ID", digitKeys)
		return
	}
	m.entry(screen("maint-key-second-pin", "Load the master key", "Technician "+m.typedID+": your PIN, then ENTER."),
		display.Secret, "PIN", digitKeys)
}

func (m *Menu) secondKey(k pinpad.Key) {
	if k == pinpad.KeyCancel {
		m.journal("MAINT-KEYS-ABANDONED", "at", "second custodian")
		m.wipeKeys()
		m.goTo(stMain)
		return
	}
	if m.st == stSecondID {
		if m.editDigits(k, MaxIDLen) && len(m.input) > 0 {
			m.typedID = string(m.input)
			m.wipe()
			m.showSecond(stSecondPIN)
			return
		}
		m.showSecond(stSecondID)
		return
	}
	if !m.editDigits(k, MaxPINLen) {
		m.showSecond(stSecondPIN)
		return
	}
	id, pin := m.typedID, string(m.input)
	m.wipe()
	t, wrong, locked, err := m.cfg.Auth.Check(m.now, id, pin)
	switch {
	case err != nil:
		m.journalAs(id, "MAINT-LOGIN-FAILED", "for", "key custodian", "wrong", strconv.Itoa(wrong))
		if locked {
			_, until := m.cfg.Auth.Locked(m.now, id)
			m.journalAs(id, "MAINT-LOCKED", "until", until.UTC().Format(time.RFC3339), "tries", strconv.Itoa(wrong))
		}
		m.message(stSecondID, "maint-login-failed", "Login failed", "Wrong technician ID or PIN, or locked out.")
	case t.ID == m.tech.ID:
		m.message(stSecondID, "maint-key-failed", "Dual control", "The second component needs another custodian.")
	case !t.Has(RoleKeys):
		m.journalAs(t.ID, "MAINT-DENIED", "action", "key custodian", "needs", RoleKeys)
		m.message(stSecondID, "maint-key-failed", "Not permitted", "Technician "+t.ID+" is no key custodian.")
	default:
		m.journalAs(t.ID, "MAINT-LOGIN", "for", "key custodian", "with", m.tech.ID)
		m.keysTech = &t
		m.showComponent()
	}
}

func (m *Menu) confirmKey() {
	key := make([]byte, len(m.comps[0]))
	defer pinblock.Wipe(key)
	for _, c := range m.comps {
		for i := range key {
			key[i] ^= c[i]
		}
	}
	kcv, err := pinblock.KCV(key)
	if err != nil {
		m.message(stMain, "maint-key-failed", "Master key refused", "The components do not make a usable key: "+err.Error())
		m.wipeKeys()
		return
	}
	want := fmt.Sprintf("%X", kcv)
	custodians := strings.Join(m.custody, ",")
	m.confirm(stMain, "Load the master key", func() {
		comps := m.comps
		m.comps = nil // the op owns them now and wipes them
		m.journal("MAINT-KEY-LOAD-INTENT", "custodians", custodians, "kcv", want)
		m.do(OpLoadKey{Components: comps}, "Loading the master key into the PIN pad and the dispenser", func(r Result) {
			m.journal("MAINT-KEY-LOADED", withResult(r, "custodians", custodians, "kcv", want)...)
			m.wipeKeys()
			m.keysTech = nil
			m.result(stMain, "maint-result", "Load the master key", outcome(r))
		})
	}, "Both components are in. The master key's check value is "+want+".",
		"Load it into the PIN pad and the dispenser? The working keys are exchanged with the host afterwards.")
}
