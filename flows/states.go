package flows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/mask"
)

// State names a state of the machine.
type State string

// The states. The table below says what each does and where it may go.
const (
	Starting       State = "starting"
	OutOfService   State = "out-of-service"
	Idle           State = "idle"
	CardError      State = "card-error"
	PINEntry       State = "pin-entry"
	MainMenu       State = "main-menu"
	AmountMenu     State = "amount-menu"
	OtherAmount    State = "other-amount"
	AmountError    State = "amount-error"
	ReceiptChoice  State = "receipt-choice"
	Authorizing    State = "authorizing"
	Dispensing     State = "dispensing"
	CardBeforeCash State = "card-before-cash"
	TakeCash       State = "take-cash"
	Retracting     State = "retracting"
	Printing       State = "printing"
	ShowBalance    State = "show-balance"
	Refused        State = "refused"
	Notice         State = "notice"
	Ending         State = "ending"
	Retaining      State = "retaining"
	CardLeft       State = "card-left"
	MoreTime       State = "more-time"
	Goodbye        State = "goodbye"
)

type stateDef struct {
	doc     string
	enter   func(*Machine)
	on      func(*Machine, Event)
	timeout func(*Machine)
	next    []State
}

func (d stateDef) allows(s State) bool {
	for _, n := range d.next {
		if n == s {
			return true
		}
	}
	return false
}

var states map[State]stateDef

func init() {
	states = map[State]stateDef{
		Starting: {doc: "waiting for the first health report",
			enter: enterStarting, on: onOutOfService,
			next: []State{Idle, OutOfService}},
		OutOfService: {doc: "host or a vital device down; card slot closed",
			enter: enterOutOfService, on: onOutOfService,
			next: []State{Idle, OutOfService, Supervisor}},
		Idle: {doc: "welcome screen, card slot open",
			enter: enterIdle, on: onIdle,
			next: []State{PINEntry, CardError, OutOfService, Idle}},
		CardError: {doc: "card could not be read; reader gave it back",
			enter: enterCardError, timeout: endSession,
			next: []State{Idle, OutOfService}},
		PINEntry: {doc: "secure PIN entry (again after a wrong PIN)",
			enter: enterPINEntry, on: onPINEntry, timeout: askMoreTime,
			next: []State{MainMenu, Authorizing, Ending, MoreTime, Notice, ActHost, DelCode}},
		MainMenu: {doc: "choose a service",
			enter: enterMainMenu, on: onMainMenu, timeout: askMoreTime,
			next: []State{AmountMenu, Authorizing, Ending, MoreTime}},
		AmountMenu: {doc: "fast amounts or other amount",
			enter: enterAmountMenu, on: onAmountMenu, timeout: askMoreTime,
			next: []State{OtherAmount, ReceiptChoice, Authorizing, AmountError, Ending, MoreTime}},
		OtherAmount: {doc: "key the amount",
			enter: enterOtherAmount, on: onOtherAmount, timeout: askMoreTime,
			next: []State{ReceiptChoice, Authorizing, AmountError, Ending, MoreTime, OtherAmount}},
		AmountError: {doc: "amount cannot be dispensed",
			enter: enterAmountError, on: onAmountError, timeout: askMoreTime,
			next: []State{AmountMenu, Ending, MoreTime}},
		ReceiptChoice: {doc: "receipt or not",
			enter: enterReceiptChoice, on: onReceiptChoice, timeout: askMoreTime,
			next: []State{Authorizing, Ending, MoreTime}},
		Authorizing: {doc: "nonce from the dispenser, request to the host",
			enter: enterAuthorizing, on: onAuthorizing, timeout: hostGaveUp,
			next: []State{Dispensing, ShowBalance, PINEntry, Retaining, Refused, Notice}},
		Dispensing: {doc: "journal the intent, then stack the notes",
			enter: enterDispensing, on: onDispensing,
			next: []State{CardBeforeCash, Notice}},
		CardBeforeCash: {doc: "card returned before the cash",
			enter: enterCardBeforeCash, on: onCardBeforeCash, timeout: cardNotTaken,
			next: []State{TakeCash, CardLeft}},
		TakeCash: {doc: "shutter open, waiting for the customer to take the notes",
			enter: enterTakeCash, on: onTakeCash, timeout: cashNotTaken,
			next: []State{Printing, Goodbye, Retracting, Notice}},
		Retracting: {doc: "cash left in the tray is retracted",
			enter: enterRetracting, on: onRetracting,
			next: []State{Goodbye}},
		Printing: {doc: "printing the receipt",
			enter: enterPrinting, on: onPrinting,
			next: []State{Goodbye, Ending}},
		ShowBalance: {doc: "balance on screen",
			enter: enterShowBalance, on: onShowBalance, timeout: askMoreTime,
			next: []State{Printing, MainMenu, Ending, MoreTime}},
		Refused: {doc: "insufficient funds or over the limit; another transaction?",
			enter: enterRefused, on: onRefused, timeout: askMoreTime,
			next: []State{MainMenu, Ending, MoreTime}},
		Notice: {doc: "a message, then on",
			enter: enterNotice, timeout: leaveNotice,
			next: []State{Ending, Goodbye, Idle, OutOfService}},
		Ending: {doc: "card given back, waiting for it to be taken",
			enter: enterEnding, on: onEnding, timeout: cardNotTaken,
			next: []State{Goodbye, CardLeft}},
		Retaining: {doc: "card captured after too many wrong PINs",
			enter: enterRetaining, on: onRetaining, timeout: endSession,
			next: []State{Idle, OutOfService}},
		CardLeft: {doc: "card not taken: retained; any stacked cash retracted",
			enter: enterCardLeft, on: onCardLeft, timeout: endSession,
			next: []State{Idle, OutOfService}},
		MoreTime: {doc: "do you need more time?",
			enter: enterMoreTime, on: onMoreTime, timeout: noMoreTime,
			next: []State{PINEntry, MainMenu, AmountMenu, OtherAmount, AmountError, ReceiptChoice, ShowBalance, Refused, Ending,
				ActChoice, ActMobile, ActBirth, ActCode, ActDefaultPIN, ActNewPIN, ActNewPIN2, ActDone,
				DelCode, DelAmount, DelOther}},
		Goodbye: {doc: "thank you",
			enter: enterGoodbye, timeout: endSession,
			next: []State{Idle, OutOfService}},

		// Supervisor mode (supervisor.go).
		Supervisor: {doc: "supervisor mode: the maintenance menu has the PIN pad and screens; card slot closed",
			enter: enterSupervisor, on: onSupervisor,
			next: []State{Idle, OutOfService}},
	}
	for k, v := range activationStates() {
		states[k] = v
	}
	for k, v := range delegatedStates() {
		states[k] = v
	}
}

