package hostlink

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
)

// MACLen is the length of the MAC in field 128: 8 bytes, written as 16
// upper-case hex characters at the very end of the packed message.
const MACLen = 8

// macHexLen is the length of field 128 on the wire.
const macHexLen = 2 * MACLen

// MAC errors. A message that fails VerifyMAC is not to be acted on: the
// Client treats such a response as no response, the Server answers such
// a request with response code 63.
var (
	ErrNoMAC  = errors.New("hostlink: message has no MAC")
	ErrBadMAC = errors.New("hostlink: MAC does not verify")
)

// MACer computes and checks the MACs of the host link. On the ATM it is
// the encrypting PIN pad, which holds the MAC key and never lets it out;
// on the host, its security module. Sign returns the 8-byte MAC of data;
// Verify returns nil only when mac is the MAC of data. Both may block
// (a serial round trip to the PIN pad) and must honour ctx.
// internal/mac.Signer is an in-memory implementation.
type MACer interface {
	Sign(ctx context.Context, data []byte) ([]byte, error)
	Verify(ctx context.Context, data, mac []byte) error
}

// NeedsMAC reports whether messages of type mti carry a MAC in field 128
// when MACs are on: the financial and reversal messages 0200, 0210,
// 0420, 0421 and 0430, the authorisation messages 0100 and 0110, and the
// evidence advice 0620 and its response 0630.
// Network management (0800, 0810) is never MAC'd: keys are exchanged
// there.
func NeedsMAC(mti string) bool {
	switch mti {
	case MTIAuthRequest, MTIAuthResponse,
		MTIFinRequest, MTIFinResponse,
		MTIReversal, MTIReversalRepeat, MTIReversalResponse,
		MTIAdminAdvice, MTIAdminAdviceResponse:
		return true
	}
	return false
}

// PackMAC packs m with a MAC in field 128. The MAC covers every byte of
// the packed message before field 128 — the MTI, both bitmaps (with bit
// 128 set) and every other field — that is packed[:len(packed)-16]: m is
// packed with eight zero bytes in field 128, s signs that prefix, and the
// MAC replaces the 16 placeholder characters. On success PackMAC also
// stores the MAC in m.MAC. Errors never quote field contents.
func PackMAC(ctx context.Context, m *Message, s MACer) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("hostlink: sign %s: no MACer", m.MTI)
	}
	cp := *m
	cp.MAC = make([]byte, MACLen)
	b, err := Pack(&cp)
	if err != nil {
		return nil, err
	}
	n := len(b) - macHexLen
	mac, err := s.Sign(ctx, b[:n:n])
	if err != nil {
		return nil, fmt.Errorf("hostlink: sign %s stan %s: %w", m.MTI, m.STAN, err)
	}
	if len(mac) != MACLen {
		return nil, fmt.Errorf("hostlink: sign %s stan %s: MACer returned %d bytes, want %d", m.MTI, m.STAN, len(mac), MACLen)
	}
	putHex(b[n:], mac)
	m.MAC = append([]byte(nil), mac...)
	return b, nil
}

// VerifyMAC checks the MAC of a packed message (without its frame
// header): bit 128 must be set in the secondary bitmap, and the last 16
// characters, decoded from hex, must be the MAC v computes over
// everything before them. It returns nil when they are, an error
// wrapping ErrNoMAC when the message carries no MAC, and one wrapping
// ErrBadMAC when the MAC is malformed or does not verify (or v could not
// check it: a message that was not verified is never accepted).
func VerifyMAC(ctx context.Context, packed []byte, v MACer) error {
	if !hasField128(packed) {
		return ErrNoMAC
	}
	if v == nil {
		return fmt.Errorf("%w: no MACer", ErrBadMAC)
	}
	n := len(packed) - macHexLen
	mac := make([]byte, MACLen)
	if _, err := hex.Decode(mac, packed[n:]); err != nil {
		return fmt.Errorf("%w: field 128 is not hex", ErrBadMAC)
	}
	if err := v.Verify(ctx, packed[:n:n], mac); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMAC, err)
	}
	return nil
}

// hasField128 reports whether the bitmaps of packed announce field 128
// and the message is long enough to end with it.
func hasField128(b []byte) bool {
	const mti, bm = 4, 16 // characters of the MTI and of one bitmap
	if len(b) < mti+2*bm+macHexLen {
		return false
	}
	var primary, secondary [8]byte
	if _, err := hex.Decode(primary[:], b[mti:mti+bm]); err != nil || primary[0]&0x80 == 0 {
		return false
	}
	if _, err := hex.Decode(secondary[:], b[mti+bm:mti+2*bm]); err != nil {
		return false
	}
	return secondary[7]&0x01 != 0
}

// putHex writes src into dst as upper-case hex, as Spec writes binary
// fields.
func putHex(dst, src []byte) {
	const digits = "0123456789ABCDEF"
	for i, c := range src {
		dst[2*i] = digits[c>>4]
		dst[2*i+1] = digits[c&0x0F]
	}
}
