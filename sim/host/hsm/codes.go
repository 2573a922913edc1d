package hsm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// codeKeyLabel names the key derived from the LMK for CodeMAC.
const codeKeyLabel = "atmd-host-code-mac-v1"

// deriveCodeKey derives the code MAC key from the LMK:
// HMAC-SHA256(LMK, codeKeyLabel). It depends on nothing but the LMK, so
// a code stored before a restart still verifies after it.
func deriveCodeKey(lmk []byte) []byte {
	m := hmac.New(sha256.New, lmk)
	m.Write([]byte(codeKeyLabel))
	return m.Sum(nil)
}

// CodeMAC returns the HMAC-SHA256, under a key derived from the LMK, of
// the parts, each length-prefixed so that no two lists collide. It is
// how the host stores a one-time code that must outlive the process (a
// delegate code lives for days): only this MAC of (purpose, code id,
// card, digits) is kept, so a copy of the database gives no code, and
// guessing one offline needs the LMK. Compare with hmac.Equal.
func (h *HSM) CodeMAC(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, h.codeKey)
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}
