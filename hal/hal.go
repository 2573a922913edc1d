package hal

import (
	"context"
	"errors"
	"fmt"
)

// State is the coarse state every device reports, after XFS4IoT's
// device status.
type State int

// Device states.
const (
	// Online: the device works and accepts commands.
	Online State = iota
	// Offline: the device cannot be reached (unplugged, port gone, no power).
	Offline
	// HardwareError: the device is reachable but broken (jam, sensor fault).
	HardwareError
	// UserError: a person must act (paper out, cassette missing, door open).
	UserError
	// Busy: the device is working on a command and cannot take another.
	Busy
)

var stateNames = [...]string{"online", "offline", "hardware-error", "user-error", "busy"}

// String returns the state's name as used in configs, logs and `atmd status`.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText encodes the state by name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("hal: unknown device state %q", b)
}

// Usable reports whether a device in this state can serve customers.
// Busy counts as usable: the device is working, not failed.
func (s State) Usable() bool { return s == Online || s == Busy }

// Status is what a device reports about itself. Fault is a stable code
// from the fault catalogue ("" when there is no fault); Detail is a short
// human description; Extra holds device-specific states such as
// "paper": "low" or "cassette.2": "empty".
type Status struct {
	State  State             `json:"state"`
	Fault  string            `json:"fault,omitempty"`
	Detail string            `json:"detail,omitempty"`
	Extra  map[string]string `json:"extra,omitempty"`
}

// OK reports whether the status is usable and has no fault.
func (s Status) OK() bool { return s.State.Usable() && s.Fault == "" }

// String formats the status for logs and the operator display.
func (s Status) String() string {
	out := s.State.String()
	if s.Fault != "" {
		out += " " + s.Fault
	}
	if s.Detail != "" {
		out += ": " + s.Detail
	}
	return out
}

// Device is the lifecycle every device implements, after periph's
// conn.Resource.
type Device interface {
	// String names the device instance ("cardreader:pcsc:Virtual PCD 00 00").
	String() string
	// Status returns the last known status without blocking.
	Status() Status
	// Halt returns the device to a safe, inert state.
	Halt(ctx context.Context) error
}

// Sentinel errors shared by all device contracts. Contract packages wrap
// them with their own prefix; callers branch with errors.Is.
var (
	// ErrOffline: the device cannot be reached.
	ErrOffline = errors.New("device offline")
	// ErrCancelled: the customer or the caller cancelled the operation.
	ErrCancelled = errors.New("cancelled")
	// ErrTimeout: the device did not answer in time.
	ErrTimeout = errors.New("device timeout")
	// ErrUnsupported: the device lacks the capability asked for.
	ErrUnsupported = errors.New("not supported by this device")
	// ErrBusy: another command is in progress.
	ErrBusy = errors.New("device busy")
	// ErrInvalid: the request is malformed; nothing was done.
	ErrInvalid = errors.New("invalid request")
)

// Fault is a typed device fault. Code is a fault catalogue code; Raw keeps
// the bytes that revealed the fault, for diagnostics.
type Fault struct {
	Device      string // device class, e.g. "dispenser"
	Code        string // catalogue code, e.g. "DSP-JAM"
	Msg         string // what happened
	Recoverable bool   // retrying after the condition clears may succeed
	Raw         []byte // raw device bytes, if any
	Err         error  // underlying cause, if any
}

// Error formats the fault as "device: msg (code)".
func (f *Fault) Error() string {
	s := fmt.Sprintf("%s: %s (%s)", f.Device, f.Msg, f.Code)
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (f *Fault) Unwrap() error { return f.Err }

// FaultCode returns the catalogue code of the first *Fault in err's chain,
// or "".
func FaultCode(err error) string {
	var f *Fault
	if errors.As(err, &f) {
		return f.Code
	}
	return ""
}
