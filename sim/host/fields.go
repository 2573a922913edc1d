package host

import (
	"errors"
	"strconv"
)

// errFormat is wrapped by the reasons a request gets response code 30.
// They name fields, never values.
var errFormat = errors.New("host: format error")

// original is what the host uses of field 90, original data elements
// (n42), as hostlink.OriginalData writes it:
//
//	offset  len  content
//	0       4    original MTI
//	4       6    original STAN (field 11)
//	10      10   original transmission date and time, MMDDhhmmss (field 7)
//	20      11   acquiring institution id, zero-filled
//	31      11   forwarding institution id, zero-filled
type original struct {
	MTI          string
	STAN         string
	TransmitTime string
}

// parseOriginal decodes field 90.
func parseOriginal(s string) (original, error) {
	if len(s) != 42 || !isDigits(s) {
		return original{}, errors.New("host: field 90 must be 42 digits")
	}
	return original{MTI: s[0:4], STAN: s[4:10], TransmitTime: s[10:20]}, nil
}

// parseReplacement returns the actual transaction amount of field 95,
// replacement amounts (an42: actual transaction amount n12, actual
// settlement amount n12, then two fees of sign and n8): the minor units
// that did reach the customer. An absent field, like an amount of zero,
// means a full reversal.
func parseReplacement(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if len(s) != 42 || !isDigits(s[:12]) {
		return 0, errors.New("host: field 95 must be 42 characters starting with 12 digits")
	}
	return strconv.ParseInt(s[:12], 10, 64)
}
