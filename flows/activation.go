package flows

import (
	"time"

	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/mask"
)

// Card activation (DESIGN.md §2, document 000): a new card has no PIN
// its holder knows. On the PIN screen the customer picks "Activate a new
// card"; the host says whether the cardholder is ready in the banking
// app. Bound-app path: the ATM shows a QR code with a one-time host
// challenge, the app scans and submits it. Fallback: a verification code
// pushed to the app, keyed here. Non-app path: mobile number and birth
// date, then a code by SMS. Then the default PIN arrives on the phone,
// is keyed here (a PIN block, like any PIN), and the customer chooses a
// new PIN, twice. Every step is a 0100 to the host (hostlink.Step*);
// docs/flows/activation.md has the diagram and the rules.

// The activation states.
const (
	ActHost       State = "activation-host"
	ActQR         State = "activation-qr"
	ActChoice     State = "activation-choice"
	ActMobile     State = "activation-mobile"
	ActBirth      State = "activation-birth"
	ActCode       State = "activation-code"
	ActDefaultPIN State = "activation-default-pin"
	ActNewPIN     State = "activation-new-pin"
	ActNewPIN2    State = "activation-new-pin-again"
	ActDone       State = "activation-done"
)

// QRPoll is how often the ATM asks the host whether the app has
// submitted the QR challenge.
const QRPoll = 2 * time.Second

// act is the activation in progress.
type act struct {
	id      string // the host's activation id (hostlink.TagActID)
	qr      string // QR payload: a one-time secret, shown and never journaled
	channel string // where the code or default PIN went: push or sms
	phone4  string // last four digits of that phone, for SMS
	mobile  string // the mobile number keyed, kept until the identity step is sent

	// The step waiting in ActHost, with its tags and PIN blocks.
	step       string
	data       map[string]string
	blk, blk2  pinpad.PINBlock
	newPIN     pinpad.PINBlock // first entry of the new PIN
	pollOut    bool            // a QR status request is on its way
	pollSentAt time.Time

	warn, left string // a warning for the next entry screen, and tries left

	choiceID string // screen of ActChoice
	choice   []actOption
}

// actOption is a menu item of ActChoice.
type actOption struct {
	key   pinpad.Key
	label string
	do    func(*Machine)
}

func activationStates() map[State]stateDef {
	return map[State]stateDef{
		ActHost: {doc: "an activation step at the host",
			enter: enterActHost, on: onActHost, timeout: hostGaveUp,
			next: []State{ActQR, ActChoice, ActMobile, ActCode, ActDefaultPIN, ActNewPIN, ActDone, Retaining, Notice, Ending}},
		ActQR: {doc: "QR code with the host's challenge; the app scans it",
			enter: enterActQR, on: onActQR, timeout: pollQR,
			next: []State{ActHost, ActMobile, ActDefaultPIN, ActChoice, Notice, Ending}},
		ActChoice: {doc: "the app is not ready, or a code expired: what now?",
			enter: enterActChoice, on: onActChoice, timeout: askMoreTime,
			next: []State{ActHost, ActMobile, Ending, MoreTime}},
		ActMobile: {doc: "not an app user: key the mobile number",
			enter: enterActMobile, on: onActMobile, timeout: askMoreTime,
			next: []State{ActBirth, ActMobile, Notice, Ending, MoreTime}},
		ActBirth: {doc: "key the birth date",
			enter: enterActBirth, on: onActBirth, timeout: askMoreTime,
			next: []State{ActHost, ActBirth, Notice, Ending, MoreTime}},
		ActCode: {doc: "key the verification code (secure entry)",
			enter: enterActCode, on: onActCode, timeout: askMoreTime,
			next: []State{ActHost, Notice, Ending, MoreTime}},
		ActDefaultPIN: {doc: "key the default PIN sent to the phone",
			enter: enterActDefaultPIN, on: onActDefaultPIN, timeout: askMoreTime,
			next: []State{ActHost, Notice, Ending, MoreTime}},
		ActNewPIN: {doc: "choose the new PIN",
			enter: enterActNewPIN, on: onActNewPIN, timeout: askMoreTime,
			next: []State{ActNewPIN2, Notice, Ending, MoreTime}},
		ActNewPIN2: {doc: "the new PIN again",
			enter: enterActNewPIN2, on: onActNewPIN2, timeout: askMoreTime,
			next: []State{ActHost, Notice, Ending, MoreTime}},
		ActDone: {doc: "card active, new PIN set",
			enter: enterActDone, on: onActDone, timeout: askMoreTime,
			next: []State{PINEntry, Ending, MoreTime}},
	}
}

