package mobile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/otp"
	"github.com/atmd/atmd/sim/host/seed"
)

// MaxWait is the longest long-poll wait (the wait query parameter).
const MaxWait = 30 * time.Second

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error   string `json:"error"`   // machine-readable code, e.g. "unauthenticated"
	Message string `json:"message"` // what is wrong, for people
}

// LoginResponse answers POST /v1/login.
type LoginResponse struct {
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires"`
	User     string    `json:"user"`
	DeviceID string    `json:"device_id"`
}

// DeviceJSON is one device binding.
type DeviceJSON struct {
	DeviceID  string    `json:"device_id"`
	AccountID string    `json:"account_id"`
	Phone     string    `json:"phone"`
	Bound     time.Time `json:"bound"`
}

// DevicesResponse answers GET /v1/devices.
type DevicesResponse struct {
	Devices []DeviceJSON `json:"devices"`
}

// CardJSON is one of the user's cards as the app lists it: never the
// full card number.
type CardJSON struct {
	Last4     string `json:"last4"`
	Name      string `json:"name"`   // embossed name
	Expiry    string `json:"expiry"` // YYMM
	AccountID string `json:"account_id"`
	Status    string `json:"status"` // "active", "new" (awaiting activation), "blocked", "expired"
}

// CardsResponse answers GET /v1/cards.
type CardsResponse struct {
	Cards []CardJSON `json:"cards"`
}

// IntentResponse answers POST /v1/activation/intent.
type IntentResponse struct {
	CardLast4 string    `json:"card_last4"`
	Expires   time.Time `json:"expires"`
}

// QRResponse answers POST /v1/qr.
type QRResponse struct {
	Challenge string `json:"challenge"` // the challenge id
	Purpose   string `json:"purpose"`
	Status    string `json:"status"` // "verified"
}

// MessageJSON is one push or SMS as the phone sees it.
type MessageJSON struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject,omitempty"`
	Text    string    `json:"text"`
}

// MessagesResponse answers GET /v1/inbox and GET /v1/sim/sms.
type MessagesResponse struct {
	Messages []MessageJSON `json:"messages"`
}

func messageJSON(m notify.Message) MessageJSON {
	return MessageJSON{ID: m.ID, Time: m.Time, Channel: string(m.Channel), To: m.To, Kind: string(m.Kind), Subject: m.Subject, Text: m.Text}
}

// Handler returns the HTTP API (see docs/mobile-api.md).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+method+" "+path)
		})
	}
	route("POST", "/v1/login", s.handleLogin)
	route("POST", "/v1/logout", s.auth(s.handleLogout))
	route("POST", "/v1/devices/bind", s.auth(s.handleBind))
	route("GET", "/v1/devices", s.auth(s.handleDevices))
	route("GET", "/v1/cards", s.auth(s.handleCards))
	route("POST", "/v1/activation/intent", s.auth(s.handleIntent))
	route("POST", "/v1/qr", s.auth(s.handleQR))
	route("GET", "/v1/inbox", s.auth(s.handleInbox))
	route("GET", "/v1/inbox/events", s.auth(s.handleEvents))
	if s.cfg.Simulator {
		route("GET", "/v1/sim/sms", s.handleSMS)
	}
	if s.app != nil {
		// The banking-app simulator's page (WithApp), same-origin with
		// the API it calls.
		mux.Handle("GET /app/", http.StripPrefix("/app", s.app))
		mux.Handle("GET /app", http.RedirectHandler("/app/", http.StatusMovedPermanently))
		mux.HandleFunc("/app/", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the app's page is read-only")
		})
	}
	s.delegateRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
	})
	return mux
}

// Serve answers the app on ln until ctx ends, then shuts down (open
// event streams end with ctx); it closes ln.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.log.Info().Str("addr", ln.Addr().String()).Bool("simulator", s.cfg.Simulator).Msg("serving the mobile API")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("mobile: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mobile: serve: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{Error: code, Message: msg})
}

