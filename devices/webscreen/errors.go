package webscreen

import (
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal"
)

// Errors callers branch on. The touch and request errors wrap the hal
// sentinels, so errors.Is(err, hal.ErrInvalid) holds for each of them.
var (
	// ErrStale: a touch was made on a screen that is no longer shown.
	ErrStale = fmt.Errorf("webscreen: touched screen is no longer shown: %w", hal.ErrInvalid)
	// ErrNotBound: a touch on a key bound to no menu item of the screen.
	ErrNotBound = fmt.Errorf("webscreen: no menu item on that key: %w", hal.ErrInvalid)
	// ErrNoReader: nobody read a touch from Touches in time.
	ErrNoReader = fmt.Errorf("webscreen: touch not taken: %w", hal.ErrTimeout)
	// ErrNoQR: the phone pane scanned the screen, but it shows no QR code.
	ErrNoQR = fmt.Errorf("webscreen: no QR code on the screen: %w", hal.ErrInvalid)
	// ErrNoPanel: a panel action, but Options.Panel is nil.
	ErrNoPanel = errors.New("webscreen: no virtual front panel configured")
	// ErrForbidden: a request from another origin or for another host
	// name (cross-site request or DNS rebinding).
	ErrForbidden = errors.New("webscreen: request from a foreign origin")
	// ErrServed: Serve was called a second time, or after Close.
	ErrServed = errors.New("webscreen: already served or closed")
)

// RequestError is a malformed request from the page: which action, which
// field and why. It wraps hal.ErrInvalid (and the decoder's error, if
// any).
type RequestError struct {
	Action string // "touch", "press", "insert", ...
	Field  string // JSON field, "" for the body as a whole
	Msg    string
	Err    error // underlying decoder error, if any
}

// Error formats the error with the package prefix.
func (e *RequestError) Error() string {
	s := "webscreen: " + e.Action
	if e.Field != "" {
		s += " " + e.Field
	}
	s += ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns hal.ErrInvalid and the decoder's error.
func (e *RequestError) Unwrap() []error {
	if e.Err != nil {
		return []error{hal.ErrInvalid, e.Err}
	}
	return []error{hal.ErrInvalid}
}
