package mac

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"fmt"
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

// The classic ANSI X9.9 / X9.19 example: K1 = 0123456789ABCDEF,
// K2 = FEDCBA9876543210, data "Now is the time for all " (24 bytes, three
// blocks, no padding). Published values: X9.9 (single-DES CBC-MAC under
// K1) 70A30640CC76DD8B; X9.19 retail MAC A1C72E74EA3FA9B6 (also the
// example of ISO/IEC 9797-1:2011 annex B.4 for MAC algorithm 3 with
// padding method 1).
const (
	katK1   = "0123456789ABCDEF"
	katK2   = "FEDCBA9876543210"
	katData = "Now is the time for all "
	katX99  = "70A30640CC76DD8B"
	katX919 = "A1C72E74EA3FA9B6"
)

func TestRetailMACKnownAnswers(t *testing.T) {
	key := unhex(t, katK1+katK2)
	tests := []struct {
		name, data, want string
	}{
		// ANSI X9.19 / ISO 9797-1 B.4, no padding needed.
		{"X9.19 Now is the time for all", katData, katX919},
		// ISO 9797-1 B.4 second example, 22 bytes: two zero bytes of padding.
		{"ISO 9797-1 B.4 Now is the time for it", "Now is the time for it", "2E2B1428CC78254F"},
		// 26 bytes, six zero bytes of padding.
		{"X9.19 Now is the time for all + ABCD", katData + "\xAB\xCD", "1C050879D95816B8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RetailMAC(key, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("RetailMAC = %X, want %X", got, want)
			}
		})
	}
}

// TestCBCMACIsX99 checks the CBC part alone: single-DES CBC-MAC under K1
// is the ANSI X9.9 MAC.
func TestCBCMACIsX99(t *testing.T) {
	k1, err := des.NewCipher(unhex(t, katK1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ data, want string }{
		{katData, katX99},
		{katData + "\xAB\xCD", "36611DBB2D0AC1E6"},
	} {
		if got, want := cbcMAC(k1, []byte(tt.data)), unhex(t, tt.want); !bytes.Equal(got, want) {
			t.Errorf("cbcMAC(%q) = %X, want %X", tt.data, got, want)
		}
	}
}

// TestRetailMACStructure rebuilds the retail MAC from its definition with
// crypto/des directly: padding method 1 (an empty message is one zero
// block), CBC under K1, then D(K2) and E(K1) on the result.
func TestRetailMACStructure(t *testing.T) {
	key := unhex(t, katK1+katK2)
	k1, _ := des.NewCipher(key[:8])
	k2, _ := des.NewCipher(key[8:])
	ref := func(data []byte) []byte {
		padded := append([]byte(nil), data...)
		for len(padded) == 0 || len(padded)%8 != 0 {
			padded = append(padded, 0)
		}
		h := make([]byte, 8)
		for i := 0; i < len(padded); i += 8 {
			for j := range 8 {
				h[j] ^= padded[i+j]
			}
			k1.Encrypt(h, h)
		}
		k2.Decrypt(h, h)
		k1.Encrypt(h, h)
		return h
	}
	for n := range 25 {
		data := bytes.Repeat([]byte{0xA5}, n)
		got, err := RetailMAC(key, data)
		if err != nil {
			t.Fatal(err)
		}
		if want := ref(data); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: RetailMAC = %X, want %X", n, got, want)
		}
	}
	// Padding method 1 is ambiguous by design: trailing zeros do not change
	// the MAC; the host link's messages never end in a zero byte.
	a, _ := RetailMAC(key, []byte("ABC"))
	b, _ := RetailMAC(key, []byte("ABC\x00"))
	if !bytes.Equal(a, b) {
		t.Error("zero padding is not padding method 1")
	}
	empty, _ := RetailMAC(key, nil)
	zeroBlock, _ := RetailMAC(key, make([]byte, 8))
	if !bytes.Equal(empty, zeroBlock) {
		t.Errorf("empty message MAC %X, want that of one zero block %X", empty, zeroBlock)
	}
}

func TestRetailMACRejectsKeys(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  []byte
		want error
	}{
		{"nil", nil, ErrKeyLength},
		{"single length", unhex(t, katK1), ErrKeyLength},
		{"triple length", unhex(t, katK1+katK2+katK1), ErrKeyLength},
		{"K1 = K2", unhex(t, katK1+katK1), ErrWeakKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RetailMAC(tt.key, []byte(katData)); !errors.Is(err, tt.want) {
				t.Errorf("RetailMAC = %v, want %v", err, tt.want)
			}
		})
	}
}

// RFC 4493 section 4: the four AES-128 examples.
func TestCMACRFC4493(t *testing.T) {
	key := unhex(t, "2b7e1516 28aed2a6 abf71588 09cf4f3c")
	msg := unhex(t, "6bc1bee2 2e409f96 e93d7e11 7393172a"+
		"ae2d8a57 1e03ac9c 9eb76fac 45af8e51"+
		"30c81c46 a35ce411 e5fbc119 1a0a52ef"+
		"f69f2445 df4f9b17 ad2b417b e66c3710")
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"example 1: len 0", 0, "bb1d6929 e9593728 7fa37d12 9b756746"},
		{"example 2: len 16", 16, "070a16b4 6b4d4144 f79bdd9d d04a287c"},
		{"example 3: len 40", 40, "dfa66747 de9ae630 30ca3261 1497c827"},
		{"example 4: len 64", 64, "51f0bebf 7e3b9d92 fc497417 79363cfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CMAC(key, msg[:tt.n])
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("CMAC = %x, want %x", got, want)
			}
		})
	}
}

