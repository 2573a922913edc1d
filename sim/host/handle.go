package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/admin"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/sim/host/hsm"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Handle answers one request; it implements hostlink.Handler. It never
// returns an error: what goes wrong becomes a response code (96 when the
// database fails). It returns nil, sending nothing, only for a message
// that is not a request.
func (h *Host) Handle(ctx context.Context, req *hostlink.Message) *hostlink.Message {
	log := h.log.With().Str("tid", req.TerminalID).Str("stan", req.STAN).Str("mti", req.MTI).Logger()
	var resp *hostlink.Message
	switch req.MTI {
	case hostlink.MTINetRequest:
		resp = h.network(ctx, log, req)
	case hostlink.MTIFinRequest:
		resp = h.financial(ctx, log, req)
	case hostlink.MTIReversal, hostlink.MTIReversalRepeat:
		resp = h.reversal(ctx, log, req)
	case hostlink.MTIAuthRequest:
		resp = h.authorisation(ctx, log, req)
	case hostlink.MTIAdminAdvice:
		resp = h.evidence(ctx, log, req)
	default:
		mti := hostlink.ResponseMTI(req.MTI)
		if mti == "" {
			log.Warn().Msg("not a request, dropped")
			return nil
		}
		resp = echo(req, mti)
		resp.RespCode = hostlink.RCInvalidTxn
	}
	log.Info().Str("rc", resp.RespCode).Str("resp", hostlink.Describe(resp)).Msg("answered")
	return resp
}

// echo starts the response to req: the identifying fields come back.
func echo(req *hostlink.Message, mti string) *hostlink.Message {
	return &hostlink.Message{
		MTI:          mti,
		PAN:          req.PAN,
		ProcCode:     req.ProcCode,
		Amount:       req.Amount,
		TransmitTime: req.TransmitTime,
		STAN:         req.STAN,
		LocalTime:    req.LocalTime,
		LocalDate:    req.LocalDate,
		TerminalID:   req.TerminalID,
		AcceptorID:   req.AcceptorID,
		Currency:     req.Currency,
	}
}

