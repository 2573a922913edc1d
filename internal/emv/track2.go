package emv

import (
	"fmt"
	"strings"

	"github.com/atmd/atmd/internal/mask"
)

// Track2 is track 2 equivalent data (tag 57): the PAN, the expiry, the
// service code and the issuer's discretionary data. String masks the
// PAN; Text is the clear form.
type Track2 struct {
	PAN           string // 12–19 digits
	Expiry        string // YYMM
	ServiceCode   string // 3 digits
	Discretionary string // digits, may be empty
}

// ParseTrack2 decodes tag 57's value: BCD digits, the separator nibble D,
// YYMM, the service code, discretionary digits, and at most one trailing
// F nibble to fill the last byte.
func ParseTrack2(b []byte) (Track2, error) {
	var s strings.Builder
	for i, c := range b {
		for j, n := range [2]byte{c >> 4, c & 15} {
			switch {
			case n <= 9:
				s.WriteByte('0' + n)
			case n == 0xD:
				s.WriteByte('=')
			case n == 0xF && i == len(b)-1 && j == 1:
			default:
				return Track2{}, &ParseError{What: "track 2", Offset: i, Err: fmt.Errorf("%w: nibble %X", ErrMalformed, n)}
			}
		}
	}
	return ParseTrack2Text(s.String())
}

// ParseTrack2Text decodes the ISO 7813 text form "PAN=YYMMSSS…" (no
// start or end sentinel).
func ParseTrack2Text(s string) (Track2, error) {
	pan, rest, ok := strings.Cut(s, "=")
	bad := func(why string) (Track2, error) {
		return Track2{}, &ParseError{What: "track 2", Err: fmt.Errorf("%w: %s", ErrMalformed, why)}
	}
	switch {
	case !ok:
		return bad("no separator")
	case len(pan) < 12 || len(pan) > 19 || !digits(pan):
		return bad(fmt.Sprintf("PAN of %d characters", len(pan)))
	case len(rest) < 7 || !digits(rest):
		return bad("expiry and service code missing or not digits")
	case len(pan)+1+len(rest) > 37:
		return bad("longer than 37 characters")
	}
	if m := rest[2:4]; m < "01" || m > "12" {
		return bad("expiry month out of range")
	}
	return Track2{PAN: pan, Expiry: rest[:4], ServiceCode: rest[4:7], Discretionary: rest[7:]}, nil
}

// Text returns the clear ISO 7813 form, "PAN=YYMMSSSDDD…". It carries
// the PAN: never log it.
func (t Track2) Text() string {
	return t.PAN + "=" + t.Expiry + t.ServiceCode + t.Discretionary
}

// String returns the data with the PAN masked and the discretionary data
// hidden.
func (t Track2) String() string {
	return mask.PAN(t.PAN) + "=" + t.Expiry + t.ServiceCode + strings.Repeat("*", len(t.Discretionary))
}

// Bytes encodes the data as tag 57's value.
func (t Track2) Bytes() ([]byte, error) {
	if _, err := ParseTrack2Text(t.Text()); err != nil {
		return nil, err
	}
	s := t.Text()
	out := make([]byte, 0, (len(s)+1)/2)
	for i := 0; i < len(s); i += 2 {
		hi := nibble(s[i])
		lo := byte(0xF)
		if i+1 < len(s) {
			lo = nibble(s[i+1])
		}
		out = append(out, hi<<4|lo)
	}
	return out, nil
}

func nibble(c byte) byte {
	if c == '=' {
		return 0xD
	}
	return c - '0'
}