// ---- helpers ----

func (m *Machine) show(s display.Screen) {
	m.emit(Show{Screen: s})
}

func (m *Machine) keys(k ...pinpad.Key) { m.emit(Entry{Mode: EntryKeys, Keys: k}) }

func (m *Machine) noEntry() { m.emit(Entry{Mode: EntryNone}) }

// menu shows a screen with menu items bound to FDKs and arms those keys
// plus CANCEL.
func (m *Machine) menu(s display.Screen, items ...display.MenuItem) {
	s.Menu = items
	m.show(s)
	ks := make([]pinpad.Key, 0, len(items)+1)
	for _, it := range items {
		ks = append(ks, pinpad.Key(it.Key))
	}
	m.keys(append(ks, pinpad.KeyCancel)...)
	m.timer(m.cfg.Timeouts.Entry)
}

// cur is the screen shown last, kept so an echo can update its field.
func (m *Machine) lastScreen() (display.Screen, bool) {
	for i := len(m.out) - 1; i >= 0; i-- {
		if s, ok := m.out[i].(Show); ok {
			return s.Screen, true
		}
	}
	return m.shown, m.shown.ID != ""
}

func (m *Machine) echo(k pinpad.Key) {
	s := m.sess
	switch {
	case k == pinpad.KeyClear:
		s.input = ""
	case k == pinpad.KeyBackspace:
		if s.input != "" {
			s.input = s.input[:len(s.input)-1]
		}
	case k == pinpad.KeyMasked:
		s.input += "*"
	case k.IsDigit():
		s.input += string(k)
	default:
		return
	}
	if sc, ok := m.lastScreen(); ok && sc.Input != nil {
		in := *sc.Input
		in.Value = s.input
		sc.Input = &in
		m.show(sc)
	}
	m.timer(m.cfg.Timeouts.Entry)
}

func pressed(ev Event) (pinpad.Key, bool) {
	if k, ok := ev.(KeyPressed); ok {
		return k.Key, true
	}
	return "", false
}

