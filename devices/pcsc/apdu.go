package pcsc

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Status words the kernel branches on.
const (
	swOK             uint16 = 0x9000
	swConditions     uint16 = 0x6985 // conditions of use not satisfied
	swFileNotFound   uint16 = 0x6A82
	swRecordNotFound uint16 = 0x6A83
	swFuncNotSupp    uint16 = 0x6A81 // function not supported (card blocked)
	swSelectedInval  uint16 = 0x6283 // selected file invalidated (application blocked)
)

// maxGetResponse bounds the GET RESPONSE chain of one command.
const maxGetResponse = 16

// Response is a response APDU: the data and the status word SW1 SW2.
type Response struct {
	Data []byte
	SW   uint16
}

// ErrShortResponse: a response APDU shorter than its two status bytes,
// or with a first status byte that ISO 7816-4 does not allow. It wraps
// ErrProtocol.
var ErrShortResponse = fmt.Errorf("%w: malformed response APDU", ErrProtocol)

// ParseResponse splits a response APDU into data and status word. SW1
// must be 61–6F or 90–9F (ISO 7816-4 section 5.1.3).
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: %d bytes", ErrShortResponse, len(b))
	}
	sw1 := b[len(b)-2]
	if (sw1 < 0x61 || sw1 > 0x6F) && (sw1 < 0x90 || sw1 > 0x9F) {
		return Response{}, fmt.Errorf("%w: SW1 %02X", ErrShortResponse, sw1)
	}
	return Response{Data: b[:len(b)-2], SW: uint16(sw1)<<8 | uint16(b[len(b)-1])}, nil
}

// transceiver carries one command APDU to the card and its response
// back. The PC/SC session implements it; tests replay recorded
// exchanges.
type transceiver interface {
	transmit(ctx context.Context, apdu []byte) ([]byte, error)
}

// command builds a short command APDU of case 2 (data nil) or case 4,
// always with Le = 00 (up to 256 bytes).
func command(cla, ins, p1, p2 byte, data []byte) []byte {
	out := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		out = append(out, byte(len(data)))
		out = append(out, data...)
	}
	return append(out, 0x00)
}

// exchange sends cmd and returns the card's complete response: it
// follows 61xx with GET RESPONSE and repeats the command once with the
// length a 6Cxx names, as a T=0 card requires.
func exchange(ctx context.Context, t transceiver, step string, cmd []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	raw, err := t.transmit(ctx, cmd)
	if err != nil {
		return Response{}, err
	}
	r, err := ParseResponse(raw)
	if err != nil {
		return Response{}, &CardError{Step: step, Raw: clip(step, raw), Err: err}
	}
	if r.SW>>8 == 0x6C {
		again := append([]byte(nil), cmd...)
		again[len(again)-1] = byte(r.SW)
		if raw, err = t.transmit(ctx, again); err != nil {
			return Response{}, err
		}
		if r, err = ParseResponse(raw); err != nil {
			return Response{}, &CardError{Step: step, Raw: clip(step, raw), Err: err}
		}
	}
	data := r.Data
	for i := 0; r.SW>>8 == 0x61; i++ {
		if i == maxGetResponse {
			return Response{}, &CardError{Step: step, SW: r.SW, Err: fmt.Errorf("%w: more than %d GET RESPONSEs", ErrProtocol, maxGetResponse)}
		}
		if raw, err = t.transmit(ctx, []byte{0x00, 0xC0, 0x00, 0x00, byte(r.SW)}); err != nil {
			return Response{}, err
		}
		if r, err = ParseResponse(raw); err != nil {
			return Response{}, &CardError{Step: step + " (GET RESPONSE)", Raw: clip(step, raw), Err: err}
		}
		data = append(data, r.Data...)
	}
	return Response{Data: data, SW: r.SW}, nil
}

// clip keeps at most the first 16 bytes of a malformed response for a
// fault's Raw field — enough to diagnose — and nothing of a READ RECORD
// answer, which may hold the PAN.
func clip(step string, b []byte) []byte {
	if strings.HasPrefix(step, "READ RECORD") {
		return nil
	}
	if len(b) > 16 {
		b = b[:16]
	}
	return append([]byte(nil), b...)
}

// CardError is an EMV step the card did not complete: it answered with
// an unexpected status word or with data that does not follow EMV.
type CardError struct {
	Step string // "SELECT", "GET PROCESSING OPTIONS", "READ RECORD", "GENERATE AC", ...
	SW   uint16 // the status word, 0 when the response itself was malformed
	// Raw holds the start of a malformed response when it cannot carry
	// card data; nil otherwise.
	Raw []byte
	Err error // wraps ErrProtocol or ErrNoApplication
}

// Error describes the step and the status word.
func (e *CardError) Error() string {
	s := "pcsc: " + e.Step
	if e.SW != 0 {
		s += fmt.Sprintf(": status %04X", e.SW)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *CardError) Unwrap() error { return e.Err }

// swError is the CardError for a status word a step cannot go on with.
func swError(step string, sw uint16) error {
	return &CardError{Step: step, SW: sw, Err: fmt.Errorf("%w: unexpected status word", ErrProtocol)}
}

// dataError is the CardError for data that breaks EMV's rules.
func dataError(step string, err error) error {
	return &CardError{Step: step, Err: fmt.Errorf("%w: %w", ErrProtocol, err)}
}

var errNoCandidate = errors.New("no application on the card matches the terminal's list")
