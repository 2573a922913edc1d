package health

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal"
)

func faults(items ...ReportItem) []Fault {
	var out []Fault
	for _, it := range items {
		out = append(out, Fault{Device: it.Device, Code: it.Code, Unit: it.Unit})
	}
	return out
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active []Fault
		want   string
	}{
		{"all clear", nil, ""},
		{"one", faults(ReportItem{"dispenser", "DSP-JAM", ""}), "dispenser=DSP-JAM"},
		{"the brief's example", faults(ReportItem{"printer", "PRN-PAPER-LOW", ""}, ReportItem{"dispenser", "DSP-JAM", ""}),
			"dispenser=DSP-JAM;printer=PRN-PAPER-LOW"},
		{"units, codes sorted, devices in order", faults(
			ReportItem{HostLink, CodeHostDown, ""},
			ReportItem{"dispenser", "DSP-JAM", ""},
			ReportItem{"dispenser", "DSP-CASS-EMPTY", "cassette.3"},
			ReportItem{"dispenser", "DSP-CASS-EMPTY", "cassette.2"},
			ReportItem{"cardreader", "CRD-BIN-FULL", ""},
			ReportItem{"gizmo", "GIZ-SPIN", ""},
		), "cardreader=CRD-BIN-FULL;dispenser=DSP-CASS-EMPTY@cassette.2,DSP-CASS-EMPTY@cassette.3,DSP-JAM;hostlink=HST-DOWN;gizmo=GIZ-SPIN"},
		{"repeated once", faults(ReportItem{"printer", "PRN-JAM", ""}, ReportItem{"printer", "PRN-JAM", ""}), "printer=PRN-JAM"},
		{"unwritable counted", faults(
			ReportItem{"Printer", "PRN-JAM", ""},
			ReportItem{"printer", "prn jam", ""},
			ReportItem{"dispenser", "DSP-CASS-LOW", "Cassette 1"},
			ReportItem{"camera", "CAM-OFFLINE", ""},
		), "camera=CAM-OFFLINE;+3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Report(tc.active)
			if got != tc.want {
				t.Fatalf("Report = %q, want %q", got, tc.want)
			}
			p, err := ParseReport(got)
			if err != nil {
				t.Fatalf("ParseReport(%q): %v", got, err)
			}
			if p.String() != got {
				t.Errorf("round trip: %q", p.String())
			}
		})
	}
}

func TestReportFromMonitor(t *testing.T) {
	m := NewMonitor()
	m.Observe(t0, "dispenser", hal.Status{State: hal.HardwareError, Fault: "DSP-JAM", Extra: map[string]string{"cassette.1": "ok", "cassette.2": "empty"}})
	m.Observe(t0, "printer", hal.Status{State: hal.Online, Extra: map[string]string{"paper": "low"}})
	if got, want := Report(m.Active()), "dispenser=DSP-CASS-EMPTY@cassette.2,DSP-JAM;printer=PRN-PAPER-LOW"; got != want {
		t.Errorf("Report = %q, want %q", got, want)
	}
}

func TestReportBounded(t *testing.T) {
	var active []Fault
	for i := range 60 {
		active = append(active, Fault{Device: "dispenser", Code: "DSP-CASS-LOW", Unit: "cassette." + strconv.Itoa(i)})
	}
	active = append(active,
		Fault{Device: "sensors", Code: "SEN-TAMPER"},
		Fault{Device: "printer", Code: "PRN-JAM"},
		Fault{Device: HostLink, Code: CodeHostDown},
	)
	got := Report(active)
	if len(got) > MaxReportLen {
		t.Fatalf("Report is %d bytes, limit %d", len(got), MaxReportLen)
	}
	p, err := ParseReport(got)
	if err != nil {
		t.Fatal(err)
	}
	if p.Omitted == 0 || len(p.Items)+p.Omitted != len(active) {
		t.Errorf("%d items and %d omitted, from %d faults", len(p.Items), p.Omitted, len(active))
	}
	// The most severe are kept.
	for _, want := range []string{"sensors=SEN-TAMPER", "printer=PRN-JAM", "hostlink=HST-DOWN"} {
		if !strings.Contains(got, want) {
			t.Errorf("Report lacks %s: %s", want, got)
		}
	}
	if !strings.HasSuffix(got, ";+"+strconv.Itoa(p.Omitted)) {
		t.Errorf("Report ends %q", got[len(got)-10:])
	}
	if p.String() != got {
		t.Errorf("not canonical: %q", p.String())
	}
}

