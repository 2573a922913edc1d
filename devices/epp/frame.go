package epp

import (
	"fmt"
	"time"
)

// The driver's own reading of docs/devices/framing.md. It shares no code
// with the simulator (sim/wire/epp): this side decodes byte by byte with
// a state machine and computes the CRC from a table.

const (
	bSTX   = 0x02
	bETX   = 0x03
	bACK   = 0x06
	bNAK   = 0x15
	lenMax = 1024 // largest LEN (CMD + DATA)
)

// crcTable holds CRC-16/CCITT-FALSE (polynomial 0x1021) for every byte.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			c = c<<1 ^ uint16(-int16(c>>15))&0x1021
		}
		t[i] = c
	}
	return t
}()

// crcCCITT is CRC-16/CCITT-FALSE: initial value 0xFFFF, no reflection,
// no final XOR.
func crcCCITT(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

// pkt is one frame: SEQ, CMD and DATA.
type pkt struct {
	seq  byte
	cmd  byte
	data []byte
}

// marshal returns the frame's bytes, STX to ETX.
func (p pkt) marshal() ([]byte, error) {
	l := 1 + len(p.data)
	if l > lenMax {
		return nil, fmt.Errorf("epp: frame of %d bytes: %w", l, ErrProtocol)
	}
	b := make([]byte, l+7)
	b[0], b[1], b[2], b[3], b[4] = bSTX, p.seq, byte(l>>8), byte(l), p.cmd
	copy(b[5:], p.data)
	c := crcCCITT(b[1 : 4+l])
	b[4+l], b[5+l], b[6+l] = byte(c>>8), byte(c), bETX
	return b, nil
}

// tokKind is what the decoder recognised.
type tokKind int

const (
	tokNone  tokKind = iota // nothing complete yet
	tokACK                  // an ACK byte outside a frame
	tokNAK                  // a NAK byte outside a frame
	tokNoise                // a byte that starts nothing, discarded
	tokFrame                // a well-formed frame
	tokBad                  // a malformed or truncated frame: answer NAK
)

// token is one thing the decoder recognised; raw holds the bytes of a
// bad frame, for diagnostics.
type token struct {
	kind tokKind
	p    pkt
	raw  []byte
}

// decoder splits the byte stream into ACK, NAK, frames and noise.
type decoder struct {
	buf  []byte    // the partial frame, STX first; empty between frames
	want int       // LEN + 7 once LEN is known, else 0
	last time.Time // when the partial frame's last byte arrived
}

// feed takes one byte that arrived at now.
func (d *decoder) feed(b byte, now time.Time) token {
	if len(d.buf) == 0 {
		switch b {
		case bACK:
			return token{kind: tokACK}
		case bNAK:
			return token{kind: tokNAK}
		case bSTX:
			d.buf = append(d.buf, b)
			d.last = now
			return token{}
		}
		return token{kind: tokNoise}
	}
	d.buf = append(d.buf, b)
	d.last = now
	if d.want == 0 {
		if len(d.buf) < 4 {
			return token{}
		}
		l := int(d.buf[2])<<8 | int(d.buf[3])
		if l < 1 || l > lenMax {
			return d.reset(tokBad)
		}
		d.want = l + 7
	}
	if len(d.buf) < d.want {
		return token{}
	}
	n := d.want - 7
	sum := uint16(d.buf[4+n])<<8 | uint16(d.buf[5+n])
	if d.buf[d.want-1] != bETX || crcCCITT(d.buf[1:4+n]) != sum {
		return d.reset(tokBad)
	}
	t := d.reset(tokFrame)
	t.p = pkt{seq: t.raw[1], cmd: t.raw[4], data: t.raw[5 : 4+n]}
	return t
}

// expire drops a partial frame whose last byte is older than gap: a
// truncated frame, to be NAKed.
func (d *decoder) expire(now time.Time, gap time.Duration) (token, bool) {
	if len(d.buf) == 0 || now.Sub(d.last) <= gap {
		return token{}, false
	}
	return d.reset(tokBad), true
}

// reset ends the current frame, handing its bytes over in the token.
func (d *decoder) reset(k tokKind) token {
	t := token{kind: k, raw: d.buf}
	d.buf, d.want = nil, 0
	return t
}
