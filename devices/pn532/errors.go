package pn532

import (
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal"
)

// Fault catalogue codes the driver reports, in Status and in the
// *hal.Fault errors its methods return.
const (
	// FaultOffline: the serial port cannot be opened, or it failed or
	// hung up (USB adapter unplugged). Status: Offline.
	FaultOffline = "NFC-OFFLINE"
	// FaultTimeout: the PN532 does not acknowledge or answer commands (no
	// power, wrong port or baud rate, chip hung). Status: Offline.
	FaultTimeout = "NFC-TIMEOUT"
	// FaultProtocol: the PN532 answers, but not as a PN532 should
	// (frames still bad after NACKs, error frames, another chip).
	// Status: HardwareError.
	FaultProtocol = "NFC-PROTOCOL"
)

// Errors. The *hal.Fault errors the driver returns wrap one of them and,
// for offline and timeout faults, hal.ErrOffline or hal.ErrTimeout.
var (
	// ErrChecksum: a frame with a bad length or data checksum.
	ErrChecksum = errors.New("pn532: bad frame checksum")
	// ErrFrame: a frame with an impossible length or a bad postamble.
	ErrFrame = errors.New("pn532: malformed frame")
	// ErrNoACK: the PN532 did not acknowledge a command frame.
	ErrNoACK = errors.New("pn532: no ACK")
	// ErrNoResponse: the PN532 acknowledged a command but did not answer.
	ErrNoResponse = errors.New("pn532: no response")
	// ErrSyntax: the PN532 answered with its error frame (it found the
	// command unknown or malformed).
	ErrSyntax = errors.New("pn532: PN532 reported a syntax error")
	// ErrNotPN532: GetFirmwareVersion named another chip.
	ErrNotPN532 = errors.New("pn532: not a PN532")
	// ErrHangup: the serial line hung up (reads return end of file at
	// once).
	ErrHangup = errors.New("pn532: serial line hung up")
	// ErrClosed: the device was closed.
	ErrClosed = errors.New("pn532: device closed")
)

// device is the hal.Fault device class.
const device = "nfctag"

func offline(msg string, cause error) *hal.Fault {
	return &hal.Fault{Device: device, Code: FaultOffline, Msg: msg, Recoverable: true, Err: fmt.Errorf("%w: %w", hal.ErrOffline, cause)}
}

func timeout(msg string, cause error) *hal.Fault {
	return &hal.Fault{Device: device, Code: FaultTimeout, Msg: msg, Recoverable: true, Err: fmt.Errorf("%w: %w", hal.ErrTimeout, cause)}
}

func protocol(msg string, raw []byte, cause error) *hal.Fault {
	return &hal.Fault{Device: device, Code: FaultProtocol, Msg: msg, Recoverable: true, Raw: raw, Err: cause}
}

// stateOf is the device state a fault puts the tag in.
func stateOf(f *hal.Fault) hal.State {
	if f.Code == FaultProtocol {
		return hal.HardwareError
	}
	return hal.Offline
}

// asFault turns any error from the link into a *hal.Fault.
func asFault(err error) *hal.Fault {
	var f *hal.Fault
	if errors.As(err, &f) {
		return f
	}
	return offline("serial line failed", err)
}
