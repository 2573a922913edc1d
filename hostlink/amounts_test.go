package hostlink

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestAmountsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		bs   []Balance
		want string
	}{
		{"none", nil, ""},
		{"credit", []Balance{{"20", AmountLedger, "901", 1234550}}, "2001901C000001234550"},
		{"debit and zero", []Balance{{"10", AmountAvailable, "840", -2500}, {"00", AmountLedger, "392", 0}},
			"1002840D000000002500" + "0001392C000000000000"},
		{"largest", []Balance{{"20", AmountLedger, "901", maxAmountAbs}}, "2001901C999999999999"},
		{"six entries", make6(), strings.Repeat("0001901C000000000001", 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeAmounts(tt.bs)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("EncodeAmounts = %q, want %q", got, tt.want)
			}
			back, err := ParseAmounts(got)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.bs) {
				t.Errorf("ParseAmounts = %+v, want %+v", back, tt.bs)
			}
		})
	}
}

func make6() []Balance {
	bs := make([]Balance, 6)
	for i := range bs {
		bs[i] = Balance{"00", AmountLedger, "901", 1}
	}
	return bs
}

func TestEncodeAmountsRejects(t *testing.T) {
	tests := map[string][]Balance{
		"seven entries":          append(make6(), Balance{"00", AmountLedger, "901", 1}),
		"short account type":     {{"2", AmountLedger, "901", 1}},
		"letters in amount type": {{"20", "0A", "901", 1}},
		"alpha currency":         {{"20", AmountLedger, "TWD", 1}},
		"amount over n12":        {{"20", AmountLedger, "901", maxAmountAbs + 1}},
		"debit over n12":         {{"20", AmountLedger, "901", -maxAmountAbs - 1}},
	}
	for name, bs := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := EncodeAmounts(bs); !errors.Is(err, ErrMalformedAmounts) {
				t.Errorf("EncodeAmounts = %q, %v; want ErrMalformedAmounts", got, err)
			}
		})
	}
}

func TestParseAmountsRejects(t *testing.T) {
	tests := map[string]string{
		"short entry":      "2001901C00000123455",
		"bad sign":         "2001901X000001234550",
		"letter in amount": "2001901C00000123455A",
		"letter in type":   "2A01901C000001234550",
		"seven entries":    strings.Repeat("0001901C000000000001", 7),
		"sign in amount":   "2001901C-00001234550",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseAmounts(in); !errors.Is(err, ErrMalformedAmounts) {
				t.Errorf("ParseAmounts = %+v, %v; want ErrMalformedAmounts", got, err)
			}
		})
	}
}

func FuzzParseAmounts(f *testing.F) {
	for _, s := range []string{"", "2001901C000001234550", "1002840D000000002500", "2001901X000001234550"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bs, err := ParseAmounts(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedAmounts) {
				t.Fatalf("error %v does not wrap ErrMalformedAmounts", err)
			}
			return
		}
		enc, err := EncodeAmounts(bs)
		if err != nil {
			t.Fatalf("parsed amounts do not encode: %v", err)
		}
		again, err := ParseAmounts(enc)
		if err != nil || !reflect.DeepEqual(again, bs) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, again, err, bs)
		}
	})
}
