package keyexchange

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/pinblock"
)

// NetCode is the network management code (field 70) of a key exchange.
const NetCode = "101"

// Field 48 tags.
const (
	TagTMKCheck = "CT" // 0800: check value of the ATM's TMK
	TagTPK      = "KP" // 0810: TPK under the TMK
	TagTPKCheck = "CP" // 0810: check value of the TPK
	TagTAK      = "KM" // 0810: TAK under the TMK
	TagTAKCheck = "CM" // 0810: check value of the TAK
	TagTDK      = "KD" // 0810: TDK under the TMK
	TagTDKCheck = "CD" // 0810: check value of the TDK
)

// Key and check value lengths, in bytes.
const (
	TPKLen   = 16
	TAKLen   = 16
	TDKLen   = 32
	CheckLen = 3
)

// Errors.
var (
	// ErrMalformed: field 48 of a key exchange is not as documented.
	ErrMalformed = errors.New("keyexchange: malformed field 48")
	// ErrKey: a key has the wrong length or is not a usable TDES key.
	ErrKey = errors.New("keyexchange: bad key")
	// ErrCheckValue: a key does not match its check value.
	ErrCheckValue = errors.New("keyexchange: check value mismatch")
)

// Request is field 48 of an 0800 key exchange request.
type Request struct {
	TMKCheck []byte // CheckLen bytes
}

// Encode returns the field 48 text.
func (r Request) Encode() (string, error) {
	if len(r.TMKCheck) != CheckLen {
		return "", fmt.Errorf("%w: %s must be %d bytes", ErrMalformed, TagTMKCheck, CheckLen)
	}
	s, err := hostlink.TLV{{Tag: TagTMKCheck, Value: hexUpper(r.TMKCheck)}}.Encode()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return s, nil
}

// ParseRequest decodes field 48 of an 0800 key exchange request.
func ParseRequest(field48 string) (Request, error) {
	t, err := hostlink.ParseTLV(field48)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	kcv, err := hexTag(t, TagTMKCheck, CheckLen)
	if err != nil {
		return Request{}, err
	}
	return Request{TMKCheck: kcv}, nil
}

// Response is field 48 of an approved 0810 key exchange response: the
// working keys encrypted under the TMK, each with its check value.
type Response struct {
	TPK, TPKCheck []byte // TPKLen, CheckLen bytes
	TAK, TAKCheck []byte // TAKLen, CheckLen bytes
	TDK, TDKCheck []byte // TDKLen, CheckLen bytes
}

// elements lists the response's tags with their values and lengths.
func (r *Response) elements() []struct {
	tag string
	val *[]byte
	n   int
} {
	return []struct {
		tag string
		val *[]byte
		n   int
	}{
		{TagTPK, &r.TPK, TPKLen}, {TagTPKCheck, &r.TPKCheck, CheckLen},
		{TagTAK, &r.TAK, TAKLen}, {TagTAKCheck, &r.TAKCheck, CheckLen},
		{TagTDK, &r.TDK, TDKLen}, {TagTDKCheck, &r.TDKCheck, CheckLen},
	}
}

// Encode returns the field 48 text: KP, CP, KM, CM, KD, CD in that order.
// It fails when a value has the wrong length; errors name the tag only.
func (r Response) Encode() (string, error) {
	var t hostlink.TLV
	for _, e := range r.elements() {
		if len(*e.val) != e.n {
			return "", fmt.Errorf("%w: %s must be %d bytes", ErrMalformed, e.tag, e.n)
		}
		t = append(t, hostlink.Element{Tag: e.tag, Value: hexUpper(*e.val)})
	}
	s, err := t.Encode()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return s, nil
}

// ParseResponse decodes field 48 of an approved 0810 key exchange
// response. Every tag must be present with exactly its length; other
// tags are ignored. Errors name tags, never values.
func ParseResponse(field48 string) (Response, error) {
	t, err := hostlink.ParseTLV(field48)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var r Response
	for _, e := range r.elements() {
		if *e.val, err = hexTag(t, e.tag, e.n); err != nil {
			return Response{}, err
		}
	}
	return r, nil
}

