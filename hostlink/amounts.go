package hostlink

import (
	"errors"
	"fmt"
	"strconv"
)

// Amount types of field 54.
const (
	AmountLedger    = "01" // ledger (current) balance
	AmountAvailable = "02" // available balance
)

const (
	amountLen     = 20           // one field 54 entry
	maxAmounts    = 6            // 120 bytes, the field's limit
	maxAmountAbs  = 999999999999 // n12
	amountsFormat = "%s%s%s%c%012d"
)

// ErrMalformedAmounts is wrapped by every ParseAmounts and EncodeAmounts
// error.
var ErrMalformedAmounts = errors.New("hostlink: malformed field 54")

// Balance is one entry of field 54, additional amounts.
type Balance struct {
	AccountType string // n2: "00" default, "10" savings, "20" current
	AmountType  string // n2: AmountLedger or AmountAvailable
	Currency    string // n3: ISO 4217 numeric
	Amount      int64  // minor units; negative is a debit balance
}

// EncodeAmounts returns field 54 for bs: per entry account type (n2),
// amount type (n2), currency (n3), sign ('C' credit or zero, 'D' debit)
// and the absolute amount (n12), 20 characters in all, at most six
// entries.
func EncodeAmounts(bs []Balance) (string, error) {
	if len(bs) > maxAmounts {
		return "", fmt.Errorf("%w: %d entries, limit %d", ErrMalformedAmounts, len(bs), maxAmounts)
	}
	var out []byte
	for i, b := range bs {
		if len(b.AccountType) != 2 || !isDigits(b.AccountType) ||
			len(b.AmountType) != 2 || !isDigits(b.AmountType) ||
			len(b.Currency) != 3 || !isDigits(b.Currency) {
			return "", fmt.Errorf("%w: entry %d: account type, amount type and currency must be 2, 2 and 3 digits", ErrMalformedAmounts, i)
		}
		if b.Amount > maxAmountAbs || b.Amount < -maxAmountAbs {
			return "", fmt.Errorf("%w: entry %d: amount out of range", ErrMalformedAmounts, i)
		}
		sign, abs := byte('C'), b.Amount
		if abs < 0 {
			sign, abs = 'D', -abs
		}
		out = fmt.Appendf(out, amountsFormat, b.AccountType, b.AmountType, b.Currency, sign, abs)
	}
	return string(out), nil
}

// ParseAmounts decodes field 54. The empty string is no entries.
func ParseAmounts(s string) ([]Balance, error) {
	if len(s)%amountLen != 0 || len(s) > maxAmounts*amountLen {
		return nil, fmt.Errorf("%w: length %d is not a multiple of %d up to %d", ErrMalformedAmounts, len(s), amountLen, maxAmounts*amountLen)
	}
	var bs []Balance
	for off := 0; off < len(s); off += amountLen {
		e := s[off : off+amountLen]
		if !isDigits(e[:7]) || !isDigits(e[8:]) {
			return nil, fmt.Errorf("%w: entry %d: non-digit", ErrMalformedAmounts, off/amountLen)
		}
		n, _ := strconv.ParseInt(e[8:], 10, 64) // 12 digits always fit
		switch e[7] {
		case 'C':
		case 'D':
			n = -n
		default:
			return nil, fmt.Errorf("%w: entry %d: sign must be C or D", ErrMalformedAmounts, off/amountLen)
		}
		bs = append(bs, Balance{AccountType: e[:2], AmountType: e[2:4], Currency: e[4:7], Amount: n})
	}
	return bs, nil
}
