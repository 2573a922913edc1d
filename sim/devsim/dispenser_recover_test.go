package devsim

import (
	"bytes"
	"context"
	"crypto/cipher"
	"slices"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/pinblock"
)

// The last dispense, and where its notes are, survives a power loss at
// every stage; notes left in the transport can be retracted after it.
func TestDispenserLastDispenseSurvivesRestart(t *testing.T) {
	mix := []dispenser.Notes{{Cassette: 1, Count: 2}}
	for _, tc := range []struct {
		name   string
		act    func(t *testing.T, d *Dispenser)
		want   dispenser.LastState
		inTray int // notes a restarted dispenser can retract
	}{
		{"stacked", func(t *testing.T, d *Dispenser) {}, dispenser.LastStacked, 2},
		{"presented", func(t *testing.T, d *Dispenser) {
			if err := d.Present(dspCtx(t)); err != nil {
				t.Fatal(err)
			}
		}, dispenser.LastPresented, 2},
		{"taken", func(t *testing.T, d *Dispenser) {
			d.Present(dspCtx(t))
			if err := d.Take(dspCtx(t)); err != nil {
				t.Fatal(err)
			}
		}, dispenser.LastTaken, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := dspOptions(t.TempDir())
			d := newDsp(t, opts)
			if _, err := d.Dispense(dspCtx(t), dspRequest(t, d, "000042", mix...)); err != nil {
				t.Fatal(err)
			}
			tc.act(t, d)
			// Power loss: a new simulator on the same state file.
			d2 := newDsp(t, opts)
			last, err := d2.LastDispense(dspCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if last.Txn != "000042" || last.State != tc.want || !slices.Equal(last.Notes, mix) {
				t.Fatalf("last dispense %+v, want txn 000042 %s %v", last, tc.want, mix)
			}
			n, err := d2.Retract(dspCtx(t))
			if tc.inTray == 0 {
				if err == nil {
					t.Fatalf("retracted %d notes after they were taken", n)
				}
				return
			}
			if err != nil || n != tc.inTray {
				t.Fatalf("retract after restart = %d, %v; want %d", n, err, tc.inTray)
			}
			if last, _ := d2.LastDispense(dspCtx(t)); last.State != dispenser.LastRetracted {
				t.Fatalf("after retract: %s", last.State)
			}
		})
	}
}

// Replenishing the cassettes keeps the nonce counter: a nonce never
// repeats.
func TestDispenserLoadKeepsNonceCounter(t *testing.T) {
	opts := dspOptions(t.TempDir())
	d := newDsp(t, opts)
	a, _ := d.Nonce(dspCtx(t))
	if err := d.Load(context.Background(), DefaultDispenserOptions.Cassettes); err != nil {
		t.Fatal(err)
	}
	d = newDsp(t, opts)
	b, _ := d.Nonce(dspCtx(t))
	if bytes.Compare(b[:8], a[:8]) <= 0 {
		t.Fatalf("nonce counter went back after Load: %x then %x", a[:8], b[:8])
	}
}

// The master key loads as components; the dispense key arrives encrypted
// under it; tokens then verify under the loaded key.
func TestDispenserLoadKey(t *testing.T) {
	opts := dspOptions(t.TempDir())
	opts.Key = nil
	d := newDsp(t, opts)
	c1 := bytes.Repeat([]byte{0x11}, 16)
	c2 := bytes.Repeat([]byte{0x23}, 16)
	tmk := make([]byte, 16)
	for i := range tmk {
		tmk[i] = c1[i] ^ c2[i]
	}
	if _, err := d.LoadKey(dspCtx(t), "tmk", "", c1); err != nil {
		t.Fatal(err)
	}
	kcv, err := d.LoadKey(dspCtx(t), "tmk", "", c2)
	want, _ := pinblock.KCV(tmk)
	if err != nil || !bytes.Equal(kcv, want) {
		t.Fatalf("master key KCV %X, %v; want %X", kcv, err, want)
	}
	dk := bytes.Repeat([]byte("dispense"), 4)
	enc := make([]byte, len(dk))
	var c cipher.Block
	c, _ = pinblock.TDES(tmk)
	for i := 0; i < len(dk); i += 8 {
		c.Encrypt(enc[i:i+8], dk[i:i+8])
	}
	kcv, err = d.LoadKey(dspCtx(t), "dispense", "tmk", enc)
	if err != nil || !bytes.Equal(kcv, dispenser.DispenseKCV(dk)) {
		t.Fatalf("dispense key KCV %X, %v", kcv, err)
	}
	nonce, _ := d.Nonce(dspCtx(t))
	mix := []dispenser.Notes{{Cassette: 3, Count: 1}}
	req := dispenser.DispenseRequest{ATM: opts.ATM, Txn: "1", Currency: "TWD", Mix: mix, Nonce: nonce, Amount: 10000}
	req.Token = dispenser.SignToken(dk, dispenser.TokenData{ATM: req.ATM, Txn: "1", Amount: 10000, Currency: "TWD", Nonce: nonce})
	if _, err := d.Dispense(dspCtx(t), req); err != nil {
		t.Fatalf("dispense under the loaded key: %v", err)
	}
	if _, err := d.LoadKey(dspCtx(t), "dispense", "", dk); err == nil {
		t.Fatal("a clear dispense key was accepted")
	}
}
