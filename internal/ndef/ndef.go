package ndef

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// TNF is a record's type name format: how to interpret its Type.
type TNF uint8

// Type name formats (NDEF 1.0 §3.2.6).
const (
	TNFEmpty       TNF = 0x00 // no type, ID or payload
	TNFWellKnown   TNF = 0x01 // NFC Forum well-known type (RTD), e.g. "U", "T", "Sp"
	TNFMedia       TNF = 0x02 // MIME media type (RFC 2046), e.g. "text/plain"
	TNFAbsoluteURI TNF = 0x03 // the type is an absolute URI (RFC 3986)
	TNFExternal    TNF = 0x04 // NFC Forum external type, e.g. "android.com:pkg"
	TNFUnknown     TNF = 0x05 // payload of unknown type; no type field
	TNFUnchanged   TNF = 0x06 // continuation chunk of a chunked record
	TNFReserved    TNF = 0x07 // reserved; never valid
)

var tnfNames = [...]string{"empty", "well-known", "media", "absolute-uri", "external", "unknown", "unchanged", "reserved"}

// String names the TNF.
func (t TNF) String() string {
	if int(t) < len(tnfNames) {
		return tnfNames[t]
	}
	return fmt.Sprintf("tnf(%d)", uint8(t))
}

// Header flag bits.
const (
	flagMB = 0x80
	flagME = 0x40
	flagCF = 0x20
	flagSR = 0x10
	flagIL = 0x08
	tnfMax = 0x07
)

// Record is one NDEF record. Encode derives the header flags from the
// record's place in the message and from the field lengths.
type Record struct {
	TNF     TNF
	Type    []byte
	ID      []byte
	Payload []byte
}

// Message is an NDEF message: one or more records.
type Message []Record

// Errors. Parse wraps them in a *ParseError; Encode wraps ErrInvalid.
var (
	// ErrEmpty: a message without records.
	ErrEmpty = errors.New("ndef: empty message")
	// ErrTruncated: a length field runs past the end of the input.
	ErrTruncated = errors.New("ndef: truncated record")
	// ErrFlags: MB or ME missing or misplaced.
	ErrFlags = errors.New("ndef: bad message begin/end flags")
	// ErrChunked: a chunked record (CF flag or TNF unchanged); not supported.
	ErrChunked = errors.New("ndef: chunked records are not supported")
	// ErrTNF: the reserved TNF, or a type/ID/payload where the TNF forbids one.
	ErrTNF = errors.New("ndef: type name format violated")
	// ErrTrailing: bytes after the record that carries ME.
	ErrTrailing = errors.New("ndef: bytes after the last record")
	// ErrInvalid: a record that cannot be encoded or read as asked.
	ErrInvalid = errors.New("ndef: invalid record")
)

// ParseError says which record of the input failed and at which byte
// offset, and wraps one of the sentinel errors.
type ParseError struct {
	Record int // index of the record, from 0
	Offset int // byte offset in the input where the problem was found
	Err    error
}

// Error formats the error as "ndef: record N at byte M: ...".
func (e *ParseError) Error() string {
	return fmt.Sprintf("ndef: record %d at byte %d: %v", e.Record, e.Offset, e.Err)
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

// check validates a record against its TNF's rules (NDEF 1.0 §3.3).
func (r Record) check() error {
	switch r.TNF {
	case TNFEmpty:
		if len(r.Type) != 0 || len(r.ID) != 0 || len(r.Payload) != 0 {
			return fmt.Errorf("%w: an empty record carries a type, ID or payload", ErrTNF)
		}
	case TNFWellKnown, TNFMedia, TNFAbsoluteURI, TNFExternal:
		if len(r.Type) == 0 {
			return fmt.Errorf("%w: TNF %v needs a type", ErrTNF, r.TNF)
		}
	case TNFUnknown:
		if len(r.Type) != 0 {
			return fmt.Errorf("%w: TNF unknown carries a type", ErrTNF)
		}
	case TNFUnchanged:
		return ErrChunked
	default:
		return fmt.Errorf("%w: TNF %d is reserved", ErrTNF, uint8(r.TNF))
	}
	if len(r.Type) > math.MaxUint8 || len(r.ID) > math.MaxUint8 {
		return fmt.Errorf("%w: type or ID longer than 255 bytes", ErrInvalid)
	}
	if uint64(len(r.Payload)) > math.MaxUint32 {
		return fmt.Errorf("%w: payload longer than 2^32-1 bytes", ErrInvalid)
	}
	return nil
}

// Encode returns the message's bytes: MB on the first record, ME on the
// last, SR for payloads under 256 bytes, IL when a record has an ID.
func (m Message) Encode() ([]byte, error) {
	if len(m) == 0 {
		return nil, ErrEmpty
	}
	var out []byte
	for i, r := range m {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("ndef: encode record %d: %w", i, errors.Join(ErrInvalid, err))
		}
		h := byte(r.TNF)
		if i == 0 {
			h |= flagMB
		}
		if i == len(m)-1 {
			h |= flagME
		}
		short := len(r.Payload) <= math.MaxUint8
		if short {
			h |= flagSR
		}
		if len(r.ID) > 0 {
			h |= flagIL
		}
		out = append(out, h, byte(len(r.Type)))
		if short {
			out = append(out, byte(len(r.Payload)))
		} else {
			out = binary.BigEndian.AppendUint32(out, uint32(len(r.Payload)))
		}
		if len(r.ID) > 0 {
			out = append(out, byte(len(r.ID)))
		}
		out = append(out, r.Type...)
		out = append(out, r.ID...)
		out = append(out, r.Payload...)
	}
	return out, nil
}

