package flows

import (
	"strconv"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/mask"
)

// Delegated withdrawal (DESIGN.md §2, document 004): the cardholder
// creates a delegate code with a cap in the banking app and gives it,
// with the card, to a helper. On the PIN screen the helper picks
// "Delegated withdrawal" (F5) and keys the code in secure entry — a PIN
// block, like a PIN. The host checks it (0100, processing code 940000)
// and answers the cap; the helper chooses an amount up to it; the
// withdrawal is an ordinary 0200 whose field 52 is the code and whose
// field 48 names it (DG), with the usual dispense token. The screens
// show only the delegated withdrawal: no balance, no other service, one
// withdrawal. When the cash is presented the camera takes the helper's
// face for the host. docs/flows/delegated.md has the diagram and rules.

// The delegated withdrawal's states.
const (
	DelCode   State = "delegated-code"
	DelCheck  State = "delegated-check"
	DelAmount State = "delegated-amount"
	DelOther  State = "delegated-other"
)

// DelegateCheck is the host check of a delegate code (0100, processing
// code 940000): is it right for this card, and what is its cap?
const DelegateCheck TxnKind = "delegate-check"

// Capture asks the camera for an evidence still of the person at the
// ATM, for the transaction Txn: the runner sends it to the host with the
// transaction (an evidence advice). Kind is hostlink.EvidenceDelegateFace
// or hostlink.EvidenceOwnerFace. The machine does not wait for it.
type Capture struct {
	Txn  string
	Kind string
}

func (Capture) isEffect() {}

// Delegate code lengths (digits).
const (
	MinDelegateCode = 6
	MaxDelegateCode = 8
)

// del is the delegated withdrawal in progress.
type del struct {
	id    string          // the host's code id (hostlink.TagDelegation)
	cap   int64           // minor units, never more than Config.MaxAmount
	block pinpad.PINBlock // the code as keyed, for the 0200
	wrong int             // wrong codes keyed in this session
	warn  string          // a warning screen for the next entry or menu
	left  string          // wrong codes left, for the warning
}

func delegatedStates() map[State]stateDef {
	return map[State]stateDef{
		DelCode: {doc: "key the delegate code (secure entry)",
			enter: enterDelCode, on: onDelCode, timeout: askMoreTime,
			next: []State{DelCheck, Notice, Ending, MoreTime}},
		DelCheck: {doc: "the host checks the code and answers its cap",
			enter: enterDelCheck, on: onDelCheck, timeout: hostGaveUp,
			next: []State{DelAmount, DelCode, Notice}},
		DelAmount: {doc: "amounts up to the code's cap, other amount, cancel",
			enter: enterDelAmount, on: onDelAmount, timeout: askMoreTime,
			next: []State{DelOther, DelAmount, ReceiptChoice, Authorizing, Ending, MoreTime}},
		DelOther: {doc: "key an amount up to the cap",
			enter: enterDelOther, on: onDelOther, timeout: askMoreTime,
			next: []State{DelAmount, DelOther, ReceiptChoice, Authorizing, Ending, MoreTime}},
	}
}

// delegatedOffered reports whether the PIN screen offers delegated
// withdrawal: configured, the camera working (the helper's face is the
// evidence), and nothing else begun in this session.
func (m *Machine) delegatedOffered() bool {
	s := m.sess
	return m.cfg.Delegated && m.health.CameraOK && s.del == nil && s.act == nil && s.pinTries == 0 && !s.havePIN
}

// pinScreenOffers returns the menu items the PIN screen offers, each a
// terminator of the PIN entry.
func (m *Machine) pinScreenOffers() []display.MenuItem {
	l := m.sess.lang
	var items []display.MenuItem
	if m.activationOffered() {
		items = append(items, item("F4", "activate", l))
	}
	if m.delegatedOffered() {
		items = append(items, item("F5", "delegated", l))
	}
	return items
}

func (m *Machine) startDelegated() {
	s := m.sess
	s.del = &del{}
	m.journal("DELEGATED-START", "pan", mask.PAN(s.card.PAN))
	m.goTo(DelCode)
}

// delCancel ends the delegated withdrawal at the helper's wish: the card
// comes back; the code stays as it was (nothing was spent).
func (m *Machine) delCancel() {
	m.journal("CANCELLED", "at", string(m.state))
	m.goTo(Ending)
}