// startActivation begins (or begins again) the dialogue with the host.
func (m *Machine) startActivation() {
	s := m.sess
	if s.act == nil {
		s.act = &act{}
		m.journal("ACTIVATION-START", "pan", mask.PAN(s.card.PAN))
	}
	a := s.act
	a.id, a.qr = "", ""
	m.actSend(hostlink.StepStart, nil)
}

// actSend sends an activation step from ActHost.
func (m *Machine) actSend(step string, data map[string]string) {
	a := m.sess.act
	a.step, a.data = step, data
	m.goTo(ActHost)
}

// actRequest builds the request of an activation step; the act's id goes
// with every step after the start.
func (m *Machine) actRequest(step string, data map[string]string, blk, blk2 pinpad.PINBlock) Request {
	s := m.sess
	d := map[string]string{}
	for k, v := range data {
		d[k] = v
	}
	if s.act.id != "" && step != hostlink.StepStart {
		d[hostlink.TagActID] = s.act.id
	}
	m.newTxn(Activation)
	return Request{ID: s.txn, Kind: Activation, Card: s.card, Step: step, Data: d, PIN: blk, PIN2: blk2, Currency: m.cfg.Currency.Alpha}
}

func enterActHost(m *Machine) {
	s := m.sess
	a := s.act
	m.noEntry()
	m.show(screen("please-wait", s.lang, display.Info))
	m.timer(m.cfg.Timeouts.Host)
	req := m.actRequest(a.step, a.data, a.blk, a.blk2)
	a.data, a.blk, a.blk2 = nil, pinpad.PINBlock{}, pinpad.PINBlock{}
	m.journal("ACTIVATION-REQUEST", "txn", s.txn, "step", a.step)
	m.emit(SendHost{Req: req})
}

func onActHost(m *Machine, ev Event) {
	s := m.sess
	e, ok := ev.(HostReply)
	if !ok || e.Reply.ID != s.txn {
		return
	}
	s.reply = e.Reply
	m.actJournalReply(s.act.step, e.Reply)
	m.actReply(s.act.step, e.Reply)
}

func (m *Machine) actJournalReply(step string, r Reply) {
	kv := []string{"txn", m.sess.txn, "step", step, "outcome", string(r.Outcome), "rc", r.Code}
	for _, t := range []struct{ tag, name string }{
		{hostlink.TagActReason, "reason"}, {hostlink.TagActMode, "mode"}, {hostlink.TagActQRState, "qr"},
		{hostlink.TagActChannel, "channel"}, {hostlink.TagActTries, "left"},
	} {
		if v := r.Data[t.tag]; v != "" {
			kv = append(kv, t.name, v)
		}
	}
	m.journal("ACTIVATION-REPLY", kv...)
}

