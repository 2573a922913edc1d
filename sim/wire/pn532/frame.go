package pn532

import (
	"errors"
	"fmt"
)

// Frame identifiers (UM0701-02 §6.2.1).
const (
	tfiHost byte = 0xD4 // host controller → PN532
	tfiChip byte = 0xD5 // PN532 → host controller
	tfiErr  byte = 0x7F // the specific application-level error frame
)

// maxLen is the largest LEN the PN532's buffer takes: TFI plus 264 bytes.
const maxLen = 265

// The fixed frames.
var (
	ackFrame   = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame  = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	errorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

// Frame errors the deframer reports; the simulator answers none of them,
// as the PN532 does not acknowledge a frame it could not read.
var (
	errLCS    = errors.New("pn532sim: bad length checksum")
	errLength = errors.New("pn532sim: bad frame length")
	errDCS    = errors.New("pn532sim: bad data checksum")
)

// frameKind tells the received frames apart.
type frameKind int

const (
	frameInfo frameKind = iota // normal or extended information frame
	frameACK
	frameNACK
)

// rxFrame is a frame the deframer recognised. For information frames
// tfi is the frame identifier and body is PD0..PDn.
type rxFrame struct {
	kind frameKind
	tfi  byte
	body []byte
	ext  bool // came in an extended frame
}

type deframerState int

const (
	stHunt   deframerState = iota // looking for the start code 00 FF
	stLen                         // LEN (or FF of an extended frame, or 00/FF of ACK/NACK)
	stLCS                         // LCS
	stExtM                        // extended frame LENM
	stExtL                        // extended frame LENL
	stExtLCS                      // extended frame LCS
	stData                        // TFI and PD0..PDn
	stDCS                         // DCS
)

// deframer recognises PN532 frames one byte at a time. It does not wait
// for the postamble: a frame counts once its DCS checks, and the
// postamble, like the preamble, is skipped while hunting for the next
// start code.
type deframer struct {
	st     deframerState
	prev   byte // previous byte while hunting
	len1   byte // first byte after the start code
	lenM   byte
	ext    bool
	length int
	sum    byte
	buf    []byte
}

// feed takes one byte. When the byte completes a frame it returns ok and
// the frame or the frame's error; otherwise ok is false.
func (d *deframer) feed(b byte) (f rxFrame, ok bool, err error) {
	switch d.st {
	case stHunt:
		if d.prev == 0x00 && b == 0xFF {
			d.st = stLen
		}
		d.prev = b
		return f, false, nil
	case stLen:
		d.len1 = b
		d.st = stLCS
		return f, false, nil
	case stLCS:
		switch {
		case d.len1 == 0x00 && b == 0xFF:
			return d.done(rxFrame{kind: frameACK}, nil)
		case d.len1 == 0xFF && b == 0x00:
			return d.done(rxFrame{kind: frameNACK}, nil)
		case d.len1 == 0xFF && b == 0xFF:
			d.st = stExtM
			return f, false, nil
		case d.len1+b != 0:
			return d.done(f, fmt.Errorf("%w: LEN %02X LCS %02X", errLCS, d.len1, b))
		case d.len1 == 0:
			return d.done(f, fmt.Errorf("%w: 0", errLength))
		}
		d.begin(int(d.len1), false)
		return f, false, nil
	case stExtM:
		d.lenM = b
		d.st = stExtL
		return f, false, nil
	case stExtL:
		d.len1 = b
		d.st = stExtLCS
		return f, false, nil
	case stExtLCS:
		if d.lenM+d.len1+b != 0 {
			return d.done(f, fmt.Errorf("%w: LENM %02X LENL %02X LCS %02X", errLCS, d.lenM, d.len1, b))
		}
		n := int(d.lenM)<<8 | int(d.len1)
		if n == 0 || n > maxLen {
			return d.done(f, fmt.Errorf("%w: %d", errLength, n))
		}
		d.begin(n, true)
		return f, false, nil
	case stData:
		d.buf = append(d.buf, b)
		d.sum += b
		if len(d.buf) == d.length {
			d.st = stDCS
		}
		return f, false, nil
	case stDCS:
		if d.sum+b != 0 {
			return d.done(f, fmt.Errorf("%w: sum %02X DCS %02X", errDCS, d.sum, b))
		}
		body := make([]byte, len(d.buf)-1)
		copy(body, d.buf[1:])
		return d.done(rxFrame{kind: frameInfo, tfi: d.buf[0], body: body, ext: d.ext}, nil)
	}
	panic("pn532sim: deframer in an impossible state")
}

func (d *deframer) begin(n int, ext bool) {
	d.length, d.sum, d.buf, d.ext = n, 0, d.buf[:0], ext
	d.st = stData
}

func (d *deframer) done(f rxFrame, err error) (rxFrame, bool, error) {
	d.st, d.prev = stHunt, 0xFF
	return f, true, err
}

// encodeInfo builds an information frame from the PN532 carrying body
// (command code and data): a normal frame when TFI and body fit in LEN
// 254, an extended frame otherwise. body must not exceed maxLen-1 bytes.
func encodeInfo(tfi byte, body []byte) []byte {
	n := 1 + len(body)
	var out []byte
	if n <= 254 {
		out = append(out, 0x00, 0x00, 0xFF, byte(n), -byte(n))
	} else {
		m, l := byte(n>>8), byte(n)
		out = append(out, 0x00, 0x00, 0xFF, 0xFF, 0xFF, m, l, -(m + l))
	}
	sum := tfi
	out = append(out, tfi)
	for _, b := range body {
		sum += b
	}
	out = append(out, body...)
	return append(out, -sum, 0x00)
}
