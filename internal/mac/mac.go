package mac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Errors. Callers branch on them with errors.Is; the messages carry key
// lengths at most, never key bytes.
var (
	// ErrKeyLength is a key of the wrong length for the algorithm.
	ErrKeyLength = errors.New("mac: bad key length")
	// ErrWeakKey is a retail MAC key whose two halves are equal.
	ErrWeakKey = errors.New("mac: weak key: K1 and K2 are equal")
	// ErrMismatch is a MAC that does not match the data.
	ErrMismatch = errors.New("mac: MAC does not match")
)

// Output lengths.
const (
	RetailSize = 8  // bytes of a retail MAC
	CMACSize   = 16 // bytes of a full AES-CMAC tag
)

// RetailMAC returns the ISO 9797-1 MAC algorithm 3 (ANSI X9.19 retail
// MAC) of data under the double-length TDES key K1‖K2: DES-CBC with K1
// over the data padded with method 1 (zero bytes to a multiple of 8; an
// empty message is one zero block), then, on the last block, decryption
// with K2 and encryption with K1. It returns 8 bytes.
func RetailMAC(key, data []byte) ([]byte, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("%w: retail MAC needs 16 bytes, got %d", ErrKeyLength, len(key))
	}
	if subtle.ConstantTimeCompare(key[:8], key[8:]) == 1 {
		return nil, ErrWeakKey
	}
	k1, err := des.NewCipher(key[:8])
	if err != nil {
		return nil, fmt.Errorf("mac: %w", err)
	}
	k2, err := des.NewCipher(key[8:])
	if err != nil {
		return nil, fmt.Errorf("mac: %w", err)
	}
	h := cbcMAC(k1, data)
	k2.Decrypt(h, h)
	k1.Encrypt(h, h)
	return h, nil
}

// cbcMAC chains the blocks of data, padded with ISO 9797-1 method 1,
// through b with a zero IV and returns the last block: the ISO 9797-1
// MAC algorithm 1 (ANSI X9.9 with DES) before any truncation.
func cbcMAC(b cipher.Block, data []byte) []byte {
	n := b.BlockSize()
	h := make([]byte, n)
	for i := 0; i == 0 || i < len(data); i += n {
		end := min(i+n, len(data))
		subtle.XORBytes(h, h, data[i:end]) // a short last block is zero-padded
		b.Encrypt(h, h)
	}
	return h
}

// CMAC returns the AES-CMAC (RFC 4493) of data under an AES key of 16,
// 24 or 32 bytes: the full 16-byte tag.
func CMAC(key, data []byte) ([]byte, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("%w: AES-CMAC needs 16, 24 or 32 bytes, got %d", ErrKeyLength, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("mac: %w", err)
	}
	return cmac(b, data), nil
}

// cmac follows RFC 4493 section 2.4 for a 128-bit block cipher.
func cmac(b cipher.Block, data []byte) []byte {
	const bs = aes.BlockSize
	k1, k2 := cmacSubkeys(b)
	n := (len(data) + bs - 1) / bs
	complete := n > 0 && len(data)%bs == 0
	if n == 0 {
		n = 1
	}
	last := make([]byte, bs)
	tail := data[(n-1)*bs:]
	if complete {
		subtle.XORBytes(last, tail, k1)
	} else {
		copy(last, tail)
		last[len(tail)] = 0x80
		subtle.XORBytes(last, last, k2)
	}
	x := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x, x, data[i*bs:(i+1)*bs])
		b.Encrypt(x, x)
	}
	subtle.XORBytes(x, x, last)
	b.Encrypt(x, x)
	return x
}

// cmacSubkeys derives K1 and K2 from L = E(K, 0^128) (RFC 4493 2.3).
func cmacSubkeys(b cipher.Block) (k1, k2 []byte) {
	l := make([]byte, aes.BlockSize)
	b.Encrypt(l, l)
	k1 = dbl(l)
	k2 = dbl(k1)
	return k1, k2
}

// dbl shifts a 128-bit block left by one bit and, when the bit shifted
// out was set, XORs the constant R_128 = 0x87 into the last byte.
func dbl(in []byte) []byte {
	out := make([]byte, len(in))
	var carry byte
	for i := len(in) - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	if carry != 0 {
		out[len(out)-1] ^= 0x87
	}
	return out
}

// Equal reports whether a and b are the same MAC, in time that depends
// only on their lengths. An empty MAC is never equal to anything, so a
// missing MAC cannot pass as a matching one.
func Equal(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(a, b) == 1
}