// actReply decides what an activation step's answer means.
func (m *Machine) actReply(step string, r Reply) {
	s := m.sess
	a := s.act
	switch r.Outcome {
	case Unavailable:
		m.notice("service-unavailable", display.Error, Ending)
		return
	case Unknown:
		m.notice("unable-to-complete", display.Error, Ending)
		return
	}
	if r.Err != nil {
		// An answer the link could not make sense of (malformed field 48).
		m.notice("activate-failed", display.Error, Ending)
		return
	}
	d := r.Data
	switch d[hostlink.TagActReason] {
	case hostlink.ReasonActive:
		m.notice("activate-already-active", display.Warning, Ending)
		return
	case hostlink.ReasonBlocked, hostlink.ReasonCardExpired, hostlink.ReasonUnknownCard:
		m.notice("card-refused", display.Error, Ending)
		return
	case hostlink.ReasonLocked:
		m.notice("activate-locked", display.Error, Ending)
		return
	case hostlink.ReasonPINTries:
		m.goTo(Retaining)
		return
	case hostlink.ReasonNoApp:
		m.actChoice("activate-app-login")
		return
	case hostlink.ReasonCodeExpired, hostlink.ReasonNoCode:
		m.actChoice("activate-code-expired")
		return
	case hostlink.ReasonMismatch:
		a.left = d[hostlink.TagActTries]
		m.actChoice("activate-mismatch")
		return
	case hostlink.ReasonPINMismatch, hostlink.ReasonWeakPIN:
		a.warn = "activate-pins-differ"
		if d[hostlink.TagActReason] == hostlink.ReasonWeakPIN {
			a.warn = "activate-pin-weak"
		}
		m.goTo(ActNewPIN)
		return
	}
	wrong := r.Code == hostlink.RCWrongPIN
	if r.Code != hostlink.RCApproved && !wrong {
		m.notice("activate-failed", display.Error, Ending)
		return
	}
	switch step {
	case hostlink.StepStart:
		a.id = d[hostlink.TagActID]
		switch d[hostlink.TagActMode] {
		case hostlink.ModeReady:
			a.qr = d[hostlink.TagActQR]
			if a.qr == "" || a.id == "" {
				m.notice("activate-failed", display.Error, Ending)
				return
			}
			m.goTo(ActQR)
		case hostlink.ModeLogin:
			m.actChoice("activate-app-login")
		case hostlink.ModeUnbound:
			m.actChoice("activate-app-unbound")
		case hostlink.ModeNoApp:
			m.goTo(ActMobile)
		default:
			m.notice("activate-failed", display.Error, Ending)
		}
	case hostlink.StepQRStatus:
		switch d[hostlink.TagActQRState] {
		case hostlink.QRVerified:
			a.channel, a.qr = hostlink.ChannelPush, ""
			m.goTo(ActDefaultPIN)
		case hostlink.QRExpired:
			a.qr = ""
			m.actChoice("activate-qr-expired")
		}
	case hostlink.StepSendCode, hostlink.StepIdentity:
		a.channel, a.phone4 = d[hostlink.TagActChannel], d[hostlink.TagActPhone]
		m.goTo(ActCode)
	case hostlink.StepVerifyCode:
		if wrong {
			a.warn, a.left = "activate-code-wrong", d[hostlink.TagActTries]
			m.goTo(ActCode)
			return
		}
		if c := d[hostlink.TagActChannel]; c != "" {
			a.channel = c
		}
		m.goTo(ActDefaultPIN)
	case hostlink.StepDefaultPIN:
		if wrong {
			a.warn, a.left = "activate-default-pin-wrong", d[hostlink.TagActTries]
			m.goTo(ActDefaultPIN)
			return
		}
		m.goTo(ActNewPIN)
	case hostlink.StepNewPIN:
		m.goTo(ActDone)
	default:
		m.notice("activate-failed", display.Error, Ending)
	}
}

// actCancel ends the activation at the customer's wish: the host forgets
// it (its answer is not awaited) and the card comes back.
func (m *Machine) actCancel() {
	s := m.sess
	m.journal("CANCELLED", "at", string(m.state))
	if s.act != nil && s.act.id != "" {
		m.emit(SendHost{Req: m.actRequest(hostlink.StepCancel, nil, pinpad.PINBlock{}, pinpad.PINBlock{})})
		s.act.id = ""
	}
	m.goTo(Ending)
}

