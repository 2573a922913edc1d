package pn532

import (
	"bytes"
	"encoding/binary"
)

// Type 4 Tag constants (NFC Forum Type 4 Tag Technical Specification,
// mapping version 2.0).
var ndefAppName = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

const (
	fileCC   uint16 = 0xE103 // capability container
	fileNDEF uint16 = 0xE104 // NDEF file
	ccLen           = 15
	mlc             = 0x00FF // largest C-APDU data field the tag takes
)

// ISO/IEC 7816-4 status words.
var (
	swOK            = []byte{0x90, 0x00}
	swEndOfFile     = []byte{0x62, 0x82} // end of file before Le bytes
	swWrongLength   = []byte{0x67, 0x00}
	swSecurity      = []byte{0x69, 0x82} // security status not satisfied (write denied)
	swNoCurrentEF   = []byte{0x69, 0x86} // command not allowed: no file selected
	swWrongParams   = []byte{0x6A, 0x86} // incorrect P1-P2
	swNotFound      = []byte{0x6A, 0x82} // application or file not found
	swOffsetBeyond  = []byte{0x6B, 0x00} // offset outside the file
	swINSNotSupport = []byte{0x6D, 0x00}
	swCLANotSupport = []byte{0x6E, 0x00}
)

// t4t is one reader session with the emulated Type 4 Tag. SELECT of the
// NDEF application takes a snapshot of the published message, so a
// Publish during a session never shows a reader half of each message.
type t4t struct {
	cc       []byte
	snapshot func() (msg []byte, gen uint64)

	app     bool
	file    uint16
	ndef    []byte // NLEN and message; nil when nothing is published
	gen     uint64
	covered []bool
	left    int // bytes of ndef not yet read
}

// newT4T returns a session for a tag whose reader reads at most mle
// bytes per READ BINARY and whose NDEF file holds maxFile bytes.
func newT4T(mle, maxFile int, snapshot func() ([]byte, uint64)) *t4t {
	cc := make([]byte, 0, ccLen)
	cc = binary.BigEndian.AppendUint16(cc, ccLen)
	cc = append(cc, 0x20) // mapping version 2.0
	cc = binary.BigEndian.AppendUint16(cc, uint16(mle))
	cc = binary.BigEndian.AppendUint16(cc, mlc)
	cc = append(cc, 0x04, 0x06) // NDEF File Control TLV
	cc = binary.BigEndian.AppendUint16(cc, fileNDEF)
	cc = binary.BigEndian.AppendUint16(cc, uint16(maxFile))
	cc = append(cc, 0x00, 0xFF) // read access granted, write access denied
	return &t4t{cc: cc, snapshot: snapshot}
}

// handle answers one C-APDU. done is true on the R-APDU that completes
// the reading of the whole NDEF file (NLEN and message) of the
// snapshot with generation gen.
func (t *t4t) handle(c []byte) (r []byte, done bool, gen uint64) {
	if len(c) < 4 {
		return swWrongLength, false, 0
	}
	if c[0] != 0x00 {
		return swCLANotSupport, false, 0
	}
	switch c[1] {
	case 0xA4:
		return t.selectFile(c), false, 0
	case 0xB0:
		return t.readBinary(c)
	case 0xD6:
		return swSecurity, false, 0
	}
	return swINSNotSupport, false, 0
}

// body returns the data field of a case-3 or case-4 short C-APDU.
func body(c []byte) ([]byte, bool) {
	if len(c) < 6 {
		return nil, false
	}
	lc := int(c[4])
	if lc == 0 || (len(c) != 5+lc && len(c) != 6+lc) {
		return nil, false
	}
	return c[5 : 5+lc], true
}

func (t *t4t) selectFile(c []byte) []byte {
	data, ok := body(c)
	if !ok {
		return swWrongLength
	}
	p1, p2 := c[2], c[3]
	switch {
	case p1 == 0x04 && p2 == 0x00: // by name
		t.app, t.file = false, 0
		if !bytes.Equal(data, ndefAppName) {
			return swNotFound
		}
		msg, gen := t.snapshot()
		if msg == nil {
			return swNotFound
		}
		t.ndef = binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
		t.ndef = append(t.ndef, msg...)
		t.gen, t.app = gen, true
		t.covered, t.left = make([]bool, len(t.ndef)), len(t.ndef)
		return swOK
	case p1 == 0x00 && (p2 == 0x0C || p2 == 0x00): // by file identifier
		if !t.app {
			return swNotFound
		}
		if len(data) != 2 {
			return swWrongLength
		}
		switch id := binary.BigEndian.Uint16(data); id {
		case fileCC, fileNDEF:
			t.file = id
			return swOK
		}
		t.file = 0
		return swNotFound
	}
	return swWrongParams
}

func (t *t4t) readBinary(c []byte) ([]byte, bool, uint64) {
	if len(c) != 5 {
		return swWrongLength, false, 0
	}
	if c[2]&0x80 != 0 { // short EF identifier: not supported
		return swWrongParams, false, 0
	}
	var file []byte
	switch t.file {
	case fileCC:
		file = t.cc
	case fileNDEF:
		file = t.ndef
	default:
		return swNoCurrentEF, false, 0
	}
	off := int(binary.BigEndian.Uint16(c[2:]))
	le := int(c[4])
	if le == 0 {
		le = 256
	}
	if le > int(binary.BigEndian.Uint16(t.cc[3:])) {
		return swWrongLength, false, 0
	}
	if off > len(file) {
		return swOffsetBeyond, false, 0
	}
	end := min(off+le, len(file))
	r := append(bytes.Clone(file[off:end]), swOK...)
	if end-off < le {
		copy(r[len(r)-2:], swEndOfFile)
	}
	if t.file != fileNDEF || t.left == 0 {
		return r, false, 0
	}
	for i := off; i < end; i++ {
		if !t.covered[i] {
			t.covered[i] = true
			t.left--
		}
	}
	return r, t.left == 0, t.gen
}
