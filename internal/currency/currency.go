// Package currency knows the few ISO 4217 currencies atmd deals in: their
// numeric codes (ISO 8583 field 49), minor units, and how amounts are
// written on screens and receipts.
package currency

import (
	"errors"
	"strconv"
	"strings"
)

// Currency is one ISO 4217 currency.
type Currency struct {
	Alpha   string // "TWD"
	Numeric string // "901"
	Exp     int    // minor unit exponent: amounts are in 10^-Exp units
	Symbol  string // "NT$"
}

var table = []Currency{
	{"TWD", "901", 2, "NT$"},
	{"USD", "840", 2, "US$"},
	{"EUR", "978", 2, "€"},
	{"JPY", "392", 0, "¥"},
	{"CNY", "156", 2, "CN¥"},
	{"HKD", "344", 2, "HK$"},
}

// ErrUnknown: the currency is not in the table.
var ErrUnknown = errors.New("currency: unknown currency")

// ByAlpha looks a currency up by its alphabetic code.
func ByAlpha(a string) (Currency, error) {
	for _, c := range table {
		if c.Alpha == a {
			return c, nil
		}
	}
	return Currency{}, ErrUnknown
}

// ByNumeric looks a currency up by its numeric code.
func ByNumeric(n string) (Currency, error) {
	for _, c := range table {
		if c.Numeric == n {
			return c, nil
		}
	}
	return Currency{}, ErrUnknown
}

// Major returns how many minor units make one major unit (100 for TWD).
func (c Currency) Major() int64 {
	m := int64(1)
	for i := 0; i < c.Exp; i++ {
		m *= 10
	}
	return m
}

// Format writes amount (minor units) with the symbol and thousands
// separators, dropping a zero fraction: 150000 TWD → "NT$1,500";
// 150050 → "NT$1,500.50".
func (c Currency) Format(amount int64) string {
	neg := amount < 0
	if neg {
		amount = -amount
	}
	major, minor := amount/c.Major(), amount%c.Major()
	s := strconv.FormatInt(major, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := c.Symbol + b.String()
	if minor != 0 {
		f := strconv.FormatInt(minor, 10)
		out += "." + strings.Repeat("0", c.Exp-len(f)) + f
	}
	if neg {
		out = "-" + out
	}
	return out
}
