// Package pinblock builds and opens ISO 9564-1 PIN blocks: format 0
// (8 bytes, TDES) and format 4 (16 bytes, AES).
//
// Only two places in atmd ever hold a clear PIN: the PIN pad (simulated
// or real) that builds the block, and the reference host's verification
// step, which plays the HSM. Both use this package; nothing else may.
// Clear PINs are passed as []byte so callers can wipe them (Wipe).
package pinblock

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Errors.
var (
	ErrPIN    = errors.New("pinblock: PIN must be 4 to 12 digits")
	ErrPAN    = errors.New("pinblock: PAN must be 12 to 19 digits")
	ErrKey    = errors.New("pinblock: bad key length")
	ErrBlock  = errors.New("pinblock: malformed PIN block")
	ErrFormat = errors.New("pinblock: unsupported format")
)

// Wipe zeroes b.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func digits(s []byte, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// TDES returns a TDES cipher for a double- (16) or triple-length (24) key.
func TDES(key []byte) (cipher.Block, error) {
	var k []byte
	switch len(key) {
	case 16:
		k = append(append(make([]byte, 0, 24), key...), key[:8]...)
	case 24:
		k = append([]byte(nil), key...)
	default:
		return nil, ErrKey
	}
	b, err := des.NewTripleDESCipher(k)
	Wipe(k)
	return b, err
}

// Format0Clear returns the clear (XORed) format 0 block for pin and pan.
func Format0Clear(pin, pan []byte) ([]byte, error) {
	if !digits(pin, 4, 12) {
		return nil, ErrPIN
	}
	if !digits(pan, 12, 19) {
		return nil, ErrPAN
	}
	var pf [16]byte // nibbles
	pf[0] = 0
	pf[1] = byte(len(pin))
	for i := 2; i < 16; i++ {
		pf[i] = 0xF
	}
	for i, c := range pin {
		pf[2+i] = c - '0'
	}
	// Account field: 0000 + 12 rightmost digits excluding the check digit.
	var af [16]byte
	acct := pan[len(pan)-13 : len(pan)-1]
	for i, c := range acct {
		af[4+i] = c - '0'
	}
	out := make([]byte, 8)
	for i := 0; i < 8; i++ {
		out[i] = (pf[2*i]<<4 | pf[2*i+1]) ^ (af[2*i]<<4 | af[2*i+1])
	}
	return out, nil
}

// EncryptFormat0 builds a format 0 block and encrypts it under a TDES key.
func EncryptFormat0(key, pin, pan []byte) ([]byte, error) {
	c, err := TDES(key)
	if err != nil {
		return nil, err
	}
	clear, err := Format0Clear(pin, pan)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8)
	c.Encrypt(out, clear)
	Wipe(clear)
	return out, nil
}

// DecryptFormat0 opens a format 0 block and returns the clear PIN; wipe it
// after use.
func DecryptFormat0(key, block, pan []byte) ([]byte, error) {
	if len(block) != 8 {
		return nil, ErrBlock
	}
	if !digits(pan, 12, 19) {
		return nil, ErrPAN
	}
	c, err := TDES(key)
	if err != nil {
		return nil, err
	}
	clear := make([]byte, 8)
	c.Decrypt(clear, block)
	defer Wipe(clear)
	acct := pan[len(pan)-13 : len(pan)-1]
	var af [8]byte
	for i, ch := range acct {
		n := 4 + i
		af[n/2] |= (ch - '0') << (4 * (1 - n%2))
	}
	for i := range clear {
		clear[i] ^= af[i]
	}
	nib := func(i int) byte { return (clear[i/2] >> (4 * (1 - i%2))) & 0xF }
	if nib(0) != 0 {
		return nil, ErrBlock
	}
	n := int(nib(1))
	if n < 4 || n > 12 {
		return nil, ErrBlock
	}
	pin := make([]byte, n)
	for i := 0; i < n; i++ {
		d := nib(2 + i)
		if d > 9 {
			Wipe(pin)
			return nil, ErrBlock
		}
		pin[i] = '0' + d
	}
	for i := 2 + n; i < 16; i++ {
		if nib(i) != 0xF {
			Wipe(pin)
			return nil, ErrBlock
		}
	}
	return pin, nil
}