func enterDelCode(m *Machine) {
	s := m.sess
	d := s.del
	s.input = ""
	id, tone := "delegate-code", display.Info
	if d.warn != "" {
		id, tone, d.warn = d.warn, display.Warning, ""
	}
	sc := screen(id, s.lang, tone, "left", d.left)
	sc.Input = &display.Input{Kind: display.Secret, Label: say("lbl-delegate-code", s.lang)}
	sc.Menu = []display.MenuItem{item("F8", "cancel", s.lang)}
	m.show(sc)
	m.emit(Entry{Mode: EntryPIN, MinLen: MinDelegateCode, MaxLen: MaxDelegateCode, PAN: s.card.PAN, Terminators: []pinpad.Key{pinpad.F8}})
	m.timer(m.cfg.Timeouts.Entry)
}

func onDelCode(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case PINEntered:
		s.del.block = e.Block
		m.goTo(DelCheck)
	case KeyPressed:
		if e.Key == pinpad.F8 || e.Key == pinpad.KeyCancel {
			m.delCancel()
		}
	case EntryCancelled:
		m.delCancel()
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.notice("service-unavailable", display.Error, Ending)
	}
}

func enterDelCheck(m *Machine) {
	s := m.sess
	m.noEntry()
	m.show(screen("please-wait", s.lang, display.Info))
	m.timer(m.cfg.Timeouts.Host)
	m.newTxn(DelegateCheck)
	m.journal("DELEGATED-CHECK", "txn", s.txn, "pan", mask.PAN(s.card.PAN))
	m.emit(SendHost{Req: Request{ID: s.txn, Kind: DelegateCheck, Card: s.card, PIN: s.del.block, Currency: m.cfg.Currency.Alpha}})
}

func onDelCheck(m *Machine, ev Event) {
	s := m.sess
	e, ok := ev.(HostReply)
	if !ok || e.Reply.ID != s.txn {
		return
	}
	r := e.Reply
	s.reply = r
	kv := []string{"txn", s.txn, "outcome", string(r.Outcome), "rc", r.Code}
	for _, t := range []struct{ tag, name string }{
		{hostlink.TagDelegation, "delegation"}, {hostlink.TagDelCap, "cap"}, {hostlink.TagDelReason, "reason"}, {hostlink.TagDelTries, "left"},
	} {
		if v := r.Data[t.tag]; v != "" {
			kv = append(kv, t.name, v)
		}
	}
	m.journal("DELEGATED-CHECK-REPLY", kv...)
	m.delCheckReply(r)
}

// delCheckReply decides what the host's answer to the check means.
func (m *Machine) delCheckReply(r Reply) {
	s := m.sess
	d := s.del
	switch r.Outcome {
	case Unavailable:
		m.notice("service-unavailable", display.Error, Ending)
		return
	case Unknown:
		m.notice("unable-to-complete", display.Error, Ending)
		return
	case CardRefused:
		m.notice("card-refused", display.Error, Ending)
		return
	}
	if r.Err != nil {
		m.notice("declined", display.Error, Ending)
		return
	}
	if r.Outcome == Approved {
		id := r.Data[hostlink.TagDelegation]
		c, err := strconv.ParseInt(r.Data[hostlink.TagDelCap], 10, 64)
		if id == "" || err != nil || c <= 0 {
			m.notice("declined", display.Error, Ending)
			return
		}
		d.id, d.cap = id, min(c, m.cfg.MaxAmount)
		m.goTo(DelAmount)
		return
	}
	if m.delRefused(r) {
		return
	}
	m.notice("declined", display.Error, Ending)
}

// delRefused handles the refusals of a code, at the check or at the
// withdrawal; it reports whether it did.
func (m *Machine) delRefused(r Reply) bool {
	d := m.sess.del
	switch r.Data[hostlink.TagDelReason] {
	case hostlink.DelWrong, hostlink.DelMismatch:
		d.wrong++
		left := m.cfg.MaxPINTries - d.wrong
		if v, err := strconv.Atoi(r.Data[hostlink.TagDelTries]); err == nil && v < left {
			left = v
		}
		if left <= 0 || m.state != DelCheck {
			m.notice("delegate-wrong", display.Error, Ending)
			return true
		}
		d.warn, d.left = "delegate-code-wrong", strconv.Itoa(left)
		m.goTo(DelCode)
	case hostlink.DelLocked:
		m.notice("delegate-locked", display.Error, Ending)
	case hostlink.DelUsed:
		m.notice("delegate-used", display.Error, Ending)
	case hostlink.DelExpired:
		m.notice("delegate-expired", display.Error, Ending)
	case hostlink.DelCancelled:
		m.notice("delegate-cancelled", display.Error, Ending)
	default:
		return false
	}
	return true
}

