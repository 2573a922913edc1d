package emv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTLV(t *testing.T) {
	tests := []struct {
		name, in string
		want     []TLV
		err      error
	}{
		{"empty", "", nil, nil},
		{"one primitive", "5A 03 01 02 03", []TLV{{TagPAN, []byte{1, 2, 3}}}, nil},
		{"two-byte tag", "9F 36 02 00 01", []TLV{{TagATC, []byte{0, 1}}}, nil},
		{"padding skipped", "00 FF 82 02 18 00 00", []TLV{{TagAIP, []byte{0x18, 0}}}, nil},
		{"long length", "70 81 01 AA", []TLV{{TagRecord, []byte{0xAA}}}, nil},
		{"two-byte length", "70 82 00 01 AA", []TLV{{TagRecord, []byte{0xAA}}}, nil},
		{"truncated value", "5A 04 01 02", nil, ErrTruncated},
		{"no length", "5A", nil, ErrTruncated},
		{"tag ends early", "9F", nil, ErrTruncated},
		{"indefinite length", "70 80 00 00", nil, ErrMalformed},
		{"length form too long", "70 84 00 00 00 01 AA", nil, ErrMalformed},
		{"tag too long", "9F 81 81 81 01 00", nil, ErrMalformed},
		{"long length truncated", "70 82 01", nil, ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(unhex(t, tc.in))
			if tc.err != nil {
				var pe *ParseError
				if !errors.Is(err, tc.err) || !errors.As(err, &pe) {
					t.Fatalf("Parse = %v, want a *ParseError wrapping %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Parse = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Tag != tc.want[i].Tag || !bytes.Equal(got[i].Value, tc.want[i].Value) {
					t.Errorf("[%d] = %s %X, want %s %X", i, got[i].Tag, got[i].Value, tc.want[i].Tag, tc.want[i].Value)
				}
			}
		})
	}
}

func TestFindAndFlatten(t *testing.T) {
	// An FCI: 6F { 84 DF name, A5 { 50 label, 9F38 PDOL } }.
	fci := Encode(TLV{TagFCI, Encode(
		TLV{TagDFName, unhex(t, "A0000000031010")},
		TLV{TagFCIProprietary, Encode(
			TLV{TagLabel, []byte("VISA DEBIT")},
			TLV{TagPDOL, unhex(t, "9F1A02")},
		)},
	)})
	v, ok, err := Find(fci, TagPDOL)
	if err != nil || !ok || !bytes.Equal(v, unhex(t, "9F1A02")) {
		t.Fatalf("Find PDOL = %X %v %v", v, ok, err)
	}
	if _, ok, err := Find(fci, TagAFL); ok || err != nil {
		t.Fatalf("Find absent tag = %v %v", ok, err)
	}
	m, err := Flatten(fci)
	if err != nil {
		t.Fatal(err)
	}
	if string(m[TagLabel]) != "VISA DEBIT" || len(m) != 3 {
		t.Fatalf("Flatten = %v", m)
	}
	if _, _, err := Find(append(fci, 0x5A, 0x05), TagAFL); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Find in truncated data = %v", err)
	}
	// Nesting too deep.
	deep := []byte{0x5A, 0}
	for i := 0; i < 10; i++ {
		deep = Append(nil, TagRecord, deep)
	}
	if _, err := Flatten(deep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Flatten of deep nesting = %v", err)
	}
}

func TestTagString(t *testing.T) {
	for tag, want := range map[Tag]string{TagAC: "9F26", TagPAN: "5A", 0xBF0C01: "BF0C01", 0x1F818101: "1F818101"} {
		if got := tag.String(); got != want {
			t.Errorf("%#x.String() = %q, want %q", uint32(tag), got, want)
		}
	}
	if !TagFCI.Constructed() || TagPAN.Constructed() {
		t.Error("Constructed is wrong")
	}
}

func TestAppendLen(t *testing.T) {
	for n, want := range map[int]string{0: "00", 127: "7F", 128: "8180", 255: "81FF", 256: "820100", 70000: "83011170"} {
		if got := hex.EncodeToString(AppendLen(nil, n)); !strings.EqualFold(got, want) {
			t.Errorf("AppendLen(%d) = %s, want %s", n, got, want)
		}
	}
	big := make([]byte, 300)
	got, err := Parse(Append(nil, TagRecord, big))
	if err != nil || len(got) != 1 || len(got[0].Value) != 300 {
		t.Fatalf("round trip of 300 bytes: %v %v", got, err)
	}
}

