package host

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/host/hsm"
	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/otp"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// actPurpose is the purpose of the codes and QR challenges of card
// activation (sim/host/otp).
const actPurpose = "activate"

// actIDLen is the length of an activation id: 16 hex characters, 64
// random bits.
const actIDLen = 16

// actStage is how far an activation has come.
type actStage int

const (
	actStarted     actStage = iota // ST answered: the identity is not checked yet
	actIdentified                  // identity checked (QR, or a code): the default PIN went to the phone
	actPINVerified                 // the default PIN was keyed right: the new PIN may be set
)

// actSession is one card activation dialogue, in memory only. Its mutex
// serialises the steps of one dialogue; the table's mutex guards the
// maps.
type actSession struct {
	id       string // the activation id (AI)
	cardID   string
	pan      string // compared with field 2 of every step; never logged
	terminal string
	expires  time.Time
	done     atomic.Bool // removed from the table: its steps answer AR=session

	mu          sync.Mutex
	stage       actStage
	challenge   string         // QR challenge id, "" when none
	idMatched   bool           // the non-app identity (ID) matched in this session
	codeChannel notify.Channel // where the last verification code went; "" when none was sent
}

// idFailures counts a card's wrong identities (ID steps) across
// sessions.
type idFailures struct {
	wrong int
	until time.Time // the identity check is locked until then
}

// activations is the host's table of live activation dialogues and of
// wrong identities per card. Open makes it; it is memory only, like the
// mobile service's codes and challenges it works with.
type activations struct {
	ttl        time.Duration // of a dialogue, from its start
	maxIDTries int           // wrong identities that lock a card's identity check
	idLockout  time.Duration // how long it stays locked

	mu       sync.Mutex
	sessions map[string]*actSession // by activation id
	idFails  map[string]*idFailures // by card id
}

func newActivations(ttl time.Duration, mc mobile.Config) *activations {
	return &activations{ttl: ttl, maxIDTries: mc.MaxCodeTries, idLockout: mc.LoginLockout,
		sessions: map[string]*actSession{}, idFails: map[string]*idFailures{}}
}

// start opens a dialogue for a card at a terminal, ending any earlier one
// of the same card, and forgets the expired ones.
func (a *activations) start(cardID, pan, terminal, challenge string, now time.Time) (*actSession, error) {
	b := make([]byte, actIDLen/2)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("host: activation id: %w", err)
	}
	s := &actSession{id: hex.EncodeToString(b), cardID: cardID, pan: pan, terminal: terminal,
		expires: now.Add(a.ttl), challenge: challenge}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, old := range a.sessions {
		if old.cardID == cardID || !now.Before(old.expires) {
			a.removeLocked(old)
		}
	}
	a.sessions[s.id] = s
	return s, nil
}

// get returns the live dialogue id of the card with pan at terminal.
func (a *activations) get(id, pan, terminal string, now time.Time) (*actSession, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[id]
	switch {
	case !ok:
		return nil, false
	case !now.Before(s.expires):
		a.removeLocked(s)
		return nil, false
	case s.pan != pan || s.terminal != terminal:
		return nil, false
	}
	return s, true
}

// remove ends a dialogue.
func (a *activations) remove(s *actSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.removeLocked(s)
}

func (a *activations) removeLocked(s *actSession) {
	if a.sessions[s.id] == s {
		delete(a.sessions, s.id)
	}
	s.done.Store(true)
}

// identityLocked reports whether a card's identity check is locked.
func (a *activations) identityLocked(cardID string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.idFails[cardID]
	return f != nil && now.Before(f.until)
}

// identityWrong counts a wrong identity for a card and returns the tries
// left, or locked when this one locks the card's identity check for
// idLockout (the count starts again afterwards).
func (a *activations) identityWrong(cardID string, now time.Time) (left int, locked bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.idFails[cardID]
	if f == nil {
		f = &idFailures{}
		a.idFails[cardID] = f
	}
	f.wrong++
	if f.wrong >= a.maxIDTries {
		f.wrong, f.until = 0, now.Add(a.idLockout)
		return 0, true
	}
	return a.maxIDTries - f.wrong, false
}

// identityRight clears a card's wrong identities.
func (a *activations) identityRight(cardID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.idFails, cardID)
}

