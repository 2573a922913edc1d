package phone

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atmd/atmd/sim/host/mobile"
)

// Errors.
var (
	// ErrAPI is wrapped by every *APIError.
	ErrAPI = errors.New("phone: API error")
	// ErrNotLoggedIn: a call that needs a session before Login.
	ErrNotLoggedIn = errors.New("phone: not logged in")
	// ErrNoCode: no code message was found.
	ErrNoCode = errors.New("phone: no code received")
	// ErrProtocol: the server's answer could not be understood.
	ErrProtocol = errors.New("phone: unexpected answer")
)

// APIError is an error answer of the mobile API.
type APIError struct {
	Status  int    // HTTP status
	Code    string // ErrorBody.Error, e.g. "unauthenticated"
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("phone: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns ErrAPI.
func (e *APIError) Unwrap() error { return ErrAPI }

// Message is a push or an SMS as the phone shows it.
type Message = mobile.MessageJSON

// Device is a device binding.
type Device = mobile.DeviceJSON

// Phone is one simulated phone with the banking app. It is safe for
// concurrent use.
type Phone struct {
	api                    string
	user, password, device string
	client                 *http.Client

	mu       sync.Mutex
	token    string
	seenPush int64 // newest push returned by WaitPush
	seenSMS  map[string]int64
}

// Option configures a Phone.
type Option func(*Phone)

// WithDevice sets the app's device id (user + "-phone" by default, as
// in the seed).
func WithDevice(id string) Option { return func(p *Phone) { p.device = id } }

// WithHTTPClient sets the HTTP client (http.DefaultClient by default).
func WithHTTPClient(c *http.Client) Option { return func(p *Phone) { p.client = c } }

// WithToken starts the phone with a session token from an earlier Login
// (the command line keeps it between invocations).
func WithToken(tok string) Option { return func(p *Phone) { p.token = tok } }

// New returns a phone whose app talks to the mobile API at apiURL (e.g.
// "http://127.0.0.1:5801") as user with password. It does no I/O.
func New(apiURL, user, password string, opts ...Option) *Phone {
	p := &Phone{api: strings.TrimRight(apiURL, "/"), user: user, password: password, device: user + "-phone",
		client: http.DefaultClient, seenSMS: map[string]int64{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Device returns the app's device id.
func (p *Phone) Device() string { return p.device }

// Token returns the session token, "" before Login.
func (p *Phone) Token() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.token
}

// call sends a request and decodes a JSON answer into out (when not
// nil). auth adds the bearer token.
func (p *Phone) call(ctx context.Context, method, path string, auth bool, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("phone: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.api+path, body)
	if err != nil {
		return fmt.Errorf("phone: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		tok := p.Token()
		if tok == "" {
			return ErrNotLoggedIn
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("phone: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("phone: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb mobile.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return &APIError{Status: resp.StatusCode, Code: "http", Message: http.StatusText(resp.StatusCode)}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Error, Message: eb.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrProtocol, method, path, err)
	}
	return nil
}

// Login logs the app in and keeps the session token.
func (p *Phone) Login(ctx context.Context) error {
	var r mobile.LoginResponse
	if err := p.call(ctx, "POST", "/v1/login", false, mobile.LoginRequest{User: p.user, Password: p.password, DeviceID: p.device}, &r); err != nil {
		return err
	}
	p.mu.Lock()
	p.token = r.Token
	p.mu.Unlock()
	return nil
}

// Logout ends the session.
func (p *Phone) Logout(ctx context.Context) error {
	err := p.call(ctx, "POST", "/v1/logout", true, nil, nil)
	p.mu.Lock()
	p.token = ""
	p.mu.Unlock()
	return err
}

// Bind binds this device to one of the user's accounts with phone.
func (p *Phone) Bind(ctx context.Context, accountID, phone string) (Device, error) {
	var d Device
	err := p.call(ctx, "POST", "/v1/devices/bind", true, mobile.BindRequest{AccountID: accountID, Phone: phone}, &d)
	return d, err
}

// Devices lists the user's device bindings.
func (p *Phone) Devices(ctx context.Context) ([]Device, error) {
	var r mobile.DevicesResponse
	err := p.call(ctx, "GET", "/v1/devices", true, nil, &r)
	return r.Devices, err
}

// ActivationIntent tells the bank the customer chose card activation in
// the app, for the card ending last4; it returns when that lapses.
func (p *Phone) ActivationIntent(ctx context.Context, last4 string) (time.Time, error) {
	var r mobile.IntentResponse
	err := p.call(ctx, "POST", "/v1/activation/intent", true, mobile.IntentRequest{CardLast4: last4}, &r)
	return r.Expires, err
}

// Scan submits a QR payload the camera read.
func (p *Phone) Scan(ctx context.Context, payload string) (mobile.QRResponse, error) {
	var r mobile.QRResponse
	err := p.call(ctx, "POST", "/v1/qr", true, mobile.QRRequest{Payload: payload}, &r)
	return r, err
}

// Inbox lists the pushes the app received, oldest first.
func (p *Phone) Inbox(ctx context.Context) ([]Message, error) {
	var r mobile.MessagesResponse
	err := p.call(ctx, "GET", "/v1/inbox", true, nil, &r)
	return r.Messages, err
}

// WaitPush waits, over the inbox's event stream, for the first push
// newer than the last one WaitPush returned that passes filter (nil
// passes all), until ctx ends.
func (p *Phone) WaitPush(ctx context.Context, filter func(Message) bool) (Message, error) {
	p.mu.Lock()
	after, tok := p.seenPush, p.token
	p.mu.Unlock()
	if tok == "" {
		return Message{}, ErrNotLoggedIn
	}
	req, err := http.NewRequestWithContext(ctx, "GET", p.api+"/v1/inbox/events?after="+strconv.FormatInt(after, 10), nil)
	if err != nil {
		return Message{}, fmt.Errorf("phone: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := p.client.Do(req)
	if err != nil {
		return Message{}, fmt.Errorf("phone: push events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb mobile.ErrorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&eb)
		return Message{}, &APIError{Status: resp.StatusCode, Code: eb.Error, Message: eb.Message}
	}
	br := bufio.NewReader(resp.Body)
	for {
		ev, err := ReadEvent(br)
		if err != nil {
			if ctx.Err() != nil {
				return Message{}, fmt.Errorf("phone: wait for push: %w", ctx.Err())
			}
			return Message{}, fmt.Errorf("phone: push events: %w", err)
		}
		if ev.Name != "push" {
			continue
		}
		var m Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			return Message{}, fmt.Errorf("%w: push event: %w", ErrProtocol, err)
		}
		if filter == nil || filter(m) {
			p.mu.Lock()
			if m.ID > p.seenPush {
				p.seenPush = m.ID
			}
			p.mu.Unlock()
			return m, nil
		}
	}
}

// SkipPushes makes WaitPush wait only for pushes newer than those in
// the inbox now.
func (p *Phone) SkipPushes(ctx context.Context) error {
	ms, err := p.Inbox(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range ms {
		p.seenPush = max(p.seenPush, m.ID)
	}
	return nil
}

// SkipSMS makes WaitSMS wait only for SMSes to phone newer than those
// sent so far.
func (p *Phone) SkipSMS(ctx context.Context, phone string) error {
	ms, err := p.SMS(ctx, phone)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range ms {
		p.seenSMS[phone] = max(p.seenSMS[phone], m.ID)
	}
	return nil
}

// smsPoll is how long one long poll of WaitSMS lasts.
const smsPoll = 25 * time.Second

// SMS lists the SMSes sent to phone (E.164), oldest first, through the
// simulator-only endpoint.
func (p *Phone) SMS(ctx context.Context, phone string) ([]Message, error) {
	var r mobile.MessagesResponse
	err := p.call(ctx, "GET", "/v1/sim/sms?phone="+url.QueryEscape(phone), false, nil, &r)
	return r.Messages, err
}

// WaitSMS waits for the first SMS to phone newer than the last one
// WaitSMS returned for that number that passes filter (nil passes all),
// until ctx ends. It long-polls the simulator-only SMS endpoint.
func (p *Phone) WaitSMS(ctx context.Context, phone string, filter func(Message) bool) (Message, error) {
	p.mu.Lock()
	after := p.seenSMS[phone]
	p.mu.Unlock()
	for {
		var r mobile.MessagesResponse
		q := url.Values{"phone": {phone}, "after": {strconv.FormatInt(after, 10)}, "wait": {smsPoll.String()}}
		if err := p.call(ctx, "GET", "/v1/sim/sms?"+q.Encode(), false, nil, &r); err != nil {
			if ctx.Err() != nil {
				return Message{}, fmt.Errorf("phone: wait for SMS: %w", ctx.Err())
			}
			return Message{}, err
		}
		for _, m := range r.Messages {
			after = max(after, m.ID)
			if filter == nil || filter(m) {
				p.mu.Lock()
				p.seenSMS[phone] = max(p.seenSMS[phone], m.ID)
				p.mu.Unlock()
				return m, nil
			}
		}
		if err := ctx.Err(); err != nil {
			return Message{}, fmt.Errorf("phone: wait for SMS: %w", err)
		}
	}
}

// LatestCode returns the digits of the newest verification code in the
// push inbox.
func (p *Phone) LatestCode(ctx context.Context) (string, error) {
	ms, err := p.Inbox(ctx)
	if err != nil {
		return "", err
	}
	return latest(ms, "code")
}

// LatestSMSCode returns the digits of the newest verification code sent
// by SMS to phone.
func (p *Phone) LatestSMSCode(ctx context.Context, phone string) (string, error) {
	ms, err := p.SMS(ctx, phone)
	if err != nil {
		return "", err
	}
	return latest(ms, "code")
}

func latest(ms []Message, kind string) (string, error) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Kind == kind {
			if s := Secret(ms[i].Text); s != "" {
				return s, nil
			}
		}
	}
	return "", ErrNoCode
}

// Secret returns the digits a code or default-PIN message carries: the
// run of digits after " is " ("... your verification code for card
// ending 1019 is 123456. ..."), or "".
func Secret(text string) string {
	_, rest, ok := strings.Cut(text, " is ")
	if !ok {
		return ""
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	return rest[:n]
}

// Event is one server-sent event.
type Event struct {
	ID   string
	Name string // "message" when the stream gave none
	Data string // data lines joined with "\n"
}

// maxEvent bounds one event's size.
const maxEvent = 64 << 10

// ReadEvent reads the next event from a text/event-stream (comments and
// retry lines are skipped). It returns io.EOF at the end of the stream
// and an error wrapping ErrProtocol for an event larger than 64 KiB.
func ReadEvent(r *bufio.Reader) (Event, error) {
	var ev Event
	var data []string
	size, seen := 0, false
	for {
		line, err := r.ReadString('\n')
		size += len(line)
		if size > maxEvent {
			return Event{}, fmt.Errorf("%w: event larger than %d bytes", ErrProtocol, maxEvent)
		}
		if err != nil {
			if err == io.EOF && line == "" {
				return Event{}, io.EOF
			}
			if err != io.EOF {
				return Event{}, err
			}
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if seen {
				if ev.Name == "" {
					ev.Name = "message"
				}
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			if err == io.EOF {
				return Event{}, io.EOF
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, seen = value, true
		case "event":
			ev.Name, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
		if err == io.EOF {
			return Event{}, io.EOF
		}
	}
}
