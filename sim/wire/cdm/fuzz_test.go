package cdm

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
)

// FuzzReceiver feeds arbitrary bytes to the frame receiver, in two
// pieces: it must not panic, every frame it reports must be exactly the
// bytes it came from, and it must never hold more than one frame's worth.
func FuzzReceiver(f *testing.F) {
	good := frame{seq: 1, cmd: cmdStatus}.encode()
	f.Add(good, 3)
	f.Add(append([]byte{0x00, ack, nak, stx, 0x05}, good...), 2)
	f.Add([]byte{stx, 0x01, 0x00, 0x00}, 0)
	f.Add([]byte{stx, 0x01, 0x04, 0x00, 0x01}, 1)
	f.Add(frame{seq: 9, cmd: cmdDispense, data: bytes.Repeat([]byte{stx, ack, etx}, 40)}.encode(), 50)
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		if split < 0 || split > len(b) {
			split = len(b) / 2
		}
		var r receiver
		check := func(evs []rxEvent) {
			for _, ev := range evs {
				if ev.kind == rxFrame && !bytes.Equal(ev.f.encode(), ev.raw) {
					t.Fatalf("frame % X re-encodes to % X", ev.raw, ev.f.encode())
				}
			}
		}
		check(r.feed(b[:split]))
		check(r.feed(b[split:]))
		if len(r.buf) > maxLen+overhead {
			t.Fatalf("receiver holds %d bytes", len(r.buf))
		}
		check(r.expire())
		if r.partial() && len(r.buf) >= len(b) {
			t.Fatalf("expire left %d bytes of %d", len(r.buf), len(b))
		}
	})
}

// FuzzCommand executes arbitrary command frames on a device: it must not
// panic, must answer with a status byte and a well-formed reason, and a
// DISPENSE without a valid token (the fuzzer cannot forge one) must move
// no note.
func FuzzCommand(f *testing.F) {
	s0, err := New(DefaultOptions)
	if err != nil {
		f.Fatal(err)
	}
	req := encodeRequest(request(s0, "T1", make([]byte, 16), dispenser.Notes{Cassette: 1, Count: 2}))
	f.Add(byte(cmdDispense), req)
	f.Add(byte(cmdTestDispense), []byte{1, 0, 1, 0, 0, 0, 2})
	f.Add(byte(cmdLoad), []byte{1, 0, 4, 0, 3, 0x0D, 0x40, 'T', 'W', 'D', 0, 0, 0, 9, 0, 0, 0, 1, 0})
	f.Add(byte(cmdStatus), []byte{})
	f.Add(byte(cmdNonce), []byte{1})
	f.Add(byte(0x3F), []byte{})
	f.Fuzz(func(t *testing.T, cmd byte, data []byte) {
		s, err := New(DefaultOptions)
		if err != nil {
			t.Fatal(err)
		}
		before := s.Counters()
		f := frame{seq: 1, cmd: cmd, data: data}
		resp := s.execute(context.Background(), f, f.encode())
		r := &reader{b: resp}
		if st := r.u8(); st != stOK {
			r.str()
		}
		if r.err != nil {
			t.Fatalf("response % X: %v", resp, r.err)
		}
		if cmd == cmdDispense {
			for i, c := range s.Counters() {
				if c.Dispensed != before[i].Dispensed {
					t.Fatalf("an unsigned DISPENSE moved notes: %+v", c)
				}
			}
		}
	})
}

// FuzzDecode runs the command decoders on arbitrary DATA; what they
// accept must encode back to the same bytes.
func FuzzDecode(f *testing.F) {
	s0, err := New(DefaultOptions)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeRequest(request(s0, "T1", make([]byte, 16), dispenser.Notes{Cassette: 1, Count: 2})))
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 4, 0, 3, 0x0D, 0x40, 'T', 'W', 'D', 0, 0, 0, 9, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if q, err := decodeDispense(data); err == nil {
			if again := encodeRequest(q); !bytes.Equal(again, data) {
				t.Fatalf("DISPENSE % X decodes to %+v, encodes to % X", data, q, again)
			}
		}
		if mix, err := decodeTestDispense(data); err == nil {
			w := writer{}
			w.mix(mix)
			if !bytes.Equal(w, data) {
				t.Fatalf("TEST-DISPENSE % X decodes to %v, encodes to % X", data, mix, []byte(w))
			}
		}
		_, _ = decodeLoad(data)
	})
}

// FuzzParseState: whatever the state parser accepts survives a round
// trip unchanged.
func FuzzParseState(f *testing.F) {
	good, err := json.Marshal(state{Version: 1, Nonces: 42, Cassettes: DefaultOptions.Cassettes, RetractBin: 3,
		Last:     &record{Cmd: cmdDispense, Seq: 7, CRC: 0xBEEF, State: dispenser.LastPresented, Txn: "T1", Nonce: []byte{1, 2}, Notes: []dispenser.Notes{{Cassette: 1, Count: 2}}},
		LastTest: &record{Cmd: cmdTestDispense, State: stateRejected, Notes: []dispenser.Notes{{Cassette: 3, Count: 1}}}})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(good),
		`{"version":1,"nonces":0,"cassettes":[],"retract_bin":0}`,
		`{"version":2}`,
		`{"version":1,"cassettes":[{"id":1,"denomination":100,"currency":"TWD","count":-1}]}`,
		`{"version":1,"last_dispense":{"cmd":4,"notes":[{"cassette":70000,"count":1}]}}`,
		`{"version":1,"last_dispense":{"cmd":4,"state":"lost"}}`,
		`{"version":1} {}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := parseState(again)
		if err != nil {
			t.Fatalf("re-encoded state rejected: %v", err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("round trip changed the state: %+v -> %+v", st, st2)
		}
	})
}
