package cdm

import (
	"bytes"
	"encoding/binary"
)

// Bytes and limits of docs/devices/framing.md.
const (
	bSTX = 0x02
	bETX = 0x03
	bACK = 0x06
	bNAK = 0x15

	frameMax  = 1024 // most bytes of CMD + DATA
	frameTail = 3    // CRC(2) ETX
	frameHead = 4    // STX SEQ LEN(2)
)

// crc16 computes CRC-16/CCITT-FALSE bit by bit: polynomial 0x1021,
// initial value 0xFFFF, no reflection, no final XOR.
func crc16(p []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range p {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// rxFrame is one frame of the serial link: a command (host → device), a
// response (command code | 0x80) or an event (SEQ 0, code 0x40–0x7F).
type rxFrame struct {
	Seq  byte
	Cmd  byte
	Data []byte
}

// appendFrame appends the wire form of a frame to dst. len(data) must be
// at most 1023.
func appendFrame(dst []byte, seq, cmd byte, data []byte) []byte {
	start := len(dst)
	dst = append(dst, bSTX, seq, 0, 0, cmd)
	binary.BigEndian.PutUint16(dst[start+2:], uint16(1+len(data)))
	dst = append(dst, data...)
	dst = binary.BigEndian.AppendUint16(dst, crc16(dst[start+1:]))
	return append(dst, bETX)
}

// token is what scan found at the start of a buffer.
type token int

const (
	tokMore  token = iota // a frame has started; more bytes are needed
	tokNoise              // bytes that are neither STX, ACK nor NAK: discard
	tokACK
	tokNAK
	tokFrame // a well-formed frame
	tokBad   // a malformed frame (LEN, ETX or CRC): answer NAK
)

// scan looks at the start of buf and says what is there and how many
// bytes it takes. For tokFrame, f is the frame (its Data aliases buf).
// For tokBad, n covers a damaged frame whole when its ETX is in place
// (only the CRC failed), and otherwise the broken frame's bytes up to the
// next STX inside them, so that a real frame which a stray STX swallowed
// is found on the next call; ACK and NAK bytes skipped are data, not
// answers.
// An empty buf is tokMore with n == 0.
func scan(buf []byte) (t token, f rxFrame, n int) {
	if len(buf) == 0 {
		return tokMore, rxFrame{}, 0
	}
	switch buf[0] {
	case bACK:
		return tokACK, rxFrame{}, 1
	case bNAK:
		return tokNAK, rxFrame{}, 1
	case bSTX:
	default:
		i := bytes.IndexAny(buf, "\x02\x06\x15")
		if i < 0 {
			i = len(buf)
		}
		return tokNoise, rxFrame{}, i
	}
	if len(buf) < frameHead {
		return tokMore, rxFrame{}, 0
	}
	size := int(binary.BigEndian.Uint16(buf[2:4]))
	if size < 1 || size > frameMax {
		return tokBad, rxFrame{}, skipBroken(buf[:frameHead])
	}
	total := frameHead + size + frameTail
	if len(buf) < total {
		return tokMore, rxFrame{}, 0
	}
	body := buf[1 : frameHead+size]
	want := binary.BigEndian.Uint16(buf[frameHead+size:])
	switch {
	case buf[total-1] != bETX:
		// Framing is off: the STX was probably noise and a real frame
		// may start inside.
		return tokBad, rxFrame{}, skipBroken(buf[:total])
	case crc16(body) != want:
		// ETX is where LEN says: a real frame, damaged. Drop it whole;
		// its STX-looking bytes are data.
		return tokBad, rxFrame{}, total
	}
	return tokFrame, rxFrame{Seq: buf[1], Cmd: buf[4], Data: buf[5 : frameHead+size]}, total
}

// skipBroken returns how many bytes of a broken frame to drop: up to the
// next STX inside it, or all of them.
func skipBroken(broken []byte) int {
	if i := bytes.IndexByte(broken[1:], bSTX); i >= 0 {
		return i + 1
	}
	return len(broken)
}
