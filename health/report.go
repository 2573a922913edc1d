package health

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ReportTag is the field 48 tag that carries Report's text in the
// host-link status message.
const ReportTag = "DS"

// MaxReportLen bounds Report's text, leaving room in field 48 (999 bytes)
// for the message's other tags.
const MaxReportLen = 512

// maxOmitted is the largest count a report's "+N" carries.
const maxOmitted = 999

// ErrMalformedReport is wrapped by every ParseReport error.
var ErrMalformedReport = errors.New("health: malformed status report")

// ReportError says where a status report is malformed and why. It wraps
// ErrMalformedReport; it never quotes the report.
type ReportError struct {
	Offset int    // byte offset of the bad part
	Msg    string // what is wrong there
}

// Error formats the error with the package prefix.
func (e *ReportError) Error() string {
	return fmt.Sprintf("%v at offset %d: %s", ErrMalformedReport, e.Offset, e.Msg)
}

// Unwrap returns ErrMalformedReport.
func (e *ReportError) Unwrap() error { return ErrMalformedReport }

// ReportItem is one fault in a status report.
type ReportItem struct {
	Device string // "dispenser"
	Code   string // "DSP-CASS-EMPTY"
	Unit   string // "cassette.2", or ""
}

// ParsedReport is a status report as ParseReport reads it.
type ParsedReport struct {
	Items []ReportItem
	// Omitted counts faults the sender left out to stay within
	// MaxReportLen (or could not write), the "+N" at the end.
	Omitted int
}

// Report formats the active faults as the ATM's status for the host:
// the value of field 48 tag ReportTag. The text is
//
//	device=CODE[@unit][,CODE[@unit]...][;device=...][;+N]
//
// for example "dispenser=DSP-CASS-EMPTY@cassette.2,DSP-JAM;printer=PRN-PAPER-LOW":
// devices in the order Devices() gives, codes sorted within each, each
// fault once. No fault is the empty text (tag DS000: all clear). It is at
// most MaxReportLen bytes of printable ASCII: when the faults do not fit,
// the most severe are kept and "+N" says how many were left out; a fault
// whose device, code or unit cannot be written is counted there too.
func Report(active []Fault) string {
	items := make([]ReportItem, 0, len(active))
	for _, f := range active {
		items = append(items, ReportItem{Device: f.Device, Code: f.Code, Unit: f.Unit})
	}
	return ParsedReport{Items: items}.String()
}

// String formats the report canonically, as Report does: invalid and
// repeated items dropped (invalid ones counted in Omitted), devices in
// order, the most severe items kept when they do not all fit.
func (p ParsedReport) String() string {
	omitted := p.Omitted
	seen := map[ReportItem]bool{}
	var items []ReportItem
	for _, it := range p.Items {
		switch {
		case !validDevice(it.Device) || !validCode(it.Code) || (it.Unit != "" && !validUnit(it.Unit)):
			omitted++
		case !seen[it]:
			seen[it] = true
			items = append(items, it)
		}
	}
	// Keep the most severe first, as many as fit with room for ";+999".
	sort.SliceStable(items, func(i, j int) bool {
		si, sj := severityOf(items[i].Code), severityOf(items[j].Code)
		if si != sj {
			return si > sj
		}
		return lessItem(items[i], items[j])
	})
	var kept []ReportItem
	for i, it := range items {
		try := append(append([]ReportItem(nil), kept...), it)
		room := MaxReportLen - len(";+999")
		if i == len(items)-1 && omitted == 0 {
			room = MaxReportLen
		}
		if len(format(try)) <= room {
			kept = try
		} else {
			omitted++
		}
	}
	s := format(kept)
	if omitted > 0 {
		if s != "" {
			s += ";"
		}
		s += "+" + strconv.Itoa(min(omitted, maxOmitted))
	}
	return s
}

