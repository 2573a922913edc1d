package cdm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

func TestCRC(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x29B1 {
		t.Errorf("check value = %04X, want 29B1", got)
	}
	// framing.md's example: STATUS, SEQ 1.
	if got, want := (frame{seq: 1, cmd: 0x01}).encode(), []byte{0x02, 0x01, 0x00, 0x01, 0x01, 0xD1, 0x64, 0x03}; !bytes.Equal(got, want) {
		t.Errorf("STATUS frame = % X, want % X", got, want)
	}
}

func TestReceiver(t *testing.T) {
	good := frame{seq: 7, cmd: 0x01}.encode()
	withACK := frame{seq: 8, cmd: 0x04, data: []byte{ack, nak, stx}}.encode()
	acks := frame{seq: 9, cmd: 0x04, data: []byte{ack, nak, ack}}.encode()
	badCRC := slices.Clone(good)
	badCRC[5] ^= 0x01
	badETX := slices.Clone(good)
	badETX[len(badETX)-1] = 0x00
	brokenWithACK := slices.Clone(acks)
	brokenWithACK[len(brokenWithACK)-2] ^= 0xFF
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		want []rxKind
	}{
		{"frame", good, []rxKind{rxFrame}},
		{"ACK and NAK", []byte{ack, nak}, []rxKind{rxAck, rxNak}},
		{"noise then frame", cat([]byte{0x00, 0xFF, 0x03, 0x41}, good), []rxKind{rxFrame}},
		{"frame with ACK, NAK and STX in its data", withACK, []rxKind{rxFrame}},
		{"bad CRC then frame", cat(badCRC, good), []rxKind{rxBad, rxFrame}},
		{"bad ETX then frame", cat(badETX, good), []rxKind{rxBad, rxFrame}},
		{"LEN 0", cat([]byte{stx, 1, 0, 0}, good), []rxKind{rxBad, rxFrame}},
		{"LEN 1025", cat([]byte{stx, 1, 0x04, 0x01}, good), []rxKind{rxBad, rxFrame}},
		{"ACK and NAK inside a broken frame are data", cat(brokenWithACK, []byte{ack}), []rxKind{rxBad, rxAck}},
		{"frame swallowed by a stray STX waits for the line to go quiet", cat([]byte{stx, 0x05}, good), nil},
		{"partial", good[:5], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []int{1, 3, len(tc.in)} { // however the bytes arrive
				var r receiver
				var got []rxKind
				for i := 0; i < len(tc.in); i += split {
					for _, ev := range r.feed(tc.in[i:min(i+split, len(tc.in))]) {
						got = append(got, ev.kind)
						if ev.kind == rxFrame && !bytes.Equal(ev.f.encode(), ev.raw) {
							t.Errorf("frame % X re-encodes to % X", ev.raw, ev.f.encode())
						}
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("split %d: got %v, want %v", split, got, tc.want)
				}
			}
		})
	}
	t.Run("quiet line inside a frame", func(t *testing.T) {
		var r receiver
		// A stray STX swallowed a whole frame; when the line goes quiet
		// the partial frame is given up and the real one found in it.
		if evs := r.feed(cat([]byte{stx, 0x05}, good)); len(evs) != 0 || !r.partial() {
			t.Fatalf("events %v, partial %v", evs, r.partial())
		}
		var got []rxKind
		for _, ev := range r.expire() {
			got = append(got, ev.kind)
		}
		if want := []rxKind{rxBad, rxFrame}; !slices.Equal(got, want) {
			t.Errorf("expire: got %v, want %v", got, want)
		}
		if r.partial() {
			t.Error("still partial after expire")
		}
	})
}

func TestRepeatedFrameIsNotExecutedAgain(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	mix := dispenser.Notes{Cassette: 1, Count: 2}
	raw := frame{seq: 40, cmd: cmdDispense, data: encodeRequest(request(s, "T1", h.nonce(), mix))}.encode()
	first := h.frameOf(raw)
	wantStatus(t, first.data, stOK, "")
	before := s.Counters()
	// The host lost the response and sends the very same frame again.
	if again := h.frameOf(raw); again.seq != first.seq || !bytes.Equal(again.data, first.data) {
		t.Errorf("repeat answered % X, want the stored % X", again.data, first.data)
	}
	if !slices.Equal(s.Counters(), before) {
		t.Error("the repeated DISPENSE moved notes")
	}
	if c := before[0]; c.Count != 1998 || c.Dispensed != 2 {
		t.Errorf("cassette 1 = %+v, want 2 notes out", c)
	}
	// The same SEQ with other content is a new command.
	wantStatus(t, h.frameOf(frame{seq: 40, cmd: cmdRetract}.encode()).data, stOK, "")
	h.seq = 40
	n := h.nonce() // SEQ 41
	f := h.frameOf(frame{seq: 41, cmd: cmdDispense, data: encodeRequest(request(s, "T2", n, mix))}.encode())
	wantStatus(t, f.data, stOK, "")
	if c := s.Counters()[0]; c.Dispensed != 4 {
		t.Errorf("cassette 1 = %+v after a second dispense under a reused SEQ", c)
	}
}

