package emv

import (
	"fmt"
)

// Errors of the numeric codecs never quote the value: it may be a PAN.

// Numeric encodes a string of decimal digits as EMV format n: packed
// BCD, right-justified in size bytes and padded with leading zeros. It
// fails if s is not all digits or does not fit.
func Numeric(s string, size int) ([]byte, error) {
	if !digits(s) {
		return nil, fmt.Errorf("%w: value is not numeric", ErrMalformed)
	}
	if len(s) > 2*size {
		return nil, fmt.Errorf("%w: %d digits do not fit %d bytes", ErrMalformed, len(s), size)
	}
	out := make([]byte, size)
	for i, j := len(s)-1, 2*size-1; i >= 0; i, j = i-1, j-1 {
		d := s[i] - '0'
		if j%2 == 1 {
			out[j/2] |= d
		} else {
			out[j/2] |= d << 4
		}
	}
	return out, nil
}

// NumericInt encodes v ≥ 0 as format n in size bytes.
func NumericInt(v int64, size int) ([]byte, error) {
	if v < 0 {
		return nil, fmt.Errorf("%w: negative amount %d", ErrMalformed, v)
	}
	return Numeric(fmt.Sprint(v), size)
}

// DecodeNumeric decodes format n: every nibble must be a decimal digit.
// Leading zeros are kept, so "0158" stays four digits.
func DecodeNumeric(b []byte) (string, error) {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		hi, lo := c>>4, c&15
		if hi > 9 || lo > 9 {
			return "", fmt.Errorf("%w: not BCD (%d bytes)", ErrMalformed, len(b))
		}
		out = append(out, '0'+hi, '0'+lo)
	}
	return string(out), nil
}

// CompressedNumeric encodes digits as EMV format cn: packed BCD,
// left-justified and padded with trailing F nibbles to size bytes (size
// 0: just long enough).
func CompressedNumeric(s string, size int) ([]byte, error) {
	if !digits(s) {
		return nil, fmt.Errorf("%w: value is not numeric", ErrMalformed)
	}
	if size == 0 {
		size = (len(s) + 1) / 2
	}
	if len(s) > 2*size {
		return nil, fmt.Errorf("%w: %d digits do not fit %d bytes", ErrMalformed, len(s), size)
	}
	out := make([]byte, size)
	for i := range out {
		out[i] = 0xFF
	}
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if i%2 == 0 {
			out[i/2] = d<<4 | 0x0F
		} else {
			out[i/2] = out[i/2]&0xF0 | d
		}
	}
	return out, nil
}

// DecodeCompressedNumeric decodes format cn: digits up to the first F
// nibble, after which every nibble must be F.
func DecodeCompressedNumeric(b []byte) (string, error) {
	out := make([]byte, 0, 2*len(b))
	pad := false
	for _, c := range b {
		for _, n := range [2]byte{c >> 4, c & 15} {
			switch {
			case n == 0xF:
				pad = true
			case pad || n > 9:
				return "", fmt.Errorf("%w: not compressed numeric (%d bytes)", ErrMalformed, len(b))
			default:
				out = append(out, '0'+n)
			}
		}
	}
	return string(out), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
