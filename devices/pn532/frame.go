package pn532

import (
	"bytes"
	"errors"
	"fmt"
)

// Frame identifiers (TFI).
const (
	tfiHost  byte = 0xD4 // host → PN532
	tfiPN532 byte = 0xD5 // PN532 → host
	tfiError byte = 0x7F // application-level error frame
)

// maxFrameLen is the largest LEN (TFI included) the PN532 handles.
const maxFrameLen = 265

// maxNormalLen is the largest LEN the driver sends in a normal frame;
// longer payloads go in extended frames.
const maxNormalLen = 254

var (
	startCode = []byte{0x00, 0xFF}
	ackBytes  = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackBytes = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	// wakeUp brings the PN532 out of LowVbat or power-down on HSU: 0x55
	// then enough idle bytes for its oscillator to start.
	wakeUp = []byte{0x55, 0x55, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
)

// errIncomplete: the buffer holds the start of a frame, not all of it.
var errIncomplete = errors.New("pn532: incomplete frame")

type frameKind int

const (
	kindInfo  frameKind = iota // information frame (normal or extended)
	kindACK                    // 00 00 FF 00 FF 00
	kindNACK                   // 00 00 FF FF 00 00
	kindError                  // 00 00 FF 01 FF 7F 81 00
)

// frame is a parsed frame. For information frames tfi is the frame
// identifier and data holds PD0..PDn (the command or response code
// first).
type frame struct {
	kind frameKind
	tfi  byte
	data []byte
}

// encodeFrame builds an information frame: normal when TFI and data fit
// in LEN 254, extended otherwise.
func encodeFrame(tfi byte, data []byte) ([]byte, error) {
	n := len(data) + 1
	if n > maxFrameLen {
		return nil, fmt.Errorf("%w: %d bytes do not fit in a frame", ErrFrame, n)
	}
	b := make([]byte, 0, n+10)
	b = append(b, 0x00, 0x00, 0xFF)
	if n <= maxNormalLen {
		b = append(b, byte(n), byte(0x100-n))
	} else {
		hi, lo := byte(n>>8), byte(n)
		b = append(b, 0xFF, 0xFF, hi, lo, 0-hi-lo)
	}
	b = append(b, tfi)
	b = append(b, data...)
	sum := tfi
	for _, x := range data {
		sum += x
	}
	return append(b, 0-sum, 0x00), nil
}

// parseFrame looks for the first frame in b. It returns the frame and the
// number of bytes it used (any garbage before it included). When b
// holds no whole frame it returns errIncomplete and the number of bytes
// that can be dropped because no frame starts in them. A malformed frame
// gives an error wrapping ErrChecksum or ErrFrame and the number of bytes
// to drop to get past it: all of it when its length was readable, only
// its start code otherwise.
func parseFrame(b []byte) (f frame, n int, err error) {
	i := bytes.Index(b, startCode)
	if i < 0 {
		if len(b) > 0 && b[len(b)-1] == 0x00 {
			return f, len(b) - 1, errIncomplete
		}
		return f, len(b), errIncomplete
	}
	p := i + 2 // first byte after the start code
	if len(b) < p+2 {
		return f, i, errIncomplete
	}
	l, lcs := b[p], b[p+1]
	var length, data int
	switch {
	case l == 0x00 && lcs == 0xFF:
		return frame{kind: kindACK}, p + 2, nil
	case l == 0xFF && lcs == 0x00:
		return frame{kind: kindNACK}, p + 2, nil
	case l == 0xFF && lcs == 0xFF: // extended frame
		if len(b) < p+5 {
			return f, i, errIncomplete
		}
		hi, lo, xlcs := b[p+2], b[p+3], b[p+4]
		if hi+lo+xlcs != 0 {
			return f, p, fmt.Errorf("%w: extended LEN %02X%02X LCS %02X", ErrChecksum, hi, lo, xlcs)
		}
		length, data = int(hi)<<8|int(lo), p+5
	default:
		if l+lcs != 0 {
			return f, p, fmt.Errorf("%w: LEN %02X LCS %02X", ErrChecksum, l, lcs)
		}
		length, data = int(l), p+2
	}
	if length == 0 || length > maxFrameLen {
		return f, p, fmt.Errorf("%w: LEN %d", ErrFrame, length)
	}
	end := data + length + 2 // DCS and postamble
	if len(b) < end {
		return f, i, errIncomplete
	}
	var sum byte
	for _, x := range b[data : data+length+1] {
		sum += x
	}
	if sum != 0 {
		return f, end, fmt.Errorf("%w: DCS %02X", ErrChecksum, b[end-2])
	}
	if b[end-1] != 0x00 {
		return f, end, fmt.Errorf("%w: postamble %02X", ErrFrame, b[end-1])
	}
	tfi := b[data]
	if tfi == tfiError && length == 1 {
		return frame{kind: kindError, tfi: tfi}, end, nil
	}
	return frame{kind: kindInfo, tfi: tfi, data: bytes.Clone(b[data+1 : data+length])}, end, nil
}