// where says on screen where the code or default PIN went.
func (m *Machine) where() string {
	a := m.sess.act
	if a.channel == hostlink.ChannelSMS {
		return say("where-sms", m.sess.lang, "phone", a.phone4)
	}
	return say("where-push", m.sess.lang)
}

// takeWarning returns the screen id to show: the pending warning if any
// (consumed), else id.
func (m *Machine) takeWarning(id string) (string, display.Tone) {
	a := m.sess.act
	if a.warn == "" {
		return id, display.Info
	}
	w := a.warn
	a.warn = ""
	return w, display.Warning
}

// ---- QR ----

func enterActQR(m *Machine) {
	s := m.sess
	l := s.lang
	sc := screen("activate-qr", l, display.Info, "last4", last4(s.card.PAN))
	sc.QR = s.act.qr
	m.menu(sc, item("F2", "code", l), item("F3", "no-app", l), item("F8", "cancel", l))
	s.act.pollOut = false
	m.timer(QRPoll)
}

// pollQR asks the host whether the app has submitted the challenge, one
// request at a time; a request unanswered for Timeouts.Host ends it.
func pollQR(m *Machine) {
	a := m.sess.act
	if a.pollOut {
		if m.now.Sub(a.pollSentAt) >= m.cfg.Timeouts.Host {
			hostGaveUp(m)
			return
		}
		m.timer(QRPoll)
		return
	}
	a.pollOut, a.pollSentAt = true, m.now
	m.emit(SendHost{Req: m.actRequest(hostlink.StepQRStatus, nil, pinpad.PINBlock{}, pinpad.PINBlock{})})
	m.timer(QRPoll)
}

func onActQR(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case KeyPressed:
		switch e.Key {
		case pinpad.F2:
			m.actSend(hostlink.StepSendCode, map[string]string{hostlink.TagActChannel: hostlink.ChannelPush})
		case pinpad.F3:
			m.goTo(ActMobile)
		case pinpad.F8, pinpad.KeyCancel:
			m.actCancel()
		}
	case HostReply:
		if e.Reply.ID != s.txn {
			return
		}
		s.act.pollOut = false
		s.reply = e.Reply
		if e.Reply.Outcome != Approved || e.Reply.Data[hostlink.TagActQRState] != hostlink.QRPending {
			m.actJournalReply(hostlink.StepQRStatus, e.Reply)
		}
		m.actReply(hostlink.StepQRStatus, e.Reply)
	}
}

// ---- choices ----

// actChoice shows a menu of what the customer can do next.
func (m *Machine) actChoice(id string) {
	a := m.sess.act
	retry := actOption{pinpad.F1, "retry", (*Machine).startActivation}
	code := actOption{pinpad.F2, "code", func(m *Machine) {
		m.actSend(hostlink.StepSendCode, map[string]string{hostlink.TagActChannel: hostlink.ChannelPush})
	}}
	noApp := actOption{pinpad.F3, "no-app", func(m *Machine) { m.goTo(ActMobile) }}
	switch id {
	case "activate-app-login", "activate-app-unbound":
		a.choice = []actOption{retry, noApp}
	case "activate-qr-expired":
		retry.label = "new-qr"
		a.choice = []actOption{retry, code, noApp}
	case "activate-code-expired":
		ch := a.channel
		a.choice = []actOption{{pinpad.F1, "new-code", func(m *Machine) {
			m.actSend(hostlink.StepSendCode, map[string]string{hostlink.TagActChannel: ch})
		}}}
	case "activate-mismatch":
		a.choice = []actOption{{pinpad.F1, "retry", func(m *Machine) { m.goTo(ActMobile) }}}
	}
	a.choiceID = id
	m.goTo(ActChoice)
}