// Parse decodes a complete NDEF message. The records it returns hold
// copies of the input's bytes.
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, &ParseError{Err: ErrEmpty}
	}
	var m Message
	off := 0
	for i := 0; ; i++ {
		fail := func(at int, err error) (Message, error) {
			return nil, &ParseError{Record: i, Offset: at, Err: err}
		}
		start := off
		if len(b)-off < 3 {
			return fail(off, ErrTruncated)
		}
		h := b[off]
		if (h&flagMB != 0) != (i == 0) {
			return fail(start, ErrFlags)
		}
		if h&flagCF != 0 {
			return fail(start, ErrChunked)
		}
		typeLen := int(b[off+1])
		off += 2
		var payloadLen uint64
		if h&flagSR != 0 {
			payloadLen = uint64(b[off])
			off++
		} else {
			if len(b)-off < 4 {
				return fail(off, ErrTruncated)
			}
			payloadLen = uint64(binary.BigEndian.Uint32(b[off:]))
			off += 4
		}
		idLen := 0
		if h&flagIL != 0 {
			if len(b)-off < 1 {
				return fail(off, ErrTruncated)
			}
			idLen = int(b[off])
			off++
		}
		if uint64(len(b)-off) < uint64(typeLen)+uint64(idLen)+payloadLen {
			return fail(off, ErrTruncated)
		}
		r := Record{TNF: TNF(h & tnfMax)}
		r.Type = bytes.Clone(b[off : off+typeLen])
		off += typeLen
		r.ID = bytes.Clone(b[off : off+idLen])
		off += idLen
		r.Payload = bytes.Clone(b[off : off+int(payloadLen)])
		off += int(payloadLen)
		if err := r.check(); err != nil {
			return fail(start, err)
		}
		normalise(&r)
		m = append(m, r)
		if h&flagME != 0 {
			if off != len(b) {
				return fail(off, ErrTrailing)
			}
			return m, nil
		}
		if off == len(b) {
			return fail(off, fmt.Errorf("%w: the last record lacks ME", ErrFlags))
		}
	}
}

// normalise turns empty fields into nil so that parsed records compare
// equal to built ones.
func normalise(r *Record) {
	if len(r.Type) == 0 {
		r.Type = nil
	}
	if len(r.ID) == 0 {
		r.ID = nil
	}
	if len(r.Payload) == 0 {
		r.Payload = nil
	}
}

// Equal reports whether two records have the same TNF, type, ID and
// payload.
func (r Record) Equal(o Record) bool {
	return r.TNF == o.TNF && bytes.Equal(r.Type, o.Type) && bytes.Equal(r.ID, o.ID) && bytes.Equal(r.Payload, o.Payload)
}

// Equal reports whether two messages have equal records in the same order.
func (m Message) Equal(o Message) bool {
	if len(m) != len(o) {
		return false
	}
	for i := range m {
		if !m[i].Equal(o[i]) {
			return false
		}
	}
	return true
}

// String describes the record without its payload, which may carry a
// one-time session value: "well-known U (23 bytes)".
func (r Record) String() string {
	return fmt.Sprintf("%v %q (%d bytes)", r.TNF, r.Type, len(r.Payload))
}
