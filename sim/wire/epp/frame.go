package epp

// The simulator's own reading of docs/devices/framing.md. It shares no
// code with the driver (devices/epp): this side scans a buffer of bytes
// received so far and computes the CRC bit by bit.

const (
	stx    = 0x02
	etx    = 0x03
	ack    = 0x06
	nak    = 0x15
	maxLen = 1024 // largest LEN (CMD + DATA)
)

// frame is one decoded frame: SEQ, CMD and DATA.
type frame struct {
	seq  byte
	cmd  byte
	data []byte
}

// crc16 is CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF,
// no reflection, no final XOR.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// encode returns the frame's bytes, STX to ETX.
func (f frame) encode() []byte {
	n := 1 + len(f.data)
	out := make([]byte, 0, n+7)
	out = append(out, stx, f.seq, byte(n>>8), byte(n), f.cmd)
	out = append(out, f.data...)
	c := crc16(out[1:])
	return append(out, byte(c>>8), byte(c), etx)
}

// unit is what scan finds at the start of a buffer.
type unit int

const (
	unitMore  unit = iota // not enough bytes yet to tell
	unitACK               // an ACK byte
	unitNAK               // a NAK byte
	unitNoise             // bytes that start nothing: discard them
	unitFrame             // a well-formed frame
	unitBad               // a malformed frame: discard it and answer NAK
)

// scan looks at the start of buf and reports the first unit and how many
// bytes it spans (0 for unitMore). A frame with a LEN out of range is bad
// as soon as LEN has arrived (4 bytes); any other frame is judged when
// all LEN+7 bytes are there. The frame's data is a copy.
func scan(buf []byte) (unit, int, frame) {
	if len(buf) == 0 {
		return unitMore, 0, frame{}
	}
	switch buf[0] {
	case ack:
		return unitACK, 1, frame{}
	case nak:
		return unitNAK, 1, frame{}
	case stx:
	default:
		n := 1
		for n < len(buf) && buf[n] != stx && buf[n] != ack && buf[n] != nak {
			n++
		}
		return unitNoise, n, frame{}
	}
	if len(buf) < 4 {
		return unitMore, 0, frame{}
	}
	l := int(buf[2])<<8 | int(buf[3])
	if l == 0 || l > maxLen {
		return unitBad, 4, frame{}
	}
	total := l + 7
	if len(buf) < total {
		return unitMore, 0, frame{}
	}
	body := buf[1 : 4+l]
	want := uint16(buf[4+l])<<8 | uint16(buf[5+l])
	if buf[total-1] != etx || crc16(body) != want {
		return unitBad, total, frame{}
	}
	return unitFrame, total, frame{seq: buf[1], cmd: buf[4], data: append([]byte(nil), buf[5:4+l]...)}
}