// actRequest is a checked activation request.
type actRequest struct {
	*hostlink.Message
	step    string
	id      string         // AI; "" for ST
	channel notify.Channel // SC
	mobile  string         // ID: the number keyed, as E.164
	birth   string         // ID: the date keyed, YYYY-MM-DD
	pin2    []byte         // NP: the second entry's PIN block
}

// parseActivation checks a 0100 with processing code ProcActivation: the
// fields every step needs (2, 7, 11, 41), field 48 with a known step
// (AS), the activation id (AI) on every step after ST, and what the step
// itself needs. Errors wrap errFormat and name the field and tag, never
// a value.
func parseActivation(m *hostlink.Message) (*actRequest, error) {
	bad := func(field string) (*actRequest, error) {
		return nil, fmt.Errorf("%w: field %s", errFormat, field)
	}
	switch {
	case len(m.PAN) < 12 || len(m.PAN) > 19 || !isDigits(m.PAN):
		return bad("2")
	case m.ProcCode != hostlink.ProcActivation:
		return bad("3")
	case len(m.TransmitTime) != 10 || !isDigits(m.TransmitTime):
		return bad("7")
	case len(m.STAN) != 6 || !isDigits(m.STAN):
		return bad("11")
	case m.TerminalID == "":
		return bad("41")
	}
	tlv, err := hostlink.ParseTLV(m.Private)
	if err != nil {
		return bad("48")
	}
	r := &actRequest{Message: m}
	r.step, _ = tlv.Get(hostlink.TagActStep)
	switch r.step {
	case hostlink.StepStart:
	case hostlink.StepQRStatus, hostlink.StepSendCode, hostlink.StepVerifyCode, hostlink.StepIdentity,
		hostlink.StepDefaultPIN, hostlink.StepNewPIN, hostlink.StepCancel:
		id, _ := tlv.Get(hostlink.TagActID)
		if len(id) != actIDLen || !isHex(id) {
			return bad("48 " + hostlink.TagActID)
		}
		r.id = strings.ToLower(id)
	default:
		return bad("48 " + hostlink.TagActStep)
	}
	switch r.step {
	case hostlink.StepSendCode:
		switch ch, _ := tlv.Get(hostlink.TagActChannel); ch {
		case hostlink.ChannelPush:
			r.channel = notify.Push
		case hostlink.ChannelSMS:
			r.channel = notify.SMS
		default:
			return bad("48 " + hostlink.TagActChannel)
		}
	case hostlink.StepIdentity:
		mp, _ := tlv.Get(hostlink.TagActMobile)
		var ok bool
		if r.mobile, ok = normaliseMobile(mp); !ok {
			return bad("48 " + hostlink.TagActMobile)
		}
		bd, _ := tlv.Get(hostlink.TagActBirth)
		if r.birth, ok = birthDate(bd); !ok {
			return bad("48 " + hostlink.TagActBirth)
		}
	case hostlink.StepNewPIN:
		p2, _ := tlv.Get(hostlink.TagActPIN2)
		if len(p2) != 16 || !isHex(p2) {
			return bad("48 " + hostlink.TagActPIN2)
		}
		r.pin2, _ = hex.DecodeString(p2)
	}
	switch r.step {
	case hostlink.StepVerifyCode, hostlink.StepDefaultPIN, hostlink.StepNewPIN:
		if len(m.PINBlock) != 8 {
			return bad("52")
		}
	}
	return r, nil
}

// normaliseMobile turns the mobile number keyed at the ATM into E.164: a
// Taiwanese mobile number in local form, 09 and 8 digits, becomes
// +8869…; a number in international form (8–15 digits, country code
// first, such as 8869…) gets its '+'. Anything else is malformed.
func normaliseMobile(s string) (string, bool) {
	switch {
	case s == "" || !isDigits(s):
		return "", false
	case len(s) == 10 && strings.HasPrefix(s, "09"):
		return "+886" + s[1:], true
	case len(s) >= 8 && len(s) <= 15 && s[0] != '0':
		return "+" + s, true
	}
	return "", false
}

