package host

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/hsm"
	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Delegated withdrawal (DESIGN.md §2, document 004), the host's side of
// the ATM dialogue: the check (0100, processing code 940000), the
// withdrawal (a 0200 with field 48 tag DG) and the messages to the
// cardholder. The codes are the delegate.Book's; the evidence stills
// are in evidence.go. See doc.go and docs/hostlink.md, section 6e.

// delDecision is what the host decided about a delegated 0200, for the
// reply's field 48 and the messages sent once it is committed.
type delDecision struct {
	reason string // hostlink.Del*; "" when approved or refused for another cause
	left   int    // wrong codes left, when reason is DelWrong; -1: not told
	res    delegate.Result
	card   store.Card
	amount int64 // approved amount, minor units
	cur    string
}

// delegateBook returns the book of the open host.
func (h *Host) delegateBook() (*delegate.Book, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db == nil {
		return nil, ErrNotOpen
	}
	return h.delegates, nil
}

// validDelegationID reports whether s is a code id as delegate.Book
// makes them: "D" and 10 upper-case hex digits.
func validDelegationID(s string) bool {
	if len(s) != 11 || s[0] != 'D' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'A' || s[i] > 'F') {
			return false
		}
	}
	return true
}

// delCardRefusal is the response code for a card that cannot take a
// delegated withdrawal, "" for one that can: an active card within its
// expiry.
func (h *Host) delCardRefusal(c store.Card, now time.Time) (rc, why string) {
	switch {
	case c.Status == seed.StatusBlocked && c.PINTries >= h.cfg.MaxPINTries:
		return hostlink.RCPINTriesExceeded, "card blocked by wrong PINs"
	case c.Status == seed.StatusBlocked:
		return hostlink.RCRestrictedCard, "card blocked"
	case c.Status == seed.StatusExpired || expired(c.Expiry, now):
		return hostlink.RCExpiredCard, "card expired"
	case c.Status == seed.StatusNew:
		return hostlink.RCNotPermitted, "card not activated"
	case c.Status != seed.StatusActive:
		return hostlink.RCRestrictedCard, "card in unknown state"
	}
	return "", ""
}

// deadReason maps the state of a dead code to its reason and response
// code.
func deadReason(st store.DelegateState) (rc, reason string) {
	switch st {
	case store.DelegateUsed:
		return hostlink.RCDoNotHonour, hostlink.DelUsed
	case store.DelegateCancelled:
		return hostlink.RCDoNotHonour, hostlink.DelCancelled
	case store.DelegateLocked:
		return hostlink.RCPINTriesExceeded, hostlink.DelLocked
	}
	return hostlink.RCDoNotHonour, hostlink.DelExpired
}

// checkDelegate validates a 0100 with processing code ProcDelegateCheck:
// fields 2, 7, 11, 41 and a PIN block in 52. Errors name fields only.
func checkDelegate(m *hostlink.Message) error {
	bad := func(field string) error { return fmt.Errorf("%w: field %s", errFormat, field) }
	switch {
	case len(m.PAN) < 12 || len(m.PAN) > 19 || !isDigits(m.PAN):
		return bad("2")
	case len(m.TransmitTime) != 10 || !isDigits(m.TransmitTime):
		return bad("7")
	case len(m.STAN) != 6 || !isDigits(m.STAN):
		return bad("11")
	case m.TerminalID == "":
		return bad("41")
	case len(m.PINBlock) != 8:
		return bad("52")
	}
	if m.Private != "" {
		if _, err := hostlink.ParseTLV(m.Private); err != nil {
			return bad("48")
		}
	}
	return nil
}

