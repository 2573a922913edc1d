package mobile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/atmd/atmd/sim/host/otp"
	"github.com/atmd/atmd/sim/host/seed"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 8 << 10

// Decoding errors, mapped to HTTP status codes by the API.
var (
	// ErrTooLarge: the body is longer than MaxBody (413).
	ErrTooLarge = errors.New("mobile: request body too large")
	// ErrMediaType: the body is not application/json (415).
	ErrMediaType = errors.New("mobile: content type must be application/json")
	// ErrBadRequest: malformed JSON, an unknown field, or a field that
	// breaks its rule (400).
	ErrBadRequest = errors.New("mobile: bad request")
)

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
}

// BindRequest is the body of POST /v1/devices/bind.
type BindRequest struct {
	AccountID string `json:"account_id"`
	Phone     string `json:"phone"`
}

// IntentRequest is the body of POST /v1/activation/intent.
type IntentRequest struct {
	CardLast4 string `json:"card_last4"`
}

// QRRequest is the body of POST /v1/qr.
type QRRequest struct {
	Payload string `json:"payload"`
}

// validator is a request that checks its own fields.
type validator interface{ validate() error }

func badField(field, rule string) error {
	return fmt.Errorf("%w: field %q %s", ErrBadRequest, field, rule)
}

func (r *LoginRequest) validate() error {
	switch {
	case !seed.ValidLogin(r.User):
		return badField("user", "must be 3–32 of a–z, 0–9, '.', '-', '_'")
	case r.Password == "" || len(r.Password) > 128:
		return badField("password", "must be 1–128 bytes")
	case !seed.ValidLogin(r.DeviceID):
		return badField("device_id", "must be 3–32 of a–z, 0–9, '.', '-', '_'")
	}
	return nil
}

func (r *BindRequest) validate() error {
	switch {
	case r.AccountID == "" || len(r.AccountID) > 64:
		return badField("account_id", "must be 1–64 bytes")
	case !seed.IsE164(r.Phone):
		return badField("phone", "must be E.164 (+ and 8–15 digits)")
	}
	return nil
}

func (r *IntentRequest) validate() error {
	if len(r.CardLast4) != 4 || strings.Trim(r.CardLast4, "0123456789") != "" {
		return badField("card_last4", "must be 4 digits")
	}
	return nil
}

func (r *QRRequest) validate() error {
	if _, err := otp.ParsePayload(r.Payload); err != nil {
		return badField("payload", "is not a challenge payload")
	}
	return nil
}

// decode reads one JSON object of type T from body: the content type
// must be application/json (charset utf-8 allowed), the body at most
// MaxBody bytes, every field known, nothing after the object, and the
// fields must pass T's rules. Errors wrap ErrMediaType, ErrTooLarge or
// ErrBadRequest and name the offending field when there is one.
func decode[T any, PT interface {
	*T
	validator
}](contentType string, body io.Reader) (*T, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return nil, ErrMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, ErrMediaType
	}
	data, err := io.ReadAll(io.LimitReader(body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %w", ErrBadRequest, err)
	}
	if len(data) > MaxBody {
		return nil, ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	v := new(T)
	if err := dec.Decode(v); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	if err := PT(v).validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// jsonError turns a decoding error into one that names the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return fmt.Errorf("%w: the body must be a JSON object", ErrBadRequest)
	case errors.As(err, &te):
		return fmt.Errorf("%w: field %q must be a %s", ErrBadRequest, te.Field, te.Type)
	case errors.As(err, &se):
		return fmt.Errorf("%w: malformed JSON at byte %d", ErrBadRequest, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: empty or truncated JSON", ErrBadRequest)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%w: unknown field %s", ErrBadRequest, strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("%w: %v", ErrBadRequest, err)
}