// birthDate turns a date keyed as YYYYMMDD into YYYY-MM-DD, the form of
// the customer records; a day that does not exist is malformed.
func birthDate(s string) (string, bool) {
	if len(s) != 8 || !isDigits(s) {
		return "", false
	}
	d, err := time.Parse("20060102", s)
	if err != nil {
		return "", false
	}
	return d.Format(time.DateOnly), true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// actResult is what a step decided: the response code, the reason (AR)
// and tags of the reply, what the log says, and whether the dialogue is
// over.
type actResult struct {
	rc     string
	reason string       // AR; "" for none
	tlv    hostlink.TLV // the step's reply tags (AI and AR are added)
	msg    string       // for the log: what happened, never a value
	end    bool         // forget the dialogue
	err    error        // a failure: rc 96, logged
}

func actOK(msg string, tlv ...hostlink.Element) actResult {
	return actResult{rc: hostlink.RCApproved, msg: msg, tlv: tlv}
}

func actRefuse(rc, reason, msg string) actResult { return actResult{rc: rc, reason: reason, msg: msg} }

func actFail(err error) actResult {
	return actResult{rc: hostlink.RCSystemError, msg: "activation step failed", err: err}
}

// actStep is the state of one activation request while it is decided.
type actStep struct {
	*actRequest
	ms   *mobile.Service
	acts *activations
	db   *store.Store
	wk   hsm.WorkingKeys
	card store.Card
	acct store.Account
	sess *actSession // nil for ST and for a step without a live dialogue
	now  time.Time
}

// activation answers a 0100 with processing code ProcActivation: one step
// of the card activation dialogue (see doc.go and docs/hostlink.md).
func (h *Host) activation(ctx context.Context, log zerolog.Logger, m *hostlink.Message) *hostlink.Message {
	resp := echo(m, hostlink.MTIAuthResponse)
	log = log.With().Str("pan", mask.PAN(m.PAN)).Logger()
	r, err := parseActivation(m)
	if err != nil {
		log.Warn().Err(err).Msg("activation request refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	log = log.With().Str("step", r.step).Logger()
	if r.id != "" {
		log = log.With().Str("activation", r.id).Logger()
	}
	st := &actStep{actRequest: r, now: h.clock.Now()}
	res := h.activationStep(ctx, st)
	if res.end && st.sess != nil {
		st.acts.remove(st.sess)
	}
	var tlv hostlink.TLV
	switch {
	case st.sess != nil && !st.sess.done.Load():
		tlv.Set(hostlink.TagActID, st.sess.id)
	case r.id != "":
		tlv.Set(hostlink.TagActID, r.id)
	}
	for _, e := range res.tlv {
		tlv.Set(e.Tag, e.Value)
	}
	if res.reason != "" {
		tlv.Set(hostlink.TagActReason, res.reason)
	}
	if resp.Private, err = tlv.Encode(); err != nil {
		res = actFail(err)
		resp.Private = ""
	}
	resp.RespCode = res.rc
	ev := log.Info()
	switch {
	case res.err != nil:
		ev = log.Error().Err(res.err)
	case res.rc == hostlink.RCSecurityViolation:
		ev = log.Warn()
	}
	if st.card.ID != "" {
		ev = ev.Str("card", st.card.ID)
	}
	if r.id == "" && st.sess != nil {
		ev = ev.Str("activation", st.sess.id) // the id ST gave
	}
	if res.reason != "" {
		ev = ev.Str("reason", res.reason)
	}
	ev.Str("rc", res.rc).Bool("ended", res.end).Msg(res.msg)
	return resp
}

// activationStep runs the checks every step shares, then the step.
func (h *Host) activationStep(ctx context.Context, st *actStep) actResult {
	var err error
	if st.ms, st.acts, err = h.activationState(); err != nil {
		return actFail(err)
	}
	if st.step == hostlink.StepCancel {
		return h.actCancel(st)
	}
	if st.db, err = h.store(); err != nil {
		return actFail(err)
	}
	var noKeys, noCard bool
	err = h.update(ctx, func(tx *store.Tx) error {
		var err error
		st.wk, err = h.txKeys(ctx, tx, st.TerminalID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			noKeys = true
			return nil
		case err != nil:
			return err
		}
		st.card, st.acct, err = tx.CardAndAccountByPAN(ctx, st.PAN)
		if errors.Is(err, store.ErrNotFound) {
			noCard = true
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return actFail(err)
	case noKeys:
		return actRefuse(hostlink.RCSecurityViolation, "", "activation refused: the terminal has no working keys; it must exchange keys first")
	}
	if st.step != hostlink.StepStart {
		s, ok := st.acts.get(st.id, st.PAN, st.TerminalID, st.now)
		if !ok {
			return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonSession, "no such activation for this card and terminal")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.done.Load() {
			return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonSession, "activation ended meanwhile")
		}
		st.sess = s
	}
	if res, ok := actCardRefusal(st.card, noCard, st.now); !ok {
		res.end = true
		return res
	}
	if st.sess != nil && st.sess.cardID != st.card.ID {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonSession, "activation is another card's")
	}
	switch st.step {
	case hostlink.StepStart:
		return h.actStart(ctx, st)
	case hostlink.StepQRStatus:
		return h.actQRStatus(ctx, st)
	case hostlink.StepSendCode:
		return h.actSendCode(ctx, st)
	case hostlink.StepVerifyCode:
		return h.actVerifyCode(ctx, st)
	case hostlink.StepIdentity:
		return h.actIdentity(ctx, st)
	case hostlink.StepDefaultPIN:
		return h.actDefaultPIN(ctx, st)
	case hostlink.StepNewPIN:
		return h.actNewPIN(ctx, st)
	}
	return actFail(fmt.Errorf("host: activation step %q not handled", st.step))
}

// activationState returns the mobile service and the activation table
// of the open host.
func (h *Host) activationState() (*mobile.Service, *activations, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db == nil {
		return nil, nil, ErrNotOpen
	}
	return h.mobile, h.acts, nil
}

// actCardRefusal decides whether a card may be activated: only a known
// card in status new and not past its expiry. ok is false with the
// refusal otherwise.
func actCardRefusal(c store.Card, unknown bool, now time.Time) (actResult, bool) {
	switch {
	case unknown:
		return actRefuse(hostlink.RCNoSuchCard, hostlink.ReasonUnknownCard, "activation refused: unknown card"), false
	case c.Status == seed.StatusBlocked:
		return actRefuse(hostlink.RCRestrictedCard, hostlink.ReasonBlocked, "activation refused: card blocked"), false
	case c.Status == seed.StatusExpired || expired(c.Expiry, now):
		return actRefuse(hostlink.RCExpiredCard, hostlink.ReasonCardExpired, "activation refused: card expired"), false
	case c.Status == seed.StatusActive:
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonActive, "activation refused: card already active"), false
	case c.Status != seed.StatusNew:
		return actRefuse(hostlink.RCRestrictedCard, hostlink.ReasonBlocked, "activation refused: card in unknown state"), false
	}
	return actResult{}, true
}

// appMode is the AM value of an app state.
func appMode(a mobile.AppState) string {
	switch {
	case a.User == "":
		return hostlink.ModeNoApp
	case a.Ready():
		return hostlink.ModeReady
	case a.LoggedIn && a.Intent:
		return hostlink.ModeUnbound
	}
	return hostlink.ModeLogin
}

// actStart (ST) opens a dialogue for a new card and tells the ATM how the
// customer can prove who they are; a customer ready in the app gets a QR
// challenge.
func (h *Host) actStart(ctx context.Context, st *actStep) actResult {
	app, err := st.ms.Activation.Check(ctx, st.card.ID)
	if err != nil {
		return actFail(err)
	}
	mode := appMode(app)
	tlv := hostlink.TLV{{Tag: hostlink.TagActMode, Value: mode}}
	var challenge string
	if mode == hostlink.ModeReady {
		ch, payload, err := st.ms.Challenges.Issue(ctx, actPurpose, st.card.ID, st.TerminalID)
		if err != nil {
			return actFail(err)
		}
		challenge = ch.ID
		tlv.Set(hostlink.TagActQR, payload)
	}
	if st.sess, err = st.acts.start(st.card.ID, st.PAN, st.TerminalID, challenge, st.now); err != nil {
		return actFail(err)
	}
	return actOK("activation started, app mode "+mode, tlv...)
}

// actQRStatus (QS) reports whether the app has submitted the QR
// challenge; once it has, it spends the challenge, which checks the
// identity, and sends the default PIN to the app.
func (h *Host) actQRStatus(ctx context.Context, st *actStep) actResult {
	s := st.sess
	if s.challenge == "" {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "QR status asked, but no QR challenge was issued")
	}
	ch, err := st.ms.Challenges.Status(ctx, s.challenge)
	state := ch.State
	switch {
	case errors.Is(err, otp.ErrNotFound):
		state = otp.StateExpired // forgotten some time after it expired
	case err != nil:
		return actFail(err)
	}
	if state == otp.StateUsed {
		r := actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonSession, "QR challenge already used")
		r.end = true
		return r
	}
	if s.stage != actStarted {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "QR status asked after the identity check")
	}
	qx := func(v, msg string) actResult {
		return actOK(msg, hostlink.Element{Tag: hostlink.TagActQRState, Value: v})
	}
	switch state {
	case otp.StatePending:
		return qx(hostlink.QRPending, "QR challenge pending")
	case otp.StateVerified:
	default:
		return qx(hostlink.QRExpired, "QR challenge expired")
	}
	err = st.ms.Challenges.Redeem(ctx, s.challenge, actPurpose, st.card.ID, st.TerminalID)
	switch {
	case errors.Is(err, otp.ErrExpired):
		return qx(hostlink.QRExpired, "QR challenge expired before it was redeemed")
	case errors.Is(err, otp.ErrUsed), errors.Is(err, otp.ErrMismatch), errors.Is(err, otp.ErrNotFound):
		r := actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonSession, "QR challenge cannot be redeemed")
		r.end = true
		return r
	case err != nil:
		return actFail(err)
	}
	if err := st.ms.Notify.DefaultPIN(ctx, st.card.ID, notify.Push); err != nil {
		return actFail(err)
	}
	s.stage = actIdentified
	return actOK("identity checked by QR; default PIN sent by push",
		hostlink.Element{Tag: hostlink.TagActQRState, Value: hostlink.QRVerified},
		hostlink.Element{Tag: hostlink.TagActChannel, Value: hostlink.ChannelPush})
}