// delegateCheck answers a 0100 with processing code ProcDelegateCheck:
// is the delegate code keyed (field 52) right for this card, and what is
// its cap? It spends nothing; a wrong code counts against the card's
// live codes and alerts the cardholder.
func (h *Host) delegateCheck(ctx context.Context, log zerolog.Logger, m *hostlink.Message) *hostlink.Message {
	resp := echo(m, hostlink.MTIAuthResponse)
	log = log.With().Str("pan", mask.PAN(m.PAN)).Logger()
	if err := checkDelegate(m); err != nil {
		log.Warn().Err(err).Msg("delegate check refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	book, err := h.delegateBook()
	if err != nil {
		log.Error().Err(err).Msg("delegate check failed")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	now := h.clock.Now()
	var (
		res                    delegate.Result
		card                   store.Card
		rc, why                string
		noKeys, noCard, badBlk bool
	)
	err = h.update(ctx, func(tx *store.Tx) error {
		wk, err := h.txKeys(ctx, tx, m.TerminalID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			noKeys = true
			return nil
		case err != nil:
			return err
		}
		card, _, err = tx.CardAndAccountByPAN(ctx, m.PAN)
		switch {
		case errors.Is(err, store.ErrNotFound):
			noCard = true
			return nil
		case err != nil:
			return err
		}
		if rc, why = h.delCardRefusal(card, now); rc != "" {
			return nil
		}
		digits, err := h.hsm.OpenPINBlock(wk, m.PAN, m.PINBlock)
		switch {
		case errors.Is(err, hsm.ErrBlock):
			badBlk = true
			return nil
		case err != nil:
			return err
		}
		defer pinblock.Wipe(digits)
		res, err = book.Check(ctx, tx, card.ID, digits, now)
		return err
	})
	var tlv hostlink.TLV
	ev := log.Info()
	switch {
	case err != nil:
		log.Error().Err(err).Msg("delegate check failed")
		resp.RespCode = hostlink.RCSystemError
		return resp
	case noKeys:
		log.Warn().Msg("delegate check refused: the terminal has no working keys; it must exchange keys first")
		resp.RespCode = hostlink.RCSecurityViolation
		return resp
	case noCard:
		resp.RespCode, why = hostlink.RCNoSuchCard, "unknown card"
	case rc != "":
		resp.RespCode = rc
	case badBlk:
		ev = log.Warn()
		resp.RespCode, why = hostlink.RCSecurityViolation, "code block does not open under the terminal's PIN key"
	default:
		resp.RespCode, why, tlv = h.delegateAnswer(res)
		if res.Outcome == delegate.Match {
			cur, cerr := currency.ByAlpha(res.Code.Currency)
			if cerr != nil {
				log.Error().Err(cerr).Str("code", res.Code.ID).Msg("delegate check failed")
				resp.RespCode, tlv = hostlink.RCSystemError, nil
				break
			}
			resp.Currency = cur.Numeric
		}
		ev = ev.Str("code", res.Code.ID)
	}
	if len(tlv) > 0 {
		if resp.Private, err = tlv.Encode(); err != nil {
			log.Error().Err(err).Msg("delegate check failed")
			resp.RespCode, resp.Private = hostlink.RCSystemError, ""
			return resp
		}
	}
	if card.ID != "" {
		ev = ev.Str("card", card.ID)
	}
	ev.Str("rc", resp.RespCode).Msg("delegate check: " + why)
	if card.ID != "" && rc == "" && !badBlk {
		h.tellDelegateOutcome(ctx, log, card, res, m.TerminalID, now, 0, "")
	}
	return resp
}

// delegateAnswer is the response code, the log's word and the field 48
// of a checked code.
func (h *Host) delegateAnswer(res delegate.Result) (rc, why string, tlv hostlink.TLV) {
	switch res.Outcome {
	case delegate.Match:
		c := res.Code
		return hostlink.RCApproved, "code right", hostlink.TLV{
			{Tag: hostlink.TagDelegation, Value: c.ID},
			{Tag: hostlink.TagDelCap, Value: strconv.FormatInt(c.Cap, 10)},
			{Tag: hostlink.TagDelExpires, Value: c.Expires.UTC().Format("20060102150405")},
		}
	case delegate.Dead:
		rc, reason := deadReason(res.State)
		return rc, "code " + string(res.State), hostlink.TLV{{Tag: hostlink.TagDelReason, Value: reason}}
	case delegate.Locked:
		return hostlink.RCPINTriesExceeded, "wrong code; the card's delegate codes are locked",
			hostlink.TLV{{Tag: hostlink.TagDelReason, Value: hostlink.DelLocked}}
	}
	tlv = hostlink.TLV{{Tag: hostlink.TagDelReason, Value: hostlink.DelWrong}}
	if res.Left >= 0 {
		tlv.Set(hostlink.TagDelTries, strconv.Itoa(res.Left))
	}
	return hostlink.RCWrongPIN, "wrong code", tlv
}

// authoriseDelegated decides a delegated 0200 (field 48 DG) inside tx,
// after the card checks of authorise: field 52 is the delegate code, not
// a PIN. An approval debits the account, issues the dispense token and,
// in the same transaction, spends the code: of two withdrawals racing
// with one code exactly one commits.
func (h *Host) authoriseDelegated(ctx context.Context, log zerolog.Logger, tx *store.Tx, req *request, wk hsm.WorkingKeys,
	e store.Entry, card store.Card, acct store.Account) (store.Entry, error) {
	d := &delDecision{left: -1, card: card}
	req.del = d
	now := h.clock.Now()
	log = log.With().Str("delegation", req.delegation).Logger()
	decline := func(rc, reason, why string) (store.Entry, error) {
		log.Info().Str("rc", rc).Str("card", e.CardID).Msg("delegated withdrawal refused: " + why)
		d.reason = reason
		e.RespCode = rc
		return tx.Append(ctx, e)
	}
	book, err := h.delegateBook()
	if err != nil {
		return store.Entry{}, err
	}
	digits, err := h.hsm.OpenPINBlock(wk, req.PAN, req.PINBlock)
	switch {
	case errors.Is(err, hsm.ErrBlock):
		return decline(hostlink.RCSecurityViolation, "", "code block does not open under the terminal's PIN key")
	case err != nil:
		return store.Entry{}, err
	}
	d.res, err = book.Check(ctx, tx, card.ID, digits, now)
	pinblock.Wipe(digits)
	if err != nil {
		return store.Entry{}, err
	}
	switch res := d.res; res.Outcome {
	case delegate.Wrong:
		d.left = res.Left
		return decline(hostlink.RCWrongPIN, hostlink.DelWrong, "wrong code")
	case delegate.Locked:
		return decline(hostlink.RCPINTriesExceeded, hostlink.DelLocked, "wrong code; the card's delegate codes are locked")
	case delegate.Dead:
		rc, reason := deadReason(res.State)
		return decline(rc, reason, "code "+string(res.State))
	}
	code := d.res.Code
	if code.ID != req.delegation {
		return decline(hostlink.RCWrongPIN, hostlink.DelMismatch, "the code keyed is not the code named in field 48")
	}
	switch {
	case req.currency.Alpha != acct.Currency || code.Currency != acct.Currency:
		return decline(hostlink.RCInvalidAmount, "", "currency is not the account's")
	case req.Amount <= 0 || req.Amount%req.currency.Major() != 0:
		return decline(hostlink.RCInvalidAmount, "", "amount is not a positive whole number of major units")
	case req.Amount > code.Cap:
		return decline(hostlink.RCExceedsLimit, hostlink.DelOverCap, "amount over the code's cap")
	case req.Amount > acct.Balance:
		return decline(hostlink.RCInsufficientFunds, "", "insufficient funds")
	}
	today, err := tx.Withdrawn(ctx, acct.ID, e.Day)
	if err != nil {
		return store.Entry{}, err
	}
	if today+req.Amount > acct.DailyLimit {
		return decline(hostlink.RCExceedsLimit, "", "daily limit exceeded")
	}
	if e.Balance, err = tx.AddBalance(ctx, acct.ID, -req.Amount); err != nil {
		return store.Entry{}, err
	}
	e.RespCode = hostlink.RCApproved
	e.AuthCode = authCode()
	e.Token, err = h.hsm.DispenseToken(wk, dispenser.TokenData{
		ATM: req.TerminalID, Txn: req.STAN, Amount: req.Amount, Currency: req.currency.Alpha, Nonce: req.nonce,
	})
	if err != nil {
		return store.Entry{}, err
	}
	if e, err = tx.Append(ctx, e); err != nil {
		return store.Entry{}, err
	}
	if err := book.Use(ctx, tx, code.ID, e.ID, req.TerminalID, now); err != nil {
		return store.Entry{}, err
	}
	d.amount, d.cur = req.Amount, req.currency.Alpha
	log.Info().Str("card", e.CardID).Str("rrn", e.RRN).Int64("ledger_id", e.ID).Msg("delegated withdrawal approved; delegate code used")
	return e, nil
}

// delegatedReply completes the 0210 of a delegated withdrawal decided
// now: the reason of a refusal in field 48 (an approval has the token
// there already), and never a balance — the helper sees only the
// delegated withdrawal.
func delegatedReply(resp *hostlink.Message, req *request) error {
	resp.AddAmounts = ""
	d := req.del
	if d == nil || d.reason == "" {
		return nil
	}
	tlv := hostlink.TLV{{Tag: hostlink.TagDelReason, Value: d.reason}}
	if d.reason == hostlink.DelWrong && d.left >= 0 {
		tlv.Set(hostlink.TagDelTries, strconv.Itoa(d.left))
	}
	var err error
	resp.Private, err = tlv.Encode()
	return err
}

// afterDelegated tells the cardholder what a delegated 0200 decided,
// once it is committed.
func (h *Host) afterDelegated(ctx context.Context, log zerolog.Logger, req *request) {
	d := req.del
	if d == nil || d.card.ID == "" || d.reason == hostlink.DelOverCap || d.reason == hostlink.DelMismatch {
		return
	}
	if d.reason == "" && d.amount == 0 {
		return // refused for the card or the account, not the code
	}
	h.tellDelegateOutcome(ctx, log, d.card, d.res, req.TerminalID, h.clock.Now(), d.amount, d.cur)
}

// tellDelegateOutcome sends the cardholder a message about a code keyed
// with their card: an alert for a wrong or dead code (at once, whatever
// the ATM does next), a notice when a withdrawal with a code was
// approved (amount > 0). A failure to send is logged; the answer to the
// ATM does not wait for it.
func (h *Host) tellDelegateOutcome(ctx context.Context, log zerolog.Logger, card store.Card, res delegate.Result,
	terminal string, now time.Time, amount int64, cur string) {
	ms, err := h.Mobile()
	if err != nil {
		return
	}
	where := fmt.Sprintf("with your card ending %s at ATM %s at %s", last4(card.PAN), terminal, now.Format("15:04"))
	kind, text := notify.KindAlert, ""
	switch res.Outcome {
	case delegate.Match:
		if amount <= 0 {
			return // a right code at the check: nothing to tell yet
		}
		c, err := currency.ByAlpha(cur)
		if err != nil {
			return
		}
		kind = notify.KindNotice
		text = fmt.Sprintf("atmd bank: your delegate code %s was used %s: %s withdrawn. The code no longer works.",
			res.Code.ID, where, c.Format(amount))
	case delegate.Wrong:
		text = "atmd bank: a wrong delegate code was keyed " + where + "."
		if res.Left >= 0 {
			text += fmt.Sprintf(" %d more wrong codes and your delegate codes for this card stop working.", res.Left)
		}
		text += " If you did not expect this, cancel your codes in the app."
	case delegate.Locked:
		text = "atmd bank: too many wrong delegate codes were keyed " + where + ". Your delegate codes for this card no longer work."
	case delegate.Dead:
		text = fmt.Sprintf("atmd bank: your delegate code %s was keyed %s, but it is %s: nothing was paid out.",
			res.Code.ID, where, res.State)
	}
	ch, err := ms.Notify.Owner(ctx, card.ID, kind, text)
	if err != nil && !errors.Is(err, mobile.ErrNoApp) {
		log.Error().Err(err).Str("card", card.ID).Msg("could not tell the cardholder about a delegate code")
		return
	}
	log.Info().Str("card", card.ID).Str("channel", string(ch)).Str("kind", string(kind)).Msg("cardholder told about a delegate code")
}

// last4 returns the last four digits of a PAN.
func last4(pan string) string {
	if len(pan) < 4 {
		return pan
	}
	return pan[len(pan)-4:]
}

// DelegateCodes returns every delegate code, oldest first, states as
// stored (a live code may be past its expiry: store.DelegateCode.StateAt).
func (h *Host) DelegateCodes(ctx context.Context) ([]store.DelegateCode, error) {
	db, err := h.store()
	if err != nil {
		return nil, err
	}
	cs, err := db.DelegateCodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return cs, nil
}

// Delegates returns the book of delegate codes (sim/host/delegate): the
// Go API behind the app's /v1/delegates endpoints.
func (h *Host) Delegates() (*delegate.Book, error) { return h.delegateBook() }