func TestDeviceSendsAgainUntilACKed(t *testing.T) {
	t.Run("NAK", func(t *testing.T) {
		h := serve(t, newSim(t, testOptions(t)))
		raw := frame{seq: 1, cmd: cmdStatus}.encode()
		h.send(raw)
		if ev := h.next(); ev.kind != rxAck {
			t.Fatalf("got %v, want ACK", ev.kind)
		}
		first := h.next()
		for i := range 2 {
			h.send([]byte{nak})
			if again := h.next(); !bytes.Equal(again.raw, first.raw) {
				t.Fatalf("after NAK %d the device sent % X, want % X", i+1, again.raw, first.raw)
			}
		}
		h.send([]byte{nak}) // the third try failed: the device gives up
		h.quiet(ackWait + 100*time.Millisecond)
	})
	t.Run("no ACK", func(t *testing.T) {
		h := serve(t, newSim(t, testOptions(t)))
		h.send(frame{seq: 1, cmd: cmdStatus}.encode())
		if ev := h.next(); ev.kind != rxAck {
			t.Fatalf("got %v, want ACK", ev.kind)
		}
		first := h.next()
		start := time.Now()
		for range 2 {
			if again := h.next(); !bytes.Equal(again.raw, first.raw) {
				t.Fatalf("device sent % X, want % X again", again.raw, first.raw)
			}
		}
		if d := time.Since(start); d < 2*ackWait-50*time.Millisecond {
			t.Errorf("two retransmissions within %v; the device must wait %v for the ACK", d, ackWait)
		}
		h.quiet(ackWait + 100*time.Millisecond)
	})
}

func TestMalformedFramesAreNAKed(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	good := frame{seq: 1, cmd: cmdNonce}.encode()
	badCRC := slices.Clone(good)
	badCRC[len(badCRC)-2] ^= 0x01
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"bad CRC", badCRC},
		{"LEN 0", []byte{stx, 1, 0, 0}},
		{"truncated", good[:len(good)-2]}, // then the line goes quiet
	} {
		h.send(tc.b)
		if ev := h.next(); ev.kind != rxNak {
			t.Fatalf("%s: got %v, want NAK", tc.name, ev.kind)
		}
	}
	h.send([]byte{0x00, 0x41, 0xFF, etx, 0x7F}) // noise between frames: ignored
	h.quiet(frameGap + 50*time.Millisecond)
	if s.state().Nonces != 0 {
		t.Fatal("a damaged NONCE was executed")
	}
	h.seq = 1
	h.nonce()
}

func TestBusyWhileDispensing(t *testing.T) {
	opts := testOptions(t)
	opts.PickTime = 100 * time.Millisecond
	s := newSim(t, opts)
	h := serve(t, s)
	q := request(s, "T1", h.nonce(), dispenser.Notes{Cassette: 2, Count: 3})
	h.send(frame{seq: 10, cmd: cmdDispense, data: encodeRequest(q)}.encode())
	if ev := h.next(); ev.kind != rxAck {
		t.Fatalf("got %v, want ACK", ev.kind)
	}
	st := h.frameOf(frame{seq: 11, cmd: cmdStatus}.encode())
	if st.cmd != cmdStatus|respBit || st.data[0] != stOK || st.data[1] != stateBusy {
		t.Errorf("STATUS during DISPENSE = % X, want state busy", st.data)
	}
	wantStatus(t, h.frameOf(frame{seq: 12, cmd: cmdPresent}.encode()).data, stBusy, "")
	h.send(frame{seq: 10, cmd: cmdDispense, data: encodeRequest(q)}.encode()) // a repeat while busy: ACK only
	if ev := h.next(); ev.kind != rxAck {
		t.Fatalf("got %v, want ACK", ev.kind)
	}
	f := h.response()
	if f.seq != 10 || f.cmd != cmdDispense|respBit {
		t.Fatalf("got SEQ %d CMD %02X, want the DISPENSE response", f.seq, f.cmd)
	}
	wantStatus(t, f.data, stOK, "")
	h.quiet(ackWait + 50*time.Millisecond) // answered once
	if c := s.Counters()[1]; c.Dispensed != 3 {
		t.Errorf("cassette 2 = %+v", c)
	}
}

