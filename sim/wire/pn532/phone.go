package pn532

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal/nfctag"
)

// ErrBadTag: the emulated tag broke the NFC Forum Type 4 Tag protocol
// (a status word, a length or the capability container was wrong).
var ErrBadTag = errors.New("pn532sim: the tag broke the Type 4 Tag protocol")

// ndefAID is the NDEF Tag Application name, mapping version 2.0.
var ndefAID = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

// Status words the phone understands.
const (
	swOK       = 0x9000
	swNotFound = 0x6A82
)

type phoneStep int

const (
	phSelectApp phoneStep = iota
	phSelectCC
	phReadCC
	phSelectNDEF
	phReadNLEN
	phReadData
	phDone
)

var stepNames = [...]string{"SELECT NDEF application", "SELECT capability container", "READ BINARY capability container",
	"SELECT NDEF file", "READ BINARY NLEN", "READ BINARY NDEF message", "done"}

// phone plays the reader side of the NFC Forum Type 4 Tag NDEF detection
// and read procedures (T4T 2.0 §5.4, §5.5), as an Android phone does:
// SELECT the NDEF application, SELECT and READ the capability container,
// SELECT the NDEF file, READ its NLEN, then READ the message in chunks of
// at most MLe bytes. It is a pure state machine: command gives the next
// C-APDU, response takes the tag's R-APDU.
type phone struct {
	step    phoneStep
	mle     int
	fileID  [2]byte
	maxSize int
	nlen    int
	asked   int // Le of the last READ BINARY of the message
	msg     []byte
	err     error // set when step is phDone: nil means msg was read
}

// command returns the next C-APDU.
func (p *phone) command() []byte {
	switch p.step {
	case phSelectApp:
		return append(append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(ndefAID))}, ndefAID...), 0x00)
	case phSelectCC:
		return []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0xE1, 0x03}
	case phReadCC:
		return []byte{0x00, 0xB0, 0x00, 0x00, 0x0F}
	case phSelectNDEF:
		return []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, p.fileID[0], p.fileID[1]}
	case phReadNLEN:
		return []byte{0x00, 0xB0, 0x00, 0x00, 0x02}
	case phReadData:
		off := 2 + len(p.msg)
		p.asked = min(p.mle, p.nlen-len(p.msg))
		return []byte{0x00, 0xB0, byte(off >> 8), byte(off), byte(p.asked)}
	}
	return nil
}

// response takes the R-APDU to the last command.
func (p *phone) response(r []byte) {
	if p.step == phDone {
		return
	}
	if len(r) < 2 {
		p.fail("R-APDU of %d bytes has no status word", len(r))
		return
	}
	data, sw := r[:len(r)-2], int(binary.BigEndian.Uint16(r[len(r)-2:]))
	if sw == swNotFound && (p.step == phSelectApp || p.step == phSelectNDEF) {
		p.step, p.err = phDone, fmt.Errorf("pn532sim: tap: %w (SELECT answered 6A82)", nfctag.ErrNoMessage)
		return
	}
	if sw != swOK {
		p.fail("status word %04X", sw)
		return
	}
	switch p.step {
	case phSelectApp, phSelectCC, phSelectNDEF:
		if len(data) != 0 {
			p.fail("SELECT returned %d data bytes", len(data))
			return
		}
		p.step++
	case phReadCC:
		if err := p.readCC(data); err != nil {
			p.fail("%v", err)
			return
		}
		p.step++
	case phReadNLEN:
		if len(data) != 2 {
			p.fail("NLEN read returned %d bytes", len(data))
			return
		}
		p.nlen = int(binary.BigEndian.Uint16(data))
		switch {
		case p.nlen == 0:
			p.step, p.err = phDone, fmt.Errorf("pn532sim: tap: %w (NLEN 0)", nfctag.ErrNoMessage)
		case p.nlen > p.maxSize-2:
			p.fail("NLEN %d exceeds the NDEF file's %d bytes", p.nlen, p.maxSize)
		default:
			p.msg = make([]byte, 0, p.nlen)
			p.step++
		}
	case phReadData:
		if len(data) != p.asked {
			p.fail("READ BINARY returned %d bytes, asked %d", len(data), p.asked)
			return
		}
		p.msg = append(p.msg, data...)
		if len(p.msg) == p.nlen {
			p.step = phDone
		}
	}
}

// readCC checks the capability container (T4T 2.0 §5.1).
func (p *phone) readCC(cc []byte) error {
	if len(cc) != 15 {
		return fmt.Errorf("capability container of %d bytes, want 15", len(cc))
	}
	if l := binary.BigEndian.Uint16(cc[0:]); l < 0x000F {
		return fmt.Errorf("CCLEN %04X", l)
	}
	if cc[2]>>4 != 2 {
		return fmt.Errorf("mapping version %02X, want 2.x", cc[2])
	}
	p.mle = int(binary.BigEndian.Uint16(cc[3:]))
	if p.mle < 0x000F {
		return fmt.Errorf("MLe %04X below 000F", p.mle)
	}
	p.mle = min(p.mle, 255) // short APDUs: Le 1..255 (00 would mean 256)
	if mlc := binary.BigEndian.Uint16(cc[5:]); mlc == 0 {
		return errors.New("MLc 0000")
	}
	if cc[7] != 0x04 || cc[8] != 0x06 {
		return fmt.Errorf("NDEF File Control TLV %02X %02X, want 04 06", cc[7], cc[8])
	}
	copy(p.fileID[:], cc[9:11])
	switch id := binary.BigEndian.Uint16(cc[9:]); id {
	case 0x0000, 0xE102, 0xE103, 0x3F00, 0x3FFF, 0xFFFF:
		return fmt.Errorf("reserved NDEF file identifier %04X", id)
	}
	p.maxSize = int(binary.BigEndian.Uint16(cc[11:]))
	if p.maxSize < 0x0005 || p.maxSize > 0xFFFE {
		return fmt.Errorf("NDEF file size %04X out of range", p.maxSize)
	}
	if cc[13] != 0x00 {
		return fmt.Errorf("NDEF file read access %02X, want 00", cc[13])
	}
	return nil
}

func (p *phone) fail(format string, args ...any) {
	p.err = fmt.Errorf("%w: %s: %s", ErrBadTag, stepNames[p.step], fmt.Sprintf(format, args...))
	p.step = phDone
}
