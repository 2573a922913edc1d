package keyexchange

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/atmd/atmd/hostlink"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Known answers computed independently with OpenSSL
// (openssl enc -des-ede-ecb -nopad) and Python's hmac module.
const (
	katTMK      = "0123456789ABCDEFFEDCBA9876543210" // KCV 08D7B4
	katTPK      = "1A2B3C4D5E6F70811A2B3C4D5E6F7083"
	katTPKUnder = "41B1F3D154C3079A2B78A51F44B46A31" // TPK under the TMK
	katTPKCheck = "1EA2FF"
	katTDK      = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	katTDKUnder = "52C5C0705D9089E1DECFC0F111152B1250594B674FF31CEFBFB5B8ADBBEC3E2A"
	katTDKCheck = "FF9212" // HMAC-SHA256(TDK, 16 zero bytes)[:3]
)

func TestKnownAnswers(t *testing.T) {
	tmk := unhex(t, katTMK)
	if c, err := TDESCheck(tmk); err != nil || hexUpper(c) != "08D7B4" {
		t.Errorf("TDESCheck(TMK) = %X, %v; want 08D7B4", c, err)
	}
	if c, err := TDESCheck(unhex(t, katTPK)); err != nil || hexUpper(c) != katTPKCheck {
		t.Errorf("TDESCheck(TPK) = %X, %v; want %s", c, err, katTPKCheck)
	}
	if c, err := TDKCheck(unhex(t, katTDK)); err != nil || hexUpper(c) != katTDKCheck {
		t.Errorf("TDKCheck = %X, %v; want %s", c, err, katTDKCheck)
	}
	for _, kat := range []struct{ clear, under string }{{katTPK, katTPKUnder}, {katTDK, katTDKUnder}} {
		got, err := EncryptECB(tmk, unhex(t, kat.clear))
		if err != nil || hexUpper(got) != kat.under {
			t.Errorf("EncryptECB = %X, %v; want %s", got, err, kat.under)
		}
		back, err := DecryptECB(tmk, got)
		if err != nil || hexUpper(back) != kat.clear {
			t.Errorf("DecryptECB did not give the key back: %v", err)
		}
	}
}

func TestWrapUnwrapKnownAnswer(t *testing.T) {
	tmk := unhex(t, katTMK)
	k := Keys{TPK: unhex(t, katTPK), TAK: unhex(t, katTPK), TDK: unhex(t, katTDK)}
	r, err := Wrap(tmk, k)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := "KP032" + katTPKUnder + "CP006" + katTPKCheck + "KM032" + katTPKUnder + "CM006" + katTPKCheck +
		"KD064" + katTDKUnder + "CD006" + katTDKCheck
	if s != want {
		t.Fatalf("field 48\n got %s\nwant %s", s, want)
	}
	parsed, err := ParseResponse(strings.ToLower(s[:5]) + s[5:]) // a lower-case tag is malformed
	if err == nil {
		t.Errorf("lower-case tag accepted: %+v", parsed)
	}
	parsed, err = ParseResponse(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unwrap(tmk, parsed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.TPK, k.TPK) || !bytes.Equal(got.TAK, k.TAK) || !bytes.Equal(got.TDK, k.TDK) {
		t.Error("Unwrap did not give the keys back")
	}
}

func TestUnwrapRefusesBadKeys(t *testing.T) {
	tmk := unhex(t, katTMK)
	k, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Wrap(tmk, k)
	if err != nil {
		t.Fatal(err)
	}
	otherTMK := bytes.Clone(tmk)
	otherTMK[0] ^= 0x02
	if _, err := Unwrap(otherTMK, r); !errors.Is(err, ErrCheckValue) {
		t.Errorf("Unwrap under another TMK: err = %v, want ErrCheckValue", err)
	}
	for name, edit := range map[string]func(*Response){
		"TPK":       func(r *Response) { r.TPK[3] ^= 1 },
		"TAK check": func(r *Response) { r.TAKCheck[0] ^= 1 },
		"TDK":       func(r *Response) { r.TDK[31] ^= 1 },
	} {
		bad := Response{TPK: bytes.Clone(r.TPK), TPKCheck: bytes.Clone(r.TPKCheck), TAK: bytes.Clone(r.TAK),
			TAKCheck: bytes.Clone(r.TAKCheck), TDK: bytes.Clone(r.TDK), TDKCheck: bytes.Clone(r.TDKCheck)}
		edit(&bad)
		if got, err := Unwrap(tmk, bad); !errors.Is(err, ErrCheckValue) || got.TPK != nil {
			t.Errorf("%s damaged: Unwrap = %v, %v; want no keys and ErrCheckValue", name, got, err)
		} else if !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s damaged: error %q does not name the key", name, err)
		}
	}
	short := r
	short.TDK = r.TDK[:16]
	if _, err := Unwrap(tmk, short); !errors.Is(err, ErrKey) {
		t.Errorf("short TDK: err = %v, want ErrKey", err)
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.TPK, b.TPK) || bytes.Equal(a.TPK, a.TAK) || bytes.Equal(a.TDK, b.TDK) {
		t.Error("keys repeat")
	}
	for _, k := range [][]byte{a.TPK, a.TAK} {
		if err := CheckTDESKey(k); err != nil {
			t.Error(err)
		}
		for i, c := range k {
			if bits.OnesCount8(c)%2 != 1 {
				t.Errorf("byte %d has even parity", i)
			}
		}
	}
	if len(a.TPK) != TPKLen || len(a.TAK) != TAKLen || len(a.TDK) != TDKLen {
		t.Errorf("lengths %d %d %d", len(a.TPK), len(a.TAK), len(a.TDK))
	}
	// A source whose halves repeat is read again until they differ.
	rnd := io2(bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x22}, 64))
	k, err := Generate(rnd)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k.TPK[:8], k.TPK[8:]) {
		t.Error("TPK halves are equal")
	}
	if _, err := Generate(bytes.NewReader(make([]byte, 20))); err == nil {
		t.Error("Generate with a short random source succeeded")
	}
}

