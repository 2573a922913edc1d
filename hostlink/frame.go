package hostlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameLen is the longest message a 2-byte length header can announce.
const MaxFrameLen = 0xFFFF

// Framing errors. After either of them from ReadFrame the stream is out of
// step and the connection must be closed.
var (
	ErrEmptyFrame    = errors.New("hostlink: empty frame")
	ErrFrameTooLarge = errors.New("hostlink: frame too large")
)

// WriteFrame writes msg behind its 2-byte big-endian length, in a single
// Write call.
func WriteFrame(w io.Writer, msg []byte) error {
	if len(msg) == 0 {
		return ErrEmptyFrame
	}
	if len(msg) > MaxFrameLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(msg), MaxFrameLen)
	}
	buf := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(buf, uint16(len(msg)))
	copy(buf[2:], msg)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("hostlink: write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame and returns its message. limit bounds the
// message length; limit <= 0 or above MaxFrameLen means MaxFrameLen. It
// returns io.EOF when the stream ends cleanly before a frame, and
// io.ErrUnexpectedEOF (wrapped) when it ends inside one.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	if limit <= 0 || limit > MaxFrameLen {
		limit = MaxFrameLen
	}
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("hostlink: read frame header: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("hostlink: read frame body: %w", err)
	}
	return msg, nil
}
