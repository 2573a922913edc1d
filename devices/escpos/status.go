package escpos

import (
	"fmt"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Real-time status requests, DLE EOT n: n=1 printer, 2 off-line cause,
// 3 error cause, 4 roll paper sensor. The printer answers each with one
// byte, even while it is off-line or in error.
var statusRequest = []byte{
	0x10, 0x04, 0x01,
	0x10, 0x04, 0x02,
	0x10, 0x04, 0x03,
	0x10, 0x04, 0x04,
}

// Flow-control bytes a printer set to XON/XOFF may send at any time.
// Neither can be a status byte: real-time status has bit 0 off, GS r
// status has bit 4 off.
const (
	xon  = 0x11
	xoff = 0x13
)

// sensors is what the four real-time status bytes say.
type sensors struct {
	raw [4]byte

	offline       bool // DLE EOT 1, bit 3
	coverOpen     bool // DLE EOT 2, bit 2
	feeding       bool // DLE EOT 2, bit 3: paper fed by the FEED button
	paperEndStop  bool // DLE EOT 2, bit 5: printing stopped at paper end
	errorStop     bool // DLE EOT 2, bit 6: an error stopped the printer
	cutterError   bool // DLE EOT 3, bit 3
	unrecoverable bool // DLE EOT 3, bit 5
	autoRecover   bool // DLE EOT 3, bit 6: e.g. print head too hot
	nearEnd       bool // DLE EOT 4, bits 2–3: roll near its end
	paperEnd      bool // DLE EOT 4, bits 5–6: no paper at the end sensor
}

// isRealtime reports whether b has the fixed bits of a DLE EOT answer:
// bit 0 off, bit 1 on, bit 4 on, bit 7 off.
func isRealtime(b byte) bool { return b&0x93 == 0x12 }

// parseStatus decodes the answers to DLE EOT 1, 2, 3 and 4, in order.
// A byte without the fixed bits is a protocol error.
func parseStatus(b []byte) (sensors, error) {
	var s sensors
	if len(b) != 4 {
		return s, fmt.Errorf("escpos: %d status bytes, want 4: %w", len(b), ErrProtocol)
	}
	for i, c := range b {
		if !isRealtime(c) {
			return s, fmt.Errorf("escpos: status byte %d is %02X, fixed bits wrong: %w", i+1, c, ErrProtocol)
		}
	}
	copy(s.raw[:], b)
	s.offline = b[0]&0x08 != 0
	s.coverOpen = b[1]&0x04 != 0
	s.feeding = b[1]&0x08 != 0
	s.paperEndStop = b[1]&0x20 != 0
	s.errorStop = b[1]&0x40 != 0
	s.cutterError = b[2]&0x08 != 0
	s.unrecoverable = b[2]&0x20 != 0
	s.autoRecover = b[2]&0x40 != 0
	s.nearEnd = b[3]&0x0C != 0
	s.paperEnd = b[3]&0x60 != 0
	return s, nil
}

// paperSensor is the answer to GS r 1 (transmit paper sensor status),
// which the printer sends only once it has processed everything before
// it: bits 0–1 near end, bits 2–3 paper end, bits 4 and 7 off.
type paperSensor struct {
	nearEnd, paperEnd bool
}

// isPaperSensor reports whether b has the fixed bits of a GS r answer.
func isPaperSensor(b byte) bool { return b&0x90 == 0 }

// parsePaperSensor decodes a GS r 1 answer.
func parsePaperSensor(b byte) (paperSensor, error) {
	if !isPaperSensor(b) {
		return paperSensor{}, fmt.Errorf("escpos: paper sensor byte %02X, fixed bits wrong: %w", b, ErrProtocol)
	}
	return paperSensor{nearEnd: b&0x03 != 0, paperEnd: b&0x0C != 0}, nil
}

// paper names the roll's state as Status.Extra["paper"] does.
func (s sensors) paper() string {
	switch {
	case s.paperEnd || s.paperEndStop:
		return "out"
	case s.nearEnd:
		return "low"
	}
	return "ok"
}

// status turns the sensors into a device status and, when the printer
// cannot print, the fault that says why (nil when it can). busy is set
// when the printer is off-line for a moment without a fault (paper being
// fed with the FEED button, waiting for online recovery).
func (s sensors) status() (st hal.Status, f *hal.Fault) {
	paper := s.paper()
	st = hal.Status{State: hal.Online, Extra: map[string]string{"paper": paper}}
	fault := func(state hal.State, code, msg string, recoverable bool, err error) (hal.Status, *hal.Fault) {
		st.State, st.Fault, st.Detail = state, code, msg
		return st, &hal.Fault{Device: "printer", Code: code, Msg: msg, Recoverable: recoverable, Raw: s.raw[:], Err: err}
	}
	switch {
	case s.unrecoverable:
		return fault(hal.HardwareError, FaultHardware, "unrecoverable printer error", false, nil)
	case s.cutterError:
		return fault(hal.HardwareError, FaultJam, "autocutter error: paper jammed at the cutter", true, nil)
	case s.autoRecover:
		return fault(hal.HardwareError, FaultHardware, "print head too hot; printing resumes when it cools", true, nil)
	case s.coverOpen:
		return fault(hal.UserError, FaultCoverOpen, "cover open", true, nil)
	case paper == "out":
		return fault(hal.UserError, FaultPaperOut, "paper out", true, printer.ErrPaperOut)
	case s.errorStop:
		return fault(hal.HardwareError, FaultHardware, "printer stopped by an error", true, nil)
	case s.offline || s.feeding:
		st.State, st.Detail = hal.Busy, "printer off-line for a moment (paper feed or recovery)"
		return st, nil
	case paper == "low":
		st.Detail = "paper near end"
	}
	return st, nil
}