func TestNoncePersistedBeforeItLeaves(t *testing.T) {
	opts := testOptions(t)
	s := newSim(t, opts)
	h := serve(t, s)
	for want := uint64(1); want <= 3; want++ {
		n := h.nonce()
		if got := binary.BigEndian.Uint64(n); got != want {
			t.Errorf("nonce counter = %d, want %d", got, want)
		}
		b, err := os.ReadFile(opts.StateFile)
		if err != nil {
			t.Fatal(err)
		}
		st, err := parseState(b)
		if err != nil {
			t.Fatal(err)
		}
		if st.Nonces != want {
			t.Errorf("state file holds %d after nonce %d left the device", st.Nonces, want)
		}
	}
	if left, _ := filepath.Glob(opts.StateFile + ".tmp*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	h2 := serve(t, newSim(t, opts))
	if got := binary.BigEndian.Uint64(h2.nonce()); got != 4 {
		t.Errorf("first nonce after a restart has counter %d, want 4", got)
	}
}

func TestStateFileProblems(t *testing.T) {
	t.Run("corrupt", func(t *testing.T) {
		opts := testOptions(t)
		if err := os.WriteFile(opts.StateFile, []byte(`{"version":1,`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := New(opts); err == nil {
			t.Error("New accepted a corrupt state file")
		}
	})
	t.Run("unwritable", func(t *testing.T) {
		opts := testOptions(t)
		dir := filepath.Dir(opts.StateFile)
		s := newSim(t, opts)
		h := serve(t, s)
		n := h.nonce()
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, h.do(cmdNonce, nil), stHardware, FaultStorage)
		// The failed NONCE voided the earlier one.
		wantStatus(t, h.do(cmdDispense, encodeRequest(request(s, "T1", n, dispenser.Notes{Cassette: 1, Count: 1}))), stSecurity, "")
	})
	t.Run("bad cassettes", func(t *testing.T) {
		opts := testOptions(t)
		opts.Cassettes = []dispenser.Cassette{{ID: 1, Denomination: 100, Currency: "TWD"}, {ID: 1, Denomination: 100, Currency: "TWD"}}
		if _, err := New(opts); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("New with duplicate ids = %v, want ErrInvalid", err)
		}
	})
}

func TestTokenRefusalsAreVisible(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	mix := dispenser.Notes{Cassette: 1, Count: 1}
	q := request(s, "T-FORGED", h.nonce(), mix)
	q.Token[3] ^= 0x04
	wantStatus(t, h.do(cmdDispense, encodeRequest(q)), stSecurity, "")
	q = request(s, "T-NONONCE", nil, mix)
	wantStatus(t, h.do(cmdDispense, encodeRequest(q)), stSecurity, "")
	want := []Refusal{{Txn: "T-FORGED", Reason: "token does not verify"}, {Txn: "T-NONONCE", Reason: "no nonce outstanding"}}
	if got := s.Refusals(); !slices.Equal(got, want) {
		t.Errorf("Refusals = %v, want %v", got, want)
	}
	if c := s.Counters()[0]; c.Dispensed != 0 {
		t.Errorf("notes moved: %+v", c)
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Run("DSP-JAM refuses without burning the nonce", func(t *testing.T) {
		s := newSim(t, testOptions(t))
		h := serve(t, s)
		req := encodeRequest(request(s, "T1", h.nonce(), dispenser.Notes{Cassette: 1, Count: 1}))
		if err := s.Inject(FaultJam); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, h.do(cmdDispense, req), stHardware, FaultJam)
		wantStatus(t, h.do(cmdPresent, nil), stHardware, FaultJam)
		st := h.do(cmdStatus, nil)
		if st[1] != stateHardware || !bytes.Contains(st, []byte(FaultJam)) {
			t.Errorf("STATUS = % X, want hardware error DSP-JAM", st)
		}
		s.Clear()
		wantStatus(t, h.do(cmdDispense, req), stOK, "")
	})
	t.Run("DSP-OFFLINE is silence", func(t *testing.T) {
		s := newSim(t, testOptions(t))
		h := serve(t, s)
		if err := s.Inject(FaultOffline); err != nil {
			t.Fatal(err)
		}
		h.send(frame{seq: 1, cmd: cmdStatus}.encode())
		h.quiet(2 * frameGap)
		s.Clear()
		h.seq = 1
		wantStatus(t, h.do(cmdStatus, nil), stOK, "")
	})
	t.Run("DSP-SHUTTER", func(t *testing.T) {
		s := newSim(t, testOptions(t))
		h := serve(t, s)
		wantStatus(t, h.do(cmdDispense, encodeRequest(request(s, "T1", h.nonce(), dispenser.Notes{Cassette: 1, Count: 1}))), stOK, "")
		wantStatus(t, h.do(cmdPresent, nil), stOK, "")
		if err := s.Inject(FaultShutter); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := s.Take(ctx); err != nil {
			t.Fatal(err)
		}
		ev := h.response()
		if ev.seq != 0 || ev.cmd != evCashTaken || !bytes.Equal(ev.data, []byte{0, 1}) {
			t.Errorf("event SEQ %d CMD %02X % X, want CASH-TAKEN of 1 note", ev.seq, ev.cmd, ev.data)
		}
		wantStatus(t, h.do(cmdCloseShutter, nil), stHardware, FaultShutter)
		s.Clear()
		wantStatus(t, h.do(cmdCloseShutter, nil), stOK, "")
	})
	if err := newSim(t, testOptions(t)).Inject("PRN-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(PRN-JAM) = %v, want ErrInvalid", err)
	}
}

