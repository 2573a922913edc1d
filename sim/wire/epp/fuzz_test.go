package epp

import (
	"bytes"
	"testing"
)

// FuzzScan feeds arbitrary line bytes to the simulator's frame scanner:
// it never panics, always makes progress, and a frame it accepts encodes
// back to the very bytes it came from.
func FuzzScan(f *testing.F) {
	f.Add(frame{seq: 1, cmd: cmdGetStatus}.encode())
	f.Add(append([]byte{ack, nak, 0x00}, frame{seq: 0, cmd: evKey, data: []byte{kMasked}}.encode()...))
	f.Add([]byte{stx, 0x01, 0x04, 0x01})
	f.Add([]byte{stx, 0x01, 0x00, 0x05, 0x10, 0x00})
	f.Add(mustHex("02 03 00 0C 90 00 00 08 AC 07 08 A3 C9 23 D3 4D 16 A9 03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		buf := b
		for len(buf) > 0 {
			u, n, fr := scan(buf)
			if u == unitMore {
				if n != 0 {
					t.Fatalf("unitMore consumed %d", n)
				}
				return
			}
			if n <= 0 || n > len(buf) {
				t.Fatalf("scan consumed %d of %d", n, len(buf))
			}
			if u == unitFrame && !bytes.Equal(fr.encode(), buf[:n]) {
				t.Fatalf("frame % X re-encodes to % X", buf[:n], fr.encode())
			}
			buf = buf[n:]
		}
	})
}

// FuzzCommand feeds arbitrary commands to the EPP's command handler: it
// never panics and answers each command code with a well-formed
// response.
func FuzzCommand(f *testing.F) {
	f.Add(byte(cmdPINEntry), pinEntryData(fmtISO0, 4, 12, "4761739001010119", "pin"))
	f.Add(byte(cmdPINEntry), append(pinEntryData(fmtISO0, 4, 12, "4761739001010119", "pin"), 2, 0xF4, 0xF5))
	f.Add(byte(cmdPINEntry), append(pinEntryData(fmtISO4, 4, 6, "4761739001010119", "aes"), 0))
	f.Add(byte(cmdPINEntry), append(pinEntryData(fmtISO0, 4, 12, "4761739001010119", "pin"), 2, 0xF4, 0xF4))
	f.Add(byte(cmdPINEntry), append(pinEntryData(fmtISO0, 4, 12, "4761739001010119", "pin"), 3, 0xF4))
	f.Add(byte(cmdLoadKey), append([]byte{byte(TDES), 3, 'n', 'e', 'w', 3, 'k', 'e', 'k', 16}, kekKey...))
	f.Add(byte(cmdDataEntry), []byte{6, 1, 0xF1})
	f.Add(byte(cmdKeyEntry), []byte{2, 0xF1, kCancel})
	f.Add(byte(cmdDeleteKey), []byte{3, 'p', 'i', 'n'})
	f.Add(byte(cmdBeep), []byte{0})
	f.Add(byte(cmdMAC), macData(partWhole, "mac", []byte("0200 ATM00001 000123")))
	f.Add(byte(cmdMAC), macData(partFirst, "mac", make([]byte, 1000)))
	f.Add(byte(cmdKeyCheck), []byte{3, 'p', 'i', 'n'})
	f.Fuzz(func(t *testing.T, cmd byte, data []byte) {
		s := New(Options{Keys: map[string]Key{"pin": {TDES, pinKey}, "kek": {TDES, kekKey}, "aes": {AES, aesKey}, "mac": {TDES, macKey}}})
		s.serving = true // queue responses without a line
		s.mu.Lock()
		defer s.mu.Unlock()
		s.commandLocked(frame{seq: 1, cmd: cmd, data: data})
		if cmd < 0x01 || cmd > 0x3F {
			if len(s.outbox) != 0 {
				t.Fatalf("answered a non-command %02X", cmd)
			}
			return
		}
		if s.entry != nil {
			if len(s.outbox) != 0 {
				t.Fatalf("entry started and answered at once")
			}
			if s.entry.cmd == cmdPINEntry {
				seen := map[byte]bool{}
				for _, c := range s.entry.terms {
					if c < 0xF1 || c > 0xF8 || seen[c] {
						t.Fatalf("PIN entry started with terminators % X", s.entry.terms)
					}
					seen[c] = true
				}
			}
			return
		}
		if len(s.outbox) != 1 {
			t.Fatalf("%d frames queued for command %02X", len(s.outbox), cmd)
		}
		r := s.outbox[0].f
		if r.seq != 1 || r.cmd != cmd|respBit || len(r.data) == 0 || r.data[0] > stNotReady {
			t.Fatalf("response SEQ %02X CMD %02X % X", r.seq, r.cmd, r.data)
		}
	})
}
