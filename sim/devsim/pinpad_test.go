package devsim_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/pinpad/pinpadtest"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/devsim"
)

var (
	tdesKey = mustHex("0123456789ABCDEFFEDCBA9876543210")
	aesKey  = mustHex("603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestPinPadConformance(t *testing.T) {
	tests := []struct {
		name string
		caps pinpad.Capabilities
		keys []pinpadtest.PINKey
	}{
		{"default", pinpad.Capabilities{}, []pinpadtest.PINKey{
			{Name: "tpk", Format: pinpad.ISO0, Value: tdesKey},
			{Name: "tpk-aes", Format: pinpad.ISO4, Value: aesKey},
		}},
		{"iso0-only", pinpad.Capabilities{Formats: []pinpad.Format{pinpad.ISO0}, FDKs: 4}, []pinpadtest.PINKey{
			{Name: "tpk", Format: pinpad.ISO0, Value: tdesKey},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pinpadtest.Run(t, func(t *testing.T) pinpadtest.Harness {
				keys := map[string][]byte{}
				for _, k := range tc.keys {
					keys[k.Name] = k.Value
				}
				p := devsim.NewPinPad(devsim.PinPadOptions{Caps: tc.caps, Keys: keys})
				return pinpadtest.Harness{Dev: p, Press: p.Press, Keys: tc.keys}
			})
		})
	}
}

func newPinPad(log zerolog.Logger) *devsim.PinPad {
	return devsim.NewPinPad(devsim.PinPadOptions{Keys: map[string][]byte{"tpk": tdesKey, "tpk-aes": aesKey}, Log: log})
}

func pinReq(key string, f pinpad.Format) pinpad.PINRequest {
	return pinpad.PINRequest{PAN: pinpadtest.TestPAN, MinLen: 4, MaxLen: 12, Format: f, Key: key}
}

// startEntry runs entry in a goroutine and returns its error channel.
func startEntry(entry func() error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- entry() }()
	return errc
}

func TestPinPadActive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		p := newPinPad(zerolog.Nop())
		tests := []struct {
			want  string
			entry func() error
			end   pinpad.Key
		}{
			{"pin", func() error { _, err := p.GetPIN(ctx, pinReq("tpk", pinpad.ISO0), nil); return err }, pinpad.KeyCancel},
			// The terminators are keys the entry takes: a scenario's
			// "press F4" and the front panel's key lights see them.
			{"pin:F4,F5", func() error {
				req := pinReq("tpk", pinpad.ISO0)
				req.Terminators = []pinpad.Key{pinpad.F4, pinpad.F5}
				_, err := p.GetPIN(ctx, req, nil)
				return err
			}, pinpad.F5},
			{"data", func() error { _, err := p.GetData(ctx, pinpad.DataRequest{MaxLen: 4}, nil); return err }, pinpad.KeyEnter},
			{"keys:F1,F2,0", func() error { _, err := p.ReadKey(ctx, []pinpad.Key{pinpad.F1, pinpad.F2, "0"}); return err }, "0"},
		}
		for _, tc := range tests {
			errc := startEntry(tc.entry)
			synctest.Wait() // the entry is waiting for keys
			if got := p.Active(); got != tc.want {
				t.Errorf("Active = %q, want %q", got, tc.want)
			}
			if err := p.Press(ctx, tc.end); err != nil {
				t.Fatal(err)
			}
			<-errc
			if got := p.Active(); got != "" {
				t.Errorf("Active after the entry = %q, want none", got)
			}
		}
	})
}

func TestPinPadNeverLogsSecrets(t *testing.T) {
	var logs logBuffer
	p := newPinPad(zerolog.New(&logs).Level(zerolog.DebugLevel))
	ctx := ctxT(t)
	errc := make(chan error, 1)
	go func() {
		_, err := p.GetPIN(ctx, pinReq("tpk", pinpad.ISO0), nil)
		errc <- err
	}()
	if err := p.Press(ctx, "9", "1", "8", "2", "7", pinpad.KeyEnter); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := p.GetPIN(ctx, pinReq("tpk", pinpad.ISO0), nil)
		errc <- err
	}()
	if err := p.Press(ctx, "9", "1", "8", "2", "7", pinpad.KeyCancel); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if !errors.Is(err, hal.ErrCancelled) {
		t.Fatalf("GetPIN = %v, want cancelled", err)
	}
	out := logs.String() + err.Error()
	if strings.Contains(out, "91827") || strings.Contains(out, pinpadtest.TestPAN) || strings.Contains(out, hex.EncodeToString(tdesKey)) {
		t.Errorf("PIN, PAN or key leaked:\n%s", out)
	}
	if !strings.Contains(logs.String(), "PIN block built") {
		t.Errorf("log misses the PIN entry:\n%s", logs.String())
	}
}

