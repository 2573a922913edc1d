package phone

import (
	"context"
	"net/url"

	"github.com/atmd/atmd/sim/host/mobile"
)

// Delegate is a delegate code as the app shows it.
type Delegate = mobile.DelegateJSON

// CreateDelegate creates a delegate code for the card ending last4 (""
// for the customer's only active card) with a cap of amount major units,
// living for expiresIn (a Go duration; "" for the bank's default). The
// result carries the code's digits: the only time the app sees them.
func (p *Phone) CreateDelegate(ctx context.Context, last4 string, amount int64, expiresIn string) (Delegate, error) {
	var d Delegate
	err := p.call(ctx, "POST", "/v1/delegates", true, mobile.DelegateRequest{CardLast4: last4, Amount: amount, ExpiresIn: expiresIn}, &d)
	return d, err
}

// Delegates lists the user's delegate codes, newest first, without
// their digits.
func (p *Phone) Delegates(ctx context.Context) ([]Delegate, error) {
	var r mobile.DelegatesResponse
	err := p.call(ctx, "GET", "/v1/delegates", true, nil, &r)
	return r.Delegates, err
}

// CancelDelegate cancels one of the user's live delegate codes.
func (p *Phone) CancelDelegate(ctx context.Context, id string) (Delegate, error) {
	var d Delegate
	err := p.call(ctx, "DELETE", "/v1/delegates/"+url.PathEscape(id), true, nil, &d)
	return d, err
}