// notice shows a message for Timeouts.Message, then goes to after.
func (m *Machine) notice(id string, tone display.Tone, after State, params ...string) {
	m.sess.after = after
	m.noticeScreen = screen(id, m.langOf(), tone, params...)
	m.goTo(Notice)
}

func (m *Machine) newTxn(kind TxnKind) {
	s := m.sess
	s.txnSeq++
	s.kind = kind
	s.txn = fmt.Sprintf("%s-%d", s.id, s.txnSeq)
	s.reply = Reply{}
	s.nonce = nil
	s.dispensed = dispenser.Result{}
	s.partial, s.reversed = false, false
}

func (m *Machine) endSessionTo() State {
	if m.healthy() {
		return Idle
	}
	return OutOfService
}

// ---- out of service ----

func enterStarting(m *Machine) {
	m.emit(AcceptCard{On: false})
	m.noEntry()
	m.show(screen("starting", m.lang, display.Info))
}

func enterOutOfService(m *Machine) {
	m.emit(AcceptCard{On: false})
	m.noEntry()
	m.show(screen("out-of-service", m.lang, display.Warning))
	m.journal("OUT-OF-SERVICE", "reason", m.outOfServiceReason())
	m.superviseIfWanted()
}

func onOutOfService(m *Machine, ev Event) {
	if _, ok := ev.(Health); ok {
		if m.healthy() {
			if m.state == OutOfService {
				m.journal("IN-SERVICE")
			}
			m.goTo(Idle)
		} else if m.state == Starting {
			m.goTo(OutOfService)
		}
	}
}

// ---- idle ----

func enterIdle(m *Machine) {
	m.sess = nil
	s := screen("welcome", m.lang, display.Info)
	s.Menu = []display.MenuItem{item("F8", "lang", m.lang)}
	m.show(s)
	m.emit(AcceptCard{On: true})
	m.keys(pinpad.F8)
}

func onIdle(m *Machine, ev Event) {
	switch e := ev.(type) {
	case Health:
		if !m.healthy() {
			m.goTo(OutOfService)
		}
	case KeyPressed:
		if e.Key == pinpad.F8 {
			if m.lang == Languages[0] {
				m.lang = Languages[1]
			} else {
				m.lang = Languages[0]
			}
			m.goTo(Idle)
		}
	case CardInserted:
		m.sessions++
		m.sess = &session{
			id:   m.sessionID(),
			lang: m.lang, card: e.Card, cardIn: true,
		}
		m.lang = Languages[0]
		m.emit(AcceptCard{On: false})
		m.journal("CARD-INSERTED", "pan", mask.PAN(e.Card.PAN), "tech", string(e.Card.Technology))
		m.goTo(PINEntry)
	case CardFailed:
		m.sessions++
		m.sess = &session{id: m.sessionID(), lang: m.lang}
		m.journal("CARD-UNREADABLE", "error", errString(e.Err))
		m.goTo(CardError)
	}
}

// sessionID is unique across restarts: the time, this run's boot mark and
// the session counter of this run.
func (m *Machine) sessionID() string {
	id := "S" + m.now.UTC().Format("20060102T150405")
	if m.cfg.Boot != "" {
		id += "-B" + m.cfg.Boot
	}
	return fmt.Sprintf("%s-%04d", id, m.sessions%10000)
}

func enterCardError(m *Machine) {
	m.emit(AcceptCard{On: false})
	m.noEntry()
	m.show(screen("card-unreadable", m.sess.lang, display.Error))
	m.timer(m.cfg.Timeouts.Message)
}

// endSession closes the session and returns to service (or not).
func endSession(m *Machine) {
	if m.sess != nil {
		m.journal("SESSION-END")
		m.emit(SessionEnded{ID: m.sess.id})
	}
	m.goTo(m.endSessionTo())
}

// ---- PIN ----

func enterPINEntry(m *Machine) {
	s := m.sess
	s.input = ""
	id := "enter-pin"
	var params []string
	if s.pinTries > 0 {
		id = "pin-retry"
		params = []string{"left", strconv.Itoa(m.cfg.MaxPINTries - s.pinTries)}
	}
	sc := screen(id, s.lang, display.Info, params...)
	if s.pinTries > 0 {
		sc.Tone = display.Warning
	}
	sc.Input = &display.Input{Kind: display.Secret, Label: say("lbl-pin", s.lang)}
	var terms []pinpad.Key
	sc.Menu = m.pinScreenOffers()
	for _, it := range sc.Menu {
		terms = append(terms, pinpad.Key(it.Key))
	}
	m.show(sc)
	m.emit(Entry{Mode: EntryPIN, MinLen: 4, MaxLen: 12, PAN: s.card.PAN, Terminators: terms})
	m.timer(m.cfg.Timeouts.Entry)
}

