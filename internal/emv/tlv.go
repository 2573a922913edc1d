package emv

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors.
var (
	// ErrMalformed: the bytes do not follow the format.
	ErrMalformed = errors.New("emv: malformed data")
	// ErrTruncated: the bytes end inside an element. It wraps
	// ErrMalformed, so callers that only care about bad input test for
	// that.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrMalformed)
)

// ParseError says where a parser gave up.
type ParseError struct {
	What   string // what was being parsed: "TLV", "DOL", "AFL", "track 2"
	Offset int    // byte offset into the input
	Tag    Tag    // the tag being parsed, 0 if none yet
	Err    error  // ErrMalformed or ErrTruncated, with detail
}

// Error formats the error with its position.
func (e *ParseError) Error() string {
	s := "emv: " + e.What + " at offset " + strconv.Itoa(e.Offset)
	if e.Tag != 0 {
		s += " (tag " + e.Tag.String() + ")"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Tag is a BER-TLV tag, its bytes read as a big-endian number: 0x9F26 is
// the two-byte tag 9F 26.
type Tag uint32

// Tags used by atmd's EMV kernel and virtual card.
const (
	TagAID            Tag = 0x4F   // application identifier (ADF name) in a directory entry
	TagLabel          Tag = 0x50   // application label
	TagTrack2         Tag = 0x57   // track 2 equivalent data
	TagPAN            Tag = 0x5A   // application PAN
	TagRecord         Tag = 0x70   // READ RECORD response template
	TagRespFormat2    Tag = 0x77   // response message template format 2
	TagRespFormat1    Tag = 0x80   // response message template format 1
	TagAIP            Tag = 0x82   // application interchange profile
	TagCommandData    Tag = 0x83   // command template (GPO data)
	TagDFName         Tag = 0x84   // dedicated file name
	TagPriority       Tag = 0x87   // application priority indicator
	TagSFI            Tag = 0x88   // short file identifier of a directory
	TagARC            Tag = 0x8A   // authorisation response code
	TagCDOL1          Tag = 0x8C   // card risk management DOL 1
	TagCDOL2          Tag = 0x8D   // card risk management DOL 2
	TagCVMList        Tag = 0x8E   // cardholder verification method list
	TagAFL            Tag = 0x94   // application file locator
	TagTVR            Tag = 0x95   // terminal verification results
	TagTxnDate        Tag = 0x9A   // transaction date, YYMMDD
	TagTxnType        Tag = 0x9C   // transaction type
	TagDirEntry       Tag = 0x61   // application template (directory entry)
	TagFCI            Tag = 0x6F   // file control information template
	TagFCIProprietary Tag = 0xA5   // FCI proprietary template
	TagName           Tag = 0x5F20 // cardholder name
	TagExpiry         Tag = 0x5F24 // application expiration date, YYMMDD
	TagEffective      Tag = 0x5F25 // application effective date, YYMMDD
	TagIssuerCountry  Tag = 0x5F28 // issuer country code
	TagCurrency       Tag = 0x5F2A // transaction currency code
	TagLanguage       Tag = 0x5F2D // language preference
	TagPANSeq         Tag = 0x5F34 // PAN sequence number
	TagAmount         Tag = 0x9F02 // amount, authorised
	TagAmountOther    Tag = 0x9F03 // amount, other
	TagAUC            Tag = 0x9F07 // application usage control
	TagAppVersion     Tag = 0x9F08 // application version number (card)
	TagIAD            Tag = 0x9F10 // issuer application data
	TagCountry        Tag = 0x9F1A // terminal country code
	TagIFDSerial      Tag = 0x9F1E // interface device serial number
	TagTxnTime        Tag = 0x9F21 // transaction time, HHMMSS
	TagAC             Tag = 0x9F26 // application cryptogram
	TagCID            Tag = 0x9F27 // cryptogram information data
	TagTermCaps       Tag = 0x9F33 // terminal capabilities
	TagCVMResults     Tag = 0x9F34 // CVM results
	TagTermType       Tag = 0x9F35 // terminal type
	TagATC            Tag = 0x9F36 // application transaction counter
	TagUN             Tag = 0x9F37 // unpredictable number
	TagPDOL           Tag = 0x9F38 // processing options DOL
	TagAddTermCaps    Tag = 0x9F40 // additional terminal capabilities
	TagPINTryCounter  Tag = 0x9F17 // PIN try counter
)

// String returns the tag in upper-case hex, e.g. "9F26".
func (t Tag) String() string {
	b := t.Bytes()
	const hexdigits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

// Bytes returns the tag's encoding (1 to 4 bytes).
func (t Tag) Bytes() []byte {
	switch {
	case t <= 0xFF:
		return []byte{byte(t)}
	case t <= 0xFFFF:
		return []byte{byte(t >> 8), byte(t)}
	case t <= 0xFFFFFF:
		return []byte{byte(t >> 16), byte(t >> 8), byte(t)}
	}
	return []byte{byte(t >> 24), byte(t >> 16), byte(t >> 8), byte(t)}
}

// Constructed reports whether the tag's value is itself BER-TLV (bit 6
// of the first byte).
func (t Tag) Constructed() bool {
	b := t.Bytes()
	return b[0]&0x20 != 0
}

// TLV is one data object. Value is the raw value; for a constructed tag
// it holds the encoded children (see Children).
type TLV struct {
	Tag   Tag
	Value []byte
}

// Children parses the value of a constructed object.
func (t TLV) Children() ([]TLV, error) {
	if !t.Tag.Constructed() {
		return nil, &ParseError{What: "TLV", Tag: t.Tag, Err: fmt.Errorf("%w: %s is primitive", ErrMalformed, t.Tag)}
	}
	return Parse(t.Value)
}

// maxTagBytes is the longest tag Parse accepts (EMV uses up to 3; the
// Tag type holds 4).
const maxTagBytes = 4

// Parse decodes a sequence of BER-TLV objects, one level deep: the
// values of constructed objects are returned undecoded. Padding bytes 00
// and FF between objects are skipped, as EMV Book 3 annex B allows. The
// whole input must be consumed; lengths are definite, at most 3 bytes
// (0x83).
func Parse(b []byte) ([]TLV, error) {
	var out []TLV
	for i := 0; i < len(b); {
		if b[i] == 0x00 || b[i] == 0xFF {
			i++
			continue
		}
		t, n, err := parseTag(b[i:])
		if err != nil {
			return out, &ParseError{What: "TLV", Offset: i, Err: err}
		}
		l, m, err := parseLen(b[i+n:])
		if err != nil {
			return out, &ParseError{What: "TLV", Offset: i + n, Tag: t, Err: err}
		}
		start := i + n + m
		if l > len(b)-start {
			return out, &ParseError{What: "TLV", Offset: i, Tag: t,
				Err: fmt.Errorf("%w: value of %d bytes, %d left", ErrTruncated, l, len(b)-start)}
		}
		out = append(out, TLV{Tag: t, Value: b[start : start+l]})
		i = start + l
	}
	return out, nil
}

func parseTag(b []byte) (Tag, int, error) {
	t := Tag(b[0])
	if b[0]&0x1F != 0x1F {
		return t, 1, nil
	}
	for n := 1; ; n++ {
		if n >= len(b) {
			return 0, 0, fmt.Errorf("%w: tag ends early", ErrTruncated)
		}
		if n >= maxTagBytes {
			return 0, 0, fmt.Errorf("%w: tag longer than %d bytes", ErrMalformed, maxTagBytes)
		}
		t = t<<8 | Tag(b[n])
		if b[n]&0x80 == 0 {
			return t, n + 1, nil
		}
	}
}

func parseLen(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: no length", ErrTruncated)
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	n := int(b[0] & 0x7F)
	if n == 0 || n > 3 {
		return 0, 0, fmt.Errorf("%w: length form %02X", ErrMalformed, b[0])
	}
	if len(b) < 1+n {
		return 0, 0, fmt.Errorf("%w: length ends early", ErrTruncated)
	}
	l := 0
	for _, c := range b[1 : 1+n] {
		l = l<<8 | int(c)
	}
	return l, 1 + n, nil
}

// Find returns the value of the first object with the given tag,
// searching depth first through constructed objects. Malformed input
// is an error.
func Find(b []byte, tag Tag) ([]byte, bool, error) {
	var found []byte
	ok := false
	err := Walk(b, func(t TLV) bool {
		if t.Tag == tag {
			found, ok = t.Value, true
			return false
		}
		return true
	})
	if ok {
		return found, true, nil
	}
	return nil, false, err
}

// Walk calls fn for every object in b, depth first, descending into
// constructed objects after visiting them; fn returns false to stop.
// Nesting deeper than 8 levels is malformed.
func Walk(b []byte, fn func(TLV) bool) error {
	_, err := walk(b, fn, 0)
	return err
}

func walk(b []byte, fn func(TLV) bool, depth int) (bool, error) {
	if depth > 8 {
		return false, &ParseError{What: "TLV", Err: fmt.Errorf("%w: nested too deep", ErrMalformed)}
	}
	tlvs, err := Parse(b)
	if err != nil {
		return false, err
	}
	for _, t := range tlvs {
		if !fn(t) {
			return false, nil
		}
		if t.Tag.Constructed() {
			more, err := walk(t.Value, fn, depth+1)
			if err != nil || !more {
				return more, err
			}
		}
	}
	return true, nil
}

// Flatten returns every primitive object in b, depth first, by tag; when
// a tag occurs twice the first one wins (EMV forbids duplicates within a
// template, so a caller that cares checks with Walk).
func Flatten(b []byte) (map[Tag][]byte, error) {
	m := map[Tag][]byte{}
	err := Walk(b, func(t TLV) bool {
		if _, dup := m[t.Tag]; !dup && !t.Tag.Constructed() {
			m[t.Tag] = t.Value
		}
		return true
	})
	return m, err
}

// Append appends the encoding of one object to dst. It panics if value
// is longer than 0xFFFFFF bytes, which no EMV object is.
func Append(dst []byte, tag Tag, value []byte) []byte {
	dst = append(dst, tag.Bytes()...)
	dst = AppendLen(dst, len(value))
	return append(dst, value...)
}

// AppendLen appends a BER length.
func AppendLen(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xFFFFFF:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	panic("emv: value too long for BER-TLV")
}

// Encode encodes the objects in order.
func Encode(tlvs ...TLV) []byte {
	var out []byte
	for _, t := range tlvs {
		out = Append(out, t.Tag, t.Value)
	}
	return out
}
