package cdm

import (
	"encoding/binary"
)

// Line bytes of docs/devices/framing.md.
const (
	stx = 0x02
	etx = 0x03
	ack = 0x06
	nak = 0x15

	maxLen   = 1024 // most bytes of CMD + DATA in one frame
	overhead = 7    // STX SEQ LEN(2) CRC(2) ETX
)

// crcTable drives CRC-16/CCITT-FALSE one byte at a time.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 is CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no
// reflection, no final XOR.
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

// frame is one decoded frame.
type frame struct {
	seq  byte
	cmd  byte
	data []byte
}

// encode lays f out on the wire. data must leave LEN within 1..1024.
func (f frame) encode() []byte {
	n := 1 + len(f.data)
	out := make([]byte, 0, n+overhead)
	out = append(out, stx, f.seq)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	out = append(out, f.cmd)
	out = append(out, f.data...)
	out = binary.BigEndian.AppendUint16(out, crc16(out[1:]))
	return append(out, etx)
}

// rxKind says what the receiver recognised.
type rxKind int

const (
	rxFrame rxKind = iota // a well-formed frame
	rxAck                 // an ACK byte between frames
	rxNak                 // a NAK byte between frames
	rxBad                 // a malformed frame: bad LEN, ETX or CRC (answer NAK)
)

// rxEvent is one thing the receiver recognised.
type rxEvent struct {
	kind rxKind
	f    frame
	raw  []byte // the frame's bytes, good or bad
}

// receiver turns the byte stream into frames, one byte at a time. Bytes
// other than STX, ACK and NAK between frames are noise and vanish. A
// frame with ETX where LEN puts it but a bad CRC was damaged on the line:
// it is dropped whole. A frame with an impossible LEN or a misplaced ETX,
// or one the line left unfinished, probably began at a stray STX: the
// receiver hunts for the next STX in the bytes it had taken, ignoring ACK
// and NAK there, which were data of the broken frame.
type receiver struct {
	buf  []byte // the frame so far, from its STX; empty between frames
	hunt bool   // re-reading a broken frame's bytes: only STX counts
	out  []rxEvent
}

// feed pushes bytes and returns what they completed. The returned slice
// is valid until the next call.
func (r *receiver) feed(p []byte) []rxEvent {
	r.out = r.out[:0]
	for _, b := range p {
		r.push(b)
	}
	return r.out
}

// partial reports whether a frame has started and not yet ended.
func (r *receiver) partial() bool { return len(r.buf) > 0 }

// expire gives up a partial frame because the line went quiet in the
// middle of it: it reports the frame as malformed and hunts its bytes for
// a real frame a stray STX may have swallowed; a frame the hunt finds
// unfinished is dropped too. The returned slice is valid until the next
// call.
func (r *receiver) expire() []rxEvent {
	r.out = r.out[:0]
	if len(r.buf) > 0 {
		r.broken()
		// What the hunt left unfinished is as dead as the frame it was
		// found in: kept, it would swallow the next frame.
		r.buf = nil
	}
	return r.out
}

func (r *receiver) push(b byte) {
	if len(r.buf) == 0 {
		switch {
		case b == stx:
			r.buf = append(r.buf, b)
		case b == ack && !r.hunt:
			r.out = append(r.out, rxEvent{kind: rxAck})
		case b == nak && !r.hunt:
			r.out = append(r.out, rxEvent{kind: rxNak})
		}
		return
	}
	r.buf = append(r.buf, b)
	if len(r.buf) < 4 {
		return
	}
	n := int(binary.BigEndian.Uint16(r.buf[2:4]))
	if n == 0 || n > maxLen {
		r.broken()
		return
	}
	if len(r.buf) < n+overhead {
		return
	}
	end := n + overhead
	body := r.buf[1 : 4+n]
	sum := binary.BigEndian.Uint16(r.buf[4+n : 6+n])
	if r.buf[end-1] != etx {
		r.broken() // framing is off: a real frame may start inside
		return
	}
	if crc16(body) != sum {
		// ETX where LEN says: a real frame damaged on the line. Its
		// STX-looking bytes are data; drop it whole.
		r.out = append(r.out, rxEvent{kind: rxBad, raw: r.buf})
		r.buf = nil
		return
	}
	raw := r.buf
	r.buf = nil
	r.out = append(r.out, rxEvent{kind: rxFrame, raw: raw,
		f: frame{seq: raw[1], cmd: raw[4], data: raw[5 : 4+n]}})
}

// broken reports the frame in buf as malformed and re-reads its bytes
// after the STX, looking for the start of a real frame.
func (r *receiver) broken() {
	raw := r.buf
	r.buf = nil
	r.out = append(r.out, rxEvent{kind: rxBad, raw: raw})
	hunt := r.hunt
	r.hunt = true
	for _, b := range raw[1:] {
		r.push(b)
	}
	r.hunt = hunt
}
