package webscreen

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/atmd/atmd/hal/pinpad"
)

// maxBody bounds a request body from the page.
const maxBody = 4 << 10

// Actions the page can post: "touch" to /api/touch, the others to
// /api/panel/{action}.
const (
	actTouch      = "touch"
	actInsert     = "insert"
	actTakeCard   = "take-card"
	actPress      = "press"
	actTakeCash   = "take-cash"
	actTap        = "tap"
	actScan       = "scan"
	actInject     = "inject"
	actClear      = "clear"
	actSupervisor = "supervisor"
)

// request is the body of a POST from the page, after decodeRequest has
// checked it for its action.
type request struct {
	Key    string `json:"key,omitempty"`    // touch, press
	Seq    uint64 `json:"seq,omitempty"`    // touch: the screen touched (0: the current one)
	Card   string `json:"card,omitempty"`   // insert
	Device string `json:"device,omitempty"` // inject, clear
	Code   string `json:"code,omitempty"`   // inject
	On     *bool  `json:"on,omitempty"`     // supervisor
}

// decodeRequest parses and checks the JSON body of action. Unknown
// fields, trailing data, missing or malformed fields are a *RequestError.
func decodeRequest(action string, body []byte) (request, error) {
	var r request
	bad := func(field, msg string, err error) (request, error) {
		return request{}, &RequestError{Action: action, Field: field, Msg: msg, Err: err}
	}
	switch action {
	case actTouch, actInsert, actTakeCard, actPress, actTakeCash, actTap, actScan, actInject, actClear, actSupervisor:
	default:
		return bad("", "unknown action", nil)
	}
	if len(body) > maxBody {
		return bad("", "body too large", nil)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return bad("", "not a JSON object of known fields", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return bad("", "trailing data after the JSON object", nil)
		}
	}
	// Each action takes only its own fields.
	extra := func(fields ...string) (request, error) {
		for _, f := range fields {
			var set bool
			switch f {
			case "key":
				set = r.Key != ""
			case "seq":
				set = r.Seq != 0
			case "card":
				set = r.Card != ""
			case "device":
				set = r.Device != ""
			case "code":
				set = r.Code != ""
			case "on":
				set = r.On != nil
			}
			if set {
				return bad(f, "not a field of this action", nil)
			}
		}
		return r, nil
	}
	switch action {
	case actTouch:
		if !pinpad.Key(r.Key).IsFDK() {
			return bad("key", "must be F1..F8", nil)
		}
		return extra("card", "device", "code", "on")
	case actPress:
		if k := pinpad.Key(r.Key); !k.Valid() {
			return bad("key", "not a PIN pad key", nil)
		}
		return extra("seq", "card", "device", "code", "on")
	case actInsert:
		if !isName(r.Card, 64, true) {
			return bad("card", "must be 1-64 letters, digits, '.', '_' or '-'", nil)
		}
		return extra("key", "seq", "device", "code", "on")
	case actInject:
		if !isName(r.Device, 32, false) {
			return bad("device", "must be 1-32 lower-case letters, digits or '-'", nil)
		}
		if !isCode(r.Code) {
			return bad("code", "must be 1-32 upper-case letters, digits or '-'", nil)
		}
		return extra("key", "seq", "card", "on")
	case actClear:
		if !isName(r.Device, 32, false) {
			return bad("device", "must be 1-32 lower-case letters, digits or '-'", nil)
		}
		return extra("key", "seq", "card", "code", "on")
	case actSupervisor:
		if r.On == nil {
			return bad("on", "missing", nil)
		}
		return extra("key", "seq", "card", "device", "code")
	default: // take-card, take-cash, tap, scan: no fields
		return extra("key", "seq", "card", "device", "code", "on")
	}
}

// isName reports whether s is 1..n characters of a-z, 0-9 and '-' (and,
// with loose, A-Z, '.' and '_').
func isName(s string, n int, loose bool) bool {
	if s == "" || len(s) > n {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case loose && (c >= 'A' && c <= 'Z' || c == '.' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// isCode reports whether s looks like a fault catalogue code ("DSP-JAM").
func isCode(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
