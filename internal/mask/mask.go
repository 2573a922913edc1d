// Package mask hides card data before it reaches a log, a screen, a
// receipt or the journal.
//
// PAN returns the PCI DSS display form (first six and last four digits,
// the rest as '*'); Last4 returns the form used on screens and receipts.
// Anything that is not a plausible PAN is masked entirely, so a caller
// that passes the wrong string still leaks nothing.
package mask

import "strings"

// PAN masks a primary account number to its first six and last four
// digits, e.g. "476173******0119". Input that is not 12–19 digits is
// replaced by '*' of the same length.
func PAN(pan string) string {
	if !isPAN(pan) {
		return strings.Repeat("*", len(pan))
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

// Last4 returns "**** 0119" for a PAN, or "****" when pan is not a PAN.
func Last4(pan string) string {
	if !isPAN(pan) {
		return "****"
	}
	return "**** " + pan[len(pan)-4:]
}

func isPAN(s string) bool {
	if len(s) < 12 || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
