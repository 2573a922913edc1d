package host

import (
	"testing"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/sim/host/store"
)

func TestParseOriginal(t *testing.T) {
	orig := &hostlink.Message{MTI: "0200", STAN: "000123", TransmitTime: "0314013000"}
	got, err := parseOriginal(hostlink.OriginalData(orig))
	if err != nil {
		t.Fatal(err)
	}
	if want := (original{MTI: "0200", STAN: "000123", TransmitTime: "0314013000"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "0200000123", "0200000123031401300000000000000000000000000", "0200000123031401300000000000000000000000 0"} {
		if _, err := parseOriginal(bad); err == nil {
			t.Errorf("parseOriginal(%q) accepted", bad)
		}
	}
}

func TestParseReplacement(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{hostlink.ReplacementAmounts(0), 0, true},
		{hostlink.ReplacementAmounts(150_000), 150_000, true},
		{"000000150000", 0, false},
		{"00000015000A000000000000C00000000C00000000", 0, false},
		{"-00000150000000000000000C00000000C00000000", 0, false},
	}
	for _, tt := range tests {
		got, err := parseReplacement(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseReplacement(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseOriginal(f *testing.F) {
	f.Add(hostlink.OriginalData(&hostlink.Message{MTI: "0200", STAN: "000123", TransmitTime: "0314013000"}))
	f.Add("02000001230314")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOriginal(s)
		if err != nil {
			return
		}
		if o.MTI+o.STAN+o.TransmitTime != s[:20] || !isDigits(s) {
			t.Fatalf("parseOriginal(%q) = %+v", s, o)
		}
	})
}

func FuzzParseReplacement(f *testing.F) {
	f.Add(hostlink.ReplacementAmounts(150_000))
	f.Add("")
	f.Add("999999999999000000000000C00000000C00000000")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseReplacement(s)
		if err != nil {
			return
		}
		if n < 0 || n > 999_999_999_999 {
			t.Fatalf("parseReplacement(%q) = %d", s, n)
		}
	})
}

// FuzzCheck feeds arbitrary 0200 fields to the format checks: whatever
// they accept must be safe for the banking logic to use.
func FuzzCheck(f *testing.F) {
	f.Add("010000", "4761730000001019", "0314013000", "000001", "ATM00001", "901", "NC00401ab", []byte("12345678"))
	f.Add("310000", "4761730000001019", "0314013000", "000001", "ATM00001", "", "", []byte("12345678"))
	f.Add("01", "", "", "", "", "999", "NC9", []byte{})
	f.Add("010000", "4761730000001019", "0314013000", "000001", "ATM00001", "901", "NC00401abDG011D0123456789A", []byte("12345678"))
	f.Fuzz(func(t *testing.T, proc, pan, tt, stan, tid, cur, f48 string, pin []byte) {
		m := &hostlink.Message{MTI: hostlink.MTIFinRequest, ProcCode: proc, PAN: pan, TransmitTime: tt, STAN: stan,
			TerminalID: tid, Currency: cur, Private: f48, PINBlock: pin}
		r, rc, err := check(m)
		if err != nil {
			if rc != hostlink.RCFormatError && rc != hostlink.RCInvalidTxn {
				t.Fatalf("refused with rc %q", rc)
			}
			return
		}
		if len(r.ProcCode) != 6 || len(r.PINBlock) != 8 || len(r.STAN) != 6 || r.TerminalID == "" ||
			len(r.PAN) < 12 || !isDigits(r.PAN) {
			t.Fatalf("accepted a malformed request: %s", hostlink.Describe(m))
		}
		if r.kind == store.KindWithdrawal && (len(r.nonce) == 0 || r.currency.Alpha == "") {
			t.Fatalf("accepted a withdrawal without nonce or currency")
		}
		if r.delegation != "" && (r.kind != store.KindWithdrawal || !validDelegationID(r.delegation)) {
			t.Fatalf("accepted delegation %q", r.delegation)
		}
	})
}