func enterActChoice(m *Machine) {
	s := m.sess
	l := s.lang
	var items []display.MenuItem
	for _, o := range s.act.choice {
		items = append(items, item(string(o.key), o.label, l))
	}
	items = append(items, item("F8", "cancel", l))
	m.menu(screen(s.act.choiceID, l, display.Warning, "last4", last4(s.card.PAN), "left", s.act.left), items...)
}

func onActChoice(m *Machine, ev Event) {
	k, ok := pressed(ev)
	if !ok {
		return
	}
	if k == pinpad.F8 || k == pinpad.KeyCancel {
		m.actCancel()
		return
	}
	for _, o := range m.sess.act.choice {
		if o.key == k {
			o.do(m)
			return
		}
	}
}

// ---- identity without the app ----

func (m *Machine) dataScreen(id string, tone display.Tone, label string, maxLen int) {
	s := m.sess
	s.input = ""
	sc := screen(id, s.lang, tone)
	sc.Input = &display.Input{Kind: display.Digits, Label: say(label, s.lang)}
	m.show(sc)
	m.emit(Entry{Mode: EntryData, MaxLen: maxLen})
	m.timer(m.cfg.Timeouts.Entry)
}

func enterActMobile(m *Machine) {
	id, tone := m.takeWarning("activate-mobile")
	m.dataScreen(id, tone, "lbl-mobile", 12)
}

// validMobile accepts a Taiwan mobile number keyed as 09xxxxxxxx or
// 8869xxxxxxxx; the host compares it with the number on file.
func validMobile(d string) bool {
	return (len(d) == 10 && d[:2] == "09") || (len(d) == 12 && d[:4] == "8869")
}

func onActMobile(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case DataEntered:
		if !validMobile(e.Data.Digits) {
			s.act.warn = "activate-mobile-invalid"
			m.goTo(ActMobile)
			return
		}
		s.act.mobile = e.Data.Digits
		m.goTo(ActBirth)
	case EntryCancelled:
		m.actCancel()
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.notice("service-unavailable", display.Error, Ending)
	}
}

func enterActBirth(m *Machine) {
	id, tone := m.takeWarning("activate-birth")
	m.dataScreen(id, tone, "lbl-birth", 8)
}

func onActBirth(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case DataEntered:
		d, err := time.Parse("20060102", e.Data.Digits)
		if err != nil || len(e.Data.Digits) != 8 || d.Year() < 1900 || d.After(m.now) {
			s.act.warn = "activate-birth-invalid"
			m.goTo(ActBirth)
			return
		}
		mobile := s.act.mobile
		s.act.mobile = ""
		m.actSend(hostlink.StepIdentity, map[string]string{hostlink.TagActMobile: mobile, hostlink.TagActBirth: e.Data.Digits})
	case EntryCancelled:
		m.actCancel()
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.notice("service-unavailable", display.Error, Ending)
	}
}

// ---- secure entries: code, default PIN, new PIN ----

// secretScreen shows a secure-entry screen and starts PIN entry with the
// given FDKs as terminators (each also a menu item on the screen).
func (m *Machine) secretScreen(id string, tone display.Tone, label string, minLen, maxLen int, items []display.MenuItem, params ...string) {
	s := m.sess
	s.input = ""
	sc := screen(id, s.lang, tone, params...)
	sc.Input = &display.Input{Kind: display.Secret, Label: say(label, s.lang)}
	sc.Menu = items
	m.show(sc)
	var terms []pinpad.Key
	for _, it := range items {
		terms = append(terms, pinpad.Key(it.Key))
	}
	m.emit(Entry{Mode: EntryPIN, MinLen: minLen, MaxLen: maxLen, PAN: s.card.PAN, Terminators: terms})
	m.timer(m.cfg.Timeouts.Entry)
}

// onSecret handles the events of a secure-entry activation screen: a
// block goes to got; F8, CANCEL end the activation; other keys to key.
func (m *Machine) onSecret(ev Event, got func(pinpad.PINBlock), key func(pinpad.Key)) {
	switch e := ev.(type) {
	case PINEntered:
		got(e.Block)
	case KeyPressed:
		if e.Key == pinpad.F8 {
			m.actCancel()
			return
		}
		if key != nil {
			key(e.Key)
		}
	case EntryCancelled:
		m.actCancel()
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.notice("service-unavailable", display.Error, Ending)
	}
}

