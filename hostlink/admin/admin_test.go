package admin

import (
	"errors"
	"testing"
	"time"
)

func TestStatusRoundTrip(t *testing.T) {
	for _, s := range []Status{
		{Service: InService},
		{Service: OutOfService, Faults: "dispenser=DSP-JAM;sensors=SEN-TAMPER"},
		{Service: Supervisor, Faults: "dispenser=DSP-CASS-EMPTY@cassette.2;printer=PRN-PAPER-OUT"},
	} {
		f48, err := s.Encode()
		if err != nil {
			t.Fatalf("Encode %+v: %v", s, err)
		}
		got, err := ParseStatus(f48)
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %+v, %v; want %+v", f48, got, err, s)
		}
	}
	if f48, _ := (Status{Service: InService}).Encode(); f48 != "SV001IDS000" {
		t.Errorf("all clear encodes as %q, want SV001IDS000", f48)
	}
}

func TestStatusRejects(t *testing.T) {
	for _, bad := range []string{
		"",                               // no tags
		"SV001I",                         // no DS
		"DS000",                          // no SV
		"SV001XDS000",                    // unknown service
		"SV001IDS005dsp=x",               // malformed report
		"SV001IDS000SV001O",              // duplicate tag
		"SV001IDS014dispenser=DSP-J\x01", // not printable
	} {
		if _, err := ParseStatus(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseStatus(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := (Status{Service: "?"}).Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encode of a bad service = %v", err)
	}
}

func TestTotalsRoundTrip(t *testing.T) {
	since := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tt := Totals{Since: since, Count: 3, Amount: 600000}
	f48, err := tt.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if f48 != "TP01420261122090000TN0013TA006600000" {
		t.Errorf("Encode = %q", f48)
	}
	got, err := ParseTotals(f48)
	if err != nil || got != tt {
		t.Errorf("ParseTotals = %+v, %v", got, err)
	}
	h, err := EncodeHost(Totals{Count: 2, Amount: 0})
	if err != nil || h != "HN0012HA0010" {
		t.Fatalf("EncodeHost = %q, %v", h, err)
	}
	if got, err := ParseHost(h); err != nil || got.Count != 2 || got.Amount != 0 {
		t.Errorf("ParseHost = %+v, %v", got, err)
	}
}

func TestTotalsRejects(t *testing.T) {
	for _, bad := range []string{
		"",
		"TP01420261122090000TN0013",                      // no TA
		"TP0142026112209000ZTN0013TA0011",                // bad time
		"TP01420261122090000TN002-1TA0011",               // negative
		"TP01420261122090000TN00203TA0011",               // leading zero
		"TP01420261122090000TN0013TA0000",                // empty
		"TP01420261122090000TN0013TA0161234567890123456", // too long
		"TP01420261399090000TN0013TA0011",                // month 13
	} {
		if _, err := ParseTotals(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTotals(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := (Totals{Count: -1, Since: time.Now()}).Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encode negative = %v", err)
	}
	if _, err := (Totals{}).Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encode without a period = %v", err)
	}
	if _, err := ParseHost("HN0011"); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseHost without HA = %v", err)
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"SV001IDS000", "SV001ODS018dispenser=DSP-JAM", "SV001S", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatus(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := st.Encode()
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", st, err)
		}
		if st2, err := ParseStatus(again); err != nil || st2 != st {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", st, again, st2, err)
		}
	})
}

func FuzzParseTotals(f *testing.F) {
	for _, s := range []string{"TP01420261122090000TN0013TA006600000", "TN0010", "HN0012HA0010", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tt, err := ParseTotals(s)
		if err == nil {
			again, err := tt.Encode()
			if err != nil {
				t.Fatalf("parsed %+v does not encode: %v", tt, err)
			}
			if t2, err := ParseTotals(again); err != nil || t2 != tt {
				t.Fatalf("round trip %+v -> %q -> %+v, %v", tt, again, t2, err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if h, err := ParseHost(s); err == nil {
			if _, err := EncodeHost(h); err != nil {
				t.Fatalf("parsed host totals %+v do not encode: %v", h, err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
	})
}
