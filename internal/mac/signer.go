package mac

import (
	"context"
	"fmt"
)

// Signer computes and verifies MACs under one key held in memory. Its
// Sign and Verify have the shape of hostlink.MACer. The zero value is
// not usable: use NewRetail or NewCMAC. A Signer is safe for concurrent
// use; its String never shows the key.
type Signer struct {
	alg string
	key []byte
	fn  func(key, data []byte) ([]byte, error)
	n   int // bytes of the MAC Sign returns
}

// NewRetail returns a Signer for the retail MAC (RetailMAC) under the
// double-length TDES key K1‖K2. It keeps a copy of key.
func NewRetail(key []byte) (*Signer, error) {
	if _, err := RetailMAC(key, nil); err != nil {
		return nil, err
	}
	return &Signer{alg: "retail", key: clone(key), fn: RetailMAC, n: RetailSize}, nil
}

// NewCMAC returns a Signer for AES-CMAC (CMAC) whose MACs are the
// leftmost 8 bytes of the tag, the length of the host link's field 128
// (truncation as RFC 4493 and NIST SP 800-38B allow; 64 bits is the
// length SP 800-38B recommends as the least for most uses). It keeps a
// copy of key.
func NewCMAC(key []byte) (*Signer, error) {
	if _, err := CMAC(key, nil); err != nil {
		return nil, err
	}
	return &Signer{alg: "aes-cmac", key: clone(key), fn: CMAC, n: 8}, nil
}

// Sign returns the MAC of data. It fails only when ctx has ended.
func (s *Signer) Sign(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mac: sign: %w", err)
	}
	t, err := s.fn(s.key, data)
	if err != nil {
		return nil, err
	}
	return t[:s.n], nil
}

// Verify returns nil when m is the MAC of data, and an error wrapping
// ErrMismatch when it is not (including a MAC of the wrong length), or
// ctx's error when ctx has ended.
func (s *Signer) Verify(ctx context.Context, data, m []byte) error {
	want, err := s.Sign(ctx, data)
	if err != nil {
		return err
	}
	if !Equal(want, m) {
		return fmt.Errorf("%w (%s)", ErrMismatch, s.alg)
	}
	return nil
}

// String names the algorithm, never the key: "mac.Signer(retail)".
func (s Signer) String() string { return "mac.Signer(" + s.alg + ")" }

// GoString is String, so %#v shows no key either.
func (s Signer) GoString() string { return s.String() }

func clone(b []byte) []byte { return append([]byte(nil), b...) }