// actSendCode (SC) sends a verification code: by push only to a customer
// ready in the app now, by SMS only after the identity matched.
func (h *Host) actSendCode(ctx context.Context, st *actStep) actResult {
	s := st.sess
	if s.stage != actStarted {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "code asked after the identity check")
	}
	var tlv hostlink.TLV
	switch st.channel {
	case notify.Push:
		app, err := st.ms.Activation.Check(ctx, st.card.ID)
		if err != nil {
			return actFail(err)
		}
		if !app.Ready() {
			return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonNoApp, "push code asked, but the app is not ready for this card")
		}
		tlv.Set(hostlink.TagActChannel, hostlink.ChannelPush)
	case notify.SMS:
		if !s.idMatched {
			return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "SMS code asked before the identity matched")
		}
		phone, err := h.actPhone(ctx, st)
		if err != nil {
			return actFail(err)
		}
		tlv.Set(hostlink.TagActChannel, hostlink.ChannelSMS)
		tlv.Set(hostlink.TagActPhone, phone)
	}
	err := st.ms.Codes.Send(ctx, st.card.ID, st.channel, actPurpose)
	switch {
	case errors.Is(err, mobile.ErrNoApp):
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonNoApp, "push code asked for a customer without the app")
	case err != nil:
		return actFail(err)
	}
	s.codeChannel = st.channel
	return actOK("verification code sent by "+string(st.channel), tlv...)
}

