package cdm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal/dispenser"
)

// Command codes (host → device) of docs/devices/dispenser.md; a response
// carries the code with bit 7 set.
const (
	cmdStatus       = 0x01
	cmdCassettes    = 0x02
	cmdNonce        = 0x03
	cmdDispense     = 0x04
	cmdPresent      = 0x05
	cmdRetract      = 0x06
	cmdCloseShutter = 0x07
	cmdTestDispense = 0x08
	cmdLoad         = 0x09
	cmdLastDispense = 0x0A
	cmdHalt         = 0x0B
	cmdLoadKey      = 0x0C
	cmdDeleteKey    = 0x0D

	evCashTaken = 0x41 // event: the customer took the presented notes

	respBit = 0x80
)

// Response status bytes of docs/devices/framing.md.
const (
	stOK          = 0x00
	stUnknown     = 0x01
	stBadParams   = 0x02
	stBusy        = 0x03
	stHardware    = 0x06
	stSecurity    = 0x07
	stNotReady    = 0x08
	stateReady    = 0x00
	stateBusy     = 0x01
	stateHardware = 0x02
)

// Cassette status bytes.
var cassetteCodes = map[dispenser.CassetteStatus]byte{
	dispenser.CassetteOK: 0, dispenser.CassetteLow: 1, dispenser.CassetteEmpty: 2, dispenser.CassetteMissing: 3,
}

// errShort: a command's DATA ended before its fields did.
var errShort = errors.New("data too short")

// reader takes fields off a command's DATA; the first problem sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// str takes a 1-byte length and that many bytes.
func (r *reader) str() []byte { return r.take(int(r.u8())) }

// end fails when bytes are left over.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes left over", len(r.b))
	}
	return r.err
}

// writer builds a response's DATA.
type writer []byte

func (w *writer) u8(v byte)      { *w = append(*w, v) }
func (w *writer) u16(v int)      { *w = binary.BigEndian.AppendUint16(*w, uint16(v)) }
func (w *writer) u32(v int64)    { *w = binary.BigEndian.AppendUint32(*w, uint32(v)) }
func (w *writer) bytes(b []byte) { *w = append(*w, b...) }

// str writes a 1-byte length and at most 255 bytes of s.
func (w *writer) str(s []byte) {
	s = s[:min(len(s), 255)]
	w.u8(byte(len(s)))
	w.bytes(s)
}

// decodeMix reads N and N × (ID u16, COUNT i32).
func decodeMix(r *reader) []dispenser.Notes {
	n := int(r.u8())
	var mix []dispenser.Notes
	for range n {
		id, count := r.u16(), int32(r.u32())
		if r.err != nil {
			return nil
		}
		mix = append(mix, dispenser.Notes{Cassette: int(id), Count: int(count)})
	}
	return mix
}

// decodeDispense reads DISPENSE DATA: ATM str, TXN str, AMOUNT i64,
// CURRENCY str, MIX, NONCE bin, TOKEN bin.
func decodeDispense(data []byte) (dispenser.DispenseRequest, error) {
	r := &reader{b: data}
	var q dispenser.DispenseRequest
	q.ATM = string(r.str())
	q.Txn = string(r.str())
	q.Amount = int64(r.u64())
	q.Currency = string(r.str())
	q.Mix = decodeMix(r)
	q.Nonce = r.str()
	q.Token = r.str()
	if err := r.end(); err != nil {
		return dispenser.DispenseRequest{}, fmt.Errorf("sim/wire/cdm: dispense: %w", err)
	}
	return q, nil
}

// decodeTestDispense reads TEST-DISPENSE DATA: MIX.
func decodeTestDispense(data []byte) ([]dispenser.Notes, error) {
	r := &reader{b: data}
	mix := decodeMix(r)
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("sim/wire/cdm: test dispense: %w", err)
	}
	return mix, nil
}

// decodeLoad reads LOAD DATA: N × (ID u16, DENOM u32, CURRENCY 3 bytes,
// COUNT u32, LOW u32, MISSING u8).
func decodeLoad(data []byte) ([]dispenser.Cassette, error) {
	r := &reader{b: data}
	n := int(r.u8())
	var cs []dispenser.Cassette
	for range n {
		c := dispenser.Cassette{ID: int(r.u16()), Denomination: int64(r.u32()), Currency: string(r.take(3))}
		c.Count, c.Low = int(r.u32()), int(r.u32())
		c.Initial = c.Count
		switch r.u8() {
		case 0:
		case 1:
			c.Status = dispenser.CassetteMissing
		default:
			if r.err == nil {
				r.err = errors.New("missing flag not 0 or 1")
			}
		}
		cs = append(cs, c)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("sim/wire/cdm: load: %w", err)
	}
	return cs, nil
}

// result is the RESULT block of DISPENSE and TEST-DISPENSE.
type result struct {
	rejected int
	notes    []dispenser.Notes
}

func (w *writer) result(r result) {
	w.u16(r.rejected)
	w.u8(byte(len(r.notes)))
	for _, n := range r.notes {
		w.u16(n.Cassette)
		w.u16(n.Count)
	}
}

// header starts a response's DATA: STATUS, and for any status but OK the
// REASON string (the fault code for a hardware fault).
func header(status byte, reason string) writer {
	w := writer{status}
	if status != stOK {
		w.str([]byte(reason))
	}
	return w
}