// delAmounts are the amount menu's choices: the fast amounts up to the
// cap, and the cap itself when it is not one of them and there is room.
func (m *Machine) delAmounts() []int64 {
	limit := m.sess.del.cap
	var out []int64
	for _, a := range m.cfg.FastAmounts {
		if a <= limit {
			out = append(out, a)
		}
	}
	if (len(out) == 0 || out[len(out)-1] != limit) && len(out) < len(fastKeys) && limit%m.cfg.Currency.Major() == 0 {
		out = append(out, limit)
	}
	return out
}

func enterDelAmount(m *Machine) {
	s := m.sess
	d := s.del
	l := s.lang
	id, tone := "delegate-amount", display.Info
	if d.warn != "" {
		id, tone, d.warn = d.warn, display.Warning, ""
	}
	sc := screen(id, l, tone, "cap", m.fmtAmount(d.cap), "amount", m.fmtAmount(s.amount))
	var items []display.MenuItem
	for i, a := range m.delAmounts() {
		items = append(items, display.MenuItem{Key: fastKeys[i], ID: "amount-" + strconv.FormatInt(a/m.cfg.Currency.Major(), 10), Label: m.fmtAmount(a)})
	}
	items = append(items, item("F4", "other", l), item("F8", "cancel", l))
	m.menu(sc, items...)
}

func onDelAmount(m *Machine, ev Event) {
	k, ok := pressed(ev)
	if !ok {
		return
	}
	as := m.delAmounts()
	for i, fk := range fastKeys {
		if i < len(as) && string(k) == fk {
			m.delChoose(as[i])
			return
		}
	}
	switch k {
	case pinpad.F4:
		m.goTo(DelOther)
	case pinpad.F8, pinpad.KeyCancel:
		m.delCancel()
	}
}

func enterDelOther(m *Machine) {
	s := m.sess
	l := s.lang
	s.input = ""
	sc := screen("delegate-other", l, display.Info, "unit", m.fmtAmount(m.unit()), "cap", m.fmtAmount(s.del.cap))
	sc.Input = &display.Input{Kind: display.Amount, Label: say("lbl-amount", l)}
	m.show(sc)
	maxLen := len(strconv.FormatInt(m.cfg.MaxAmount/m.cfg.Currency.Major(), 10)) + 1
	m.emit(Entry{Mode: EntryData, MaxLen: maxLen})
	m.timer(m.cfg.Timeouts.Entry)
}

func onDelOther(m *Machine, ev Event) {
	s := m.sess
	switch e := ev.(type) {
	case DataEntered:
		v, err := strconv.ParseInt(e.Data.Digits, 10, 64)
		if err != nil || v <= 0 {
			m.goTo(DelOther)
			return
		}
		a := v * m.cfg.Currency.Major()
		if a > s.del.cap {
			s.amount = a
			m.journal("DELEGATED-OVER-CAP", "amount", strconv.FormatInt(a, 10), "cap", strconv.FormatInt(s.del.cap, 10))
			s.del.warn = "delegate-over-cap"
			m.goTo(DelAmount)
			return
		}
		m.delChoose(a)
	case EntryCancelled:
		m.delCancel()
	case EntryFailed:
		m.journal("DEVICE-ERROR", "device", "pinpad", "error", errString(e.Err))
		m.goTo(Ending)
	}
}

// delChoose takes an amount within the cap: if the cassettes can make
// it, the withdrawal goes ahead with the delegate code as its "PIN".
func (m *Machine) delChoose(a int64) {
	s := m.sess
	s.amount = a
	mix, err := dispenser.Denominate(a, m.cfg.Currency.Alpha, m.health.Cassettes, m.cfg.MaxNotes)
	if a > m.cfg.MaxAmount || a > s.del.cap || err != nil {
		m.journal("AMOUNT-UNAVAILABLE", "amount", strconv.FormatInt(a, 10))
		s.del.warn = "delegate-amount-unavailable"
		m.goTo(DelAmount)
		return
	}
	m.newTxn(Withdrawal)
	s.amount, s.mix = a, mix
	s.pin = s.del.block
	m.journal("DELEGATED-WITHDRAWAL", "txn", s.txn, "delegation", s.del.id, "amount", strconv.FormatInt(a, 10))
	if !m.health.PrinterOK {
		s.receipt = false
		m.goTo(Authorizing)
		return
	}
	m.goTo(ReceiptChoice)
}