func onPINEntry(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case PINEntered:
		s.pin, s.havePIN = e.Block, true
		if s.txn != "" && s.reply.Outcome == WrongPIN {
			m.newTxn(s.kind) // the same request again, with the new PIN
			m.goTo(Authorizing)
			return
		}
		m.goTo(MainMenu)
	case KeyPressed:
		if e.Key == pinpad.F4 && m.activationOffered() {
			m.startActivation()
		}
		if e.Key == pinpad.F5 && m.delegatedOffered() {
			m.startDelegated()
		}
	case EntryCancelled:
		m.journal("CANCELLED", "at", string(PINEntry))
		m.goTo(Ending)
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.notice("service-unavailable", display.Error, Ending)
	}
}

// ---- menus ----

func enterMainMenu(m *Machine) {
	l := m.sess.lang
	m.sess.txn, m.sess.reply = "", Reply{}
	m.menu(screen("main-menu", l, display.Info),
		item("F1", "withdrawal", l), item("F2", "balance", l), item("F8", "cancel", l))
}

func onMainMenu(m *Machine, ev Event) {
	k, ok := pressed(ev)
	if !ok {
		return
	}
	switch k {
	case pinpad.F1:
		m.goTo(AmountMenu)
	case pinpad.F2:
		m.newTxn(Balance)
		m.goTo(Authorizing)
	case pinpad.F8, pinpad.KeyCancel:
		m.journal("CANCELLED", "at", string(MainMenu))
		m.goTo(Ending)
	}
}

var fastKeys = []string{"F1", "F2", "F3", "F5", "F6", "F7"}

func enterAmountMenu(m *Machine) {
	l := m.sess.lang
	sc := screen("amount-menu", l, display.Info)
	var items []display.MenuItem
	for i, a := range m.cfg.FastAmounts {
		items = append(items, display.MenuItem{Key: fastKeys[i], ID: "amount-" + strconv.FormatInt(a/m.cfg.Currency.Major(), 10), Label: m.fmtAmount(a)})
	}
	items = append(items, item("F4", "other", l), item("F8", "cancel", l))
	m.menu(sc, items...)
}

func onAmountMenu(m *Machine, ev Event) {
	k, ok := pressed(ev)
	if !ok {
		return
	}
	for i, fk := range fastKeys {
		if i < len(m.cfg.FastAmounts) && string(k) == fk {
			m.chooseAmount(m.cfg.FastAmounts[i])
			return
		}
	}
	switch k {
	case pinpad.F4:
		m.goTo(OtherAmount)
	case pinpad.F8, pinpad.KeyCancel:
		m.journal("CANCELLED", "at", string(AmountMenu))
		m.goTo(Ending)
	}
}

// unit is the smallest note available, the step for "other amount".
func (m *Machine) unit() int64 {
	var u int64
	for _, c := range m.health.Cassettes {
		if c.Currency == m.cfg.Currency.Alpha && c.Count > 0 && c.Status != dispenser.CassetteEmpty &&
			c.Status != dispenser.CassetteMissing && (u == 0 || c.Denomination < u) {
			u = c.Denomination
		}
	}
	if u == 0 {
		u = m.cfg.Currency.Major()
	}
	return u
}

// chooseAmount checks that the amount can be dispensed, above the driver.
func (m *Machine) chooseAmount(a int64) {
	s := m.sess
	s.amount = a
	mix, err := dispenser.Denominate(a, m.cfg.Currency.Alpha, m.health.Cassettes, m.cfg.MaxNotes)
	if a > m.cfg.MaxAmount || err != nil {
		m.journal("AMOUNT-UNAVAILABLE", "amount", strconv.FormatInt(a, 10))
		m.goTo(AmountError)
		return
	}
	m.newTxn(Withdrawal)
	s.amount, s.mix = a, mix
	if !m.health.PrinterOK {
		s.receipt = false
		m.goTo(Authorizing)
		return
	}
	m.goTo(ReceiptChoice)
}