func TestPickFailureAndRecord(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	s.SetPickFailure(3)
	mix := []dispenser.Notes{{Cassette: 1, Count: 2}, {Cassette: 3, Count: 3}}
	n := h.nonce()
	raw := frame{seq: 50, cmd: cmdDispense, data: encodeRequest(request(s, "T-PICK", n, mix...))}.encode()
	resp := h.frameOf(raw).data
	wantStatus(t, resp, stHardware, FaultPick)
	moved := []dispenser.Notes{{Cassette: 1, Count: 2}, {Cassette: 3, Count: 1}}
	if res := parseResultBlock(t, resp[2+len(FaultPick):]); !slices.Equal(res.notes, moved) {
		t.Errorf("partial RESULT %v, want %v", res.notes, moved)
	}
	h.seq = 50
	rec := h.do(cmdLastDispense, nil)
	wantStatus(t, rec, stOK, "")
	r := &reader{b: rec[1:]}
	if cmd, seq, crc := r.u8(), r.u8(), r.u16(); cmd != cmdDispense || seq != 50 || crc != binary.BigEndian.Uint16(raw[len(raw)-3:]) {
		t.Errorf("record names CMD %02X SEQ %d CRC %04X", cmd, seq, crc)
	}
	if st := r.u8(); st != stateCodes[dispenser.LastStacked] {
		t.Errorf("record STATE %02X, want stacked", st)
	}
	if txn, nonce := r.str(), r.str(); string(txn) != "T-PICK" || !bytes.Equal(nonce, n) {
		t.Errorf("record names txn %q nonce % X", txn, nonce)
	}
	if st, reason := r.u8(), r.str(); st != stHardware || string(reason) != FaultPick {
		t.Errorf("record status %02X %q", st, reason)
	}
	if res := parseResultBlock(t, r.b); !slices.Equal(res.notes, moved) {
		t.Errorf("record RESULT %v, want %v", res.notes, moved)
	}
	st := h.do(cmdStatus, nil)
	if !bytes.Contains(st, []byte(FaultPick)) {
		t.Errorf("STATUS % X does not report DSP-PICK", st)
	}
	// The record survives a restart.
	s2 := newSim(t, s.opts)
	if s2.last == nil || s2.last.Txn != "T-PICK" {
		t.Errorf("record after restart = %+v", s2.last)
	}
}

func TestTestDispense(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	w := writer{}
	w.mix([]dispenser.Notes{{Cassette: 2, Count: 2}, {Cassette: 3, Count: 1}})
	resp := h.do(cmdTestDispense, w)
	wantStatus(t, resp, stOK, "")
	if res := parseResultBlock(t, resp[1:]); res.rejected != 3 || len(res.notes) != 2 {
		t.Errorf("RESULT = %+v, want 3 notes to the reject bin", res)
	}
	cs := s.Counters()
	if cs[1].Count != 998 || cs[1].Rejected != 2 || cs[1].Dispensed != 0 || cs[2].Rejected != 1 {
		t.Errorf("counters = %+v", cs)
	}
	if got := h.do(cmdPresent, nil); got[0] != stNotReady {
		t.Errorf("PRESENT after a test dispense = % X; nothing may reach the tray", got)
	}
	for _, bad := range [][]dispenser.Notes{nil, {{Cassette: 9, Count: 1}}, {{Cassette: 1, Count: 41}}, {{Cassette: 1, Count: -1}}} {
		w := writer{}
		w.mix(bad)
		wantStatus(t, h.do(cmdTestDispense, w), stBadParams, "")
	}
}

