package emv

import "fmt"

// DOLEntry is one entry of a data object list: the card asks for the
// value of Tag in Len bytes.
type DOLEntry struct {
	Tag Tag
	Len int
}

// DOL is a data object list (PDOL, CDOL1, CDOL2): tags and lengths, no
// values.
type DOL []DOLEntry

// ParseDOL decodes a data object list.
func ParseDOL(b []byte) (DOL, error) {
	var out DOL
	for i := 0; i < len(b); {
		t, n, err := parseTag(b[i:])
		if err != nil {
			return nil, &ParseError{What: "DOL", Offset: i, Err: err}
		}
		l, m, err := parseLen(b[i+n:])
		if err != nil {
			return nil, &ParseError{What: "DOL", Offset: i + n, Tag: t, Err: err}
		}
		if l > 0xFF {
			return nil, &ParseError{What: "DOL", Offset: i + n, Tag: t, Err: fmt.Errorf("%w: length %d", ErrMalformed, l)}
		}
		out = append(out, DOLEntry{Tag: t, Len: l})
		i += n + m
	}
	return out, nil
}

// Encode returns the list's encoding (tags and lengths).
func (d DOL) Encode() []byte {
	var out []byte
	for _, e := range d {
		out = append(out, e.Tag.Bytes()...)
		out = AppendLen(out, e.Len)
	}
	return out
}

// Size is the length of the data the list asks for.
func (d DOL) Size() int {
	n := 0
	for _, e := range d {
		n += e.Len
	}
	return n
}

// numericTags are the format-n data elements a terminal supplies:
// padded and truncated on the left (EMV Book 3, 5.4).
var numericTags = map[Tag]bool{
	TagAmount: true, TagAmountOther: true, TagCountry: true, TagCurrency: true,
	TagTxnDate: true, TagTxnType: true, TagTxnTime: true, TagIssuerCountry: true,
	0x9F41: true, // transaction sequence counter
	0x5F36: true, // transaction currency exponent
}

// Build concatenates the values a DOL asks for, in order, following EMV
// Book 3 section 5.4: a value of the wrong length is fitted to the
// entry — numeric (format n) values are padded with leading zeros or
// lose their leftmost bytes, other values are padded with trailing
// zeros or lose their rightmost bytes — and a tag without a value is
// sent as zeros. Constructed tags are always sent as zeros.
func (d DOL) Build(values map[Tag][]byte) []byte {
	out := make([]byte, 0, d.Size())
	for _, e := range d {
		v, ok := values[e.Tag]
		if !ok || e.Tag.Constructed() {
			v = nil
		}
		field := make([]byte, e.Len)
		switch {
		case numericTags[e.Tag] && len(v) >= e.Len:
			copy(field, v[len(v)-e.Len:])
		case numericTags[e.Tag]:
			copy(field[e.Len-len(v):], v)
		default:
			copy(field, v)
		}
		out = append(out, field...)
	}
	return out
}

// Split cuts data built from d back into values by tag; it fails unless
// data is exactly d.Size() bytes.
func (d DOL) Split(data []byte) (map[Tag][]byte, error) {
	if len(data) != d.Size() {
		return nil, &ParseError{What: "DOL data", Err: fmt.Errorf("%w: %d bytes, the list asks for %d", ErrMalformed, len(data), d.Size())}
	}
	out := make(map[Tag][]byte, len(d))
	for _, e := range d {
		if _, dup := out[e.Tag]; !dup {
			out[e.Tag] = data[:e.Len:e.Len]
		}
		data = data[e.Len:]
	}
	return out, nil
}