// authorisation answers a 0100: processing code ProcActivation is a step
// of card activation (activation.go); another well-formed code gets 12.
func (h *Host) authorisation(ctx context.Context, log zerolog.Logger, req *hostlink.Message) *hostlink.Message {
	switch {
	case req.ProcCode == hostlink.ProcActivation:
		return h.activation(ctx, log, req)
	case req.ProcCode == hostlink.ProcDelegateCheck:
		return h.delegateCheck(ctx, log, req)
	case len(req.ProcCode) != 6 || !isDigits(req.ProcCode):
		log.Warn().Err(fmt.Errorf("%w: field 3", errFormat)).Msg("request refused")
		resp := echo(req, hostlink.MTIAuthResponse)
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	log.Warn().Str("proc", req.ProcCode).Msg("request refused: unsupported processing code")
	resp := echo(req, hostlink.MTIAuthResponse)
	resp.RespCode = hostlink.RCInvalidTxn
	return resp
}

func (h *Host) network(ctx context.Context, log zerolog.Logger, req *hostlink.Message) *hostlink.Message {
	resp := echo(req, hostlink.MTINetResponse)
	resp.NetCode = req.NetCode
	if req.TerminalID == "" {
		log.Warn().Msg("network message without terminal id")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	var signOn bool
	switch req.NetCode {
	case hostlink.NetSignOn:
		signOn = true
	case hostlink.NetSignOff:
	case hostlink.NetEcho:
		resp.RespCode = hostlink.RCApproved
		return resp
	case keyexchange.NetCode:
		return h.keyExchange(ctx, log, req, resp)
	case admin.NetStatus:
		return h.statusReport(log, req, resp)
	case admin.NetTotals:
		return h.totals(ctx, log, req, resp)
	default:
		resp.RespCode = hostlink.RCInvalidTxn
		return resp
	}
	err := h.update(ctx, func(tx *store.Tx) error {
		return tx.SetTerminal(ctx, req.TerminalID, signOn, h.clock.Now())
	})
	if err != nil {
		log.Error().Err(err).Msg("recording sign-on state")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	log.Info().Bool("signed_on", signOn).Msg("terminal sign-on state")
	resp.RespCode = hostlink.RCApproved
	return resp
}

// keyExchange answers an 0800/101: it checks the terminal's TMK check
// value, has the HSM generate new working keys, builds the 0810 with
// them under the TMK and only then replaces the stored keys (under the
// LMK). A refusal (unknown terminal, wrong TMK) is 63 and a log line; a
// malformed field 48 is 30; a failure to store is 96 without keys. The
// previous keys stay in force until the new ones are stored.
func (h *Host) keyExchange(ctx context.Context, log zerolog.Logger, req, resp *hostlink.Message) *hostlink.Message {
	kr, err := keyexchange.ParseRequest(req.Private)
	if err != nil {
		log.Warn().Err(err).Msg("key exchange refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	log = log.With().Str("tmk_kcv", hexUpper(kr.TMKCheck)).Logger()
	switch err := h.hsm.CheckTMK(req.TerminalID, kr.TMKCheck); {
	case errors.Is(err, hsm.ErrUnknownTerminal):
		log.Warn().Msg("key exchange refused: no TMK is configured for the terminal")
		resp.RespCode = hostlink.RCSecurityViolation
		return resp
	case errors.Is(err, hsm.ErrTMKCheck):
		want, _ := h.hsm.TMKCheck(req.TerminalID)
		log.Warn().Str("want_kcv", hexUpper(want)).Msg("key exchange refused: the terminal's TMK is not the host's")
		resp.RespCode = hostlink.RCSecurityViolation
		return resp
	case err != nil:
		log.Error().Err(err).Msg("key exchange failed")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	kx, wk, err := h.hsm.ExchangeKeys(req.TerminalID)
	var f48 string
	if err == nil {
		f48, err = kx.Encode()
	}
	if err != nil {
		log.Error().Err(err).Msg("key exchange failed")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	var gen int64
	err = h.update(ctx, func(tx *store.Tx) error {
		var err error
		gen, err = tx.SetTerminalKeys(ctx, store.TerminalKeys{TerminalID: req.TerminalID, TPK: wk.TPK, TAK: wk.TAK, TDK: wk.TDK,
			TPKCheck: wk.TPKCheck, TAKCheck: wk.TAKCheck, TDKCheck: wk.TDKCheck, Created: h.clock.Now()})
		return err
	})
	if err != nil {
		log.Error().Err(err).Msg("storing the new working keys; the previous ones stay")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	h.cacheKeys(wk, gen)
	log.Info().Int64("generation", gen).Str("tpk_kcv", hexUpper(wk.TPKCheck)).Str("tak_kcv", hexUpper(wk.TAKCheck)).
		Str("tdk_kcv", hexUpper(wk.TDKCheck)).Msg("working keys exchanged")
	resp.Private = f48
	resp.RespCode = hostlink.RCApproved
	return resp
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// txKeys returns, inside a store update, the working keys of the
// terminal's last completed exchange: from the cache, which has them once
// the exchange has committed — before its 0810 leaves, so a request made
// under the new keys always finds them there (its MAC was checked under
// the same keys) — or else read in tx. A key read in tx is not cached: it
// may be an exchange this very transaction has not committed yet. It
// takes no lock of the Host, so Close never waits on it.
func (h *Host) txKeys(ctx context.Context, tx *store.Tx, terminalID string) (hsm.WorkingKeys, error) {
	h.keysMu.RLock()
	c, ok := h.keys[terminalID]
	h.keysMu.RUnlock()
	if ok {
		return c.wk, nil
	}
	k, err := tx.TerminalKeys(ctx, terminalID)
	if err != nil {
		return hsm.WorkingKeys{}, err
	}
	return workingKeys(k), nil
}

// update runs fn as one atomic store update (store.Update).
func (h *Host) update(ctx context.Context, fn func(*store.Tx) error) error {
	db, err := h.store()
	if err != nil {
		return err
	}
	return db.Update(ctx, fn)
}

// request is a checked 0200.
type request struct {
	*hostlink.Message
	kind     store.Kind
	currency currency.Currency // of field 49; zero if absent (balance inquiry)
	nonce    []byte            // dispenser nonce, withdrawals only
	// delegation is field 48 DG: a delegated withdrawal with that
	// delegate code (delegated.go); del is what was decided about it.
	delegation string
	del        *delDecision
}

func (r *request) key() store.Key {
	return store.Key{TerminalID: r.TerminalID, STAN: r.STAN, TransmitTime: r.TransmitTime}
}

// check validates a 0200 and returns the response code for a request it
// cannot process: 30 for a format error, 12 for an unknown processing
// code.
func check(req *hostlink.Message) (*request, string, error) {
	r := &request{Message: req}
	switch {
	case len(req.ProcCode) != 6 || !isDigits(req.ProcCode):
		return nil, hostlink.RCFormatError, fmt.Errorf("%w: field 3", errFormat)
	case req.ProcCode[:2] == hostlink.ProcWithdrawal[:2]:
		r.kind = store.KindWithdrawal
	case req.ProcCode[:2] == hostlink.ProcBalance[:2]:
		r.kind = store.KindBalance
	default:
		return nil, hostlink.RCInvalidTxn, errors.New("host: unsupported processing code")
	}
	bad := func(field string) (*request, string, error) {
		return nil, hostlink.RCFormatError, fmt.Errorf("%w: field %s", errFormat, field)
	}
	switch {
	case len(req.PAN) < 12 || len(req.PAN) > 19 || !isDigits(req.PAN):
		return bad("2")
	case len(req.TransmitTime) != 10 || !isDigits(req.TransmitTime):
		return bad("7")
	case len(req.STAN) != 6 || !isDigits(req.STAN):
		return bad("11")
	case req.TerminalID == "":
		return bad("41")
	case len(req.PINBlock) != 8:
		return bad("52")
	}
	if req.Currency != "" || r.kind == store.KindWithdrawal {
		c, err := currency.ByNumeric(req.Currency)
		if err != nil {
			return bad("49")
		}
		r.currency = c
	}
	if r.kind == store.KindWithdrawal {
		tlv, err := hostlink.ParseTLV(req.Private)
		if err != nil {
			return bad("48")
		}
		nc, _ := tlv.Get(hostlink.TagNonce)
		if r.nonce, err = hex.DecodeString(nc); err != nil || len(r.nonce) == 0 {
			return bad("48 " + hostlink.TagNonce)
		}
		if dg, ok := tlv.Get(hostlink.TagDelegation); ok {
			if !validDelegationID(dg) {
				return bad("48 " + hostlink.TagDelegation)
			}
			r.delegation = dg
		}
	}
	return r, "", nil
}

func (h *Host) financial(ctx context.Context, log zerolog.Logger, m *hostlink.Message) *hostlink.Message {
	resp := echo(m, hostlink.MTIFinResponse)
	log = log.With().Str("pan", mask.PAN(m.PAN)).Str("proc", m.ProcCode).Int64("amount", m.Amount).Logger()
	req, rc, err := check(m)
	if err != nil {
		log.Warn().Err(err).Msg("request refused")
		resp.RespCode = rc
		return resp
	}
	var e store.Entry
	var dup, same, noKeys bool
	err = h.update(ctx, func(tx *store.Tx) error {
		var err error
		e, err = tx.Find(ctx, req.key())
		switch {
		case err == nil:
			dup = true
			same, err = sameRequest(ctx, tx, e, req)
			return err
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		keys, err := h.txKeys(ctx, tx, req.TerminalID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			noKeys = true
			return nil
		case err != nil:
			return err
		}
		ts, err := tx.Tombstone(ctx, req.key())
		switch {
		case err == nil:
			e, err = h.declineReversed(ctx, log, tx, req, ts)
			return err
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		e, err = h.authorise(ctx, log, tx, req, keys)
		return err
	})
	switch {
	case err != nil:
		log.Error().Err(err).Msg("request failed")
		resp.RespCode = hostlink.RCSystemError
		return resp
	case noKeys:
		log.Warn().Msg("request refused: the terminal has no working keys; it must exchange keys first")
		resp.RespCode = hostlink.RCSecurityViolation
		return resp
	case dup && !same:
		log.Warn().Int64("ledger_id", e.ID).Msg("request reuses the key of a different ledger entry")
		resp.RespCode = hostlink.RCDuplicate
		return resp
	case dup && e.Reversed:
		log.Info().Int64("ledger_id", e.ID).Msg("duplicate of a reversed request answered from the ledger, without its dispense token")
	case dup:
		log.Info().Int64("ledger_id", e.ID).Msg("duplicate request answered from the ledger")
	}
	if err := h.answer(resp, req, e); err != nil {
		log.Error().Err(err).Msg("building the response")
		resp.RespCode = hostlink.RCSystemError
	}
	if req.delegation != "" {
		if err := delegatedReply(resp, req); err != nil {
			log.Error().Err(err).Msg("building the response")
			resp.RespCode = hostlink.RCSystemError
		}
		h.afterDelegated(ctx, log, req)
	}
	return resp
}

// declineReversed records, with response code 12, a 0200 that arrives
// after a reversal of it (tombstone ts) was acknowledged: the terminal
// has given it up, so nothing is posted, the PIN is not checked and its
// tries are not counted. The ledger entry answers any duplicate of it.
func (h *Host) declineReversed(ctx context.Context, log zerolog.Logger, tx *store.Tx, req *request, ts store.Tombstone) (store.Entry, error) {
	now := h.clock.Now()
	e := store.Entry{Time: now, Day: now.Format(time.DateOnly), Key: req.key(), Kind: req.kind, Amount: req.Amount,
		Currency: req.currency.Alpha, RespCode: hostlink.RCInvalidTxn}
	card, err := tx.CardByPAN(ctx, req.PAN)
	switch {
	case err == nil:
		acct, err := tx.Account(ctx, card.AccountID)
		if err != nil {
			return store.Entry{}, err
		}
		e.CardID, e.Account, e.Currency = card.ID, card.AccountID, acct.Currency
	case !errors.Is(err, store.ErrNotFound):
		return store.Entry{}, err
	}
	if e, err = tx.Append(ctx, e); err != nil {
		return store.Entry{}, err
	}
	if err := tx.SetTombstoneEntry(ctx, ts.Key, e.ID); err != nil {
		return store.Entry{}, err
	}
	log.Warn().Str("reversal_stan", ts.ReversalSTAN).Time("reversed_at", ts.Time).Int64("ledger_id", e.ID).Str("card", e.CardID).
		Msg("request arrived after its reversal: declined, nothing posted")
	return e, nil
}

// sameRequest reports whether req, which has the key of ledger entry e,
// is a copy of the request e recorded: same kind, amount and card.
func sameRequest(ctx context.Context, tx *store.Tx, e store.Entry, req *request) (bool, error) {
	if e.Kind != req.kind || e.Amount != req.Amount {
		return false, nil
	}
	card, err := tx.CardByPAN(ctx, req.PAN)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return e.CardID == "", nil
	case err != nil:
		return false, err
	}
	return card.ID == e.CardID, nil
}

// authorise decides a checked 0200 and records the decision in the
// ledger, all inside tx.
func (h *Host) authorise(ctx context.Context, log zerolog.Logger, tx *store.Tx, req *request, wk hsm.WorkingKeys) (store.Entry, error) {
	now := h.clock.Now()
	e := store.Entry{Time: now, Day: now.Format(time.DateOnly), Key: req.key(), Kind: req.kind, Amount: req.Amount,
		Currency: req.currency.Alpha}
	decline := func(rc, why string) (store.Entry, error) {
		log.Info().Str("rc", rc).Str("card", e.CardID).Msg(why)
		e.RespCode = rc
		return tx.Append(ctx, e)
	}
	card, acct, err := tx.CardAndAccountByPAN(ctx, req.PAN)
	if errors.Is(err, store.ErrNotFound) {
		return decline(hostlink.RCNoSuchCard, "unknown card")
	}
	if err != nil {
		return store.Entry{}, err
	}
	e.CardID, e.Account = card.ID, card.AccountID
	e.Currency = acct.Currency
	switch {
	case card.Status == seed.StatusBlocked && card.PINTries >= h.cfg.MaxPINTries:
		return decline(hostlink.RCPINTriesExceeded, "card blocked by wrong PINs")
	case card.Status == seed.StatusBlocked:
		return decline(hostlink.RCRestrictedCard, "card blocked")
	case card.Status == seed.StatusExpired || expired(card.Expiry, now):
		return decline(hostlink.RCExpiredCard, "card expired")
	case card.Status == seed.StatusNew:
		return decline(hostlink.RCNotPermitted, "card not activated")
	case card.Status != seed.StatusActive:
		return decline(hostlink.RCRestrictedCard, "card in unknown state")
	}
	if req.delegation != "" {
		return h.authoriseDelegated(ctx, log, tx, req, wk, e, card, acct)
	}
	if rc, why, err := h.verifyPIN(ctx, tx, wk, card, req.PINBlock); err != nil {
		return store.Entry{}, err
	} else if rc != "" {
		return decline(rc, why)
	}
	if req.kind == store.KindBalance {
		e.RespCode, e.Balance = hostlink.RCApproved, acct.Balance
		return tx.Append(ctx, e)
	}

	switch {
	case req.currency.Alpha != acct.Currency:
		return decline(hostlink.RCInvalidAmount, "currency is not the account's")
	case req.Amount <= 0 || req.Amount%req.currency.Major() != 0:
		return decline(hostlink.RCInvalidAmount, "amount is not a positive whole number of major units")
	case req.Amount > acct.Balance:
		return decline(hostlink.RCInsufficientFunds, "insufficient funds")
	}
	today, err := tx.Withdrawn(ctx, acct.ID, e.Day)
	if err != nil {
		return store.Entry{}, err
	}
	if today+req.Amount > acct.DailyLimit {
		return decline(hostlink.RCExceedsLimit, "daily limit exceeded")
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
	e, err = tx.Append(ctx, e)
	if err == nil {
		log.Info().Str("card", e.CardID).Str("rrn", e.RRN).Msg("withdrawal approved")
	}
	return e, err
}

// verifyPIN checks the PIN block of a request under the terminal's
// current TPK and keeps the card's wrong-PIN count; it returns "" when
// the PIN is right, else the response code and why.
func (h *Host) verifyPIN(ctx context.Context, tx *store.Tx, wk hsm.WorkingKeys, card store.Card, block []byte) (rc, why string, err error) {
	ok, err := h.hsm.VerifyPIN(wk, card.PAN, block, card.PVV)
	switch {
	case errors.Is(err, hsm.ErrBlock):
		// Not a PIN block under the current TPK: a stale or foreign key
		// or garbage, not a guess, so it does not count as a wrong PIN.
		return hostlink.RCSecurityViolation, "PIN block does not open under the terminal's PIN key", nil
	case err != nil:
		return "", "", err
	case ok:
		if card.PINTries != 0 {
			err = tx.SetCard(ctx, card.ID, card.Status, 0)
		}
		return "", "", err
	}
	tries := card.PINTries + 1
	if tries >= h.cfg.MaxPINTries {
		return hostlink.RCPINTriesExceeded, "wrong PIN, card blocked", tx.SetCard(ctx, card.ID, seed.StatusBlocked, tries)
	}
	return hostlink.RCWrongPIN, "wrong PIN", tx.SetCard(ctx, card.ID, card.Status, tries)
}

// expired reports whether a card with expiry YYMM is past the end of
// that month at now.
func expired(yymm string, now time.Time) bool {
	if len(yymm) != 4 || !isDigits(yymm) {
		return true
	}
	y := 2000 + int(yymm[0]-'0')*10 + int(yymm[1]-'0')
	m := time.Month(int(yymm[2]-'0')*10 + int(yymm[3]-'0'))
	return !now.Before(time.Date(y, m+1, 1, 0, 0, 0, 0, now.Location()))
}

// authCode returns a fresh six-character approval code (A–Z, 2–7).
func authCode() string { return rand.Text()[:6] }

// answer completes resp from the ledger entry that decided req.
func (h *Host) answer(resp *hostlink.Message, req *request, e store.Entry) error {
	resp.RespCode = e.RespCode
	resp.RRN = e.RRN
	if e.RespCode != hostlink.RCApproved {
		return nil
	}
	resp.AuthCode = e.AuthCode
	c, err := currency.ByAlpha(e.Currency)
	if err != nil {
		return fmt.Errorf("host: ledger entry %d: %w", e.ID, err)
	}
	resp.Currency = c.Numeric
	acctType := req.ProcCode[2:4]
	if resp.AddAmounts, err = hostlink.EncodeAmounts([]hostlink.Balance{
		{AccountType: acctType, AmountType: hostlink.AmountLedger, Currency: c.Numeric, Amount: e.Balance},
		{AccountType: acctType, AmountType: hostlink.AmountAvailable, Currency: c.Numeric, Amount: e.Balance},
	}); err != nil {
		return err
	}
	// A reversed approval is answered without its token: the terminal
	// gave the transaction up, and no cash may follow it.
	if e.Kind == store.KindWithdrawal && !e.Reversed {
		tlv := hostlink.TLV{{Tag: hostlink.TagToken, Value: hex.EncodeToString(e.Token)}}
		if resp.Private, err = tlv.Encode(); err != nil {
			return err
		}
	}
	return nil
}

// errBadReplacement: field 95 claims more was dispensed than approved.
var errBadReplacement = errors.New("host: replacement amount exceeds the original amount")

func (h *Host) reversal(ctx context.Context, log zerolog.Logger, req *hostlink.Message) *hostlink.Message {
	resp := echo(req, hostlink.MTIReversalResponse)
	resp.Original, resp.Replacement = req.Original, req.Replacement
	orig, err := parseOriginal(req.Original)
	if err == nil && req.TerminalID == "" {
		err = fmt.Errorf("%w: field 41", errFormat)
	}
	dispensed, rerr := parseReplacement(req.Replacement)
	if err = errors.Join(err, rerr); err != nil {
		log.Warn().Err(err).Msg("reversal refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	log = log.With().Str("orig_stan", orig.STAN).Str("orig_time", orig.TransmitTime).Int64("dispensed", dispensed).Logger()
	resp.RespCode = hostlink.RCApproved
	if orig.MTI != hostlink.MTIFinRequest {
		log.Info().Str("orig_mti", orig.MTI).Msg("reversal of a non-financial request, nothing to reverse")
		return resp
	}
	err = h.update(ctx, func(tx *store.Tx) error {
		key := store.Key{TerminalID: req.TerminalID, STAN: orig.STAN, TransmitTime: orig.TransmitTime}
		e, err := tx.Find(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			added, err := tx.AddTombstone(ctx, store.Tombstone{Key: key, Amount: req.Amount, ReversalSTAN: req.STAN, Time: h.clock.Now()})
			if added {
				log.Warn().Msg("reversal for an original not seen: tombstone recorded; the original will be declined if it arrives")
			} else if err == nil {
				log.Info().Msg("reversal repeated for an original not seen: tombstone already recorded")
			}
			return err
		case err != nil:
			return err
		case e.Kind != store.KindWithdrawal || e.RespCode != hostlink.RCApproved:
			log.Info().Int64("ledger_id", e.ID).Msg("original was not an approved withdrawal, nothing to reverse")
			return nil
		case e.Reversed:
			log.Info().Int64("ledger_id", e.ID).Msg("reversal already processed")
			return nil
		case dispensed > e.Amount:
			return errBadReplacement
		}
		credit := e.Amount - dispensed
		if credit > 0 {
			if _, err := tx.AddBalance(ctx, e.Account, credit); err != nil {
				return err
			}
		}
		if err := tx.MarkReversed(ctx, e.ID, credit, h.clock.Now()); err != nil {
			return err
		}
		log.Info().Int64("ledger_id", e.ID).Int64("credited", credit).Str("card", e.CardID).Msg("withdrawal reversed")
		return nil
	})
	switch {
	case errors.Is(err, errBadReplacement):
		log.Warn().Err(err).Msg("reversal refused")
		resp.RespCode = hostlink.RCFormatError
	case err != nil:
		log.Error().Err(err).Msg("reversal failed")
		resp.RespCode = hostlink.RCSystemError
	}
	return resp
}