func TestParseReport(t *testing.T) {
	p, err := ParseReport("nfctag=NFC-TIMEOUT;dispenser=DSP-JAM,DSP-CASS-LOW@cassette.1;+4")
	want := ParsedReport{Items: []ReportItem{
		{"nfctag", "NFC-TIMEOUT", ""}, {"dispenser", "DSP-JAM", ""}, {"dispenser", "DSP-CASS-LOW", "cassette.1"},
	}, Omitted: 4}
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("ParseReport = %+v, %v", p, err)
	}
	if got := p.String(); got != "dispenser=DSP-CASS-LOW@cassette.1,DSP-JAM;nfctag=NFC-TIMEOUT;+4" {
		t.Errorf("String = %q", got)
	}
	if p, err := ParseReport(""); err != nil || len(p.Items) != 0 || p.Omitted != 0 {
		t.Errorf("ParseReport(\"\") = %+v, %v", p, err)
	}
	if p, err := ParseReport("+1"); err != nil || p.Omitted != 1 {
		t.Errorf("ParseReport(+1) = %+v, %v", p, err)
	}
}

func TestParseReportRejects(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
	}{
		{"dispenser", 0},
		{"dispenser=", 10},
		{"=DSP-JAM", 0},
		{"Dispenser=DSP-JAM", 0},
		{"dispenser=dsp-jam", 10},
		{"dispenser=DSP-JAM,", 18},
		{"dispenser=DSP-JAM,,DSP-PICK", 18},
		{"dispenser=DSP-JAM@", 18},
		{"dispenser=DSP-JAM@Cassette.1", 18},
		{"dispenser=DSP-JAM@.1", 18},
		{"dispenser=DSP-JAM,DSP-JAM", 18},
		{"dispenser=DSP-JAM;dispenser=DSP-PICK", 18},
		{"dispenser=DSP-JAM;", 18},
		{";dispenser=DSP-JAM", 0},
		{"+2;dispenser=DSP-JAM", 0},
		{"+0", 1},
		{"+01", 1},
		{"+1000", 1},
		{"+x", 1},
		{"+", 1},
		{"dispenser=DSP-JAM;+-1", 19},
		{"printer=PRN JAM", 8},
		{"printer=PRN-JAM\x00", 8},
		{"printer=PRN-JAM=X", 8},
		{strings.Repeat("a", 1000), 999},
	} {
		_, err := ParseReport(tc.in)
		var re *ReportError
		if !errors.Is(err, ErrMalformedReport) || !errors.As(err, &re) {
			t.Errorf("ParseReport(%q) = %v, want a *ReportError", tc.in, err)
			continue
		}
		if re.Offset != tc.offset {
			t.Errorf("ParseReport(%q): offset %d, want %d (%v)", tc.in, re.Offset, tc.offset, err)
		}
		if !strings.HasPrefix(err.Error(), "health: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func FuzzParseReport(f *testing.F) {
	for _, s := range []string{
		"",
		"dispenser=DSP-JAM;printer=PRN-PAPER-LOW",
		"cardreader=CRD-BIN-FULL;dispenser=DSP-CASS-EMPTY@cassette.2,DSP-JAM;hostlink=HST-DOWN;+3",
		"+999",
		"gizmo=GIZ-SPIN@a.b-c",
		"dispenser=DSP-JAM,DSP-JAM",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseReport(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedReport) {
				t.Fatalf("error %v does not wrap ErrMalformedReport", err)
			}
			return
		}
		// The canonical text parses, is bounded, printable, and stable.
		c := p.String()
		if len(c) > MaxReportLen {
			t.Fatalf("canonical text is %d bytes", len(c))
		}
		for i := 0; i < len(c); i++ {
			if c[i] < 0x20 || c[i] > 0x7E {
				t.Fatalf("canonical text has byte %#x", c[i])
			}
		}
		p2, err := ParseReport(c)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", c, s, err)
		}
		if p2.String() != c {
			t.Fatalf("canonical text not stable: %q then %q", c, p2.String())
		}
		if len(p2.Items) > len(p.Items) {
			t.Fatalf("canonical text has more items (%d) than the input (%d)", len(p2.Items), len(p.Items))
		}
	})
}
