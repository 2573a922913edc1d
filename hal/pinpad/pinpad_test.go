package pinpad

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal"
)

func TestEditEntry(t *testing.T) {
	var echoed []Key
	echo := func(k Key) { echoed = append(echoed, k) }
	d := []byte("1234")
	full := d
	d = EditEntry(KeyBackspace, d, echo)
	if string(d) != "123" || full[3] != 0 {
		t.Fatalf("backspace: %q, removed digit not wiped: %v", d, full)
	}
	d = EditEntry("5", d, echo) // not an editing key: unchanged, no echo
	if string(d) != "123" {
		t.Fatalf("digit changed the entry: %q", d)
	}
	d = EditEntry(KeyClear, d, echo)
	if len(d) != 0 || full[0] != 0 || full[1] != 0 || full[2] != 0 {
		t.Fatalf("clear: %q, digits not wiped: %v", d, full)
	}
	if d = EditEntry(KeyBackspace, d, nil); len(d) != 0 {
		t.Fatal("backspace on an empty entry")
	}
	if len(echoed) != 2 || echoed[0] != KeyBackspace || echoed[1] != KeyClear {
		t.Fatalf("echoed %v", echoed)
	}
	for k, want := range map[Key]bool{"0": true, "9": true, KeyEnter: true, KeyCancel: true, KeyClear: true, KeyBackspace: true, F1: false, "A": false} {
		if EntryKey(k) != want {
			t.Errorf("EntryKey(%q) = %v", k, !want)
		}
	}
}

func TestPINRequestTerminators(t *testing.T) {
	base := PINRequest{PAN: "4761739001010119", MinLen: 4, MaxLen: 12, Format: ISO0, Key: "pin"}
	tests := []struct {
		name  string
		terms []Key
		ok    bool
	}{
		{"none", nil, true},
		{"two", []Key{F4, F5}, true},
		{"all-eight", []Key{F1, F2, F3, F4, F5, F6, F7, F8}, true},
		{"digit", []Key{"5"}, false},
		{"enter", []Key{KeyEnter}, false},
		{"cancel", []Key{KeyCancel}, false},
		{"f9", []Key{"F9"}, false},
		{"f0", []Key{"F0"}, false},
		{"empty-name", []Key{""}, false},
		{"duplicate", []Key{F4, F5, F4}, false},
		{"nine", []Key{F1, F2, F3, F4, F5, F6, F7, F8, F1}, false},
	}
	for _, tc := range tests {
		r := base
		r.Terminators = tc.terms
		err := r.Validate()
		if tc.ok && err != nil {
			t.Errorf("%s: Validate = %v, want nil", tc.name, err)
		}
		if !tc.ok && (!errors.Is(err, ErrBadRequest) || !errors.Is(err, hal.ErrInvalid)) {
			t.Errorf("%s: Validate = %v, want ErrBadRequest and hal.ErrInvalid", tc.name, err)
		}
	}
	r := base
	r.Terminators = []Key{F4}
	for k, want := range map[Key]bool{"7": true, KeyEnter: true, KeyCancel: true, KeyClear: true, KeyBackspace: true, F4: true, F3: false, F5: false} {
		if r.Takes(k) != want {
			t.Errorf("Takes(%q) = %v", k, !want)
		}
		if r.Terminates(k) != (k == F4) {
			t.Errorf("Terminates(%q) = %v", k, k != F4)
		}
	}
}

func TestTerminatedError(t *testing.T) {
	var err error = fmt.Errorf("wrapped: %w", &TerminatedError{Key: F5})
	var te *TerminatedError
	if !errors.As(err, &te) || te.Key != F5 {
		t.Fatalf("errors.As = %v, %+v", errors.As(err, &te), te)
	}
	if !errors.Is(err, ErrTerminated) || errors.Is(err, hal.ErrCancelled) {
		t.Errorf("errors.Is(ErrTerminated) = %v, errors.Is(hal.ErrCancelled) = %v", errors.Is(err, ErrTerminated), errors.Is(err, hal.ErrCancelled))
	}
	if msg := te.Error(); !strings.HasPrefix(msg, "pinpad: ") || !strings.Contains(msg, "F5") {
		t.Errorf("Error() = %q, want it prefixed and naming F5", msg)
	}
}