// format4Fields returns the plain-text PIN field and the PAN field of a
// format 4 block. random supplies the 8 random fill bytes.
func format4Fields(pin, pan []byte, random io.Reader) (pf, af [16]byte, err error) {
	if !digits(pin, 4, 12) {
		return pf, af, ErrPIN
	}
	if !digits(pan, 12, 19) {
		return pf, af, ErrPAN
	}
	var nibs [16]byte
	nibs[0] = 4
	nibs[1] = byte(len(pin))
	for i := 2; i < 16; i++ {
		nibs[i] = 0xA
	}
	for i, c := range pin {
		nibs[2+i] = c - '0'
	}
	for i := 0; i < 8; i++ {
		pf[i] = nibs[2*i]<<4 | nibs[2*i+1]
	}
	if _, err := io.ReadFull(random, pf[8:]); err != nil {
		return pf, af, fmt.Errorf("pinblock: random fill: %w", err)
	}
	// PAN field: M (PAN length - 12), PAN, zero padded to 32 nibbles.
	var an [32]byte
	an[0] = byte(len(pan) - 12)
	for i, c := range pan {
		an[1+i] = c - '0'
	}
	for i := 0; i < 16; i++ {
		af[i] = an[2*i]<<4 | an[2*i+1]
	}
	return pf, af, nil
}

// EncryptFormat4 builds a format 4 block and enciphers it under an AES key
// as ISO 9564-1 describes: C = E(K, E(K, PINfield) XOR PANfield).
func EncryptFormat4(key, pin, pan []byte) ([]byte, error) {
	return encryptFormat4(key, pin, pan, rand.Reader)
}

func encryptFormat4(key, pin, pan []byte, random io.Reader) ([]byte, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKey
	}
	pf, af, err := format4Fields(pin, pan, random)
	if err != nil {
		return nil, err
	}
	defer Wipe(pf[:])
	out := make([]byte, 16)
	c.Encrypt(out, pf[:])
	for i := range out {
		out[i] ^= af[i]
	}
	c.Encrypt(out, out)
	return out, nil
}

// DecryptFormat4 opens a format 4 block and returns the clear PIN.
func DecryptFormat4(key, block, pan []byte) ([]byte, error) {
	if len(block) != 16 {
		return nil, ErrBlock
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKey
	}
	_, af, err := format4Fields([]byte("0000"), pan, zeroReader{})
	if err != nil {
		return nil, err
	}
	pf := make([]byte, 16)
	defer Wipe(pf)
	c.Decrypt(pf, block)
	for i := range pf {
		pf[i] ^= af[i]
	}
	c.Decrypt(pf, pf)
	nib := func(i int) byte { return (pf[i/2] >> (4 * (1 - i%2))) & 0xF }
	if nib(0) != 4 {
		return nil, ErrBlock
	}
	n := int(nib(1))
	if n < 4 || n > 12 {
		return nil, ErrBlock
	}
	pin := make([]byte, n)
	for i := 0; i < n; i++ {
		d := nib(2 + i)
		if d > 9 {
			Wipe(pin)
			return nil, ErrBlock
		}
		pin[i] = '0' + d
	}
	for i := 2 + n; i < 16; i++ {
		if nib(i) != 0xA {
			Wipe(pin)
			return nil, ErrBlock
		}
	}
	return pin, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}

// KCV returns the 3-byte check value of a TDES key (double or triple
// length): the key encrypting eight zero bytes.
func KCV(key []byte) ([]byte, error) {
	c, err := TDES(key)
	if err != nil {
		return nil, err
	}
	z := make([]byte, 8)
	c.Encrypt(z, z)
	return z[:3], nil
}

// KCVAES returns the 3-byte check value of an AES key by the legacy
// method: the key encrypting sixteen zero bytes.
func KCVAES(key []byte) ([]byte, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKey
	}
	z := make([]byte, 16)
	c.Encrypt(z, z)
	return z[:3], nil
}
