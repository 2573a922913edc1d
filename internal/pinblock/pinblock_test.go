package pinblock

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The classic ISO 9564 format 0 example: PIN 1234, PAN 43219876543210987.
func TestFormat0ClearKnownAnswer(t *testing.T) {
	got, err := Format0Clear([]byte("1234"), []byte("43219876543210987"))
	if err != nil {
		t.Fatal(err)
	}
	// PIN field 041234FFFFFFFFFF XOR account field 0000987654321098.
	if want := unhex(t, "0412AC89ABCDEF67"); !bytes.Equal(got, want) {
		t.Fatalf("clear block %X, want %X", got, want)
	}
}

// Known answer for the TDES step: key 0123456789ABCDEFFEDCBA9876543210
// (the FIPS/ANSI X9 test key); single-length halves so E-D-E reduces to
// a checkable DES, and decrypt must invert encrypt.
func TestFormat0RoundTrip(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	pan := []byte("4761739001010119")
	blk, err := EncryptFormat0(key, []byte("2580"), pan)
	if err != nil {
		t.Fatal(err)
	}
	if len(blk) != 8 {
		t.Fatalf("block length %d", len(blk))
	}
	pin, err := DecryptFormat0(key, blk, pan)
	if err != nil || string(pin) != "2580" {
		t.Fatalf("decrypt = %q, %v", pin, err)
	}
	// Same PIN, different PAN: different block, and the wrong PAN does not
	// yield the PIN.
	other, _ := EncryptFormat0(key, []byte("2580"), []byte("4761739001010127"))
	if bytes.Equal(other, blk) {
		t.Fatal("format 0 block does not depend on the PAN")
	}
	if pin, err := DecryptFormat0(key, blk, []byte("4761739001010127")); err == nil && string(pin) == "2580" {
		t.Fatal("block opened under the wrong PAN")
	}
}

// KCV of the standard double-length test key 0123456789ABCDEFFEDCBA9876543210
// is 08D7B4 (published in many HSM manuals).
func TestKCVKnownAnswer(t *testing.T) {
	kcv, err := KCV(unhex(t, "0123456789ABCDEFFEDCBA9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "08D7B4"); !bytes.Equal(kcv, want) {
		t.Fatalf("KCV %X, want %X", kcv, want)
	}
}

// Format 4 fields as ISO 9564-1:2017 annex example: PIN 1234, PAN
// 1234567890123456789.
// AES-128 FIPS-197 appendix C.1 key; its legacy check value is the first
// three bytes of E(K, 0^128) = C6A13B37878F5B826F4F8162A1C8D879.
func TestKCVAESKnownAnswer(t *testing.T) {
	kcv, err := KCVAES(unhex(t, "000102030405060708090A0B0C0D0E0F"))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "C6A13B"); !bytes.Equal(kcv, want) {
		t.Fatalf("KCV %X, want %X", kcv, want)
	}
}

func TestFormat4Fields(t *testing.T) {
	pf, af, err := format4Fields([]byte("1234"), []byte("1234567890123456789"), zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(pf[:8]), "441234aaaaaaaaaa"; got != want {
		t.Fatalf("PIN field %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(af[:]), "71234567890123456789000000000000"; got != want {
		t.Fatalf("PAN field %s, want %s", got, want)
	}
}

func TestFormat4RoundTrip(t *testing.T) {
	key := unhex(t, "00112233445566778899AABBCCDDEEFF")
	pan := []byte("4761739001010119")
	a, err := EncryptFormat4(key, []byte("739182"), pan)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := EncryptFormat4(key, []byte("739182"), pan)
	if bytes.Equal(a, b) {
		t.Fatal("format 4 blocks for the same PIN must differ (random fill)")
	}
	for _, blk := range [][]byte{a, b} {
		pin, err := DecryptFormat4(key, blk, pan)
		if err != nil || string(pin) != "739182" {
			t.Fatalf("decrypt = %q, %v", pin, err)
		}
	}
	a[3] ^= 1
	if _, err := DecryptFormat4(key, a, pan); err == nil {
		t.Fatal("tampered block opened")
	}
}

func TestRejectsBadInput(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	for _, pin := range []string{"123", "1234567890123", "12a4", ""} {
		if _, err := EncryptFormat0(key, []byte(pin), []byte("4761739001010119")); err != ErrPIN {
			t.Errorf("pin %q: err %v, want ErrPIN", pin, err)
		}
	}
	if _, err := EncryptFormat0(key, []byte("1234"), []byte("12345")); err != ErrPAN {
		t.Errorf("short PAN: %v", err)
	}
	if _, err := EncryptFormat0(key[:7], []byte("1234"), []byte("4761739001010119")); err != ErrKey {
		t.Errorf("short key: %v", err)
	}
}

func FuzzDecryptFormat0(f *testing.F) {
	f.Add(make([]byte, 8), []byte("4761739001010119"))
	key := []byte("0123456789abcdef")
	f.Fuzz(func(t *testing.T, blk, pan []byte) {
		pin, err := DecryptFormat0(key, blk, pan)
		if err == nil && !digits(pin, 4, 12) {
			t.Fatalf("accepted block gave non-PIN %q", pin)
		}
	})
}

// ffFill is the "random" fill of the published format 4 vector below:
// eight 0xFF bytes.
type ffFill struct{}

func (ffFill) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xFF
	}
	return len(p), nil
}

// A published format 4 (AES) known answer, the same in two independent
// payment-cryptography libraries: knovichikhin/psec (Python,
// tests/test_pinblock.py, test_encipher_pinblock_iso_4_det) and
// 5n00py/paysec (Rust, test_encipher_pinblock_iso_4_valid and its
// README). AES-128 key 00112233445566778899AABBCCDDEEFF, PIN 1234, PAN
// 1234567890123456789 (the ISO 9564-1 example account), random fill eight
// 0xFF bytes, so the plain-text PIN field is
// 441234AAAAAAAAAA FFFFFFFFFFFFFFFF; the enciphered block is
// 28B41FDDD29B743E93124BD8E32D921E.
func TestFormat4EncryptedKnownAnswer(t *testing.T) {
	key := unhex(t, "00112233445566778899AABBCCDDEEFF")
	pan := []byte("1234567890123456789")
	want := unhex(t, "28B41FDDD29B743E93124BD8E32D921E")

	got, err := encryptFormat4(key, []byte("1234"), pan, ffFill{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("enciphered block %X, want %X", got, want)
	}

	pin, err := DecryptFormat4(key, want, pan)
	if err != nil || string(pin) != "1234" {
		t.Fatalf("DecryptFormat4 = %q, %v; want 1234", pin, err)
	}
	// The block is bound to its PAN: another account does not open it.
	if pin, err := DecryptFormat4(key, want, []byte("1234567890123456788")); err == nil && string(pin) == "1234" {
		t.Fatal("block opened under another PAN")
	}
}
