package hostlink

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTLVRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		tlv  TLV
		want string
	}{
		{"empty", nil, ""},
		{"nonce", TLV{{TagNonce, "0A1B"}}, "NC0040A1B"},
		{"two tags in order", TLV{{TagReason, ReasonTimeout}, {"Z9", ""}}, "RR002TOZ9000"},
		{"longest", TLV{{"AA", strings.Repeat("x", 994)}}, "AA994" + strings.Repeat("x", 994)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.tlv.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Encode = %q, want %q", got, tt.want)
			}
			back, err := ParseTLV(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(tt.tlv) || (len(back) > 0 && !reflect.DeepEqual(back, tt.tlv)) {
				t.Errorf("ParseTLV = %v, want %v", back, tt.tlv)
			}
		})
	}
}

func TestTLVGetSet(t *testing.T) {
	var tl TLV
	if _, ok := tl.Get(TagToken); ok {
		t.Fatal("Get on empty TLV found a tag")
	}
	tl.Set(TagNonce, "01")
	tl.Set(TagToken, "02")
	tl.Set(TagNonce, "03") // replaces in place
	want := TLV{{TagNonce, "03"}, {TagToken, "02"}}
	if !reflect.DeepEqual(tl, want) {
		t.Fatalf("after Set: %v, want %v", tl, want)
	}
	if v, ok := tl.Get(TagToken); !ok || v != "02" {
		t.Errorf("Get(DT) = %q, %v", v, ok)
	}
}

func TestParseTLVRejects(t *testing.T) {
	tests := map[string]string{
		"lower-case tag":     "nc0011",
		"punctuation in tag": "N-0011",
		"letters in length":  "NC00A1",
		"truncated header":   "NC00",
		"truncated value":    "NC005abc",
		"duplicate tag":      "NC0011NC0012",
		"control byte":       "NC002a\n",
		"non-ASCII byte":     "NC002a\xc3",
		"over 999 bytes":     "AA995" + strings.Repeat("x", 995),
		"signed length":      "NC+01a",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseTLV(in); !errors.Is(err, ErrMalformedTLV) {
				t.Errorf("ParseTLV = %v, %v; want ErrMalformedTLV", got, err)
			}
		})
	}
}

func TestTLVEncodeRejects(t *testing.T) {
	tests := map[string]TLV{
		"bad tag":         {{"n", "1"}},
		"duplicate":       {{"NC", "1"}, {"NC", "2"}},
		"non-printable":   {{"NC", "\x00"}},
		"value too long":  {{"NC", strings.Repeat("x", 1000)}},
		"total too long":  {{"AA", strings.Repeat("x", 500)}, {"BB", strings.Repeat("x", 495)}},
		"three-char tags": {{"NCX", "1"}},
	}
	for name, tl := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := tl.Encode(); !errors.Is(err, ErrMalformedTLV) {
				t.Errorf("Encode = %q, %v; want ErrMalformedTLV", got, err)
			}
		})
	}
}

func TestTLVErrorsHideValues(t *testing.T) {
	secret := "DEADBEEFCAFE"
	for _, in := range []string{"DT012" + secret + "DT000", "DT013" + secret, "DT012" + secret[:11] + "\x01"} {
		if _, err := ParseTLV(in); err == nil || strings.Contains(err.Error(), secret[:8]) {
			t.Errorf("ParseTLV(%q) error %v quotes the value", in, err)
		}
	}
}

func FuzzParseTLV(f *testing.F) {
	for _, s := range []string{"", "NC0040A1B", "RR002TODT000", "NC0011NC0012", "AA005abc", "zz001x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tl, err := ParseTLV(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedTLV) {
				t.Fatalf("error %v does not wrap ErrMalformedTLV", err)
			}
			return
		}
		enc, err := tl.Encode()
		if err != nil {
			t.Fatalf("parsed TLV does not encode: %v", err)
		}
		if enc != s {
			t.Fatalf("Encode(ParseTLV(%q)) = %q", s, enc)
		}
	})
}