// fail answers err with its status code and a clear message. Internal
// errors are logged and answered without detail.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "mobile: ")
	var le *LockedError
	switch {
	case errors.Is(err, ErrMediaType):
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", msg)
	case errors.Is(err, ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body larger than %d bytes", MaxBody))
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad_request", msg)
	case errors.Is(err, ErrBadLogin):
		writeError(w, http.StatusUnauthorized, "wrong_credentials", msg)
	case errors.As(err, &le):
		w.Header().Set("Retry-After", strconv.Itoa(int(time.Until(le.Until).Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "locked", msg)
	case errors.Is(err, errTooManyTries):
		writeError(w, http.StatusTooManyRequests, "too_many_tries", msg)
	case errors.Is(err, ErrNotYours), errors.Is(err, ErrUnknownCard):
		writeError(w, http.StatusForbidden, "forbidden", "not your account or card")
	case errors.Is(err, ErrPhoneMismatch):
		writeError(w, http.StatusForbidden, "phone_mismatch", msg)
	case errors.Is(err, ErrNotBound):
		writeError(w, http.StatusForbidden, "not_bound", msg)
	case errors.Is(err, errNoSuchCard):
		writeError(w, http.StatusNotFound, "no_such_card", msg)
	case errors.Is(err, otp.ErrNotFound):
		writeError(w, http.StatusNotFound, "unknown_challenge", "no such challenge")
	case errors.Is(err, otp.ErrExpired):
		writeError(w, http.StatusGone, "expired", "the challenge has expired")
	case errors.Is(err, otp.ErrUsed):
		writeError(w, http.StatusConflict, "used", "the challenge was already used")
	default:
		s.log.Error().Str("path", r.URL.Path).Err(err).Msg("internal error")
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

var (
	errTooManyTries = errors.New("mobile: too many wrong QR codes; log in again")
	errNoSuchCard   = errors.New("mobile: no card of yours ends with those digits")
)

type sessionKey struct{}

type authed struct {
	session
	token string
}

// auth requires a live bearer token and passes its session on.
func (s *Service) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		se, live := s.authenticate(strings.TrimSpace(tok))
		if !ok || tok == "" || !live {
			w.Header().Set("WWW-Authenticate", `Bearer realm="atmd"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "a valid bearer token is required: log in first")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, authed{se, strings.TrimSpace(tok)})))
	}
}

func sessionOf(r *http.Request) authed { return r.Context().Value(sessionKey{}).(authed) }

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	req, err := decode[LoginRequest](r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pw := []byte(req.Password)
	tok, exp, err := s.Login(r.Context(), req.User, pw, req.DeviceID)
	clear(pw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, LoginResponse{Token: tok, Expires: exp, User: req.User, DeviceID: req.DeviceID})
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.Logout(sessionOf(r).token)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleBind(w http.ResponseWriter, r *http.Request) {
	req, err := decode[BindRequest](r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.bind(r.Context(), sessionOf(r).session, req.AccountID, req.Phone)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DeviceJSON{DeviceID: d.DeviceID, AccountID: d.AccountID, Phone: d.Phone, Bound: d.Bound})
}

func (s *Service) handleDevices(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.db.Devices(r.Context(), sessionOf(r).user)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := DevicesResponse{Devices: []DeviceJSON{}}
	for _, d := range ds {
		out.Devices = append(out.Devices, DeviceJSON{DeviceID: d.DeviceID, AccountID: d.AccountID, Phone: d.Phone, Bound: d.Bound})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleCards(w http.ResponseWriter, r *http.Request) {
	if err := noQuery(r); err != nil {
		s.fail(w, r, err)
		return
	}
	cards, err := s.db.CardsOfCustomer(r.Context(), sessionOf(r).customer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := CardsResponse{Cards: []CardJSON{}}
	for _, c := range cards {
		out.Cards = append(out.Cards, CardJSON{Last4: last4(c.PAN), Name: c.Name, Expiry: c.Expiry, AccountID: c.AccountID, Status: string(c.Status)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleIntent(w http.ResponseWriter, r *http.Request) {
	req, err := decode[IntentRequest](r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	se := sessionOf(r)
	cards, err := s.db.CardsOfCustomer(r.Context(), se.customer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	found := false
	for _, c := range cards {
		if last4(c.PAN) == req.CardLast4 && c.Status == seed.StatusNew {
			found = true
		}
	}
	if !found {
		s.fail(w, r, fmt.Errorf("%w (awaiting activation): %s", errNoSuchCard, req.CardLast4))
		return
	}
	exp, ok := s.setIntent(se.token, req.CardLast4)
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "the session has ended: log in again")
		return
	}
	s.log.Info().Str("user", se.user).Str("card_last4", req.CardLast4).Msg("card activation chosen in the app")
	writeJSON(w, http.StatusOK, IntentResponse{CardLast4: req.CardLast4, Expires: exp})
}

func (s *Service) handleQR(w http.ResponseWriter, r *http.Request) {
	se := sessionOf(r)
	s.mu.Lock()
	fails := s.qrFails[se.user]
	s.mu.Unlock()
	if fails >= s.cfg.MaxCodeTries {
		s.Logout(se.token)
		s.fail(w, r, errTooManyTries)
		return
	}
	req, err := decode[QRRequest](r.Header.Get("Content-Type"), r.Body)
	if err == nil {
		var ch otp.Challenge
		ch, err = s.submit(r.Context(), se.session, req.Payload)
		if err == nil {
			s.mu.Lock()
			delete(s.qrFails, se.user)
			s.mu.Unlock()
			s.log.Info().Str("user", se.user).Str("challenge", ch.ID).Msg("challenge verified by the app")
			writeJSON(w, http.StatusOK, QRResponse{Challenge: ch.ID, Purpose: ch.Purpose, Status: string(otp.StateVerified)})
			return
		}
	}
	if errors.Is(err, ErrBadRequest) || errors.Is(err, otp.ErrNotFound) || errors.Is(err, ErrNotYours) ||
		errors.Is(err, ErrNotBound) || errors.Is(err, ErrUnknownCard) {
		s.mu.Lock()
		s.qrFails[se.user]++
		s.mu.Unlock()
		s.log.Info().Str("user", se.user).Msg("wrong QR payload submitted")
	}
	s.fail(w, r, err)
}

// noQuery refuses query parameters on endpoints that take none.
func noQuery(r *http.Request) error {
	for k := range r.URL.Query() {
		return fmt.Errorf("%w: unknown query parameter %q", ErrBadRequest, k)
	}
	return nil
}

// pollQuery parses after (a message id, default 0), wait (a duration up
// to MaxWait, default 0) and, when phone is true, phone (E.164,
// required). Other parameters are refused.
func pollQuery(r *http.Request, phone bool) (after int64, wait time.Duration, ph string, err error) {
	q := r.URL.Query()
	for k, v := range q {
		if len(v) != 1 {
			return 0, 0, "", fmt.Errorf("%w: query parameter %q given %d times", ErrBadRequest, k, len(v))
		}
		switch {
		case k == "after":
			after, err = strconv.ParseInt(v[0], 10, 64)
			if err != nil || after < 0 {
				return 0, 0, "", fmt.Errorf("%w: query parameter \"after\" must be a message id", ErrBadRequest)
			}
		case k == "wait":
			wait, err = time.ParseDuration(v[0])
			if err != nil || wait < 0 || wait > MaxWait {
				return 0, 0, "", fmt.Errorf("%w: query parameter \"wait\" must be a duration up to %v", ErrBadRequest, MaxWait)
			}
		case k == "phone" && phone:
			ph = v[0]
		default:
			return 0, 0, "", fmt.Errorf("%w: unknown query parameter %q", ErrBadRequest, k)
		}
	}
	if phone && !seed.IsE164(ph) {
		return 0, 0, "", fmt.Errorf("%w: query parameter \"phone\" must be E.164", ErrBadRequest)
	}
	return after, wait, ph, nil
}

// list answers the messages passing f, waiting up to wait for the first
// one when there is none.
func (s *Service) list(w http.ResponseWriter, r *http.Request, f notify.Filter, wait time.Duration) {
	ms := s.Outbox().Messages(f)
	if len(ms) == 0 && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		m, err := s.Outbox().Wait(ctx, f)
		cancel()
		if err == nil {
			ms = []notify.Message{m}
		}
	}
	out := MessagesResponse{Messages: []MessageJSON{}}
	for _, m := range ms {
		out.Messages = append(out.Messages, messageJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleInbox(w http.ResponseWriter, r *http.Request) {
	after, wait, _, err := pollQuery(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.list(w, r, notify.Filter{Channel: notify.Push, To: sessionOf(r).user, After: after}, wait)
}

func (s *Service) handleSMS(w http.ResponseWriter, r *http.Request) {
	after, wait, phone, err := pollQuery(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.list(w, r, notify.Filter{Channel: notify.SMS, To: phone, After: after}, wait)
}

// sseKeepAlive is how often an idle event stream gets a comment line.
const sseKeepAlive = 15 * time.Second

// handleEvents streams the user's new pushes as server-sent events:
// "id: <message id>", "event: push", "data: <MessageJSON>". It starts
// after the Last-Event-ID header or the after parameter when given,
// else after the newest message at connect time.
func (s *Service) handleEvents(w http.ResponseWriter, r *http.Request) {
	after, _, _, err := pollQuery(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !r.URL.Query().Has("after") {
		after = s.Outbox().LastID()
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.fail(w, r, fmt.Errorf("%w: header Last-Event-ID must be a message id", ErrBadRequest))
			return
		}
		after = n
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": atmd push inbox\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	user := sessionOf(r).user
	for {
		ctx, cancel := context.WithTimeout(r.Context(), sseKeepAlive)
		m, err := s.Outbox().Wait(ctx, notify.Filter{Channel: notify.Push, To: user, After: after})
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if err != nil {
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		} else {
			after = m.ID
			var data []byte
			data, err = json.Marshal(messageJSON(m))
			if err == nil {
				_, err = fmt.Fprintf(w, "id: %d\nevent: push\ndata: %s\n\n", m.ID, data)
			}
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