// severityOf is the catalogue severity of code (Degraded when unknown).
func severityOf(code string) Severity {
	e, _ := Lookup(code)
	return e.Severity
}

// format writes items grouped by device, devices and codes in order.
func format(items []ReportItem) string {
	sorted := append([]ReportItem(nil), items...)
	sort.Slice(sorted, func(i, j int) bool { return lessItem(sorted[i], sorted[j]) })
	var b strings.Builder
	for i, it := range sorted {
		switch {
		case i == 0:
			b.WriteString(it.Device + "=")
		case it.Device != sorted[i-1].Device:
			b.WriteString(";" + it.Device + "=")
		default:
			b.WriteByte(',')
		}
		b.WriteString(it.Code)
		if it.Unit != "" {
			b.WriteString("@" + it.Unit)
		}
	}
	return b.String()
}

func lessItem(a, b ReportItem) bool {
	if a.Device != b.Device {
		return lessDevice(a.Device, b.Device)
	}
	if a.Code != b.Code {
		return a.Code < b.Code
	}
	return a.Unit < b.Unit
}

// ParseReport reads a status report (the value of field 48 tag
// ReportTag). It is strict: a device appears once, each of its items
// once, "+N" (1 to 999) only at the end; devices are lower-case names,
// codes upper-case catalogue codes, units lower-case names with dots.
// Unknown devices and codes are accepted: a newer ATM may know more. It
// fails with a *ReportError wrapping ErrMalformedReport.
func ParseReport(s string) (ParsedReport, error) {
	var p ParsedReport
	if s == "" {
		return p, nil
	}
	if len(s) > 999 {
		return p, &ReportError{Offset: 999, Msg: "longer than field 48 can carry"}
	}
	devices := map[string]bool{}
	off := 0
	groups := strings.Split(s, ";")
	for gi, g := range groups {
		start := off
		off += len(g) + 1
		if n, ok := strings.CutPrefix(g, "+"); ok {
			if gi != len(groups)-1 {
				return ParsedReport{}, &ReportError{Offset: start, Msg: "omitted count before the end"}
			}
			v, err := strconv.Atoi(n)
			if err != nil || len(n) > 3 || v < 1 || v > maxOmitted || n[0] == '0' {
				return ParsedReport{}, &ReportError{Offset: start + 1, Msg: "omitted count is not 1 to 999"}
			}
			p.Omitted = v
			continue
		}
		device, list, ok := strings.Cut(g, "=")
		if !ok {
			return ParsedReport{}, &ReportError{Offset: start, Msg: "no '=' after the device"}
		}
		if !validDevice(device) {
			return ParsedReport{}, &ReportError{Offset: start, Msg: "bad device name"}
		}
		if devices[device] {
			return ParsedReport{}, &ReportError{Offset: start, Msg: "device listed twice"}
		}
		devices[device] = true
		seen := map[ReportItem]bool{}
		ioff := start + len(device) + 1
		for _, item := range strings.Split(list, ",") {
			code, unit, hasUnit := strings.Cut(item, "@")
			switch {
			case !validCode(code):
				return ParsedReport{}, &ReportError{Offset: ioff, Msg: "bad fault code"}
			case hasUnit && !validUnit(unit):
				return ParsedReport{}, &ReportError{Offset: ioff + len(code) + 1, Msg: "bad unit"}
			}
			it := ReportItem{Device: device, Code: code, Unit: unit}
			if seen[it] {
				return ParsedReport{}, &ReportError{Offset: ioff, Msg: "fault listed twice"}
			}
			seen[it] = true
			p.Items = append(p.Items, it)
			ioff += len(item) + 1
		}
	}
	return p, nil
}

// maxNameLen bounds device and unit names.
const maxNameLen = 32

// validDevice: a lower-case letter, then lower-case letters, digits and
// hyphens.
func validDevice(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validUnit: lower-case letters, digits, dots and hyphens, starting with
// a letter or digit.
func validUnit(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
