package hostlink

import (
	"errors"
	"fmt"
	"strconv"
)

// Field 48 tags defined by the profile.
const (
	TagNonce  = "NC" // dispenser nonce, hex; ATM → host in 0200
	TagToken  = "DT" // dispense token, hex; host → ATM in an approved 0210
	TagReason = "RR" // reversal reason code; ATM → host in 0420/0421
)

// Reversal reason codes carried under TagReason.
const (
	ReasonTimeout     = "TO" // no response to the request
	ReasonMisdispense = "MD" // the dispenser failed; nothing was presented
	ReasonPartial     = "PD" // part of the amount was dispensed (see field 95)
	ReasonCancelled   = "CA" // the transaction was abandoned after approval
)

// maxTLVLen is the longest field 48 the LLL prefix can carry.
const maxTLVLen = 999

// ErrMalformedTLV is wrapped by every ParseTLV and TLV.Encode error.
var ErrMalformedTLV = errors.New("hostlink: malformed field 48")

// Element is one tag of field 48.
type Element struct {
	Tag   string // two characters, A-Z or 0-9
	Value string // printable ASCII, at most 999 bytes
}

// TLV is field 48: an ordered list of elements, each written as
// TAG (2 upper-case letters or digits), LEN (3 decimal digits) and
// VALUE (LEN printable ASCII bytes). A tag appears at most once and the
// whole field is at most 999 bytes.
type TLV []Element

// Get returns the value of tag.
func (t TLV) Get(tag string) (string, bool) {
	for _, e := range t {
		if e.Tag == tag {
			return e.Value, true
		}
	}
	return "", false
}

// Set replaces the value of tag, or appends it when absent.
func (t *TLV) Set(tag, value string) {
	for i := range *t {
		if (*t)[i].Tag == tag {
			(*t)[i].Value = value
			return
		}
	}
	*t = append(*t, Element{Tag: tag, Value: value})
}

// Encode returns the field 48 text. It fails, wrapping ErrMalformedTLV,
// on a bad tag, a duplicate tag, a non-printable or too long value, or a
// total over 999 bytes. Errors name the tag, never the value.
func (t TLV) Encode() (string, error) {
	var b []byte
	seen := make(map[string]bool, len(t))
	for _, e := range t {
		if !validTag(e.Tag) {
			return "", fmt.Errorf("%w: bad tag %q", ErrMalformedTLV, e.Tag)
		}
		if seen[e.Tag] {
			return "", fmt.Errorf("%w: duplicate tag %s", ErrMalformedTLV, e.Tag)
		}
		seen[e.Tag] = true
		if !printable(e.Value) {
			return "", fmt.Errorf("%w: tag %s: non-printable value", ErrMalformedTLV, e.Tag)
		}
		if len(e.Value) > maxTLVLen {
			return "", fmt.Errorf("%w: tag %s: value too long", ErrMalformedTLV, e.Tag)
		}
		b = append(b, e.Tag...)
		b = append(b, fmt.Sprintf("%03d", len(e.Value))...)
		b = append(b, e.Value...)
	}
	if len(b) > maxTLVLen {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedTLV, len(b), maxTLVLen)
	}
	return string(b), nil
}

// ParseTLV decodes field 48. The empty string is an empty TLV. It fails,
// wrapping ErrMalformedTLV, on a bad tag or length, a duplicate tag, a
// value running past the end, a non-printable byte or a total over 999
// bytes. Errors give offsets and tags, never values.
func ParseTLV(s string) (TLV, error) {
	if len(s) > maxTLVLen {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedTLV, len(s), maxTLVLen)
	}
	var t TLV
	for off := 0; off < len(s); {
		if len(s)-off < 5 {
			return nil, fmt.Errorf("%w: truncated header at offset %d", ErrMalformedTLV, off)
		}
		tag, lenText := s[off:off+2], s[off+2:off+5]
		if !validTag(tag) {
			return nil, fmt.Errorf("%w: bad tag at offset %d", ErrMalformedTLV, off)
		}
		if !isDigits(lenText) {
			return nil, fmt.Errorf("%w: tag %s: bad length", ErrMalformedTLV, tag)
		}
		n, _ := strconv.Atoi(lenText)
		off += 5
		if n > len(s)-off {
			return nil, fmt.Errorf("%w: tag %s: value truncated", ErrMalformedTLV, tag)
		}
		if _, dup := t.Get(tag); dup {
			return nil, fmt.Errorf("%w: duplicate tag %s", ErrMalformedTLV, tag)
		}
		v := s[off : off+n]
		if !printable(v) {
			return nil, fmt.Errorf("%w: tag %s: non-printable value", ErrMalformedTLV, tag)
		}
		t = append(t, Element{Tag: tag, Value: v})
		off += n
	}
	return t, nil
}

func validTag(tag string) bool {
	if len(tag) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		c := tag[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
