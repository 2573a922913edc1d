package cdm_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/pinblock"
)

// LastDispense follows the notes of the last dispense through the cash
// cycle, and a refusal does not hide them.
func TestLastDispenseFollowsTheNotes(t *testing.T) {
	r := quickRig(t)
	ctx := ctxT(t)
	last := func(want dispenser.LastState) {
		t.Helper()
		l, err := r.dev.LastDispense(ctx)
		if err != nil || l.State != want {
			t.Fatalf("LastDispense = %+v, %v; want state %q", l, err, want)
		}
	}
	last(dispenser.LastNone)
	mix := []dispenser.Notes{{Cassette: 2, Count: 2}}
	if _, err := r.dev.Dispense(ctx, authorise(t, r, "T-A", mix...)); err != nil {
		t.Fatal(err)
	}
	last(dispenser.LastStacked)
	if err := r.dev.Present(ctx); err != nil {
		t.Fatal(err)
	}
	last(dispenser.LastPresented)
	if err := r.dev.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	last(dispenser.LastStacked) // the shutter closed on them
	if _, err := r.dev.Dispense(ctx, authorise(t, r, "T-B", mix...)); !errors.Is(err, hal.ErrBusy) {
		t.Fatalf("Dispense with notes stacked = %v, want ErrBusy", err)
	}
	l, err := r.dev.LastDispense(ctx)
	if err != nil || l.Txn != "T-A" || l.State != dispenser.LastStacked || !slices.Equal(l.Notes, mix) {
		t.Fatalf("after a refused dispense LastDispense = %+v, %v; want T-A's notes, stacked", l, err)
	}
	if _, err := r.dev.Retract(ctx); err != nil {
		t.Fatal(err)
	}
	last(dispenser.LastRetracted)
	if _, err := r.dev.Dispense(ctx, authorise(t, r, "T-C", mix...)); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Present(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.sim.Take(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.WaitTaken(ctx); err != nil {
		t.Fatal(err)
	}
	last(dispenser.LastTaken)
}

// A power cut with notes in the tray: the restarted device still has
// them (its record is in non-volatile memory), reports them, and the
// recovery's Retract pulls exactly them.
func TestPowerCutWithNotesPresented(t *testing.T) {
	state := filepath.Join(stateDir(t), "cdm.json")
	r := newRig(t, simOptions(state), fastOptions())
	mix := []dispenser.Notes{{Cassette: 1, Count: 3}, {Cassette: 3, Count: 1}}
	if _, err := r.dev.Dispense(ctxT(t), authorise(t, r, "T-CUT", mix...)); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Present(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Power back: a new device on the same memory, a new driver.
	r2 := newRig(t, simOptions(state), fastOptions())
	l, err := r2.dev.LastDispense(ctxT(t))
	if err != nil || l.Txn != "T-CUT" || l.State != dispenser.LastPresented || !slices.Equal(l.Notes, mix) {
		t.Fatalf("LastDispense after the restart = %+v, %v", l, err)
	}
	if st := r2.dev.Status(); st.Extra["notes.presented"] != "4" {
		t.Errorf("Status %v, want the 4 notes presented", st.Extra)
	}
	if n, err := r2.dev.Retract(ctxT(t)); err != nil || n != 4 {
		t.Errorf("Retract = %d, %v; want the 4 notes", n, err)
	}
	if l, _ := r2.dev.LastDispense(ctxT(t)); l.State != dispenser.LastRetracted {
		t.Errorf("state after Retract = %q", l.State)
	}
}

// The key ceremony of atm/keys.go: master key components, then the
// dispense key under the master key; the device's check values match
// and tokens under the new key are the only ones it accepts.
func TestLoadKey(t *testing.T) {
	r := quickRig(t)
	ctx := ctxT(t)
	comp1 := bytes.Repeat([]byte{0x11, 0x22}, 8)
	comp2 := bytes.Repeat([]byte{0x0F, 0xF0}, 8)
	tmk := make([]byte, 16)
	for i := range tmk {
		tmk[i] = comp1[i] ^ comp2[i]
	}
	if _, err := r.dev.LoadKey(ctx, "tmk", "", comp1); err != nil {
		t.Fatal(err)
	}
	kcv, err := r.dev.LoadKey(ctx, "tmk", "", comp2)
	want, _ := pinblock.KCV(tmk)
	if err != nil || !bytes.Equal(kcv, want) {
		t.Fatalf("master key KCV = %X, %v; want %X", kcv, err, want)
	}
	tdk := []byte("a fresh dispense key, 32 bytes!!")
	c, err := pinblock.TDES(tmk)
	if err != nil {
		t.Fatal(err)
	}
	enc := make([]byte, len(tdk))
	for i := 0; i < len(tdk); i += 8 {
		c.Encrypt(enc[i:i+8], tdk[i:i+8])
	}
	kcv, err = r.dev.LoadKey(ctx, "dispense", "tmk", enc)
	if err != nil || !bytes.Equal(kcv, dispenser.DispenseKCV(tdk)) {
		t.Fatalf("dispense key KCV = %X, %v; want %X", kcv, err, dispenser.DispenseKCV(tdk))
	}

	mix := dispenser.Notes{Cassette: 1, Count: 1}
	old := authorise(t, r, "T-OLDKEY", mix) // signed with the configured key
	if _, err := r.dev.Dispense(ctx, old); !errors.Is(err, dispenser.ErrBadToken) {
		t.Errorf("Dispense under the replaced key = %v, want ErrBadToken", err)
	}
	q := authorise(t, r, "T-NEWKEY", mix)
	q.Token = dispenser.SignToken(tdk, dispenser.TokenData{ATM: q.ATM, Txn: q.Txn, Amount: q.Amount, Currency: q.Currency, Nonce: q.Nonce})
	if _, err := r.dev.Dispense(ctx, q); err != nil {
		t.Errorf("Dispense under the loaded key: %v", err)
	}

	for _, bad := range []struct{ name, kek string }{{"dispense", ""}, {"pin", "tmk"}, {"tmk", "tmk"}} {
		if _, err := r.dev.LoadKey(ctx, bad.name, bad.kek, enc); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("LoadKey(%q under %q) = %v, want ErrInvalid", bad.name, bad.kek, err)
		}
	}
	fresh := quickRig(t)
	if _, err := fresh.dev.LoadKey(ctx, "dispense", "tmk", enc); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("dispense key without a master key = %v, want ErrInvalid", err)
	}
}

// DELETE-KEY erases the master key, so that new components make a new
// key instead of being XORed into the old one; a key not loaded is
// dispenser.ErrNoKey.
func TestDeleteKey(t *testing.T) {
	r := quickRig(t)
	ctx := ctxT(t)
	if err := r.dev.DeleteKey(ctx, "tmk"); !errors.Is(err, dispenser.ErrNoKey) {
		t.Fatalf("DeleteKey of no key = %v, want ErrNoKey", err)
	}
	comp := bytes.Repeat([]byte{0x11, 0x22}, 8)
	for i := 0; i < 2; i++ {
		kcv, err := r.dev.LoadKey(ctx, "tmk", "", comp)
		want, _ := pinblock.KCV(comp)
		if err != nil || !bytes.Equal(kcv, want) {
			t.Fatalf("load %d after delete: KCV %X, %v; want the component's own %X", i+1, kcv, err, want)
		}
		if err := r.dev.DeleteKey(ctx, "tmk"); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
	}
	if err := r.dev.DeleteKey(ctx, ""); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("DeleteKey of no name = %v, want ErrInvalid", err)
	}
}
