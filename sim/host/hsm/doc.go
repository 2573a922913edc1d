// Package hsm plays the reference host's hardware security module: the
// only place on the bank side that holds clear keys or ever sees a clear
// PIN.
//
// # Keys
//
// Configured:
//
//   - the PIN verification key (PVK, an HMAC-SHA256 key of at least 16
//     bytes): a card's PIN verification value is
//     PVV = HMAC-SHA256(PVK, PAN || 0x00 || PIN), computed once at
//     seeding, and the only PIN-derived value the host stores;
//   - the local master key (LMK, AES, 16, 24 or 32 bytes), under which
//     the working keys are stored in the database; its check value is the
//     first 3 bytes of AES(LMK, 16 zero bytes) (LMKCheck);
//   - one terminal master key (TMK, TDES double or triple length) per
//     terminal, the key the bank's custodians loaded into that ATM as
//     components; it only wraps working keys for the key exchange.
//
// Exchanged (ExchangeKeys, sim/host/keyexchange): per terminal, a PIN key
// (TPK), a MAC key (TAK) and a dispense key (TDK), generated fresh at
// every exchange. The HSM hands them out only encrypted: under the TMK
// for the terminal, and under the LMK for the database, as WorkingKeys.
//
// # Stored form
//
// A stored working key is nonce (12 bytes) || AES-GCM(LMK, key) with the
// additional data "atmd-host-working-key-v1" 0x00 terminal-id 0x00 role,
// role being TPK, TAK or TDK. A stored key therefore opens only for the
// terminal and role it was made for: copying another terminal's TPK into
// a row, or a TDK into the TPK column, gives ErrStoredKey, as does any
// change to the bytes or a database stored under another LMK.
//
// # Operations
//
// VerifyPIN checks a PIN without letting it out: it opens the terminal's
// TPK, opens the block, computes the PVV, wipes PIN and key and compares
// in constant time. PVV makes the verification value of a PIN the caller
// holds (seeding, and a new PIN chosen at card activation).
// DispenseToken signs with the TDK, MAC and VerifyMAC use the TAK
// (ISO 9797-1 algorithm 3, internal/mac). Every clear working key lives
// only for the length of one call and is wiped.
//
// OpenPINBlock is the one exception to "nothing clear comes out": card
// activation has the customer key a one-time code and a new PIN (twice)
// on the PIN pad, so they travel as PIN blocks, and the host needs their
// digits to check the code, compare the two entries and refuse a weak
// PIN. It returns the digits to its caller, which must use them at once
// and wipe them; they are never logged or stored (only the new PIN's PVV
// is). No method returns a clear key or a stored PIN's digits; errors name
// terminals and roles, never key bytes or digits.
//
// CodeMAC keys the stored form of long-lived one-time codes (delegate
// codes, which last days and so live in the database): HMAC-SHA256 under
// a key derived from the LMK (HMAC-SHA256(LMK, "atmd-host-code-mac-v1")),
// over the code's purpose, id, card and digits. The database keeps only
// that MAC; checking a code keyed at an ATM opens its PIN block
// (OpenPINBlock), MACs the digits, compares and wipes them.
package hsm