func hexTag(t hostlink.TLV, tag string, n int) ([]byte, error) {
	v, ok := t.Get(tag)
	if !ok {
		return nil, fmt.Errorf("%w: no %s", ErrMalformed, tag)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("%w: %s must be %d hex characters", ErrMalformed, tag, 2*n)
	}
	return b, nil
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// Keys are clear working keys. They print their check values, never
// their bytes; Wipe them when done.
type Keys struct {
	TPK []byte // TPKLen bytes, TDES
	TAK []byte // TAKLen bytes, TDES
	TDK []byte // TDKLen bytes, HMAC-SHA256
}

// String returns the three check values.
func (k Keys) String() string {
	check := func(key []byte, f func([]byte) ([]byte, error)) string {
		c, err := f(key)
		if err != nil {
			return "none"
		}
		return hexUpper(c)
	}
	return fmt.Sprintf("TPK %s TAK %s TDK %s", check(k.TPK, TDESCheck), check(k.TAK, TDESCheck), check(k.TDK, TDKCheck))
}

// Format writes String for every verb, so no fmt verb prints a key.
func (k Keys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// Wipe zeroes the keys.
func (k Keys) Wipe() {
	pinblock.Wipe(k.TPK)
	pinblock.Wipe(k.TAK)
	pinblock.Wipe(k.TDK)
}

// Generate returns fresh working keys read from random (crypto/rand.Reader
// in production): TPK and TAK with odd parity and two different halves.
func Generate(random io.Reader) (Keys, error) {
	k := Keys{TPK: make([]byte, TPKLen), TAK: make([]byte, TAKLen), TDK: make([]byte, TDKLen)}
	for _, key := range [][]byte{k.TPK, k.TAK} {
		for {
			if _, err := io.ReadFull(random, key); err != nil {
				k.Wipe()
				return Keys{}, fmt.Errorf("keyexchange: generate: %w", err)
			}
			OddParity(key)
			if !bytes.Equal(key[:8], key[8:]) {
				break
			}
		}
	}
	if _, err := io.ReadFull(random, k.TDK); err != nil {
		k.Wipe()
		return Keys{}, fmt.Errorf("keyexchange: generate: %w", err)
	}
	return k, nil
}

// OddParity sets the low bit of every byte of a DES key so that each byte
// has an odd number of one bits.
func OddParity(key []byte) {
	for i, b := range key {
		b &^= 1
		ones := 0
		for x := b; x != 0; x &= x - 1 {
			ones++
		}
		if ones%2 == 0 {
			b |= 1
		}
		key[i] = b
	}
}

// CheckTDESKey reports whether key is a TDES key the exchange accepts: 16
// or 24 bytes whose 8-byte parts differ from their neighbours (equal
// parts make it single DES in disguise). Parity is not checked.
func CheckTDESKey(key []byte) error {
	if len(key) != 16 && len(key) != 24 {
		return fmt.Errorf("%w: a TDES key is 16 or 24 bytes, not %d", ErrKey, len(key))
	}
	for i := 8; i < len(key); i += 8 {
		if bytes.Equal(key[i-8:i], key[i:i+8]) {
			return fmt.Errorf("%w: TDES key parts must differ", ErrKey)
		}
	}
	return nil
}

// TDESCheck returns the check value of a TDES key: the first 3 bytes of
// the key encrypting 8 zero bytes.
func TDESCheck(key []byte) ([]byte, error) {
	c, err := pinblock.KCV(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return c, nil
}

// TDKCheck returns the check value of a dispense key: the first 3 bytes
// of HMAC-SHA256(tdk, 16 zero bytes). It fails only for an empty key.
func TDKCheck(tdk []byte) ([]byte, error) {
	if len(tdk) == 0 {
		return nil, fmt.Errorf("%w: empty dispense key", ErrKey)
	}
	m := hmac.New(sha256.New, tdk)
	m.Write(make([]byte, 16))
	return m.Sum(nil)[:CheckLen], nil
}

// EncryptECB encrypts key under the TDES key kek in ECB mode. key must be
// a whole number of 8-byte blocks.
func EncryptECB(kek, key []byte) ([]byte, error) {
	return ecb(kek, key, true)
}

// DecryptECB decrypts a key encrypted by EncryptECB.
func DecryptECB(kek, cryptogram []byte) ([]byte, error) {
	return ecb(kek, cryptogram, false)
}

func ecb(kek, in []byte, encrypt bool) ([]byte, error) {
	if err := CheckTDESKey(kek); err != nil {
		return nil, err
	}
	if len(in) == 0 || len(in)%8 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of TDES blocks", ErrKey, len(in))
	}
	c, err := pinblock.TDES(kek)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += 8 {
		if encrypt {
			c.Encrypt(out[i:i+8], in[i:i+8])
		} else {
			c.Decrypt(out[i:i+8], in[i:i+8])
		}
	}
	return out, nil
}

// Wrap encrypts k under tmk and computes the check values: the host's
// half of the exchange.
func Wrap(tmk []byte, k Keys) (Response, error) {
	if len(k.TPK) != TPKLen || len(k.TAK) != TAKLen || len(k.TDK) != TDKLen {
		return Response{}, fmt.Errorf("%w: working keys have the wrong lengths", ErrKey)
	}
	var r Response
	var err error
	if r.TPK, err = EncryptECB(tmk, k.TPK); err != nil {
		return Response{}, err
	}
	if r.TAK, err = EncryptECB(tmk, k.TAK); err != nil {
		return Response{}, err
	}
	if r.TDK, err = EncryptECB(tmk, k.TDK); err != nil {
		return Response{}, err
	}
	if r.TPKCheck, err = TDESCheck(k.TPK); err != nil {
		return Response{}, err
	}
	if r.TAKCheck, err = TDESCheck(k.TAK); err != nil {
		return Response{}, err
	}
	if r.TDKCheck, err = TDKCheck(k.TDK); err != nil {
		return Response{}, err
	}
	return r, nil
}

// Unwrap decrypts the keys of r under tmk and checks each against its
// check value: the terminal's half of the exchange. It fails with
// ErrCheckValue, naming the key, when one does not match (damaged, or
// encrypted under another TMK), and returns no keys then.
func Unwrap(tmk []byte, r Response) (Keys, error) {
	var k Keys
	fail := func(err error) (Keys, error) {
		k.Wipe()
		return Keys{}, err
	}
	var err error
	for _, e := range []struct {
		name       string
		dst        *[]byte
		enc, check []byte
		n          int
		checkFn    func([]byte) ([]byte, error)
	}{
		{"TPK", &k.TPK, r.TPK, r.TPKCheck, TPKLen, TDESCheck},
		{"TAK", &k.TAK, r.TAK, r.TAKCheck, TAKLen, TDESCheck},
		{"TDK", &k.TDK, r.TDK, r.TDKCheck, TDKLen, TDKCheck},
	} {
		if len(e.enc) != e.n {
			return fail(fmt.Errorf("%w: %s must be %d bytes", ErrKey, e.name, e.n))
		}
		if *e.dst, err = DecryptECB(tmk, e.enc); err != nil {
			return fail(err)
		}
		got, err := e.checkFn(*e.dst)
		if err != nil {
			return fail(err)
		}
		if !hmac.Equal(got, e.check) {
			return fail(fmt.Errorf("%w: %s", ErrCheckValue, e.name))
		}
	}
	return k, nil
}