// actPhone returns the last four digits of the card's customer's phone
// on file.
func (h *Host) actPhone(ctx context.Context, st *actStep) (string, error) {
	cu, err := st.db.Customer(ctx, st.acct.CustomerID)
	if err != nil {
		return "", err
	}
	return phoneLast4(cu)
}

// phoneLast4 returns the last four digits of a customer's phone on file.
func phoneLast4(cu store.Customer) (string, error) {
	if len(cu.Phone) < 4 {
		return "", fmt.Errorf("host: customer %s: phone on file too short", cu.ID)
	}
	return cu.Phone[len(cu.Phone)-4:], nil
}

// actVerifyCode (VC) checks the code keyed as a PIN block; a right one
// checks the identity, and the default PIN goes where the code went.
func (h *Host) actVerifyCode(ctx context.Context, st *actStep) actResult {
	s := st.sess
	if s.stage != actStarted || s.codeChannel == "" {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "code keyed, but none was sent in this activation")
	}
	code, err := h.hsm.OpenPINBlock(st.wk, st.PAN, st.PINBlock)
	switch {
	case errors.Is(err, hsm.ErrBlock):
		return actRefuse(hostlink.RCSecurityViolation, "", "code block does not open under the terminal's PIN key")
	case err != nil:
		return actFail(err)
	}
	err = st.ms.Codes.Verify(ctx, st.card.ID, actPurpose, code)
	pinblock.Wipe(code)
	var wrong *otp.WrongCodeError
	switch {
	case errors.As(err, &wrong):
		r := actRefuse(hostlink.RCWrongPIN, "", "wrong verification code")
		r.tlv = hostlink.TLV{{Tag: hostlink.TagActTries, Value: strconv.Itoa(wrong.TriesLeft)}}
		return r
	case errors.Is(err, otp.ErrLocked):
		r := actRefuse(hostlink.RCPINTriesExceeded, hostlink.ReasonLocked, "verification code locked after too many wrong tries")
		r.end = true
		return r
	case errors.Is(err, otp.ErrExpired):
		return actRefuse(hostlink.RCDoNotHonour, hostlink.ReasonCodeExpired, "verification code expired")
	case errors.Is(err, otp.ErrUsed), errors.Is(err, otp.ErrNotFound):
		return actRefuse(hostlink.RCDoNotHonour, hostlink.ReasonNoCode, "no live verification code")
	case err != nil:
		return actFail(err)
	}
	tlv := hostlink.TLV{{Tag: hostlink.TagActChannel, Value: string(s.codeChannel)}}
	if s.codeChannel == notify.SMS {
		phone, err := h.actPhone(ctx, st)
		if err != nil {
			return actFail(err)
		}
		tlv.Set(hostlink.TagActPhone, phone)
	}
	if err := st.ms.Notify.DefaultPIN(ctx, st.card.ID, s.codeChannel); err != nil {
		return actFail(err)
	}
	s.stage, s.challenge = actIdentified, ""
	return actOK("identity checked by code; default PIN sent by "+string(s.codeChannel), tlv...)
}