func TestNumeric(t *testing.T) {
	tests := []struct {
		in   string
		size int
		want string
	}{
		{"158", 2, "0158"}, {"901", 2, "0901"}, {"250918", 3, "250918"}, {"100000", 6, "000000100000"}, {"", 1, "00"},
	}
	for _, tc := range tests {
		got, err := Numeric(tc.in, tc.size)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("Numeric(%q, %d) = %x %v, want %s", tc.in, tc.size, got, err, tc.want)
		}
		back, err := DecodeNumeric(got)
		if err != nil || strings.TrimLeft(back, "0") != strings.TrimLeft(tc.in, "0") {
			t.Errorf("DecodeNumeric(%x) = %q %v", got, back, err)
		}
	}
	for _, bad := range []struct {
		in   string
		size int
	}{{"12a", 2}, {"12345", 2}} {
		if _, err := Numeric(bad.in, bad.size); !errors.Is(err, ErrMalformed) {
			t.Errorf("Numeric(%q, %d) = %v, want ErrMalformed", bad.in, bad.size, err)
		}
	}
	if _, err := NumericInt(-1, 6); !errors.Is(err, ErrMalformed) {
		t.Error("NumericInt(-1) accepted")
	}
	if _, err := DecodeNumeric([]byte{0x1A}); !errors.Is(err, ErrMalformed) {
		t.Error("DecodeNumeric accepted a non-BCD nibble")
	}
	cn, err := CompressedNumeric("12345", 4)
	if err != nil || hex.EncodeToString(cn) != "12345fffffffffff"[:8] {
		t.Errorf("CompressedNumeric = %x %v", cn, err)
	}
	if s, err := DecodeCompressedNumeric(cn); err != nil || s != "12345" {
		t.Errorf("DecodeCompressedNumeric = %q %v", s, err)
	}
	if _, err := DecodeCompressedNumeric([]byte{0x1F, 0x12}); !errors.Is(err, ErrMalformed) {
		t.Error("DecodeCompressedNumeric accepted a digit after padding")
	}
}

func TestDOL(t *testing.T) {
	cdol := unhex(t, "9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704")
	d, err := ParseDOL(cdol)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 29 || !bytes.Equal(d.Encode(), cdol) {
		t.Fatalf("DOL = %v size %d", d, d.Size())
	}
	data := d.Build(map[Tag][]byte{
		TagAmount:  unhex(t, "0100"),                    // short numeric: left-padded
		TagCountry: unhex(t, "000158"),                  // long numeric: leftmost bytes dropped
		TagTVR:     unhex(t, "80"),                      // short binary: right-padded
		TagUN:      unhex(t, "0102030405"),              // long binary: rightmost dropped
		TagTxnDate: unhex(t, "250918"), TagTxnType: {1}, // exact
	})
	want := unhex(t, "000000000100 000000000000 0158 8000000000 0000 250918 01 01020304")
	if !bytes.Equal(data, want) {
		t.Fatalf("Build = % X\nwant    % X", data, want)
	}
	vals, err := d.Split(data)
	if err != nil || !bytes.Equal(vals[TagUN], unhex(t, "01020304")) {
		t.Fatalf("Split = %v %v", vals, err)
	}
	if _, err := d.Split(data[1:]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Split of short data = %v", err)
	}
	if _, err := ParseDOL(unhex(t, "9F02")); !errors.Is(err, ErrTruncated) {
		t.Fatalf("ParseDOL of a tag without length = %v", err)
	}
}

func TestAFL(t *testing.T) {
	afl := unhex(t, "08010200 10010101")
	got, err := ParseAFL(afl)
	if err != nil || len(got) != 2 || got[0] != (AFLEntry{1, 1, 2, 0}) || got[1] != (AFLEntry{2, 1, 1, 1}) {
		t.Fatalf("ParseAFL = %v %v", got, err)
	}
	if !bytes.Equal(EncodeAFL(got...), afl) {
		t.Fatal("EncodeAFL does not round trip")
	}
	for _, bad := range []string{"", "080102", "09010200", "00010200", "F8010200", "08000100", "08020100", "08010203"} {
		if _, err := ParseAFL(unhex(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseAFL(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestTrack2(t *testing.T) {
	const text = "4761739001010119=27122011143804400000"
	raw := unhex(t, "4761739001010119D27122011143804400000F")
	tr, err := ParseTrack2(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Text() != text || tr.PAN != "4761739001010119" || tr.Expiry != "2712" || tr.ServiceCode != "201" {
		t.Fatalf("ParseTrack2 = %+v", tr)
	}
	b, err := tr.Bytes()
	if err != nil || !bytes.Equal(b, raw) {
		t.Fatalf("Bytes = %X %v", b, err)
	}
	if s := tr.String(); strings.Contains(s, "9001010") || !strings.HasPrefix(s, "476173******0119=2712201") {
		t.Fatalf("String leaks or is wrong: %s", s)
	}
	even, err := ParseTrack2Text("4761730000001019=2912201")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := even.Bytes(); !bytes.Equal(b, unhex(t, "4761730000001019D2912201")) {
		t.Fatalf("even Bytes = %X", b)
	}
	for _, bad := range []string{"", "4761", "4761739001010119D2", "4761739001010119D2713201", "47617390010101192712201F", "4761739001010119D2712201FF", "4A61739001010119D2712201"} {
		if _, err := ParseTrack2(unhex(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTrack2(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestField55(t *testing.T) {
	got := Field55(map[Tag][]byte{TagAIP: {0x18, 0}, TagAC: unhex(t, "0102030405060708"), 0x9F99: {1}})
	want := unhex(t, "9F26080102030405060708 82021800")
	if !bytes.Equal(got, want) {
		t.Fatalf("Field55 = % X, want % X", got, want)
	}
}