func enterOtherAmount(m *Machine) {
	l := m.sess.lang
	m.sess.input = ""
	sc := screen("other-amount", l, display.Info, "unit", m.fmtAmount(m.unit()), "max", m.fmtAmount(m.cfg.MaxAmount))
	sc.Input = &display.Input{Kind: display.Amount, Label: say("lbl-amount", l)}
	m.show(sc)
	maxLen := len(strconv.FormatInt(m.cfg.MaxAmount/m.cfg.Currency.Major(), 10)) + 1
	m.emit(Entry{Mode: EntryData, MaxLen: maxLen})
	m.timer(m.cfg.Timeouts.Entry)
}

func onOtherAmount(m *Machine, ev Event) {
	switch e := ev.(type) {
	case DataEntered:
		v, err := strconv.ParseInt(e.Data.Digits, 10, 64)
		if err != nil || v <= 0 {
			m.goTo(OtherAmount)
			return
		}
		m.chooseAmount(v * m.cfg.Currency.Major())
	case EntryCancelled:
		m.journal("CANCELLED", "at", string(OtherAmount))
		m.goTo(Ending)
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.goTo(Ending)
	}
}

func enterAmountError(m *Machine) {
	l := m.sess.lang
	m.menu(screen("amount-unavailable", l, display.Warning, "amount", m.fmtAmount(m.sess.amount),
		"unit", m.fmtAmount(m.unit()), "max", m.fmtAmount(m.cfg.MaxAmount)),
		item("F1", "back", l), item("F8", "cancel", l))
}

func onAmountError(m *Machine, ev Event) {
	switch k, _ := pressed(ev); k {
	case pinpad.F1:
		m.goTo(AmountMenu)
	case pinpad.F8, pinpad.KeyCancel:
		m.journal("CANCELLED", "at", string(AmountError))
		m.goTo(Ending)
	}
}

func enterReceiptChoice(m *Machine) {
	l := m.sess.lang
	m.menu(screen("receipt-choice", l, display.Info), item("F1", "yes", l), item("F2", "no", l), item("F8", "cancel", l))
}

func onReceiptChoice(m *Machine, ev Event) {
	switch k, _ := pressed(ev); k {
	case pinpad.F1, pinpad.F2:
		m.sess.receipt = k == pinpad.F1
		m.goTo(Authorizing)
	case pinpad.F8, pinpad.KeyCancel:
		m.journal("CANCELLED", "at", string(ReceiptChoice))
		m.goTo(Ending)
	}
}

// ---- host ----

func enterAuthorizing(m *Machine) {
	s := m.sess
	m.noEntry()
	m.show(screen("please-wait", s.lang, display.Info))
	m.timer(m.cfg.Timeouts.Host)
	if s.kind == Withdrawal {
		m.emit(GetNonce{})
		return
	}
	m.send()
}

func (m *Machine) send() {
	s := m.sess
	req := Request{ID: s.txn, Kind: s.kind, Card: s.card, PIN: s.pin, Currency: m.cfg.Currency.Alpha}
	if s.kind == Withdrawal {
		req.Amount, req.Nonce = s.amount, s.nonce
	}
	if s.del != nil {
		req.Data = map[string]string{hostlink.TagDelegation: s.del.id}
	}
	m.journal("TXN-REQUEST", "txn", s.txn, "kind", string(s.kind), "amount", strconv.FormatInt(req.Amount, 10),
		"pan", mask.PAN(s.card.PAN))
	m.emit(SendHost{Req: req})
}

func onAuthorizing(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case NonceReady:
		if e.Err != nil {
			m.journal("DEVICE-ERROR", "device", "dispenser", "error", errString(e.Err))
			m.notice("unable-to-dispense", display.Error, Ending)
			return
		}
		s.nonce = e.Nonce
		m.send()
	case HostReply:
		r := e.Reply
		if r.ID != s.txn {
			return // a late reply to an earlier transaction
		}
		s.reply = r
		m.journal("TXN-REPLY", "txn", s.txn, "outcome", string(r.Outcome), "rc", r.Code, "stan", r.STAN, "auth", r.AuthCode)
		m.onReply(r)
	}
}