func ecb(t *testing.T, key, data []byte) []byte {
	t.Helper()
	out := make([]byte, len(data))
	if len(key) == 32 {
		c, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(data); i += 16 {
			c.Encrypt(out[i:], data[i:])
		}
		return out
	}
	c, err := pinblock.TDES(key)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 8 {
		c.Encrypt(out[i:], data[i:])
	}
	return out
}

func TestPinPadLoadKey(t *testing.T) {
	comp1 := mustHex("11111111111111112222222222222222")
	comp2 := mustHex("0123456789ABCDEF0123456789ABCDEF")
	tmk := make([]byte, 16)
	for i := range tmk {
		tmk[i] = comp1[i] ^ comp2[i]
	}
	newTPK := mustHex("89ABCDEF0123456776543210FEDCBA98")
	newAES := mustHex("2B7E151628AED2A6ABF7158809CF4F3C")
	tdesKCV := func(k []byte) []byte { v, _ := pinblock.KCV(k); return v }
	aesKCV := func(k []byte) []byte { v, _ := pinblock.KCVAES(k); return v }

	ctx := ctxT(t)
	p := devsim.NewPinPad(devsim.PinPadOptions{Keys: map[string][]byte{"kek-aes": aesKey}})
	steps := []struct {
		name, key, kek string
		value          []byte
		kcv            []byte
		err            error
	}{
		{"first component", "tmk", "", comp1, tdesKCV(comp1), nil},
		{"second component XORs", "tmk", "", comp2, tdesKCV(tmk), nil},
		{"TDES-wrapped TPK", "tpk", "tmk", ecb(t, tmk, newTPK), tdesKCV(newTPK), nil},
		{"AES-wrapped key", "tpk-aes", "kek-aes", ecb(t, aesKey, newAES), aesKCV(newAES), nil},
		{"unknown KEK", "x", "nope", ecb(t, tmk, newTPK), nil, pinpad.ErrNoKey},
		{"short component", "x", "", []byte{1, 2, 3}, nil, hal.ErrInvalid},
		{"component of another length", "tmk", "", aesKey, nil, hal.ErrInvalid},
		{"ragged encrypted key", "x", "kek-aes", make([]byte, 24), nil, hal.ErrInvalid},
		{"no name", "", "", comp1, nil, hal.ErrInvalid},
	}
	for _, s := range steps {
		kcv, err := p.LoadKey(ctx, s.key, s.kek, s.value)
		if !errors.Is(err, s.err) || !bytes.Equal(kcv, s.kcv) {
			t.Errorf("%s: LoadKey = %x, %v; want %x, %v", s.name, kcv, err, s.kcv, s.err)
		}
	}
	// The loaded keys make blocks that open with their clear values.
	for _, k := range []pinpadtest.PINKey{{Name: "tpk", Format: pinpad.ISO0, Value: newTPK}, {Name: "tpk-aes", Format: pinpad.ISO4, Value: newAES}} {
		errc := make(chan error, 1)
		var b pinpad.PINBlock
		go func() {
			var err error
			b, err = p.GetPIN(ctx, pinReq(k.Name, k.Format), nil)
			errc <- err
		}()
		if err := p.Press(ctx, "2", "4", "6", "8", pinpad.KeyEnter); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		open := pinblock.DecryptFormat0
		if k.Format == pinpad.ISO4 {
			open = pinblock.DecryptFormat4
		}
		if pin, err := open(k.Value, b.Block, []byte(pinpadtest.TestPAN)); err != nil || string(pin) != "2468" {
			t.Errorf("%s: block opens to %q, %v; want 2468", k.Name, pin, err)
		}
	}
}

