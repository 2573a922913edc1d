package vcard

import (
	"errors"
	"fmt"
)

// Status words the card answers with.
const (
	SWOK              uint16 = 0x9000
	SWWrongLength     uint16 = 0x6700
	SWConditions      uint16 = 0x6985 // conditions of use not satisfied
	SWWrongData       uint16 = 0x6A80
	SWFileNotFound    uint16 = 0x6A82
	SWRecordNotFound  uint16 = 0x6A83
	SWIncorrectP1P2   uint16 = 0x6A86
	SWDataNotFound    uint16 = 0x6A88
	SWINSNotSupported uint16 = 0x6D00
	SWCLANotSupported uint16 = 0x6E00
	SWBytesAvailable  uint16 = 0x6100 // T=0: 61xx, xx bytes wait for GET RESPONSE
	SWWrongLe         uint16 = 0x6C00 // T=0: 6Cxx, resend with Le = xx
)

// ErrCommand: the bytes are not a well-formed short command APDU.
var ErrCommand = errors.New("vcard: bad command APDU")

// Command is a decoded short command APDU (ISO 7816-4).
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte // the command data (Lc bytes), nil if none
	Le               int    // expected response length: -1 absent, else 1–256 (a coded 00 is 256)
}

// ParseCommand decodes a short command APDU of case 1, 2, 3 or 4.
// Extended lengths are not supported and are an error, as is any length
// that disagrees with Lc.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("%w: %d bytes", ErrCommand, len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3], Le: -1}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
	case len(body) == 1: // case 2
		c.Le = le(body[0])
	case body[0] == 0:
		return Command{}, fmt.Errorf("%w: extended length", ErrCommand)
	case len(body) == 1+int(body[0]): // case 3
		c.Data = body[1:]
	case len(body) == 2+int(body[0]): // case 4
		c.Data = body[1 : len(body)-1]
		c.Le = le(body[len(body)-1])
	default:
		return Command{}, fmt.Errorf("%w: Lc %d with %d bytes of body", ErrCommand, body[0], len(body))
	}
	return c, nil
}

func le(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

// response appends the status word to data.
func response(data []byte, sw uint16) []byte {
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return append(out, byte(sw>>8), byte(sw))
}