func (m *Machine) onReply(r Reply) {
	s := m.sess
	if s.del != nil {
		m.delReply(r)
		return
	}
	if r.Reverse {
		m.reverse("unusable-approval", 0)
	}
	switch r.Outcome {
	case Approved:
		if s.kind == Withdrawal {
			m.goTo(Dispensing)
		} else {
			m.goTo(ShowBalance)
		}
	case WrongPIN:
		s.pinTries++
		m.journal("WRONG-PIN", "tries", strconv.Itoa(s.pinTries))
		if s.pinTries >= m.cfg.MaxPINTries {
			m.goTo(Retaining)
			return
		}
		m.goTo(PINEntry)
	case PINTriesExceeded:
		m.goTo(Retaining)
	case InsufficientFunds, LimitExceeded:
		m.goTo(Refused)
	case Unavailable:
		m.notice("service-unavailable", display.Error, Ending)
	case Unknown:
		m.reverse("timeout", 0)
		m.notice("unable-to-complete", display.Error, Ending)
	case CardRefused:
		m.notice("card-refused", display.Error, Ending)
	default:
		m.notice("declined", display.Error, Ending)
	}
}

// hostGaveUp: no reply at all within Timeouts.Host (the link layer should
// have answered Unknown long before); treat it as unknown.
func hostGaveUp(m *Machine) {
	s := m.sess
	m.journal("TXN-NO-REPLY", "txn", s.txn)
	if s.nonce != nil || s.kind != Withdrawal {
		m.reverse("timeout", 0)
	}
	m.notice("unable-to-complete", display.Error, Ending)
}

func (m *Machine) reverse(reason string, dispensed int64) {
	s := m.sess
	if s.reversed || s.kind != Withdrawal {
		return
	}
	s.reversed = true
	m.journal("REVERSAL-QUEUED", "txn", s.txn, "reason", reason, "dispensed", strconv.FormatInt(dispensed, 10))
	m.emit(Reverse{ID: s.txn, Reason: reason, Dispensed: dispensed})
}

// ---- cash ----

func mixString(n []dispenser.Notes) string {
	var parts []string
	for _, x := range n {
		parts = append(parts, fmt.Sprintf("%dx%d", x.Cassette, x.Count))
	}
	return strings.Join(parts, ",")
}

func enterDispensing(m *Machine) {
	s := m.sess
	m.show(screen("dispensing", s.lang, display.Info))
	m.journal("DISPENSE-INTENT", "txn", s.txn, "stan", s.reply.STAN, "amount", strconv.FormatInt(s.amount, 10), "mix", mixString(s.mix))
	m.emit(Dispense{Req: dispenser.DispenseRequest{
		ATM: m.cfg.ATM, Txn: s.reply.STAN, Amount: s.amount, Currency: m.cfg.Currency.Alpha,
		Mix: s.mix, Nonce: s.nonce, Token: s.reply.Token,
	}})
}

func onDispensing(m *Machine, ev Event) {
	s := m.sess
	e, ok := ev.(Dispensed)
	if !ok {
		return
	}
	s.dispensed = e.Result
	got := dispenser.MixAmount(e.Result.Dispensed, m.health.Cassettes)
	if e.Err == nil {
		m.journal("DISPENSED", "txn", s.txn, "amount", strconv.FormatInt(got, 10), "mix", mixString(e.Result.Dispensed), "rejected", strconv.Itoa(e.Result.Rejected))
		m.goTo(CardBeforeCash)
		return
	}
	m.journal("DISPENSE-FAULT", "txn", s.txn, "error", errString(e.Err), "dispensed", strconv.FormatInt(got, 10), "mix", mixString(e.Result.Dispensed))
	m.reverse("dispense-fault", got)
	var partial *dispenser.PartialError
	if errors.As(e.Err, &partial) && got > 0 {
		s.partial = true
		m.goTo(CardBeforeCash)
		return
	}
	m.notice("unable-to-dispense", display.Error, Ending)
}

func enterCardBeforeCash(m *Machine) {
	s := m.sess
	m.emit(EjectCard{})
	m.show(screen("take-card-cash", s.lang, display.Info))
	m.timer(m.cfg.Timeouts.TakeCard)
}

func onCardBeforeCash(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case CardEjected:
		if e.Err != nil {
			m.journal("DEVICE-ERROR", "device", "cardreader", "error", errString(e.Err))
		}
	case CardTaken:
		s.cardIn = false
		m.journal("CARD-TAKEN")
		m.goTo(TakeCash)
	}
}

func enterTakeCash(m *Machine) {
	s := m.sess
	m.emit(PresentCash{})
	amt := dispenser.MixAmount(s.dispensed.Dispensed, m.health.Cassettes)
	id := "take-cash"
	if s.partial {
		id = "take-cash-partial"
	}
	m.show(screen(id, s.lang, display.Success, "amount", m.fmtAmount(amt)))
	m.timer(m.cfg.Timeouts.TakeCash)
	m.captureEvidence()
}

