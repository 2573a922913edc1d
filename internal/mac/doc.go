// Package mac computes the message authentication codes of the host
// link: the ISO 9797-1 MAC algorithm 3 with DES ("retail MAC", ANSI
// X9.19) and AES-CMAC (RFC 4493, NIST SP 800-38B).
//
// # Retail MAC
//
// RetailMAC takes a double-length TDES key K1‖K2 (16 bytes). The data is
// padded with ISO 9797-1 padding method 1: zero bytes up to a multiple of
// 8, none when the length already is one; because the standard pads to a
// positive multiple of the block size, an empty message becomes one block
// of eight zero bytes. The padded blocks are chained with single DES
// under K1 (CBC, zero IV); the last result is then decrypted with K2 and
// encrypted with K1 (the output transformation 3 of ISO 9797-1). The MAC
// is the whole 8-byte result. A key whose halves are equal is refused: it
// would reduce the MAC to single DES.
//
// # AES-CMAC
//
// CMAC is AES-CMAC exactly as RFC 4493 specifies it for AES-128, also
// accepted with 24- and 32-byte keys (AES-192, AES-256; SP 800-38B). It
// returns the full 16-byte tag.
//
// # Comparing and holding keys
//
// Equal compares two MACs in constant time. Signer holds one key in
// memory and offers Sign and Verify with a context, the shape of
// hostlink.MACer, for the places where a key may live in process memory:
// the reference host's HSM role and tests. On a real ATM the MAC key
// stays in the encrypting PIN pad, which computes the MAC itself.
//
// Nothing in this package logs, and no error or String method ever shows
// key bytes.
package mac