func enterActCode(m *Machine) {
	s := m.sess
	l := s.lang
	id, tone := m.takeWarning("activate-code")
	m.secretScreen(id, tone, "lbl-code-input", 6, 6, []display.MenuItem{item("F1", "new-code", l), item("F8", "cancel", l)},
		"where", m.where(), "left", s.act.left)
}

func onActCode(m *Machine, ev Event) {
	a := m.sess.act
	m.onSecret(ev, func(b pinpad.PINBlock) {
		a.blk = b
		m.actSend(hostlink.StepVerifyCode, nil)
	}, func(k pinpad.Key) {
		if k == pinpad.F1 {
			m.actSend(hostlink.StepSendCode, map[string]string{hostlink.TagActChannel: a.channel})
		}
	})
}

func enterActDefaultPIN(m *Machine) {
	s := m.sess
	id, tone := m.takeWarning("activate-default-pin")
	m.secretScreen(id, tone, "lbl-pin", 4, 12, []display.MenuItem{item("F8", "cancel", s.lang)}, "where", m.where(), "left", s.act.left)
}

func onActDefaultPIN(m *Machine, ev Event) {
	a := m.sess.act
	m.onSecret(ev, func(b pinpad.PINBlock) {
		a.blk = b
		m.actSend(hostlink.StepDefaultPIN, nil)
	}, nil)
}

func enterActNewPIN(m *Machine) {
	s := m.sess
	id, tone := m.takeWarning("activate-new-pin")
	m.secretScreen(id, tone, "lbl-new-pin", 4, 12, []display.MenuItem{item("F8", "cancel", s.lang)})
}

func onActNewPIN(m *Machine, ev Event) {
	a := m.sess.act
	m.onSecret(ev, func(b pinpad.PINBlock) {
		a.newPIN = b
		m.goTo(ActNewPIN2)
	}, nil)
}

func enterActNewPIN2(m *Machine) {
	s := m.sess
	m.secretScreen("activate-new-pin-again", display.Info, "lbl-new-pin", 4, 12, []display.MenuItem{item("F8", "cancel", s.lang)})
}

func onActNewPIN2(m *Machine, ev Event) {
	a := m.sess.act
	m.onSecret(ev, func(b pinpad.PINBlock) {
		a.blk, a.blk2 = a.newPIN, b
		a.newPIN = pinpad.PINBlock{}
		m.actSend(hostlink.StepNewPIN, nil)
	}, nil)
}

// ---- done ----

func enterActDone(m *Machine) {
	s := m.sess
	l := s.lang
	if s.act.id != "" {
		m.journal("ACTIVATION-DONE", "pan", mask.PAN(s.card.PAN))
		s.act.id = ""
	}
	m.menu(screen("activate-done", l, display.Success), item("F1", "services", l), item("F8", "finish", l))
}

func onActDone(m *Machine, ev Event) {
	s := m.sess
	switch k, _ := pressed(ev); k {
	case pinpad.F1:
		// The card is active now: sign in with the new PIN like any card.
		s.pinTries, s.havePIN = 0, false
		m.goTo(PINEntry)
	case pinpad.F8, pinpad.KeyCancel:
		m.goTo(Ending)
	}
}

// activationOffered reports whether the PIN screen offers activation:
// configured, and not already done or tried in this session.
func (m *Machine) activationOffered() bool {
	s := m.sess
	return m.cfg.Activation && s.act == nil && s.pinTries == 0
}

// last4 returns the last four digits of a PAN: how a customer names a
// card ("the card ending 4054").
func last4(pan string) string {
	if len(pan) < 4 {
		return pan
	}
	return pan[len(pan)-4:]
}