// io2 returns a reader giving first and then, repeatedly, the bytes of
// the counter pattern seeded by rest.
func io2(first, rest []byte) *bytes.Reader {
	b := append(bytes.Clone(first), rest...)
	for i := range rest {
		b[len(first)+i] = byte(i + 1)
	}
	return bytes.NewReader(b)
}

func TestCheckTDESKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{katTMK, true},
		{katTMK + "0F1E2D3C4B5A6978", true},
		{"0123456789ABCDEF0123456789ABCDEF", false},
		{katTMK + "FEDCBA9876543210", false},
		{"0123456789ABCDEF", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := CheckTDESKey(unhex(t, tt.key)); (err == nil) != tt.ok {
			t.Errorf("CheckTDESKey(%d bytes) = %v, want ok=%v", len(tt.key)/2, err, tt.ok)
		} else if err != nil && !errors.Is(err, ErrKey) {
			t.Errorf("err = %v, want ErrKey", err)
		}
	}
	if _, err := EncryptECB(unhex(t, katTMK), make([]byte, 12)); !errors.Is(err, ErrKey) {
		t.Errorf("EncryptECB of 12 bytes: err = %v", err)
	}
	if _, err := TDKCheck(nil); !errors.Is(err, ErrKey) {
		t.Errorf("TDKCheck(nil): err = %v", err)
	}
}

func TestRequest(t *testing.T) {
	s, err := Request{TMKCheck: unhex(t, "08D7B4")}.Encode()
	if err != nil || s != "CT00608D7B4" {
		t.Fatalf("Encode = %q, %v", s, err)
	}
	r, err := ParseRequest("CT00608d7b4")
	if err != nil || hexUpper(r.TMKCheck) != "08D7B4" {
		t.Fatalf("ParseRequest = %X, %v", r.TMKCheck, err)
	}
	for _, bad := range []string{"", "CT00408D7", "CT006ZZZZZZ", "CT00608D7B4CT00608D7B4", "NC00608D7B4", "CT9"} {
		if _, err := ParseRequest(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRequest(%q): err = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := (Request{TMKCheck: []byte{1}}).Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encode of a 1-byte check: err = %v", err)
	}
}

func TestParseResponseErrors(t *testing.T) {
	k, _ := Generate(rand.Reader)
	r, _ := Wrap(unhex(t, katTMK), k)
	good, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseResponse(good + "XX003abc"); err != nil {
		t.Errorf("an extra tag is refused: %v", err)
	}
	all, err := hostlink.ParseTLV(good)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		tag := e.Tag
		missing, err := append(append(hostlink.TLV{}, all[:i]...), all[i+1:]...).Encode()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseResponse(missing)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tag) {
			t.Errorf("without %s: err = %v", tag, err)
		}
	}
	r.TDK = r.TDK[:8]
	if _, err := r.Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Encode with a short TDK: err = %v", err)
	}
}

func TestKeysNeverPrint(t *testing.T) {
	k := Keys{TPK: unhex(t, katTPK), TAK: unhex(t, katTPK), TDK: unhex(t, katTDK)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(strings.ToUpper(out), katTPK[:8]) || strings.Contains(out, "26 43 60") ||
			strings.Contains(strings.ToUpper(out), "00010203") {
			t.Errorf("%s prints key material: %s", verb, out)
		}
	}
	if got := k.String(); got != "TPK 1EA2FF TAK 1EA2FF TDK FF9212" {
		t.Errorf("String = %q", got)
	}
	k.Wipe()
	if !bytes.Equal(k.TDK, make([]byte, 32)) {
		t.Error("Wipe left key bytes")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("CT00608D7B4")
	f.Add("CT006zzzzzz")
	f.Add("CT003ABC")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRequest(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(r.TMKCheck) != CheckLen {
			t.Fatalf("check value of %d bytes", len(r.TMKCheck))
		}
		again, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if r2, err := ParseRequest(again); err != nil || !bytes.Equal(r2.TMKCheck, r.TMKCheck) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	tmk, _ := hex.DecodeString(katTMK)
	tpk, _ := hex.DecodeString(katTPK)
	tdk, _ := hex.DecodeString(katTDK)
	r, _ := Wrap(tmk, Keys{TPK: tpk, TAK: tpk, TDK: tdk})
	s, _ := r.Encode()
	f.Add(s)
	f.Add(s[:40])
	f.Add("KP032" + katTPKUnder)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResponse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := r.Encode()
		if err != nil {
			t.Fatalf("a parsed response does not encode: %v", err)
		}
		r2, err := ParseResponse(again)
		if err != nil || !bytes.Equal(r2.TDK, r.TDK) || !bytes.Equal(r2.TPKCheck, r.TPKCheck) {
			t.Fatalf("round trip: %v", err)
		}
		if k, err := Unwrap(tmk, r); err == nil {
			k.Wipe() // only a consistent response opens; either way no panic
		} else if !errors.Is(err, ErrCheckValue) && !errors.Is(err, ErrKey) {
			t.Fatalf("Unwrap: unexpected error %v", err)
		}
	})
}
