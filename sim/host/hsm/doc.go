// Package hsm plays the reference host's hardware security module: the
// only place on the bank side that holds keys or ever sees a clear PIN.
//
// It keeps three keys:
//
//   - the PIN encryption key (TDES, double or triple length), shared with
//     the ATM's PIN pad in this first version, under which field 52 PIN
//     blocks (ISO 9564 format 0) arrive;
//   - the PIN verification key (PVK, an HMAC-SHA256 key of at least 16
//     bytes): a card's PIN verification value is
//     PVV = HMAC-SHA256(PVK, PAN || 0x00 || PIN), computed once at
//     seeding, and the only PIN-derived value the host stores;
//   - the dispense key (at least 32 bytes), shared with the dispenser,
//     under which approvals carry a dispense token (hal/dispenser).
//
// VerifyPIN is the one function in which a clear PIN exists: it opens the
// block, computes the PVV, wipes the PIN and compares in constant time.
// No method returns a key, a PIN or anything from which either could be
// read back; errors never carry them.
package hsm
