package mobile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Delegated withdrawal (DESIGN.md §2, document 004), the app's side:
// the cardholder creates delegate codes with a cap and an expiry, lists
// them and cancels them (docs/mobile-api.md). The codes themselves are
// the host's delegate.Book; the service only needs it for these
// endpoints (WithDelegates).

// WithDelegates gives the service the host's book of delegate codes,
// which turns on the /v1/delegates endpoints.
func WithDelegates(b *delegate.Book) Option { return func(s *Service) { s.delegates = b } }

// DelegateRequest is the body of POST /v1/delegates.
type DelegateRequest struct {
	// CardLast4 names the card by its last four digits; it may be left
	// out when the customer has exactly one active card.
	CardLast4 string `json:"card_last4,omitempty"`
	// Amount is the cap, in whole major units of the card's account
	// currency (3000 is NT$3,000).
	Amount int64 `json:"amount"`
	// ExpiresIn is how long the code lives, a Go duration ("2h", "90m");
	// empty: the bank's default.
	ExpiresIn string `json:"expires_in,omitempty"`
}

func (r *DelegateRequest) validate() error {
	switch {
	case r.CardLast4 != "" && (len(r.CardLast4) != 4 || strings.Trim(r.CardLast4, "0123456789") != ""):
		return badField("card_last4", "must be 4 digits")
	case r.Amount < 1 || r.Amount > seed.MaxAmount/100:
		return badField("amount", "must be a whole number of major units, at least 1")
	}
	if r.ExpiresIn != "" {
		if d, err := time.ParseDuration(r.ExpiresIn); err != nil || d <= 0 {
			return badField("expires_in", `must be a positive duration such as "24h"`)
		}
	}
	return nil
}

// DelegateJSON is one delegate code as the app sees it. Code is present
// only in the answer to the POST that created it: the bank keeps no copy.
type DelegateJSON struct {
	ID        string    `json:"id"`
	Code      string    `json:"code,omitempty"`
	CardLast4 string    `json:"card_last4"`
	Amount    int64     `json:"amount"`   // cap, major units
	Currency  string    `json:"currency"` // ISO 4217 alpha
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	State     string    `json:"state"` // live, used, cancelled, locked, expired
	// Used (state used): when, at which ATM.
	Used     *time.Time `json:"used,omitempty"`
	Terminal string     `json:"terminal,omitempty"`
}

// DelegatesResponse answers GET /v1/delegates.
type DelegatesResponse struct {
	Delegates []DelegateJSON `json:"delegates"`
}

// delegateRoutes adds the delegate endpoints to mux, when the service
// has a book.
func (s *Service) delegateRoutes(mux *http.ServeMux) {
	if s.delegates == nil {
		return
	}
	mux.HandleFunc("POST /v1/delegates", s.auth(s.handleDelegateCreate))
	mux.HandleFunc("GET /v1/delegates", s.auth(s.handleDelegateList))
	mux.HandleFunc("DELETE /v1/delegates/{id}", s.auth(s.handleDelegateCancel))
	mux.HandleFunc("/v1/delegates", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST /v1/delegates")
	})
	mux.HandleFunc("/v1/delegates/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use DELETE /v1/delegates/ID")
	})
}

// delegateJSON describes a code for the app.
func (s *Service) delegateJSON(ctx context.Context, c store.DelegateCode) (DelegateJSON, error) {
	card, err := s.db.Card(ctx, c.CardID)
	if err != nil {
		return DelegateJSON{}, fmt.Errorf("mobile: %w", err)
	}
	cur, err := currency.ByAlpha(c.Currency)
	if err != nil {
		return DelegateJSON{}, fmt.Errorf("mobile: code %s: %w", c.ID, err)
	}
	j := DelegateJSON{ID: c.ID, CardLast4: last4(card.PAN), Amount: c.Cap / cur.Major(), Currency: c.Currency,
		Created: c.Created, Expires: c.Expires, State: string(c.State)}
	if c.State == store.DelegateUsed {
		t := c.Changed
		j.Used, j.Terminal = &t, c.TerminalID
	}
	return j, nil
}

