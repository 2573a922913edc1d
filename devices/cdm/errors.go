package cdm

import (
	"context"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

// Fault codes the driver reports itself; the device adds its own
// (DSP-JAM, DSP-SHUTTER, DSP-PICK, DSP-STORAGE).
const (
	// FaultOffline: the port cannot be opened or is gone, or the device
	// does not ACK.
	FaultOffline = "DSP-OFFLINE"
	// FaultTimeout: the device ACKed a command but did not answer in time.
	FaultTimeout = "DSP-TIMEOUT"
	// FaultProtocol: frames kept arriving damaged (bad CRC, truncated,
	// garbage), the device kept NAKing ours, or a response made no sense.
	FaultProtocol = "DSP-PROTOCOL"
	// FaultCassLow: a cassette is at or below its low mark (derived).
	FaultCassLow = "DSP-CASS-LOW"
	// FaultCassEmpty: a cassette is empty (derived).
	FaultCassEmpty = "DSP-CASS-EMPTY"
	// FaultShutter: the shutter does not move (reported by the device).
	FaultShutter = "DSP-SHUTTER"
	// FaultPick: notes could not be picked (reported by the device).
	FaultPick = "DSP-PICK"
)

// Errors callers may branch on, besides the hal and dispenser sentinels.
var (
	// ErrProtocol: the link carried damaged or meaningless frames.
	ErrProtocol = errors.New("cdm: protocol error")
	// ErrOutcomeUnknown: a DISPENSE or TEST-DISPENSE went out and neither
	// its response nor the device's record of it could be read. The
	// driver asks the device again when it answers; until then notes may
	// or may not be stacked behind the shutter.
	ErrOutcomeUnknown = errors.New("cdm: dispense outcome unknown")
	// ErrClosed: the driver was closed.
	ErrClosed = errors.New("cdm: driver closed")
	// errNoRecord: the device has no LAST-DISPENSE record.
	errNoRecord = errors.New("cdm: the device has no dispense record")
)

// isCtx reports whether err is a context's error.
func isCtx(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// transportFault turns a link failure into a fault: its code, a message
// and the cause chain (hal.ErrOffline, hal.ErrTimeout or ErrProtocol).
func transportFault(op string, err error, raw []byte) *hal.Fault {
	f := &hal.Fault{Device: "dispenser", Recoverable: true, Raw: raw}
	switch {
	case errors.Is(err, errNAKed), errors.Is(err, errGarbled), errors.Is(err, ErrProtocol):
		f.Code, f.Msg, f.Err = FaultProtocol, "bad frames on the line during "+op, fmt.Errorf("%w: %w", ErrProtocol, err)
	case errors.Is(err, errNoResponse):
		f.Code, f.Msg, f.Err = FaultTimeout, "no response to "+op, fmt.Errorf("%w: %w", hal.ErrTimeout, err)
	default: // no ACK, port gone, port cannot be opened
		f.Code, f.Msg, f.Err = FaultOffline, "dispenser unreachable during "+op, fmt.Errorf("%w: %w", hal.ErrOffline, err)
	}
	return f
}

// protocolFault reports a response that does not parse.
func protocolFault(op string, err error, raw []byte) *hal.Fault {
	return &hal.Fault{Device: "dispenser", Code: FaultProtocol, Msg: "malformed response to " + op,
		Recoverable: true, Raw: raw, Err: fmt.Errorf("%w: %w", ErrProtocol, err)}
}

// refusal turns a response status other than OK into an error.
func refusal(op byte, r reply, raw []byte) error {
	name := opNames[op]
	switch r.status {
	case rsHardware:
		code := r.reason
		if code == "" {
			code = "DSP-HARDWARE"
		}
		f := &hal.Fault{Device: "dispenser", Code: code, Msg: name + " failed", Recoverable: code == FaultPick, Raw: raw}
		if code == FaultShutter {
			f.Err = dispenser.ErrShutter
		}
		return f
	case rsSecurity:
		return fmt.Errorf("cdm: %s refused by the device: %w", name, dispenser.ErrBadToken)
	case rsBadParams:
		if op == opDispense || op == opTestDispense {
			return fmt.Errorf("cdm: %s refused: %s: %w: %w", name, r.reason, hal.ErrInvalid, dispenser.ErrCannotMake)
		}
		return fmt.Errorf("cdm: %s refused: %s: %w", name, r.reason, hal.ErrInvalid)
	case rsBusy:
		return fmt.Errorf("cdm: %s: %s: %w", name, r.reason, hal.ErrBusy)
	case rsNotReady:
		switch op {
		case opPresent, opRetract:
			return fmt.Errorf("cdm: %s: %w", name, dispenser.ErrNothingStack)
		case opLastDispense:
			return errNoRecord
		}
		return fmt.Errorf("cdm: %s: %s: %w", name, r.reason, hal.ErrBusy)
	case rsUnknown:
		return fmt.Errorf("cdm: %s: %w", name, hal.ErrUnsupported)
	case rsCancelled:
		return fmt.Errorf("cdm: %s: %w", name, hal.ErrCancelled)
	case rsTimeout:
		return &hal.Fault{Device: "dispenser", Code: FaultTimeout, Msg: name + " timed out inside the device", Recoverable: true, Raw: raw, Err: hal.ErrTimeout}
	}
	return protocolFault(name, fmt.Errorf("status %02X", r.status), raw)
}