// RFC 4493 section 2.3 / 4: the subkeys of the example key.
func TestCMACSubkeys(t *testing.T) {
	b, err := aes.NewCipher(unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := cmacSubkeys(b)
	if want := unhex(t, "fbeed618 35713366 7c85e08f 7236a8de"); !bytes.Equal(k1, want) {
		t.Errorf("K1 = %x, want %x", k1, want)
	}
	if want := unhex(t, "f7ddac30 6ae266cc f90bc11e e46d513b"); !bytes.Equal(k2, want) {
		t.Errorf("K2 = %x, want %x", k2, want)
	}
}

// NIST SP 800-38B appendix D: AES-192 and AES-256, example with the
// 40-byte message.
func TestCMACLongerKeys(t *testing.T) {
	msg := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411")
	tests := []struct{ name, key, want string }{
		{"AES-192", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "8a1de5be2eb31aad089a82e6ee908b0e"},
		{"AES-256", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "aaf3d8f1de5640c232f5b169b9c911e6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CMAC(unhex(t, tt.key), msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("CMAC = %x, want %x", got, want)
			}
		})
	}
}

func TestCMACRejectsKeys(t *testing.T) {
	for _, n := range []int{0, 8, 15, 17, 33} {
		if _, err := CMAC(make([]byte, n), nil); !errors.Is(err, ErrKeyLength) {
			t.Errorf("%d-byte key: CMAC = %v, want ErrKeyLength", n, err)
		}
	}
}

// TestMACChangesWithEveryBit flips each bit of a message in turn: every
// flip must change the MAC.
func TestMACChangesWithEveryBit(t *testing.T) {
	retail := unhex(t, katK1+katK2)
	aesKey := unhex(t, "2b7e151628aed2a6abf7158809cf4f3c")
	algs := map[string]func([]byte) ([]byte, error){
		"retail": func(d []byte) ([]byte, error) { return RetailMAC(retail, d) },
		"cmac":   func(d []byte) ([]byte, error) { return CMAC(aesKey, d) },
	}
	for name, f := range algs {
		t.Run(name, func(t *testing.T) {
			// 1 to 3 blocks, whole and partial, so the bit is in an inner
			// block, the last block and the padded block.
			for _, n := range []int{1, 7, 8, 15, 16, 17, 33, 48} {
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(0x31 + i)
				}
				base, err := f(data)
				if err != nil {
					t.Fatal(err)
				}
				for bit := range 8 * n {
					data[bit/8] ^= 1 << (bit % 8)
					got, err := f(data)
					data[bit/8] ^= 1 << (bit % 8)
					if err != nil {
						t.Fatal(err)
					}
					if bytes.Equal(got, base) {
						t.Fatalf("%d bytes: flipping bit %d leaves the MAC %X", n, bit, got)
					}
				}
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b []byte
		want bool
	}{
		{[]byte{1, 2, 3}, []byte{1, 2, 3}, true},
		{[]byte{1, 2, 3}, []byte{1, 2, 4}, false},
		{[]byte{1, 2, 3}, []byte{1, 2}, false},
		{nil, nil, false},
		{[]byte{}, []byte{}, false},
		{nil, []byte{0}, false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%x, %x) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSigner(t *testing.T) {
	ctx := context.Background()
	data := []byte(katData)
	retail, err := NewRetail(unhex(t, katK1+katK2))
	if err != nil {
		t.Fatal(err)
	}
	m, err := retail.Sign(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, katX919); !bytes.Equal(m, want) {
		t.Errorf("retail Sign = %X, want %X", m, want)
	}
	if err := retail.Verify(ctx, data, m); err != nil {
		t.Errorf("Verify of its own MAC: %v", err)
	}
	bad := append([]byte(nil), m...)
	bad[7] ^= 1
	for name, mac := range map[string][]byte{"flipped bit": bad, "short": m[:4], "empty": nil} {
		if err := retail.Verify(ctx, data, mac); !errors.Is(err, ErrMismatch) {
			t.Errorf("Verify of a %s MAC = %v, want ErrMismatch", name, err)
		}
	}

	cm, err := NewCMAC(unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	if err != nil {
		t.Fatal(err)
	}
	m, err = cm.Sign(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "bb1d6929e9593728"); !bytes.Equal(m, want) {
		t.Errorf("CMAC Sign = %x, want the leftmost 8 bytes %x", m, want)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := retail.Sign(done, data); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign with a done context = %v", err)
	}
	if err := retail.Verify(done, data, m); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a done context = %v", err)
	}

	if _, err := NewRetail(make([]byte, 8)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("NewRetail with a short key = %v", err)
	}
	if _, err := NewCMAC(make([]byte, 8)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("NewCMAC with a short key = %v", err)
	}
}

// TestSignerKeepsItsKey checks the Signer copied the key and never shows it.
func TestSignerKeepsItsKey(t *testing.T) {
	key := unhex(t, katK1+katK2)
	s, err := NewRetail(key)
	if err != nil {
		t.Fatal(err)
	}
	for i := range key {
		key[i] = 0
	}
	m, err := s.Sign(context.Background(), []byte(katData))
	if err != nil || !bytes.Equal(m, unhex(t, katX919)) {
		t.Errorf("after the caller wiped its key: Sign = %X, %v", m, err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{s, *s} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(strings.ToUpper(out), "0123456789AB") || strings.Contains(out, "[1 35 69") || strings.Contains(out, "\x01\x23") {
				t.Errorf("%s shows the key: %s", format, out)
			}
		}
	}
}
