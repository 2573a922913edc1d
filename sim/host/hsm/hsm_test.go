package hsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/pinblock"
)

var (
	pinKey   = bytes.Repeat([]byte{0x11, 0x22}, 8)
	pvk      = bytes.Repeat([]byte{0x33}, 16)
	dispKey  = bytes.Repeat([]byte{0x44}, 32)
	testPAN  = "4761730000001019"
	otherPAN = "4761730000002033"
)

func newHSM(t *testing.T) *HSM {
	t.Helper()
	h, err := New(Keys{PIN: pinKey, PVK: pvk, Dispense: dispKey})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func block(t *testing.T, key []byte, pin, pan string) []byte {
	t.Helper()
	b, err := pinblock.EncryptFormat0(key, []byte(pin), []byte(pan))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		keys Keys
		ok   bool
	}{
		{"ok", Keys{pinKey, pvk, dispKey}, true},
		{"triple length PIN key", Keys{bytes.Repeat([]byte{1}, 24), pvk, dispKey}, true},
		{"short PIN key", Keys{pinKey[:8], pvk, dispKey}, false},
		{"short PVK", Keys{pinKey, pvk[:15], dispKey}, false},
		{"short dispense key", Keys{pinKey, pvk, dispKey[:31]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrKey) {
				t.Errorf("err = %v, want ErrKey", err)
			}
		})
	}
}

func TestVerifyPIN(t *testing.T) {
	h := newHSM(t)
	pvv, err := h.PVV(testPAN, []byte("7968"))
	if err != nil {
		t.Fatal(err)
	}
	otherKey := bytes.Repeat([]byte{0x55, 0x66}, 8)
	tests := []struct {
		name  string
		pan   string
		block []byte
		ok    bool
		err   error
	}{
		{"right PIN", testPAN, block(t, pinKey, "7968", testPAN), true, nil},
		{"wrong PIN", testPAN, block(t, pinKey, "7969", testPAN), false, nil},
		{"longer PIN with same prefix", testPAN, block(t, pinKey, "79680", testPAN), false, nil},
		{"PVV of another card", otherPAN, block(t, pinKey, "7968", otherPAN), false, nil},
		{"block for another PAN", testPAN, block(t, pinKey, "7968", otherPAN), false, ErrBlock},
		{"wrong key", testPAN, block(t, otherKey, "7968", testPAN), false, ErrBlock},
		{"short block", testPAN, []byte{1, 2, 3}, false, ErrBlock},
		{"bad PAN", "12", block(t, pinKey, "7968", testPAN), false, ErrBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.VerifyPIN(tt.pan, tt.block, pvv)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestPVV(t *testing.T) {
	h := newHSM(t)
	a, _ := h.PVV(testPAN, []byte("7968"))
	b, _ := h.PVV(otherPAN, []byte("7968"))
	c, _ := h.PVV(testPAN, []byte("7969"))
	if bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("PVV does not depend on both PAN and PIN")
	}
	if bytes.Contains(a, []byte("7968")) {
		t.Error("PVV contains the PIN")
	}
	h2, _ := New(Keys{PIN: pinKey, PVK: bytes.Repeat([]byte{0x34}, 16), Dispense: dispKey})
	if d, _ := h2.PVV(testPAN, []byte("7968")); bytes.Equal(a, d) {
		t.Error("PVV does not depend on the PVK")
	}
	for _, bad := range []string{"", "123", "1234567890123", "12a4"} {
		if _, err := h.PVV(testPAN, []byte(bad)); !errors.Is(err, ErrPIN) {
			t.Errorf("PVV(%q) err = %v, want ErrPIN", bad, err)
		}
	}
}

func TestDispenseToken(t *testing.T) {
	h := newHSM(t)
	d := dispenser.TokenData{ATM: "ATM00001", Txn: "000123", Amount: 300000, Currency: "TWD", Nonce: []byte{1, 2, 3}}
	tok := h.DispenseToken(d)
	if !dispenser.VerifyToken(dispKey, d, tok) {
		t.Error("dispenser rejects the HSM's token")
	}
	d.Amount++
	if dispenser.VerifyToken(dispKey, d, tok) {
		t.Error("token verifies for another amount")
	}
}

func TestKeysCopied(t *testing.T) {
	key := append([]byte(nil), pinKey...)
	h, err := New(Keys{PIN: key, PVK: pvk, Dispense: dispKey})
	if err != nil {
		t.Fatal(err)
	}
	pvv, _ := h.PVV(testPAN, []byte("7968"))
	pinblock.Wipe(key)
	if ok, err := h.VerifyPIN(testPAN, block(t, pinKey, "7968", testPAN), pvv); !ok || err != nil {
		t.Errorf("after the caller wiped its key: ok=%v err=%v", ok, err)
	}
}
