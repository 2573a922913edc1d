package webscreen

import (
	"errors"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		action, body string
		ok           bool
		field        string
	}{
		{"touch", `{"key":"F1","seq":3}`, true, ""},
		{"touch", `{"key":"F9"}`, false, "key"},
		{"touch", `{"key":"1"}`, false, "key"},
		{"touch", `{"key":"F1","card":"a"}`, false, "card"},
		{"touch", `{"key":"F1"} {}`, false, ""},
		{"touch", `{"key":"F1","pin":"1234"}`, false, ""},
		{"touch", `[1]`, false, ""},
		{"press", `{"key":"0"}`, true, ""},
		{"press", `{"key":"BACKSPACE"}`, true, ""},
		{"press", `{"key":"*"}`, false, "key"},
		{"press", `{"key":"F2","seq":1}`, false, "seq"},
		{"insert", `{"card":"alice-debit"}`, true, ""},
		{"insert", `{"card":"Bob_Old.2"}`, true, ""},
		{"insert", `{"card":""}`, false, "card"},
		{"insert", `{"card":"a/b"}`, false, "card"},
		{"insert", `{"card":"` + strings.Repeat("a", 65) + `"}`, false, "card"},
		{"inject", `{"device":"dispenser","code":"DSP-JAM"}`, true, ""},
		{"inject", `{"device":"Dispenser","code":"DSP-JAM"}`, false, "device"},
		{"inject", `{"device":"dispenser","code":"dsp-jam"}`, false, "code"},
		{"clear", `{"device":"printer"}`, true, ""},
		{"clear", `{"device":"printer","code":"X"}`, false, "code"},
		{"supervisor", `{"on":false}`, true, ""},
		{"supervisor", `{"on":"yes"}`, false, ""},
		{"supervisor", `{}`, false, "on"},
		{"take-card", ``, true, ""},
		{"take-cash", `{}`, true, ""},
		{"tap", `{"key":"F1"}`, false, "key"},
		{"scan", `{}`, true, ""},
		{"scan", `{"card":"alice-debit"}`, false, "card"},
		{"reboot", `{}`, false, ""},
		{"press", `{"key":"1"}` + strings.Repeat(" ", maxBody), false, ""},
	}
	for _, tc := range tests {
		r, err := decodeRequest(tc.action, []byte(tc.body))
		if tc.ok {
			if err != nil {
				t.Errorf("%s %s: %v", tc.action, tc.body, err)
			}
			continue
		}
		var re *RequestError
		if !errors.As(err, &re) || !errors.Is(err, hal.ErrInvalid) || re.Field != tc.field || re.Action != tc.action {
			t.Errorf("%s %s = %+v, %v; want a RequestError on field %q", tc.action, tc.body, r, err, tc.field)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "webscreen: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

// FuzzDecodeRequest: whatever a page posts, decoding never panics, a
// refusal is a *RequestError wrapping hal.ErrInvalid, and what is
// accepted holds only valid values for its action.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []struct{ a, b string }{
		{"touch", `{"key":"F1","seq":12}`}, {"press", `{"key":"ENTER"}`}, {"insert", `{"card":"alice-debit"}`},
		{"inject", `{"device":"dispenser","code":"DSP-JAM"}`}, {"clear", `{"device":"printer"}`},
		{"supervisor", `{"on":true}`}, {"tap", ``}, {"take-cash", `{}`}, {"touch", `{"key":"F1","seq":-1}`},
		{"press", `{"key":"\u0000"}`}, {"insert", `{"card":null}`},
	} {
		f.Add(s.a, []byte(s.b))
	}
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		r, err := decodeRequest(action, body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || !errors.Is(err, hal.ErrInvalid) {
				t.Fatalf("error %v is not a RequestError wrapping hal.ErrInvalid", err)
			}
			return
		}
		switch action {
		case actTouch:
			if !pinpad.Key(r.Key).IsFDK() {
				t.Fatalf("touch accepted key %q", r.Key)
			}
		case actPress:
			if !pinpad.Key(r.Key).Valid() {
				t.Fatalf("press accepted key %q", r.Key)
			}
		case actInsert:
			if !isName(r.Card, 64, true) {
				t.Fatalf("insert accepted card %q", r.Card)
			}
		case actInject:
			if !isName(r.Device, 32, false) || !isCode(r.Code) {
				t.Fatalf("inject accepted %q %q", r.Device, r.Code)
			}
		case actSupervisor:
			if r.On == nil {
				t.Fatal("supervisor accepted without on")
			}
		case actClear, actTakeCard, actTakeCash, actTap:
		default:
			t.Fatalf("unknown action %q accepted", action)
		}
	})
}
