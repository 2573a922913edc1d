package vcard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// vpcd control bytes: a frame whose payload is one byte is a command
// from the reader driver, not an APDU (an APDU has at least four bytes).
const (
	CtrlPowerOff byte = 0x00 // power the card down; no answer
	CtrlPowerOn  byte = 0x01 // power the card up; no answer
	CtrlReset    byte = 0x02 // warm reset; no answer
	CtrlGetATR   byte = 0x04 // answer with the ATR
)

// MaxFrame is the largest payload a vpcd frame can carry (the length
// prefix is two bytes).
const MaxFrame = 0xFFFF

// Errors of the vpcd framing.
var (
	// ErrFrame: the bytes are not a well-formed vpcd frame.
	ErrFrame = errors.New("vcard: bad vpcd frame")
)

// ReadFrame reads one vpcd frame — a two-byte big-endian length, then
// that many bytes — and returns its payload. A stream that ends inside
// a frame gives io.ErrUnexpectedEOF wrapped with ErrFrame; one that ends
// between frames gives io.EOF.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: length cut short: %w", ErrFrame, err)
		}
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: payload of %d bytes cut short: %w", ErrFrame, len(p), err)
	}
	return p, nil
}

// AppendFrame appends the vpcd frame carrying p to dst. It fails if p is
// longer than MaxFrame.
func AppendFrame(dst, p []byte) ([]byte, error) {
	if len(p) > MaxFrame {
		return dst, fmt.Errorf("%w: payload of %d bytes", ErrFrame, len(p))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(p)))
	return append(dst, p...), nil
}

// ParseFrame splits the first vpcd frame off b: it returns the payload
// and the bytes after the frame. It fails with ErrFrame (wrapping
// io.ErrUnexpectedEOF) if b holds less than a whole frame.
func ParseFrame(b []byte) (payload, rest []byte, err error) {
	if len(b) < 2 {
		return nil, b, fmt.Errorf("%w: %d bytes, no length: %w", ErrFrame, len(b), io.ErrUnexpectedEOF)
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, b, fmt.Errorf("%w: payload of %d bytes, %d present: %w", ErrFrame, n, len(b)-2, io.ErrUnexpectedEOF)
	}
	return b[2 : 2+n], b[2+n:], nil
}