// actIdentity (ID) compares the mobile number and birth date keyed by a
// customer without the app with the bank's records; when both match it
// sends an SMS code. Wrong identities count per card across dialogues.
func (h *Host) actIdentity(ctx context.Context, st *actStep) actResult {
	s := st.sess
	if s.stage != actStarted || s.idMatched {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "identity keyed out of order")
	}
	if st.acts.identityLocked(st.card.ID, st.now) {
		r := actRefuse(hostlink.RCPINTriesExceeded, hostlink.ReasonLocked, "identity check locked for this card")
		r.end = true
		return r
	}
	cu, err := st.db.Customer(ctx, st.acct.CustomerID)
	if err != nil {
		return actFail(err)
	}
	same := subtle.ConstantTimeCompare([]byte(st.mobile), []byte(cu.Phone)) &
		subtle.ConstantTimeCompare([]byte(st.birth), []byte(cu.BirthDate))
	if same != 1 {
		// Which of the two failed is told to no one, not even the log.
		left, locked := st.acts.identityWrong(st.card.ID, st.now)
		if locked {
			r := actRefuse(hostlink.RCPINTriesExceeded, hostlink.ReasonLocked, "identity mismatch; identity check locked for this card")
			r.end = true
			return r
		}
		r := actRefuse(hostlink.RCDoNotHonour, hostlink.ReasonMismatch, "identity mismatch")
		r.tlv = hostlink.TLV{{Tag: hostlink.TagActTries, Value: strconv.Itoa(left)}}
		return r
	}
	st.acts.identityRight(st.card.ID)
	s.idMatched = true
	phone, err := phoneLast4(cu)
	if err != nil {
		return actFail(err)
	}
	if err := st.ms.Codes.Send(ctx, st.card.ID, notify.SMS, actPurpose); err != nil {
		return actFail(err)
	}
	s.codeChannel = notify.SMS
	return actOK("identity matched; verification code sent by sms",
		hostlink.Element{Tag: hostlink.TagActChannel, Value: hostlink.ChannelSMS},
		hostlink.Element{Tag: hostlink.TagActPhone, Value: phone})
}

