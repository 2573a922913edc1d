// Package keyexchange is the key exchange between an ATM and its host:
// the field 48 elements of the 0800/0810 with network management code
// 101, and the key wrapping both sides do. It has no I/O and no state, so
// the ATM side (PIN pad, dispenser, hostlink) and the reference host
// (sim/host, sim/host/hsm) share one implementation of the document
// below.
//
// # Keys
//
//   - TMK, terminal master key: TDES, double (or triple) length. The
//     bank's key custodians set it up; the ATM receives it as two or more
//     clear components, XORed together inside the PIN pad and the
//     dispenser, and the host has it in its configuration. It only ever
//     encrypts the working keys below.
//   - TPK, terminal PIN key: TDES, 16 bytes. The PIN pad encrypts ISO
//     9564 format 0 PIN blocks (field 52) under it.
//   - TAK, terminal authentication key: TDES, 16 bytes. The MAC key of
//     field 128 (ISO 9797-1 algorithm 3, internal/mac).
//   - TDK, terminal dispense key: 32 bytes, the HMAC-SHA256 key of the
//     dispense token (hal/dispenser).
//
// The host generates fresh random working keys at every exchange; TPK
// and TAK have odd parity and two different halves.
//
// # Messages
//
// The ATM sends 0800 with field 70 = 101 and field 48 holding
//
//	CT  TMK check value: 6 hex characters (the first 3 bytes of the TMK
//	    encrypting 8 zero bytes)
//
// The host answers 0810 with field 39 = 00 and field 48 holding
//
//	KP  TPK encrypted under the TMK, TDES-ECB: 32 hex characters
//	CP  check value of the TPK (TDES: first 3 bytes of E(TPK, 0^8)), 6 hex
//	KM  TAK encrypted under the TMK, TDES-ECB: 32 hex characters
//	CM  check value of the TAK, 6 hex
//	KD  TDK encrypted under the TMK, TDES-ECB (4 blocks): 64 hex
//	CD  check value of the TDK: the first 3 bytes of
//	    HMAC-SHA256(TDK, 16 zero bytes), 6 hex
//
// or with field 39 = 63 and no field 48 when the terminal is unknown or
// its CT does not match the host's TMK. Hex is written upper case and
// read in either case. Other tags are ignored, so the field can grow.
//
// The receiver decrypts each key under its TMK and compares its check
// value before it uses it (Unwrap): a key that arrived damaged, or under
// another TMK, is refused with ErrCheckValue rather than loaded.
//
// TDES-ECB under a master key is the classic ATM key-loading scheme that
// PIN pads support; it does not bind a key to its use the way a TR-31
// key block does, which is why every key has its own tag here.
package keyexchange
