package cdm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/pinblock"
)

// lastState asks LAST-DISPENSE (for cmd) and returns the record's STATE,
// TXN and notes.
func (h *host) last(cmd byte) (byte, string, []dispenser.Notes) {
	h.t.Helper()
	data := h.do(cmdLastDispense, []byte{cmd})
	wantStatus(h.t, data, stOK, "")
	r := &reader{b: data[1:]}
	r.u8()
	r.u8()
	r.u16()
	st := r.u8()
	txn := string(r.str())
	r.str()
	r.u8()
	r.str()
	return st, txn, parseResultBlock(h.t, r.b).notes
}

func TestRecordFollowsTheNotes(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	wantStatus(t, h.do(cmdLastDispense, nil), stNotReady, "")
	mix := dispenser.Notes{Cassette: 2, Count: 2}
	wantStatus(t, h.do(cmdDispense, encodeRequest(request(s, "T1", h.nonce(), mix))), stOK, "")
	steps := []struct {
		do   func()
		want dispenser.LastState
	}{
		{func() {}, dispenser.LastStacked},
		{func() { wantStatus(t, h.do(cmdPresent, nil), stOK, "") }, dispenser.LastPresented},
		{func() { wantStatus(t, h.do(cmdHalt, nil), stOK, "") }, dispenser.LastStacked},
		{func() {
			// A refused dispense records nothing: T1's notes are still known.
			wantStatus(t, h.do(cmdDispense, encodeRequest(request(s, "T2", h.nonce(), mix))), stNotReady, "")
		}, dispenser.LastStacked},
		{func() { wantStatus(t, h.do(cmdPresent, nil), stOK, "") }, dispenser.LastPresented},
		{func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			if err := s.Take(ctx); err != nil {
				t.Fatal(err)
			}
			h.response() // CASH-TAKEN
		}, dispenser.LastTaken},
	}
	for i, st := range steps {
		st.do()
		code, txn, notes := h.last(cmdDispense)
		if code != stateCodes[st.want] || txn != "T1" || !slices.Equal(notes, []dispenser.Notes{mix}) {
			t.Fatalf("step %d: record state %02X txn %q notes %v, want %q of T1", i, code, txn, notes, st.want)
		}
	}
	w := writer{}
	w.mix([]dispenser.Notes{{Cassette: 3, Count: 1}})
	wantStatus(t, h.do(cmdTestDispense, w), stOK, "")
	if code, _, notes := h.last(cmdTestDispense); code != stateCodes[stateRejected] || len(notes) != 1 {
		t.Errorf("test record state %02X notes %v", code, notes)
	}
	if code, txn, _ := h.last(cmdDispense); code != stateCodes[dispenser.LastTaken] || txn != "T1" {
		t.Errorf("a test dispense replaced the dispense record: %02X %q", code, txn)
	}
}

// Picking note by note saves every note: a power cut half way leaves a
// record that says so, and the notes are in the transport after the
// restart.
func TestPowerCutWhilePicking(t *testing.T) {
	opts := testOptions(t)
	opts.PickTime = 150 * time.Millisecond
	s := newSim(t, opts)
	h := serve(t, s)
	mix := []dispenser.Notes{{Cassette: 1, Count: 2}, {Cassette: 2, Count: 2}}
	h.send(frame{seq: 9, cmd: cmdDispense, data: encodeRequest(request(s, "T-CUT", h.nonce(), mix...))}.encode())
	if ev := h.next(); ev.kind != rxAck {
		t.Fatalf("got %v, want ACK", ev.kind)
	}
	// Copy the device's memory once two notes are out: the power cut.
	cut := filepath.Join(t.TempDir(), "cut.json")
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(deadline)
	for {
		b, err := os.ReadFile(opts.StateFile)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := parseState(b); err == nil && st.Last != nil && count(st.Last.Notes) == 2 {
			if st.Last.State != dispenser.LastPicking {
				t.Fatalf("record state %q half way", st.Last.State)
			}
			if err := os.WriteFile(cut, b, 0o600); err != nil {
				t.Fatal(err)
			}
			break
		}
		select {
		case <-tick.C:
		case <-limit:
			t.Fatal("never saw two notes picked")
		}
	}
	h.response() // let the dispense finish on the first device
	o2 := opts
	o2.StateFile = cut
	s2 := newSim(t, o2)
	h2 := serve(t, s2)
	code, txn, notes := h2.last(cmdDispense)
	if code != stateCodes[dispenser.LastPicking] || txn != "T-CUT" || !slices.Equal(notes, mix[:1]) {
		t.Errorf("after the cut: state %02X txn %q notes %v", code, txn, notes)
	}
	if c := s2.Counters(); c[0].Dispensed != 2 || c[1].Dispensed != 0 {
		t.Errorf("counters after the cut: %+v", c)
	}
	resp := h2.do(cmdRetract, nil)
	wantStatus(t, resp, stOK, "")
	if !bytes.Equal(resp[1:], []byte{0, 2}) {
		t.Errorf("RETRACT after the cut = % X, want the 2 notes picked", resp)
	}
}

func TestLoadKeyRaw(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	loadKey := func(name, kek string, value []byte) []byte {
		w := writer{}
		w.str([]byte(name))
		w.str([]byte(kek))
		w.str(value)
		return h.do(cmdLoadKey, w)
	}
	tdk := bytes.Repeat([]byte{0xA5}, 32)
	wantStatus(t, loadKey("dispense", "tmk", tdk), stBadParams, "") // no master key yet
	tmk := bytes.Repeat([]byte{0x3C}, 16)
	resp := loadKey("tmk", "", tmk)
	want, _ := pinblock.KCV(tmk)
	if wantStatus(t, resp, stOK, ""); !bytes.Equal(resp[2:], want) || resp[1] != 3 {
		t.Errorf("master key response % X, want KCV % X", resp, want)
	}
	c, _ := pinblock.TDES(tmk)
	enc := make([]byte, 32)
	for i := 0; i < 32; i += 8 {
		c.Encrypt(enc[i:i+8], tdk[i:i+8])
	}
	resp = loadKey("dispense", "tmk", enc)
	if wantStatus(t, resp, stOK, ""); !bytes.Equal(resp[2:], dispenser.DispenseKCV(tdk)) {
		t.Errorf("dispense key response % X", resp)
	}
	wantStatus(t, loadKey("tmk", "", []byte{1, 2, 3}), stBadParams, "")
	wantStatus(t, loadKey("dispense", "tmk", enc[:30]), stBadParams, "")
	wantStatus(t, h.do(cmdLoadKey, []byte{3, 't'}), stBadParams, "")
	// Tokens under the new key pass; under the configured one they do not.
	sign := func(key []byte, txn string) dispenser.DispenseRequest {
		q := dispenser.DispenseRequest{ATM: DefaultOptions.ATM, Txn: txn, Amount: 100000, Currency: "TWD",
			Mix: []dispenser.Notes{{Cassette: 1, Count: 1}}, Nonce: h.nonce()}
		q.Token = dispenser.SignToken(key, dispenser.TokenData{ATM: q.ATM, Txn: txn, Amount: q.Amount, Currency: q.Currency, Nonce: q.Nonce})
		return q
	}
	wantStatus(t, h.do(cmdDispense, encodeRequest(sign(testKey, "T-OLD"))), stSecurity, "")
	wantStatus(t, h.do(cmdDispense, encodeRequest(sign(tdk, "T-NEW"))), stOK, "")
}
