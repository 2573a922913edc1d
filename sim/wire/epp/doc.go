// Package epp is the wire-level simulator (simulation level L2) of the
// encrypting PIN pad: an EPP that speaks docs/devices/epp.md over the
// framing of docs/devices/framing.md on the far end of a serial line,
// usually the master side of a wire.PTY whose slave the real driver
// (devices/epp) opens. It is an independent implementation of those
// pages: it shares no code with the driver, and the pages' byte-level
// example is one of its tests.
//
// The EPP behaves like sim/devsim's PIN pad, over the wire: it holds real
// keys (each with its algorithm, TDES or AES), loads keys under a KEK or
// as clear components and answers their check values, runs PIN entry
// with masked KEY events and returns only the encrypted ISO 9564 block
// (format 0 under TDES, format 4 under AES, built with internal/pinblock;
// the digits exist only inside the simulator and are wiped when the entry
// ends) or, when one of the entry's terminator FDKs is pressed, no block
// but that key's code, data entry with clear KEY events, and key entry. It computes
// MACs (ISO 9797-1 algorithm 3, internal/mac.RetailMAC) under a named
// key, whole or sent in parts, and reports a key's check value
// (KEY-CHECK), so the MAC key never leaves it.
//
// Running it: New, then Serve(ctx, line) in a goroutine; Serve returns
// when ctx ends. Standalone (atmd simdev epp --port PATH) it serves a PTY
// master or an opened serial port the same way.
//
// Control surface, as sim/devsim's PIN pad:
//
//   - Press plays the customer: each key waits until an entry takes it,
//     and Press returns once the host has ACKed the frames the key caused
//     (its KEY event, the entry's response).
//   - Active tells which entry runs.
//   - Inject(FaultOffline) powers the EPP off (it answers nothing until
//     Clear); Inject(FaultTamper) erases every key and reports the fault
//     (STATUS event, status 06 on every command but GET-STATUS). Clear
//     ends either.
//
// Misbehaviours for the driver's fault tests: Mute (a dead line, state
// kept), Garble (bad CRCs), Truncate (frames cut short) and Noise (raw
// garbage between frames).
//
// Link rules this side keeps (framing.md, epp.md): it ACKs or NAKs every
// whole frame at once; drops a partial frame after a 100 ms gap and NAKs
// it; sends one frame at a time and waits 300 ms for its ACK, three
// transmissions in all; does not execute a command whose SEQ repeats the
// last one but sends its last response again.
package epp