func onTakeCash(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case CashPresented:
		if e.Err != nil {
			m.journal("PRESENT-FAULT", "txn", s.txn, "error", errString(e.Err))
			s.retract = "present-fault"
			m.goTo(Retracting)
			return
		}
		m.journal("CASH-PRESENTED", "txn", s.txn)
	case CashTaken:
		m.journal("CASH-TAKEN", "txn", s.txn, "amount", strconv.FormatInt(dispenser.MixAmount(s.dispensed.Dispensed, m.health.Cassettes), 10))
		if s.receipt {
			m.goTo(Printing)
			return
		}
		m.goTo(Goodbye)
	}
}

func cashNotTaken(m *Machine) {
	m.journal("CASH-NOT-TAKEN", "txn", m.sess.txn)
	m.sess.retract = "cash-not-taken"
	m.goTo(Retracting)
}

func enterRetracting(m *Machine) {
	m.emit(RetractCash{})
	m.show(screen("goodbye", m.sess.lang, display.Info))
}

func onRetracting(m *Machine, ev Event) {
	s := m.sess
	e, ok := ev.(CashRetracted)
	if !ok {
		return
	}
	notes := 0
	for _, n := range s.dispensed.Dispensed {
		notes += n.Count
	}
	m.journal("CASH-RETRACTED", "txn", s.txn, "notes", strconv.Itoa(e.Notes), "expected", strconv.Itoa(notes), "error", errString(e.Err))
	if e.Err == nil && e.Notes == notes {
		// Every note came back: the customer got nothing.
		m.reverse(s.retract, 0)
	} else {
		// Some notes may have been taken: leave it to reconciliation.
		m.journal("RETRACT-MISMATCH", "txn", s.txn)
	}
	m.goTo(Goodbye)
}

// ---- receipts and balance ----

func (m *Machine) receiptLines() []string {
	s := m.sess
	lines := []string{
		"ATM " + m.cfg.ATM,
		m.now.Format("2006-01-02 15:04:05"),
		"CARD " + mask.Last4(s.card.PAN),
	}
	if s.kind == Withdrawal {
		label := "rcpt-withdrawal"
		if s.del != nil {
			label = "rcpt-delegated"
		}
		lines = append(lines, say(label, s.lang),
			"AMOUNT "+m.fmtAmount(dispenser.MixAmount(s.dispensed.Dispensed, m.health.Cassettes)))
	} else {
		lines = append(lines, say("rcpt-balance", s.lang))
	}
	lines = append(lines, "STAN "+s.reply.STAN, "AUTH "+s.reply.AuthCode)
	if s.reply.HasBal && s.del == nil {
		lines = append(lines, "AVAILABLE "+m.fmtAmount(s.reply.Available), "LEDGER "+m.fmtAmount(s.reply.Ledger))
	}
	return lines
}

func enterPrinting(m *Machine) {
	m.noEntry()
	m.emit(Print{Receipt: printer.Receipt{Lines: m.receiptLines(), Cut: true}})
	m.show(screen("printing", m.sess.lang, display.Info))
}

func onPrinting(m *Machine, ev Event) {
	e, ok := ev.(ReceiptPrinted)
	if !ok {
		return
	}
	if e.Err != nil {
		m.journal("RECEIPT-FAILED", "error", errString(e.Err))
	} else {
		m.journal("RECEIPT-PRINTED", "txn", m.sess.txn)
	}
	if m.sess.cardIn {
		m.goTo(Ending)
		return
	}
	m.goTo(Goodbye)
}

func enterShowBalance(m *Machine) {
	s := m.sess
	l := s.lang
	sc := screen("balance", l, display.Info, "available", m.fmtAmount(s.reply.Available), "ledger", m.fmtAmount(s.reply.Ledger))
	items := []display.MenuItem{}
	if m.health.PrinterOK {
		items = append(items, item("F1", "print", l))
	}
	items = append(items, item("F2", "another", l), item("F8", "finish", l))
	m.menu(sc, items...)
}

func onShowBalance(m *Machine, ev Event) {
	switch k, _ := pressed(ev); k {
	case pinpad.F1:
		if m.health.PrinterOK {
			m.goTo(Printing)
		}
	case pinpad.F2:
		m.goTo(MainMenu)
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(Ending)
	}
}

