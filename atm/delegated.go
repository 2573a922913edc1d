package atm

import (
	"fmt"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/currency"
)

// delegateCheckRequest maps the check of a delegate code (flows
// DelegateCheck) to an 0100 with processing code 940000: the card as
// for a withdrawal, the code as a PIN block in field 52 (docs/hostlink.md
// section 6e).
func delegateCheckRequest(r flows.Request, cur currency.Currency) (*hostlink.Message, error) {
	if len(r.PIN.Block) != 8 {
		return nil, fmt.Errorf("atm: PIN block of %d bytes does not fit field 52", len(r.PIN.Block))
	}
	m := &hostlink.Message{
		MTI:      hostlink.MTIAuthRequest,
		ProcCode: hostlink.ProcDelegateCheck,
		PAN:      r.Card.PAN,
		Expiry:   r.Card.Expiry,
		PANSeq:   r.Card.PANSeq,
		Track2:   r.Card.Track2,
		Currency: cur.Numeric,
		PINBlock: r.PIN.Block,
	}
	switch r.Card.Technology {
	case cardreader.Chip:
		m.EntryMode = "051"
	default:
		m.EntryMode = "021"
	}
	return m, nil
}

// tlvData is field 48 as a map, for the flows.
func tlvData(t hostlink.TLV) map[string]string {
	d := make(map[string]string, len(t))
	for _, e := range t {
		d[e.Tag] = e.Value
	}
	return d
}