func TestPinPadFaults(t *testing.T) {
	tests := []struct {
		code   string
		state  hal.State
		errIs  error
		keysGo bool // keys erased
	}{
		{devsim.PinPadOffline, hal.Offline, hal.ErrOffline, false},
		{devsim.PinPadTamper, hal.HardwareError, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			ctx := ctxT(t)
			p := newPinPad(zerolog.Nop())
			errc := startEntry(func() error { _, err := p.GetData(ctx, pinpad.DataRequest{MaxLen: 4}, nil); return err })
			if err := p.Press(ctx, "1"); err != nil { // the entry is running
				t.Fatal(err)
			}
			if err := p.Inject(tc.code); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; hal.FaultCode(err) != tc.code || (tc.errIs != nil && !errors.Is(err, tc.errIs)) {
				t.Fatalf("running entry ended with %v, want fault %s", err, tc.code)
			}
			if st := p.Status(); st.State != tc.state || st.Fault != tc.code {
				t.Fatalf("Status = %v, want %v %s", st, tc.state, tc.code)
			}
			for name, call := range map[string]func() error{
				"GetPIN":  func() error { _, err := p.GetPIN(ctx, pinReq("tpk", pinpad.ISO0), nil); return err },
				"ReadKey": func() error { _, err := p.ReadKey(ctx, []pinpad.Key{pinpad.F1}); return err },
				"LoadKey": func() error { _, err := p.LoadKey(ctx, "k", "", tdesKey); return err },
			} {
				if err := call(); hal.FaultCode(err) != tc.code {
					t.Errorf("%s = %v, want fault %s", name, err, tc.code)
				}
			}
			p.Clear()
			if st := p.Status(); !st.OK() {
				t.Fatalf("Status after Clear = %v, want OK", st)
			}
			errc = startEntry(func() error { _, err := p.GetPIN(ctx, pinReq("tpk", pinpad.ISO0), nil); return err })
			if tc.keysGo {
				if err := <-errc; !errors.Is(err, pinpad.ErrNoKey) {
					t.Fatalf("GetPIN after a tamper = %v, want ErrNoKey: the keys are erased", err)
				}
				return
			}
			if err := p.Press(ctx, "1", "2", "3", "4", pinpad.KeyEnter); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("GetPIN after Clear: %v", err)
			}
		})
	}
	if err := newPinPad(zerolog.Nop()).Inject("CRD-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Inject(CRD-JAM) = %v, want hal.ErrInvalid", err)
	}
}

// FuzzPinPadLoadKey feeds arbitrary key material to LoadKey: it never
// panics, and it either refuses the value or stores a key whose check
// value it returns.
func FuzzPinPadLoadKey(f *testing.F) {
	f.Add("", tdesKey)
	f.Add("tmk", tdesKey)
	f.Add("kek-aes", aesKey)
	f.Add("tmk", []byte{1, 2, 3})
	f.Add("kek-aes", make([]byte, 24))
	f.Fuzz(func(t *testing.T, kek string, value []byte) {
		p := devsim.NewPinPad(devsim.PinPadOptions{Keys: map[string][]byte{"tmk": tdesKey, "kek-aes": aesKey}})
		kcv, err := p.LoadKey(t.Context(), "new", kek, value)
		if err != nil {
			if !errors.Is(err, hal.ErrInvalid) && !errors.Is(err, pinpad.ErrNoKey) {
				t.Fatalf("LoadKey refused with %v, want hal.ErrInvalid or ErrNoKey", err)
			}
			return
		}
		if len(kcv) != 3 {
			t.Fatalf("KCV %x, want 3 bytes", kcv)
		}
	})
}

// MACs are computed inside the PIN pad under a loaded key, and agree with
// the published ISO 9797-1 algorithm 3 (X9.19) example.
func TestPinPadMACAndKCV(t *testing.T) {
	key := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
	p := devsim.NewPinPad(devsim.PinPadOptions{Keys: map[string][]byte{"mac": key}})
	ctx := context.Background()
	m, err := p.MAC(ctx, "mac", []byte("Now is the time for all "))
	if err != nil || fmt.Sprintf("%X", m) != "A1C72E74EA3FA9B6" {
		t.Fatalf("MAC = %X, %v", m, err)
	}
	kcv, err := p.KCV(ctx, "mac")
	if err != nil || fmt.Sprintf("%X", kcv) != "08D7B4" {
		t.Fatalf("KCV = %X, %v", kcv, err)
	}
	if _, err := p.MAC(ctx, "nokey", nil); !errors.Is(err, pinpad.ErrNoKey) {
		t.Fatalf("MAC under a missing key: %v", err)
	}
}
