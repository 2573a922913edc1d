package atm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/currency"
)

// request maps a flows request to ISO 8583.
func request(r flows.Request, cur currency.Currency) (*hostlink.Message, error) {
	switch r.Kind {
	case flows.Activation:
		return activationRequest(r)
	case flows.DelegateCheck:
		return delegateCheckRequest(r, cur)
	}
	m := &hostlink.Message{
		MTI:      hostlink.MTIFinRequest,
		PAN:      r.Card.PAN,
		Expiry:   r.Card.Expiry,
		PANSeq:   r.Card.PANSeq,
		Track2:   r.Card.Track2,
		Currency: cur.Numeric,
		PINBlock: r.PIN.Block,
	}
	if len(r.PIN.Block) != 8 {
		return nil, fmt.Errorf("atm: PIN block of %d bytes does not fit field 52", len(r.PIN.Block))
	}
	switch r.Card.Technology {
	case cardreader.Chip:
		m.EntryMode = "051"
	default:
		m.EntryMode = "021"
	}
	switch r.Kind {
	case flows.Withdrawal:
		m.ProcCode = hostlink.ProcWithdrawal
		m.Amount = r.Amount
		var t hostlink.TLV
		t.Set(hostlink.TagNonce, hex.EncodeToString(r.Nonce))
		if id := r.Data[hostlink.TagDelegation]; id != "" {
			t.Set(hostlink.TagDelegation, id) // a delegated withdrawal: field 52 is the delegate code
		}
		s, err := t.Encode()
		if err != nil {
			return nil, err
		}
		m.Private = s
	case flows.Balance:
		m.ProcCode = hostlink.ProcBalance
	default:
		return nil, fmt.Errorf("atm: unknown transaction kind %q", r.Kind)
	}
	return m, nil
}

// activationRequest maps a step of the card activation dialogue to an
// 0100 with processing code 930000: the step and its tags in field 48
// (tags in a fixed order), the PIN block of a code, default PIN or new
// PIN in field 52, and the new PIN's second entry under P2.
func activationRequest(r flows.Request) (*hostlink.Message, error) {
	m := &hostlink.Message{
		MTI:      hostlink.MTIAuthRequest,
		ProcCode: hostlink.ProcActivation,
		PAN:      r.Card.PAN,
		Expiry:   r.Card.Expiry,
		PANSeq:   r.Card.PANSeq,
		Track2:   r.Card.Track2,
	}
	switch r.Card.Technology {
	case cardreader.Chip:
		m.EntryMode = "051"
	default:
		m.EntryMode = "021"
	}
	if r.Step == "" {
		return nil, errors.New("atm: activation request without a step")
	}
	t := hostlink.TLV{{Tag: hostlink.TagActStep, Value: r.Step}}
	tags := make([]string, 0, len(r.Data))
	for k := range r.Data {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	for _, k := range tags {
		t.Set(k, r.Data[k])
	}
	for _, b := range []pinpad.PINBlock{r.PIN, r.PIN2} {
		if len(b.Block) != 0 && len(b.Block) != 8 {
			return nil, fmt.Errorf("atm: PIN block of %d bytes does not fit field 52", len(b.Block))
		}
	}
	m.PINBlock = r.PIN.Block
	if len(r.PIN2.Block) > 0 {
		t.Set(hostlink.TagActPIN2, strings.ToUpper(hex.EncodeToString(r.PIN2.Block)))
	}
	s, err := t.Encode()
	if err != nil {
		return nil, err
	}
	m.Private = s
	return m, nil
}

// outcome maps an ISO 8583 response code to what it means to a customer.
func outcome(rc string) flows.Outcome {
	switch rc {
	case hostlink.RCApproved:
		return flows.Approved
	case hostlink.RCWrongPIN:
		return flows.WrongPIN
	case hostlink.RCPINTriesExceeded:
		return flows.PINTriesExceeded
	case hostlink.RCInsufficientFunds:
		return flows.InsufficientFunds
	case hostlink.RCExceedsLimit, "65":
		return flows.LimitExceeded
	case hostlink.RCNoSuchCard, hostlink.RCExpiredCard, hostlink.RCNotPermitted, hostlink.RCRestrictedCard:
		return flows.CardRefused
	}
	return flows.Declined
}

// mustReverse reports response codes that decline without proving that
// nothing was posted: a security violation (63) can be provoked for any
// STAN by replaying a request with a broken MAC, so an earlier genuine
// copy may have been approved — reverse to be sure (the host ignores a
// reversal of nothing).
func mustReverse(rc string) bool { return rc == hostlink.RCSecurityViolation }

// reply maps the link's answer (or failure) to a flows reply.
func reply(id string, withdrawal bool, resp *hostlink.Message, err error) flows.Reply {
	r := flows.Reply{ID: id, Err: err}
	switch {
	case errors.Is(err, hostlink.ErrTimeout), errors.Is(err, hostlink.ErrLinkLost):
		r.Outcome = flows.Unknown
		return r
	case err != nil:
		r.Outcome = flows.Unavailable
		return r
	}
	r.Code, r.STAN, r.AuthCode = resp.RespCode, resp.STAN, resp.AuthCode
	r.Outcome = outcome(resp.RespCode)
	r.Reverse = withdrawal && mustReverse(resp.RespCode)
	if resp.Private != "" {
		t, err := hostlink.ParseTLV(resp.Private)
		switch {
		case err != nil && resp.ProcCode == hostlink.ProcActivation:
			r.Err = fmt.Errorf("atm: activation reply: %w", err)
		case err != nil && resp.ProcCode == hostlink.ProcDelegateCheck:
			r.Err = fmt.Errorf("atm: delegate check reply: %w", err)
		case err != nil:
		case resp.ProcCode == hostlink.ProcActivation || resp.ProcCode == hostlink.ProcDelegateCheck:
			r.Data = tlvData(t)
		default:
			r.Data = tlvData(t) // a delegated withdrawal's refusal says why (DR)
			if v, ok := t.Get(hostlink.TagToken); ok {
				if tok, err := hex.DecodeString(v); err == nil {
					r.Token = tok
				}
			}
		}
	}
	if resp.AddAmounts != "" {
		if bs, err := hostlink.ParseAmounts(resp.AddAmounts); err == nil {
			for _, b := range bs {
				switch b.AmountType {
				case hostlink.AmountAvailable:
					r.Available, r.HasBal = b.Amount, true
				case hostlink.AmountLedger:
					r.Ledger, r.HasBal = b.Amount, true
				}
			}
		}
	}
	if r.Outcome == flows.Approved && withdrawal && len(r.Token) == 0 {
		// An approval without a token cannot release cash: treat it as a
		// decline the host must reverse on its side.
		r.Outcome, r.Reverse = flows.Declined, true
		r.Err = errors.New("atm: approval without a dispense token")
	}
	return r
}
