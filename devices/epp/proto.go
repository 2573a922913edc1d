package epp

import (
	"errors"
	"fmt"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
)

// Commands, responses and events of docs/devices/epp.md.
const (
	cmdGetStatus   = 0x01
	cmdLoadKey     = 0x02
	cmdDeleteKey   = 0x03
	cmdMAC         = 0x04
	cmdKeyCheck    = 0x05
	cmdPINEntry    = 0x10
	cmdDataEntry   = 0x11
	cmdKeyEntry    = 0x12
	cmdCancelEntry = 0x13
	cmdBeep        = 0x14
	evKey          = 0x40
	evStatus       = 0x41
)

var cmdNames = map[byte]string{
	cmdGetStatus: "GET-STATUS", cmdLoadKey: "LOAD-KEY", cmdDeleteKey: "DELETE-KEY",
	cmdMAC: "MAC", cmdKeyCheck: "KEY-CHECK",
	cmdPINEntry: "PIN-ENTRY", cmdDataEntry: "DATA-ENTRY", cmdKeyEntry: "KEY-ENTRY",
	cmdCancelEntry: "CANCEL-ENTRY", cmdBeep: "BEEP",
}

func cmdName(c byte) string {
	if n, ok := cmdNames[c]; ok {
		return n
	}
	return fmt.Sprintf("%02X", c)
}

// responseWait is how long the device may take to answer each command
// after its ACK; entries have no limit (0).
var responseWait = map[byte]time.Duration{
	cmdGetStatus: 500 * time.Millisecond, cmdCancelEntry: 500 * time.Millisecond, cmdBeep: 500 * time.Millisecond,
	cmdLoadKey: time.Second, cmdDeleteKey: time.Second,
	cmdMAC: 500 * time.Millisecond, cmdKeyCheck: 500 * time.Millisecond,
}

// MAC parts (MAC's PT byte) and limits (epp.md).
const (
	macWhole  = 0x00
	macFirst  = 0x01
	macMiddle = 0x02
	macLast   = 0x03
	// macPart is the most data one MAC command carries.
	macPart = 1000
)

// MaxMACData is the most data MAC takes: what the EPP keeps of a MAC
// sent in parts.
const MaxMACData = 8192

// Status bytes (framing.md).
const (
	statusOK        = 0x00
	statusUnknown   = 0x01
	statusBadParam  = 0x02
	statusBusy      = 0x03
	statusCancelled = 0x04
	statusTimeout   = 0x05
	statusFault     = 0x06
	statusSecurity  = 0x07
	statusNotReady  = 0x08
)

var statusNames = [...]string{"OK", "unknown command", "bad parameters", "busy", "cancelled",
	"device timeout", "hardware fault", "security refusal", "not ready"}

// Key codes.
const (
	codeMasked = 0x2A
	codeEnter  = 0x0D
)

var keyCodes = map[pinpad.Key]byte{
	"0": 0x30, "1": 0x31, "2": 0x32, "3": 0x33, "4": 0x34,
	"5": 0x35, "6": 0x36, "7": 0x37, "8": 0x38, "9": 0x39,
	pinpad.KeyEnter: codeEnter, pinpad.KeyCancel: 0x1B, pinpad.KeyClear: 0x7F, pinpad.KeyBackspace: 0x08,
	pinpad.F1: 0xF1, pinpad.F2: 0xF2, pinpad.F3: 0xF3, pinpad.F4: 0xF4,
	pinpad.F5: 0xF5, pinpad.F6: 0xF6, pinpad.F7: 0xF7, pinpad.F8: 0xF8,
}

var codeKeys = func() map[byte]pinpad.Key {
	m := make(map[byte]pinpad.Key, len(keyCodes))
	for k, c := range keyCodes {
		m[c] = k
	}
	return m
}()

// formatCodes maps contract formats to FM bytes.
var formatCodes = map[pinpad.Format]byte{pinpad.ISO0: 0x00, pinpad.ISO4: 0x04}

// fmTerminated is the FM byte of a PIN-ENTRY response that carries the
// terminator pressed instead of a block.
const fmTerminated = 0xFF

// Errors.
var (
	// ErrClosed: the Dev was closed.
	ErrClosed = errors.New("epp: closed")
	// ErrProtocol: the device broke the protocol (garbage, bad CRCs after
	// retries, a malformed response). The fault is PIN-PROTOCOL.
	ErrProtocol = errors.New("epp: protocol error")
	// ErrNotReady: the device answered "not ready" (status 08).
	ErrNotReady = errors.New("epp: device not ready")
	// ErrRefused: the device refused for security (status 07) for a
	// reason this driver does not know.
	ErrRefused = errors.New("epp: refused by the device")
)

// AnswerError is a command the device answered with a status other than
// OK (framing.md's status byte; for status 07, the reason byte). It
// unwraps to what the status means for callers: hal.ErrUnsupported,
// hal.ErrInvalid (with pinpad.ErrBadRequest for entries), hal.ErrBusy,
// hal.ErrCancelled, hal.ErrTimeout, pinpad.ErrNoKey, ErrRefused or
// ErrNotReady. A hardware fault (status 06) is a *hal.Fault instead.
type AnswerError struct {
	Command string // e.g. "PIN-ENTRY"
	Status  byte
	Reason  byte // status 07 only
	errs    []error
}