// actDefaultPIN (DP) verifies the default PIN the phone received, with
// the card's PIN verification value and wrong-PIN count, as a 0200 does.
func (h *Host) actDefaultPIN(ctx context.Context, st *actStep) actResult {
	s := st.sess
	if s.stage != actIdentified {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "default PIN keyed before the identity check")
	}
	var res actResult
	err := h.update(ctx, func(tx *store.Tx) error {
		card, err := tx.CardByPAN(ctx, st.PAN)
		if err != nil {
			return err
		}
		if r, ok := actCardRefusal(card, false, st.now); !ok {
			r.end, res = true, r
			return nil
		}
		rc, why, err := h.verifyPIN(ctx, tx, st.wk, card, st.PINBlock)
		if err != nil {
			return err
		}
		switch rc {
		case "":
			res = actOK("default PIN right")
		case hostlink.RCWrongPIN:
			res = actRefuse(rc, "", why)
			res.tlv = hostlink.TLV{{Tag: hostlink.TagActTries, Value: strconv.Itoa(h.cfg.MaxPINTries - card.PINTries - 1)}}
		case hostlink.RCPINTriesExceeded:
			res = actRefuse(rc, hostlink.ReasonPINTries, why)
			res.end = true
		default:
			res = actRefuse(rc, "", why)
		}
		return nil
	})
	if err != nil {
		return actFail(err)
	}
	if res.rc == hostlink.RCApproved {
		s.stage = actPINVerified
	}
	return res
}

// actNewPIN (NP) sets the PIN the customer chose, entered twice: the two
// entries must agree and the PIN must not be weak; then, in one store
// update, its PVV replaces the default PIN's and the card becomes active.
func (h *Host) actNewPIN(ctx context.Context, st *actStep) actResult {
	s := st.sess
	if s.stage != actPINVerified {
		return actRefuse(hostlink.RCInvalidTxn, hostlink.ReasonOrder, "new PIN keyed before the default PIN")
	}
	first, err := h.hsm.OpenPINBlock(st.wk, st.PAN, st.PINBlock)
	if err == nil {
		defer pinblock.Wipe(first)
		var second []byte
		second, err = h.hsm.OpenPINBlock(st.wk, st.PAN, st.pin2)
		if err == nil {
			same := subtle.ConstantTimeCompare(first, second)
			pinblock.Wipe(second)
			if same != 1 {
				return actRefuse(hostlink.RCDoNotHonour, hostlink.ReasonPINMismatch, "the two new PIN entries differ")
			}
		}
	}
	switch {
	case errors.Is(err, hsm.ErrBlock):
		return actRefuse(hostlink.RCSecurityViolation, "", "new PIN block does not open under the terminal's PIN key")
	case err != nil:
		return actFail(err)
	}
	if weakPIN(first) {
		return actRefuse(hostlink.RCDoNotHonour, hostlink.ReasonWeakPIN, "new PIN refused: too easy to guess")
	}
	pvv, err := h.hsm.PVV(st.PAN, first)
	if err != nil {
		return actFail(err)
	}
	var res actResult
	err = h.update(ctx, func(tx *store.Tx) error {
		card, err := tx.CardByPAN(ctx, st.PAN)
		if err != nil {
			return err
		}
		if r, ok := actCardRefusal(card, false, st.now); !ok {
			r.end, res = true, r
			return nil
		}
		if hmac.Equal(pvv, card.PVV) {
			res = actRefuse(hostlink.RCDoNotHonour, hostlink.ReasonWeakPIN, "new PIN refused: it is the default PIN")
			return nil
		}
		if err := tx.ActivateCard(ctx, card.ID, pvv); err != nil {
			return err
		}
		res = actOK("card activated with the customer's PIN")
		res.end = true
		return nil
	})
	if err != nil {
		return actFail(err)
	}
	return res
}

// weakPIN reports whether a PIN is one digit repeated or a straight run
// up or down (1234, 9876).
func weakPIN(d []byte) bool {
	same, up, down := true, true, true
	for i := 1; i < len(d); i++ {
		same = same && d[i] == d[0]
		up = up && d[i] == d[i-1]+1
		down = down && d[i]+1 == d[i-1]
	}
	return same || up || down
}

// actCancel (CX) forgets the dialogue. It answers 00 whatever the
// activation id: cancelling is idempotent, and a dialogue of another card
// or terminal is left alone.
func (h *Host) actCancel(st *actStep) actResult {
	if s, ok := st.acts.get(st.id, st.PAN, st.TerminalID, st.now); ok {
		st.acts.remove(s)
		st.card.ID = s.cardID // for the log
		return actOK("activation cancelled")
	}
	return actOK("cancel of an activation not live: nothing to do")
}