// delegateCard picks the card of a create request: the customer's card
// ending last4, or their only active card when last4 is empty.
func (s *Service) delegateCard(ctx context.Context, customerID, want string) (store.Card, error) {
	cards, err := s.db.CardsOfCustomer(ctx, customerID)
	if err != nil {
		return store.Card{}, fmt.Errorf("mobile: %w", err)
	}
	var found []store.Card
	for _, c := range cards {
		if (want != "" && last4(c.PAN) == want) || (want == "" && c.Status == seed.StatusActive) {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case want == "" && len(found) > 1:
		return store.Card{}, badField("card_last4", "is required: you have several active cards")
	case want == "":
		return store.Card{}, fmt.Errorf("%w: you have no active card", errNoSuchCard)
	}
	return store.Card{}, fmt.Errorf("%w: %s", errNoSuchCard, want)
}

// delegateFail answers the delegate book's errors; others go to fail.
func (s *Service) delegateFail(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "delegate: ")
	switch {
	case errors.Is(err, delegate.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_request", msg)
	case errors.Is(err, delegate.ErrCard):
		writeError(w, http.StatusConflict, "card_not_usable", msg)
	case errors.Is(err, delegate.ErrNotYours):
		writeError(w, http.StatusNotFound, "no_such_code", "no such delegate code of yours")
	case errors.Is(err, delegate.ErrNotLive):
		writeError(w, http.StatusConflict, "not_live", msg)
	default:
		s.fail(w, r, err)
	}
}

func (s *Service) handleDelegateCreate(w http.ResponseWriter, r *http.Request) {
	req, err := decode[DelegateRequest](r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	se := sessionOf(r)
	card, err := s.delegateCard(r.Context(), se.customer, req.CardLast4)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	acct, err := s.db.Account(r.Context(), card.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cur, err := currency.ByAlpha(acct.Currency)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		ttl, _ = time.ParseDuration(req.ExpiresIn) // checked by validate
	}
	c, digits, err := s.delegates.Create(r.Context(), se.customer, card.ID, req.Amount*cur.Major(), ttl)
	if err != nil {
		s.delegateFail(w, r, err)
		return
	}
	j, err := s.delegateJSON(r.Context(), c)
	if err != nil {
		clear(digits)
		s.fail(w, r, err)
		return
	}
	j.Code = string(digits)
	clear(digits)
	s.log.Info().Str("user", se.user).Str("code", c.ID).Str("card", card.ID).Msg("delegate code created in the app")
	writeJSON(w, http.StatusCreated, j)
}

func (s *Service) handleDelegateList(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.delegates.List(r.Context(), sessionOf(r).customer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := DelegatesResponse{Delegates: []DelegateJSON{}}
	for _, c := range cs {
		j, err := s.delegateJSON(r.Context(), c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Delegates = append(out.Delegates, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// validDelegateID reports whether id has the form delegate.Book makes.
func validDelegateID(id string) bool {
	return len(id) == 11 && id[0] == 'D' && strings.Trim(id[1:], "0123456789ABCDEF") == ""
}

func (s *Service) handleDelegateCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validDelegateID(id) {
		writeError(w, http.StatusNotFound, "no_such_code", "no such delegate code of yours")
		return
	}
	if err := noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	se := sessionOf(r)
	c, err := s.delegates.Cancel(r.Context(), se.customer, id)
	if err != nil {
		s.delegateFail(w, r, err)
		return
	}
	j, err := s.delegateJSON(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info().Str("user", se.user).Str("code", id).Msg("delegate code cancelled in the app")
	writeJSON(w, http.StatusOK, j)
}

// Owner sends a message about a card to its customer: by push when the
// customer uses the app, else by SMS to the phone on file. It returns
// the channel used. The text must not carry a code.
func (n *Notify) Owner(ctx context.Context, cardID string, kind notify.Kind, text string) (notify.Channel, error) {
	s := n.s
	ch := notify.Push
	to, _, err := s.recipient(ctx, cardID, ch)
	if errors.Is(err, ErrNoApp) {
		ch = notify.SMS
		to, _, err = s.recipient(ctx, cardID, ch)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.notifier.Send(ctx, notify.Message{Channel: ch, To: to, Kind: kind, Subject: cardID, Text: text}); err != nil {
		return "", fmt.Errorf("mobile: %w", err)
	}
	s.log.Info().Str("card", cardID).Str("channel", string(ch)).Str("kind", string(kind)).Msg("message sent to the cardholder")
	return ch, nil
}
