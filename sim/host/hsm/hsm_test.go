package hsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/pinblock"
)

const (
	terminal = "ATM00001"
	other    = "ATM00002"
	testPAN  = "4761730000001019"
	otherPAN = "4761730000002033"
)

var (
	pvk  = bytes.Repeat([]byte{0x33}, 16)
	lmk  = bytes.Repeat([]byte{0x44}, 32)
	tmk  = unhex("0123456789ABCDEFFEDCBA9876543210") // KCV 08D7B4
	tmk2 = unhex("89ABCDEF01234567FEDCBA9876543210")
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func newHSM(t *testing.T) *HSM {
	t.Helper()
	h, err := New(Keys{PVK: pvk, LMK: lmk, TMKs: map[string][]byte{terminal: tmk, other: tmk2}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// exchange runs a key exchange for terminal and opens the 0810 keys the
// way the terminal would, under its TMK.
func exchange(t *testing.T, h *HSM, id string, tmk []byte) (keyexchange.Keys, WorkingKeys) {
	t.Helper()
	resp, wk, err := h.ExchangeKeys(id)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyexchange.Unwrap(tmk, resp)
	if err != nil {
		t.Fatal(err)
	}
	return k, wk
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
		{"ok", Keys{PVK: pvk, LMK: lmk, TMKs: map[string][]byte{terminal: tmk}}, true},
		{"AES-128 LMK, triple-length TMK", Keys{PVK: pvk, LMK: lmk[:16], TMKs: map[string][]byte{terminal: append(bytes.Clone(tmk), tmk2[:8]...)}}, true},
		{"no terminals", Keys{PVK: pvk, LMK: lmk}, true},
		{"short PVK", Keys{PVK: pvk[:15], LMK: lmk}, false},
		{"LMK of 20 bytes", Keys{PVK: pvk, LMK: lmk[:20]}, false},
		{"no LMK", Keys{PVK: pvk}, false},
		{"short TMK", Keys{PVK: pvk, LMK: lmk, TMKs: map[string][]byte{terminal: tmk[:8]}}, false},
		{"TMK halves equal", Keys{PVK: pvk, LMK: lmk, TMKs: map[string][]byte{terminal: bytes.Repeat(tmk[:8], 2)}}, false},
		{"empty terminal id", Keys{PVK: pvk, LMK: lmk, TMKs: map[string][]byte{"": tmk}}, false},
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
			if err != nil && strings.Contains(strings.ToUpper(err.Error()), "0123456789ABCDEF") {
				t.Errorf("error shows a key: %v", err)
			}
		})
	}
}

func TestCheckValues(t *testing.T) {
	h := newHSM(t)
	// AES KCV of 32 bytes of 0x44, computed with OpenSSL (aes-256-ecb of
	// 16 zero bytes).
	if got := fmt.Sprintf("%X", h.LMKCheck()); got != lmkCheckKAT {
		t.Errorf("LMK check = %s, want %s", got, lmkCheckKAT)
	}
	if c, err := h.TMKCheck(terminal); err != nil || fmt.Sprintf("%X", c) != "08D7B4" {
		t.Errorf("TMK check = %X, %v", c, err)
	}
	if err := h.CheckTMK(terminal, unhex("08D7B4")); err != nil {
		t.Errorf("CheckTMK with the right KCV: %v", err)
	}
	if err := h.CheckTMK(terminal, unhex("08D7B5")); !errors.Is(err, ErrTMKCheck) {
		t.Errorf("CheckTMK with a wrong KCV: %v", err)
	}
	if err := h.CheckTMK("ATM00099", unhex("08D7B4")); !errors.Is(err, ErrUnknownTerminal) {
		t.Errorf("CheckTMK of an unknown terminal: %v", err)
	}
	if got := h.Terminals(); len(got) != 2 || got[0] != terminal || got[1] != other {
		t.Errorf("Terminals = %v", got)
	}
}

func TestExchangeKeys(t *testing.T) {
	h := newHSM(t)
	k, wk := exchange(t, h, terminal, tmk)
	if wk.Terminal != terminal {
		t.Errorf("working keys of %q", wk.Terminal)
	}
	for _, b := range [][]byte{wk.TPK, wk.TAK, wk.TDK} {
		for _, clear := range [][]byte{k.TPK, k.TAK, k.TDK} {
			if bytes.Contains(b, clear) || bytes.Contains(b, clear[:8]) {
				t.Error("a stored key contains a clear key")
			}
		}
	}
	if c, _ := keyexchange.TDESCheck(k.TPK); !bytes.Equal(c, wk.TPKCheck) {
		t.Error("stored TPK check value is not the TPK's")
	}
	if c, _ := keyexchange.TDKCheck(k.TDK); !bytes.Equal(c, wk.TDKCheck) {
		t.Error("stored TDK check value is not the TDK's")
	}
	k2, wk2 := exchange(t, h, terminal, tmk)
	if bytes.Equal(k.TPK, k2.TPK) || bytes.Equal(wk.TPK, wk2.TPK) {
		t.Error("a second exchange gave the same TPK")
	}
	if _, _, err := h.ExchangeKeys("ATM00099"); !errors.Is(err, ErrUnknownTerminal) {
		t.Errorf("ExchangeKeys of an unknown terminal: %v", err)
	}
	// The other terminal's 0810 does not open under this terminal's TMK.
	resp, _, err := h.ExchangeKeys(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyexchange.Unwrap(tmk, resp); !errors.Is(err, keyexchange.ErrCheckValue) {
		t.Errorf("another terminal's keys open under this TMK: %v", err)
	}
}

func TestVerifyPIN(t *testing.T) {
	h := newHSM(t)
	pvv, err := h.PVV(testPAN, []byte("7968"))
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := exchange(t, h, terminal, tmk)
	k, wk := exchange(t, h, terminal, tmk) // the first TPK is now stale
	otherKeys, otherWK := exchange(t, h, other, tmk2)
	moved := wk
	moved.TPK = otherWK.TPK // another terminal's TPK copied into this row
	swapped := wk
	swapped.TPK = wk.TAK // the MAC key in the PIN key's place
	tests := []struct {
		name  string
		wk    WorkingKeys
		pan   string
		block []byte
		ok    bool
		err   error
	}{
		{"right PIN", wk, testPAN, block(t, k.TPK, "7968", testPAN), true, nil},
		{"wrong PIN", wk, testPAN, block(t, k.TPK, "7969", testPAN), false, nil},
		{"longer PIN with same prefix", wk, testPAN, block(t, k.TPK, "79680", testPAN), false, nil},
		{"PVV of another card", wk, otherPAN, block(t, k.TPK, "7968", otherPAN), false, nil},
		{"block for another PAN", wk, testPAN, block(t, k.TPK, "7968", otherPAN), false, ErrBlock},
		{"stale TPK", wk, testPAN, block(t, stale.TPK, "7968", testPAN), false, ErrBlock},
		{"another terminal's TPK", wk, testPAN, block(t, otherKeys.TPK, "7968", testPAN), false, ErrBlock},
		{"short block", wk, testPAN, []byte{1, 2, 3}, false, ErrBlock},
		{"bad PAN", wk, "12", block(t, k.TPK, "7968", testPAN), false, ErrBlock},
		{"stored TPK moved from another terminal", moved, testPAN, block(t, otherKeys.TPK, "7968", testPAN), false, ErrStoredKey},
		{"stored TAK in the TPK's place", swapped, testPAN, block(t, k.TAK, "7968", testPAN), false, ErrStoredKey},
		{"stored TPK altered", func() WorkingKeys { w := wk; w.TPK = bytes.Clone(wk.TPK); w.TPK[20] ^= 1; return w }(),
			testPAN, block(t, k.TPK, "7968", testPAN), false, ErrStoredKey},
		{"stored TPK truncated", func() WorkingKeys { w := wk; w.TPK = wk.TPK[:10]; return w }(),
			testPAN, block(t, k.TPK, "7968", testPAN), false, ErrStoredKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.VerifyPIN(tt.wk, tt.pan, tt.block, pvv)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
		})
	}
	// Under another LMK nothing stored opens.
	h2, err := New(Keys{PVK: pvk, LMK: bytes.Repeat([]byte{0x45}, 32), TMKs: map[string][]byte{terminal: tmk}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h2.VerifyPIN(wk, testPAN, block(t, k.TPK, "7968", testPAN), pvv); !errors.Is(err, ErrStoredKey) {
		t.Errorf("under another LMK: err = %v, want ErrStoredKey", err)
	}
}

func TestOpenPINBlock(t *testing.T) {
	h := newHSM(t)
	stale, _ := exchange(t, h, terminal, tmk)
	k, wk := exchange(t, h, terminal, tmk)
	swapped := wk
	swapped.TPK = wk.TAK
	tests := []struct {
		name  string
		wk    WorkingKeys
		pan   string
		block []byte
		want  string
		err   error
	}{
		{"four digits", wk, testPAN, block(t, k.TPK, "7968", testPAN), "7968", nil},
		{"six-digit code", wk, testPAN, block(t, k.TPK, "012345", testPAN), "012345", nil},
		{"twelve digits", wk, otherPAN, block(t, k.TPK, "987654321098", otherPAN), "987654321098", nil},
		{"block for another PAN", wk, testPAN, block(t, k.TPK, "7968", otherPAN), "", ErrBlock},
		{"stale TPK", wk, testPAN, block(t, stale.TPK, "7968", testPAN), "", ErrBlock},
		{"short block", wk, testPAN, []byte{1, 2, 3}, "", ErrBlock},
		{"bad PAN", wk, "12", block(t, k.TPK, "7968", testPAN), "", ErrBlock},
		{"stored TAK in the TPK's place", swapped, testPAN, block(t, k.TAK, "7968", testPAN), "", ErrStoredKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.OpenPINBlock(tt.wk, tt.pan, tt.block)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("digits = %q, want %q", got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "7968") {
				t.Errorf("error %q quotes the digits", err)
			}
		})
	}
}

// Known answers computed independently with OpenSSL: the ISO 9564 format
// 0 example (PIN 1234, PAN 43219876543210987, clear block
// 0412AC89ABCDEF67) encrypted under a TPK; the ANSI X9.19 retail MAC
// example; the AES check value of the test LMK.
const (
	katTPK      = "1A2B3C4D5E6F70811A2B3C4D5E6F7083"
	katPAN      = "43219876543210987"
	katBlock    = "7A1C89EFEF0C0557"
	katTAK      = "0123456789ABCDEFFEDCBA9876543210"
	katMACData  = "Now is the time for all "
	katMAC      = "A1C72E74EA3FA9B6"
	lmkCheckKAT = "D52FCD"
)

// sealed returns working keys holding known clear keys, as if exchanged.
func sealed(t *testing.T, h *HSM, tpk, tak, tdk []byte) WorkingKeys {
	t.Helper()
	wk := WorkingKeys{Terminal: terminal}
	var err error
	if wk.TPK, err = h.seal(terminal, roleTPK, tpk); err != nil {
		t.Fatal(err)
	}
	if wk.TAK, err = h.seal(terminal, roleTAK, tak); err != nil {
		t.Fatal(err)
	}
	if wk.TDK, err = h.seal(terminal, roleTDK, tdk); err != nil {
		t.Fatal(err)
	}
	return wk
}

func TestKnownAnswers(t *testing.T) {
	h := newHSM(t)
	tdk := bytes.Repeat([]byte{0x5C}, 32)
	wk := sealed(t, h, unhex(katTPK), unhex(katTAK), tdk)

	pvv, err := h.PVV(katPAN, []byte("1234"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.VerifyPIN(wk, katPAN, unhex(katBlock), pvv); !ok || err != nil {
		t.Errorf("known PIN block: ok=%v err=%v", ok, err)
	}
	m, err := h.MAC(wk, []byte(katMACData))
	if err != nil || fmt.Sprintf("%X", m) != katMAC {
		t.Errorf("MAC = %X, %v; want %s", m, err, katMAC)
	}
	if err := h.VerifyMAC(wk, []byte(katMACData), unhex(katMAC)); err != nil {
		t.Errorf("VerifyMAC of the known MAC: %v", err)
	}
	bad := unhex(katMAC)
	bad[7] ^= 1
	if err := h.VerifyMAC(wk, []byte(katMACData), bad); !errors.Is(err, ErrMAC) {
		t.Errorf("VerifyMAC of a damaged MAC: %v", err)
	}
	if err := h.VerifyMAC(wk, []byte(katMACData+"."), unhex(katMAC)); !errors.Is(err, ErrMAC) {
		t.Errorf("VerifyMAC of other data: %v", err)
	}
	if err := h.VerifyMAC(wk, []byte(katMACData), nil); !errors.Is(err, ErrMAC) {
		t.Errorf("VerifyMAC of no MAC: %v", err)
	}
	// The MAC is internal/mac's retail MAC under the TAK.
	want, _ := mac.RetailMAC(unhex(katTAK), []byte("0200"))
	if got, _ := h.MAC(wk, []byte("0200")); !bytes.Equal(got, want) {
		t.Error("MAC is not the retail MAC under the TAK")
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
	h2, _ := New(Keys{PVK: bytes.Repeat([]byte{0x34}, 16), LMK: lmk})
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
	k, wk := exchange(t, h, terminal, tmk)
	d := dispenser.TokenData{ATM: terminal, Txn: "000123", Amount: 300000, Currency: "TWD", Nonce: []byte{1, 2, 3}}
	tok, err := h.DispenseToken(wk, d)
	if err != nil {
		t.Fatal(err)
	}
	if !dispenser.VerifyToken(k.TDK, d, tok) {
		t.Error("a dispenser holding the TDK rejects the token")
	}
	d2 := d
	d2.Amount++
	if dispenser.VerifyToken(k.TDK, d2, tok) {
		t.Error("token verifies for another amount")
	}
	k2, wk2 := exchange(t, h, terminal, tmk)
	if dispenser.VerifyToken(k2.TDK, d, tok) {
		t.Error("token verifies under the next TDK")
	}
	if tok2, _ := h.DispenseToken(wk2, d); dispenser.VerifyToken(k.TDK, d, tok2) {
		t.Error("a token made after a new exchange verifies under the stale TDK")
	}
	d.ATM = other
	if _, err := h.DispenseToken(wk, d); !errors.Is(err, ErrKey) {
		t.Errorf("token for another terminal: err = %v, want ErrKey", err)
	}
}

func TestKeysCopied(t *testing.T) {
	key := bytes.Clone(tmk)
	l := bytes.Clone(lmk)
	h, err := New(Keys{PVK: pvk, LMK: l, TMKs: map[string][]byte{terminal: key}})
	if err != nil {
		t.Fatal(err)
	}
	pinblock.Wipe(key)
	pinblock.Wipe(l)
	k, wk := exchange(t, h, terminal, tmk)
	pvv, _ := h.PVV(testPAN, []byte("7968"))
	if ok, err := h.VerifyPIN(wk, testPAN, block(t, k.TPK, "7968", testPAN), pvv); !ok || err != nil {
		t.Errorf("after the caller wiped its keys: ok=%v err=%v", ok, err)
	}
}