func TestLoad(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	w := writer{1}
	w.u16(4)
	w.u32(200000)
	w.bytes([]byte("TWD"))
	w.u32(500)
	w.u32(50)
	w.u8(0)
	wantStatus(t, h.do(cmdLoad, w), stOK, "")
	want := []dispenser.Cassette{{ID: 4, Denomination: 200000, Currency: "TWD", Count: 500, Initial: 500, Low: 50, Status: dispenser.CassetteOK}}
	if got := s.Counters(); !slices.Equal(got, want) {
		t.Errorf("Counters = %+v, want %+v", got, want)
	}
	zero := writer{1}
	zero.u16(1)
	zero.u32(0)
	zero.bytes([]byte("TWD"))
	zero.u32(1)
	zero.u32(0)
	zero.u8(0)
	wantStatus(t, h.do(cmdLoad, zero), stBadParams, "")
	wantStatus(t, h.do(cmdLoad, w[:len(w)-1]), stBadParams, "")
	if got := s.Counters(); !slices.Equal(got, want) {
		t.Errorf("a refused LOAD changed the cassettes: %+v", got)
	}
}

func TestMisbehaviours(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	status := frame{seq: 1, cmd: cmdStatus}.encode()

	s.GarbleNext(1)
	h.send(status)
	h.next() // ACK
	if ev := h.next(); ev.kind != rxBad {
		t.Fatalf("garbled: got %v, want a bad frame", ev.kind)
	}
	h.send([]byte{nak})
	if ev := h.next(); ev.kind != rxFrame {
		t.Fatalf("after NAK: got %v, want the frame", ev.kind)
	}
	h.send([]byte{ack})

	s.TruncateNext(1)
	h.send(frame{seq: 2, cmd: cmdStatus}.encode())
	h.next() // ACK
	head := h.bytesN(4)
	if head[0] != stx {
		t.Fatalf("truncated frame starts % X", head)
	}
	h.bytesN(int(binary.BigEndian.Uint16(head[2:])) + overhead - 3 - 4) // the rest, cut short
	// The host saw the frame cut short.
	h.send([]byte{nak})
	if ev := h.next(); ev.kind != rxFrame {
		t.Fatalf("after NAK: got %v, want the whole frame", ev.kind)
	}
	h.send([]byte{ack})

	s.NakNext(1)
	h.send(frame{seq: 3, cmd: cmdStatus}.encode())
	if ev := h.next(); ev.kind != rxNak {
		t.Fatalf("NakNext: got %v, want NAK", ev.kind)
	}
	h.seq = 3
	h.do(cmdStatus, nil)

	s.Stall(true)
	h.send(frame{seq: 4, cmd: cmdStatus}.encode())
	if ev := h.next(); ev.kind != rxAck {
		t.Fatalf("stalled: got %v, want ACK", ev.kind)
	}
	h.quiet(ackWait)
	s.Stall(false)

	s.DropDispenseResponses(1)
	h.seq = 4
	raw := frame{seq: 9, cmd: cmdDispense, data: encodeRequest(request(s, "T1", h.nonce(), dispenser.Notes{Cassette: 1, Count: 1}))}.encode()
	h.send(raw)
	if ev := h.next(); ev.kind != rxAck {
		t.Fatalf("got %v, want ACK", ev.kind)
	}
	h.quiet(ackWait)
	if c := s.Counters()[0]; c.Dispensed != 1 {
		t.Fatalf("the DISPENSE whose response was dropped was not executed: %+v", c)
	}
	wantStatus(t, h.frameOf(raw).data, stOK, "") // the repeat gets it

	s.SendRaw([]byte{0xAA, 0x55})
	h.expect([]byte{0xAA, 0x55}, "raw bytes")
}

func TestServeTwice(t *testing.T) {
	s := newSim(t, testOptions(t))
	h := serve(t, s)
	h.do(cmdStatus, nil) // answered: the first Serve is running
	if err := s.Serve(context.Background(), pipeRW{bytes.NewReader(nil), io.Discard}); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v, want ErrServing", err)
	}
}