// delReply decides the host's answer to a delegated 0200: only the
// delegated withdrawal's outcomes, never a balance, a main menu or a
// second try at another service.
func (m *Machine) delReply(r Reply) {
	s := m.sess
	s.reply.HasBal = false
	if r.Reverse {
		m.reverse("unusable-approval", 0)
	}
	switch r.Outcome {
	case Approved:
		m.goTo(Dispensing)
		return
	case Unknown:
		m.reverse("timeout", 0)
		m.notice("unable-to-complete", display.Error, Ending)
		return
	case Unavailable:
		m.notice("service-unavailable", display.Error, Ending)
		return
	case CardRefused:
		m.notice("card-refused", display.Error, Ending)
		return
	}
	if m.delRefused(r) {
		return
	}
	switch r.Outcome {
	case InsufficientFunds:
		m.notice("insufficient-funds", display.Error, Ending, "amount", m.fmtAmount(s.amount))
	case LimitExceeded:
		m.notice("limit-exceeded", display.Error, Ending, "amount", m.fmtAmount(s.amount))
	default:
		m.notice("declined", display.Error, Ending)
	}
}

// captureEvidence asks for the evidence still of a withdrawal whose cash
// is being presented: the helper's face at a delegated withdrawal, the
// cardholder's when the face check is on.
func (m *Machine) captureEvidence() {
	s := m.sess
	var kind string
	switch {
	case s.kind != Withdrawal:
		return
	case s.del != nil:
		kind = hostlink.EvidenceDelegateFace
	case m.cfg.FaceCheck:
		kind = hostlink.EvidenceOwnerFace
	default:
		return
	}
	m.journal("EVIDENCE-CAPTURE", "txn", s.txn, "kind", kind)
	m.emit(Capture{Txn: s.txn, Kind: kind})
}

func init() {
	for id, t := range map[string]text{
		"delegate-code":               {"en": "Delegated withdrawal\nKey the delegate code the cardholder gave you, then press ENTER. Shield the keypad.", "zh-TW": "代領提款\n請輸入持卡人提供的代領碼，再按「確認」，並請遮蔽按鍵。"},
		"delegate-code-wrong":         {"en": "Incorrect delegate code\nKey the code again.\nAttempts left: {left}", "zh-TW": "代領碼錯誤\n請重新輸入代領碼。\n剩餘次數：{left}"},
		"delegate-amount":             {"en": "Delegated withdrawal\nSelect an amount, up to {cap}.", "zh-TW": "代領提款\n請選擇金額，最高{cap}。"},
		"delegate-over-cap":           {"en": "That is more than the delegate code allows\nSelect an amount up to {cap}.", "zh-TW": "超過代領碼的額度\n請選擇{cap}以內的金額。"},
		"delegate-amount-unavailable": {"en": "This amount cannot be dispensed\n{amount} is not available. Select another amount up to {cap}.", "zh-TW": "無法提領此金額\n無法提供{amount}，請選擇{cap}以內的其他金額。"},
		"delegate-other":              {"en": "Enter the amount\nMultiples of {unit}, up to {cap}", "zh-TW": "請輸入提款金額\n以{unit}為單位，最高{cap}"},
		"delegate-wrong":              {"en": "Incorrect delegate code\nThe withdrawal cannot be made. The cardholder has been told.", "zh-TW": "代領碼錯誤\n無法提款，已通知持卡人。"},
		"delegate-locked":             {"en": "Too many incorrect delegate codes\nThe code no longer works. The cardholder has been told.", "zh-TW": "代領碼錯誤次數過多\n此代領碼已失效，已通知持卡人。"},
		"delegate-used":               {"en": "This delegate code has already been used\nA code is good for one withdrawal. Ask the cardholder for a new one.", "zh-TW": "此代領碼已使用\n每組代領碼僅能提款一次，請向持卡人索取新的代領碼。"},
		"delegate-expired":            {"en": "This delegate code has expired\nAsk the cardholder for a new one.", "zh-TW": "此代領碼已過期\n請向持卡人索取新的代領碼。"},
		"delegate-cancelled":          {"en": "This delegate code was cancelled by the cardholder\nAsk the cardholder for a new one.", "zh-TW": "持卡人已取消此代領碼\n請向持卡人索取新的代領碼。"},
		"lbl-delegated":               {"en": "Delegated withdrawal", "zh-TW": "代領提款"},
		"lbl-delegate-code":           {"en": "Delegate code", "zh-TW": "代領碼"},
		"rcpt-delegated":              {"en": "DELEGATED WITHDRAWAL", "zh-TW": "代領提款"},
	} {
		catalogue[id] = t
	}
}