// Error describes the answer.
func (e *AnswerError) Error() string {
	s := fmt.Sprintf("%s answered %02X", e.Command, e.Status)
	if int(e.Status) < len(statusNames) {
		s += " (" + statusNames[e.Status] + ")"
	}
	if e.Status == statusSecurity {
		s += fmt.Sprintf(", reason %02X", e.Reason)
	}
	for _, err := range e.errs {
		s += ": " + err.Error()
	}
	return s
}

// Unwrap returns what the answer means.
func (e *AnswerError) Unwrap() []error { return e.errs }

// answerError turns a non-OK response into an error; entry says whether
// the command was an entry (bad parameters then also mean
// pinpad.ErrBadRequest).
func answerError(cmd byte, data []byte, entry bool) error {
	e := &AnswerError{Command: cmdName(cmd), Status: data[0]}
	switch data[0] {
	case statusUnknown:
		e.errs = []error{hal.ErrUnsupported}
	case statusBadParam:
		e.errs = []error{hal.ErrInvalid}
		if entry {
			e.errs = append(e.errs, pinpad.ErrBadRequest)
		}
	case statusBusy:
		e.errs = []error{hal.ErrBusy}
	case statusCancelled:
		e.errs = []error{hal.ErrCancelled}
	case statusTimeout:
		e.errs = []error{hal.ErrTimeout}
	case statusFault:
		return deviceFault(data[1:])
	case statusSecurity:
		if len(data) > 1 {
			e.Reason = data[1]
		}
		switch e.Reason {
		case 0x01:
			e.errs = []error{pinpad.ErrNoKey}
		case 0x02:
			e.errs = []error{pinpad.ErrBadRequest, hal.ErrInvalid}
		default:
			e.errs = []error{ErrRefused}
		}
	case statusNotReady:
		e.errs = []error{ErrNotReady}
	default:
		return protocolFault(fmt.Sprintf("%s answered with status %02X", cmdName(cmd), data[0]), data)
	}
	return e
}

// devStatus is GET-STATUS's and the STATUS event's device status.
type devStatus struct {
	state byte // 00 ready, 01 entry running, 02 fault
	entry byte // the running entry's command
	fault string
	caps  pinpad.Capabilities
}

// parseStatus decodes ST EN FL code NF formats FK FG.
func parseStatus(b []byte) (devStatus, error) {
	var s devStatus
	bad := func(why string) (devStatus, error) {
		return devStatus{}, protocolFault("malformed device status: "+why, b)
	}
	if len(b) < 3 {
		return bad("too short")
	}
	s.state, s.entry = b[0], b[1]
	fl := int(b[2])
	if s.state > 2 || fl > 16 || len(b) < 3+fl+1 {
		return bad("state or fault code")
	}
	s.fault = string(b[3 : 3+fl])
	if !printable(s.fault) || (s.state == 2) != (fl > 0) {
		return bad("fault code")
	}
	rest := b[3+fl:]
	nf := int(rest[0])
	if len(rest) != 1+nf+2 {
		return bad("length")
	}
	for _, c := range rest[1 : 1+nf] {
		switch c {
		case 0x00:
			s.caps.Formats = append(s.caps.Formats, pinpad.ISO0)
		case 0x04:
			s.caps.Formats = append(s.caps.Formats, pinpad.ISO4)
		}
	}
	s.caps.FDKs = int(rest[1+nf])
	s.caps.Beeper = rest[2+nf]&0x01 != 0
	if s.caps.FDKs > 8 {
		return bad("FDK count")
	}
	return s, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// validName reports whether s can be sent as a key name.
func validName(s string) bool { return len(s) >= 1 && len(s) <= 16 && printable(s) }

// Fault constructors. Link faults are recoverable: the driver keeps
// greeting the device.

func offlineFault(msg string, err error) *hal.Fault {
	cause := hal.ErrOffline
	if err != nil {
		cause = fmt.Errorf("%w: %w", hal.ErrOffline, err)
	}
	return &hal.Fault{Device: device, Code: FaultOffline, Msg: msg, Recoverable: true, Err: cause}
}

func timeoutFault(msg string) *hal.Fault {
	return &hal.Fault{Device: device, Code: FaultTimeout, Msg: msg, Recoverable: true, Err: hal.ErrTimeout}
}

func protocolFault(msg string, raw []byte) *hal.Fault {
	return &hal.Fault{Device: device, Code: FaultProtocol, Msg: msg, Recoverable: true,
		Raw: append([]byte(nil), raw...), Err: ErrProtocol}
}

// deviceFault is a fault the device reported (status 06, a STATUS event).
func deviceFault(code []byte) *hal.Fault {
	c := string(code)
	if !printable(c) || len(c) == 0 || len(c) > 16 {
		return protocolFault("status 06 without a valid fault code", code)
	}
	msg := "device reports a hardware fault"
	if c == FaultTamper {
		msg = "tamper detected, keys erased"
	}
	return &hal.Fault{Device: device, Code: c, Msg: msg, Raw: append([]byte(nil), code...)}
}