func enterRefused(m *Machine) {
	s := m.sess
	l := s.lang
	id := "insufficient-funds"
	if s.reply.Outcome == LimitExceeded {
		id = "limit-exceeded"
	}
	m.menu(screen(id, l, display.Warning, "amount", m.fmtAmount(s.amount)), item("F1", "another", l), item("F8", "finish", l))
}

func onRefused(m *Machine, ev Event) {
	switch k, _ := pressed(ev); k {
	case pinpad.F1:
		m.goTo(MainMenu)
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(Ending)
	}
}

// ---- endings ----

func enterNotice(m *Machine) {
	m.noEntry()
	m.show(m.noticeScreen)
	m.timer(m.cfg.Timeouts.Message)
}

func leaveNotice(m *Machine) {
	next := m.sess.after
	if next == Idle || next == OutOfService {
		endSession(m)
		return
	}
	m.goTo(next)
}

func enterEnding(m *Machine) {
	s := m.sess
	m.noEntry()
	if !s.cardIn {
		m.goTo(Goodbye)
		return
	}
	m.emit(EjectCard{})
	m.show(screen("take-card", s.lang, display.Info))
	m.timer(m.cfg.Timeouts.TakeCard)
}

func onEnding(m *Machine, ev Event) {
	switch e := ev.(type) {
	case CardEjected:
		if e.Err != nil {
			m.journal("DEVICE-ERROR", "device", "cardreader", "error", errString(e.Err))
		}
	case CardTaken:
		m.sess.cardIn = false
		m.journal("CARD-TAKEN")
		m.goTo(Goodbye)
	}
}

// cardNotTaken: the customer walked away from the card.
func cardNotTaken(m *Machine) {
	m.journal("CARD-NOT-TAKEN")
	m.goTo(CardLeft)
}

func enterCardLeft(m *Machine) {
	s := m.sess
	m.emit(RetainCard{})
	if len(s.dispensed.Dispensed) > 0 {
		// Cash is stacked behind the shutter and was never presented.
		s.retract = "card-not-taken"
		m.emit(RetractCash{})
	}
	m.show(screen("card-retained-left", s.lang, display.Warning))
	m.timer(m.cfg.Timeouts.Message)
}

func onCardLeft(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case CardRetained:
		s.cardIn = false
		m.journal("CARD-RETAINED", "reason", "not-taken", "pan", mask.PAN(s.card.PAN), "error", errString(e.Err))
	case CashRetracted:
		m.journal("CASH-RETRACTED", "txn", s.txn, "notes", strconv.Itoa(e.Notes), "error", errString(e.Err))
		if e.Err == nil {
			m.reverse(s.retract, 0)
		} else {
			m.journal("RETRACT-MISMATCH", "txn", s.txn)
		}
	}
}

func enterRetaining(m *Machine) {
	s := m.sess
	m.noEntry()
	m.emit(RetainCard{})
	m.show(screen("card-retained", s.lang, display.Error))
	m.timer(m.cfg.Timeouts.Message)
}

func onRetaining(m *Machine, ev Event) {
	if e, ok := ev.(CardRetained); ok {
		m.sess.cardIn = false
		m.journal("CARD-RETAINED", "reason", "pin-tries", "pan", mask.PAN(m.sess.card.PAN), "error", errString(e.Err))
	}
}

func askMoreTime(m *Machine) {
	m.sess.resume = m.state
	m.goTo(MoreTime)
}

func enterMoreTime(m *Machine) {
	l := m.sess.lang
	m.menu(screen("more-time", l, display.Warning), item("F1", "yes", l), item("F2", "no", l))
	m.timer(m.cfg.Timeouts.MoreTime)
}

func onMoreTime(m *Machine, ev Event) {
	switch k, _ := pressed(ev); k {
	case pinpad.F1:
		m.goTo(m.sess.resume)
	case pinpad.F2, pinpad.KeyCancel:
		m.journal("CANCELLED", "at", string(MoreTime))
		m.goTo(Ending)
	}
}

func noMoreTime(m *Machine) {
	m.journal("TIMEOUT", "at", string(m.sess.resume))
	m.goTo(Ending)
}

func enterGoodbye(m *Machine) {
	m.noEntry()
	m.show(screen("goodbye", m.sess.lang, display.Success))
	m.timer(m.cfg.Timeouts.Message)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
