package admin

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/hostlink"
)

// Network management codes (field 70).
const (
	NetStatus = "360" // status report
	NetTotals = "370" // totals for reconciliation
)

// Field 48 tags.
const (
	TagService      = "SV"             // status: service state
	TagFaults       = health.ReportTag // status: active faults ("DS")
	TagPeriod       = "TP"             // totals: period start
	TagCount        = "TN"             // totals: the ATM's withdrawals
	TagAmount       = "TA"             // totals: the ATM's cash handed out
	TagHostCount    = "HN"             // totals response: the host's withdrawals
	TagHostAmount   = "HA"             // totals response: the host's approved less reversed
	RCReconcileFail = "95"             // totals response: the amounts differ
)

// Service states (TagService).
const (
	InService    = "I"
	OutOfService = "O"
	Supervisor   = "S"
)

// periodLayout is TagPeriod's format.
const periodLayout = "20060102150405"

// maxDigits bounds the decimal counts and amounts (a 12-digit amount is
// what field 4 carries).
const maxDigits = 15

// ErrMalformed is wrapped by every parse and encode error.
var ErrMalformed = errors.New("admin: malformed field 48")

// Status is field 48 of a status report.
type Status struct {
	Service string // InService, OutOfService or Supervisor
	Faults  string // health.Report's text; "" no fault
}

// Encode returns the field 48 text.
func (s Status) Encode() (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	out, err := hostlink.TLV{{Tag: TagService, Value: s.Service}, {Tag: TagFaults, Value: s.Faults}}.Encode()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

func (s Status) check() error {
	switch s.Service {
	case InService, OutOfService, Supervisor:
	default:
		return fmt.Errorf("%w: %s is not I, O or S", ErrMalformed, TagService)
	}
	if _, err := health.ParseReport(s.Faults); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, TagFaults, err)
	}
	return nil
}

// ParseStatus decodes field 48 of a status report: both tags, a known
// service state and a well-formed fault report (health.ParseReport).
func ParseStatus(field48 string) (Status, error) {
	t, err := hostlink.ParseTLV(field48)
	if err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var s Status
	var ok bool
	if s.Service, ok = t.Get(TagService); !ok {
		return Status{}, fmt.Errorf("%w: no %s", ErrMalformed, TagService)
	}
	if s.Faults, ok = t.Get(TagFaults); !ok {
		return Status{}, fmt.Errorf("%w: no %s", ErrMalformed, TagFaults)
	}
	if err := s.check(); err != nil {
		return Status{}, err
	}
	return s, nil
}

// Totals is what one side counted in a period: withdrawals that handed
// out cash and the amount, in minor units of the message's currency.
type Totals struct {
	Since  time.Time // period start (UTC, whole seconds); ATM side only
	Count  int
	Amount int64
}

// Encode returns field 48 of a totals request (TP, TN, TA).
func (t Totals) Encode() (string, error) {
	if t.Since.IsZero() || t.Since.Year() < 1000 || t.Since.Year() > 9999 {
		return "", fmt.Errorf("%w: %s out of range", ErrMalformed, TagPeriod)
	}
	if t.Count < 0 || t.Amount < 0 {
		return "", fmt.Errorf("%w: negative totals", ErrMalformed)
	}
	out, err := hostlink.TLV{
		{Tag: TagPeriod, Value: t.Since.UTC().Format(periodLayout)},
		{Tag: TagCount, Value: strconv.Itoa(t.Count)},
		{Tag: TagAmount, Value: strconv.FormatInt(t.Amount, 10)},
	}.Encode()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

// ParseTotals decodes field 48 of a totals request.
func ParseTotals(field48 string) (Totals, error) {
	t, err := hostlink.ParseTLV(field48)
	if err != nil {
		return Totals{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	p, ok := t.Get(TagPeriod)
	if !ok {
		return Totals{}, fmt.Errorf("%w: no %s", ErrMalformed, TagPeriod)
	}
	since, err := time.Parse(periodLayout, p)
	if err != nil || len(p) != len(periodLayout) {
		return Totals{}, fmt.Errorf("%w: %s is not YYYYMMDDhhmmss", ErrMalformed, TagPeriod)
	}
	n, a, err := counts(t, TagCount, TagAmount)
	if err != nil {
		return Totals{}, err
	}
	return Totals{Since: since, Count: int(n), Amount: a}, nil
}

// EncodeHost returns field 48 of a totals response (HN, HA).
func EncodeHost(t Totals) (string, error) {
	if t.Count < 0 || t.Amount < 0 {
		return "", fmt.Errorf("%w: negative totals", ErrMalformed)
	}
	out, err := hostlink.TLV{
		{Tag: TagHostCount, Value: strconv.Itoa(t.Count)},
		{Tag: TagHostAmount, Value: strconv.FormatInt(t.Amount, 10)},
	}.Encode()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

// ParseHost decodes field 48 of a totals response.
func ParseHost(field48 string) (Totals, error) {
	t, err := hostlink.ParseTLV(field48)
	if err != nil {
		return Totals{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	n, a, err := counts(t, TagHostCount, TagHostAmount)
	if err != nil {
		return Totals{}, err
	}
	return Totals{Count: int(n), Amount: a}, nil
}

func counts(t hostlink.TLV, countTag, amountTag string) (int64, int64, error) {
	var out [2]int64
	for i, tag := range []string{countTag, amountTag} {
		v, ok := t.Get(tag)
		if !ok {
			return 0, 0, fmt.Errorf("%w: no %s", ErrMalformed, tag)
		}
		if v == "" || len(v) > maxDigits || (len(v) > 1 && v[0] == '0') {
			return 0, 0, fmt.Errorf("%w: %s is not a decimal count", ErrMalformed, tag)
		}
		for j := 0; j < len(v); j++ {
			if v[j] < '0' || v[j] > '9' {
				return 0, 0, fmt.Errorf("%w: %s is not a decimal count", ErrMalformed, tag)
			}
		}
		out[i], _ = strconv.ParseInt(v, 10, 64) // at most 15 digits: fits
	}
	if out[0] > 1<<31-1 {
		return 0, 0, fmt.Errorf("%w: %s too large", ErrMalformed, countTag)
	}
	return out[0], out[1], nil
}
