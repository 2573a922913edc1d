package cdm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

// Command, response and event codes of docs/devices/dispenser.md.
const (
	opStatus       byte = 0x01
	opCassettes    byte = 0x02
	opNonce        byte = 0x03
	opDispense     byte = 0x04
	opPresent      byte = 0x05
	opRetract      byte = 0x06
	opCloseShutter byte = 0x07
	opTestDispense byte = 0x08
	opLoad         byte = 0x09
	opLastDispense byte = 0x0A
	opHalt         byte = 0x0B
	opLoadKey      byte = 0x0C
	opDeleteKey    byte = 0x0D

	evCashTaken byte = 0x41

	replyFlag byte = 0x80
)

// opNames name the commands in logs and errors.
var opNames = map[byte]string{
	opStatus: "STATUS", opCassettes: "CASSETTES", opNonce: "NONCE", opDispense: "DISPENSE",
	opPresent: "PRESENT", opRetract: "RETRACT", opCloseShutter: "CLOSE-SHUTTER",
	opTestDispense: "TEST-DISPENSE", opLoad: "LOAD", opLastDispense: "LAST-DISPENSE", opHalt: "HALT",
	opLoadKey: "LOAD-KEY", opDeleteKey: "DELETE-KEY",
}

// Response status bytes.
const (
	rsOK        byte = 0x00
	rsUnknown   byte = 0x01
	rsBadParams byte = 0x02
	rsBusy      byte = 0x03
	rsCancelled byte = 0x04
	rsTimeout   byte = 0x05
	rsHardware  byte = 0x06
	rsSecurity  byte = 0x07
	rsNotReady  byte = 0x08
)

// errTruncated: a response ended before its fields did.
var errTruncated = errors.New("response too short")

// decoder reads big-endian fields; the first error sticks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.p) < n {
		d.err = errTruncated
		return nil
	}
	b := d.p[:n:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) byte1() byte {
	b := d.next(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) uint16() int {
	b := d.next(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (d *decoder) uint32() int64 {
	b := d.next(4)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint32(b))
}

// lstr reads a 1-byte length and that many bytes.
func (d *decoder) lstr() []byte { return d.next(int(d.byte1())) }

// done fails when bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.p) != 0 {
		d.err = fmt.Errorf("%d unexpected trailing bytes", len(d.p))
	}
	return d.err
}

// reply is a decoded response header: the status byte, the reason for
// any status but OK, and the command-specific rest.
type reply struct {
	status byte
	reason string
	rest   []byte
}

// parseReply splits a response's DATA into header and rest.
func parseReply(data []byte) (reply, error) {
	d := &decoder{p: data}
	r := reply{status: d.byte1()}
	if r.status != rsOK {
		r.reason = string(d.lstr())
	}
	if d.err != nil {
		return reply{}, d.err
	}
	r.rest = d.p
	return r, nil
}

// deviceStatus is the STATUS response.
type deviceStatus struct {
	state     byte // 0 ready, 1 busy, 2 hardware error, 3 user error
	fault     string
	detail    string
	shutter   bool // open
	stacked   int
	presented int
	taken     bool // the customer took the last presented notes
	nonce     bool // a nonce is outstanding
	maxNotes  int
	cassettes []cassetteState
}

type cassetteState struct {
	id     int
	status dispenser.CassetteStatus
}

var cassetteStatuses = []dispenser.CassetteStatus{dispenser.CassetteOK, dispenser.CassetteLow, dispenser.CassetteEmpty, dispenser.CassetteMissing}

func cassetteStatusOf(b byte) (dispenser.CassetteStatus, error) {
	if int(b) >= len(cassetteStatuses) {
		return "", fmt.Errorf("cassette status %02X", b)
	}
	return cassetteStatuses[b], nil
}

// parseStatus decodes the rest of an OK STATUS response.
func parseStatus(p []byte) (deviceStatus, error) {
	d := &decoder{p: p}
	var s deviceStatus
	s.state = d.byte1()
	s.fault = string(d.lstr())
	s.detail = string(d.lstr())
	shutter := d.byte1()
	s.stacked, s.presented = d.uint16(), d.uint16()
	flags := d.byte1()
	s.maxNotes = d.uint16()
	n := int(d.byte1())
	for i := 0; i < n && d.err == nil; i++ {
		c := cassetteState{id: d.uint16()}
		st, err := cassetteStatusOf(d.byte1())
		if err != nil && d.err == nil {
			d.err = err
		}
		c.status = st
		s.cassettes = append(s.cassettes, c)
	}
	if err := d.done(); err != nil {
		return deviceStatus{}, err
	}
	switch {
	case s.state > 3:
		return deviceStatus{}, fmt.Errorf("device state %02X", s.state)
	case shutter > 1:
		return deviceStatus{}, fmt.Errorf("shutter %02X", shutter)
	case flags&^3 != 0:
		return deviceStatus{}, fmt.Errorf("flags %02X", flags)
	}
	s.shutter, s.taken, s.nonce = shutter == 1, flags&1 != 0, flags&2 != 0
	return s, nil
}

// parseCassettes decodes the rest of an OK CASSETTES response.
func parseCassettes(p []byte) (retractBin int64, cs []dispenser.Cassette, err error) {
	d := &decoder{p: p}
	retractBin = d.uint32()
	n := int(d.byte1())
	for i := 0; i < n && d.err == nil; i++ {
		c := dispenser.Cassette{ID: d.uint16(), Denomination: d.uint32(), Currency: string(d.next(3))}
		c.Count, c.Initial, c.Dispensed = int(d.uint32()), int(d.uint32()), int(d.uint32())
		c.Rejected, c.Low = int(d.uint32()), int(d.uint32())
		st, serr := cassetteStatusOf(d.byte1())
		if serr != nil && d.err == nil {
			d.err = serr
		}
		c.Status = st
		cs = append(cs, c)
	}
	if err := d.done(); err != nil {
		return 0, nil, err
	}
	return retractBin, cs, nil
}

// parseResult decodes a RESULT block: REJECTED u16, N, N × (ID u16,
// COUNT u16). It must end the data.
func parseResult(d *decoder) dispenser.Result {
	var r dispenser.Result
	r.Rejected = d.uint16()
	n := int(d.byte1())
	for i := 0; i < n && d.err == nil; i++ {
		id, c := d.uint16(), d.uint16()
		if d.err == nil {
			r.Dispensed = append(r.Dispensed, dispenser.Notes{Cassette: id, Count: c})
		}
	}
	return r
}

// lastStates are the STATE bytes of LAST-DISPENSE; 06 (a test
// dispense's notes in the reject bin) has no dispenser.LastState.
var lastStates = []dispenser.LastState{dispenser.LastNone, dispenser.LastPicking, dispenser.LastStacked,
	dispenser.LastPresented, dispenser.LastTaken, dispenser.LastRetracted, "rejected"}

// lastRecord is the LAST-DISPENSE response.
type lastRecord struct {
	cmd    byte
	seq    byte
	crc    uint16
	state  dispenser.LastState
	txn    string
	nonce  []byte
	status byte
	reason string
	result dispenser.Result
}

// parseLast decodes the rest of an OK LAST-DISPENSE response.
func parseLast(p []byte) (lastRecord, error) {
	d := &decoder{p: p}
	r := lastRecord{cmd: d.byte1(), seq: d.byte1(), crc: uint16(d.uint16())}
	st := int(d.byte1())
	if st >= len(lastStates) && d.err == nil {
		d.err = fmt.Errorf("dispense state %02X", st)
	} else if st < len(lastStates) {
		r.state = lastStates[st]
	}
	r.txn = string(d.lstr())
	r.nonce = d.lstr()
	r.status = d.byte1()
	r.reason = string(d.lstr())
	r.result = parseResult(d)
	if err := d.done(); err != nil {
		return lastRecord{}, err
	}
	return r, nil
}

// encoder builds command DATA; it refuses what the fields cannot hold.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf(format, args...)
	}
}

func (e *encoder) byte1(v byte) { e.b = append(e.b, v) }

func (e *encoder) uint16(v int, what string) {
	if v < 0 || v > 0xFFFF {
		e.fail("%s %d does not fit the frame", what, v)
	}
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(v))
}

func (e *encoder) uint32(v int64, what string) {
	if v < 0 || v > 0xFFFFFFFF {
		e.fail("%s %d does not fit the frame", what, v)
	}
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(v))
}

func (e *encoder) int32(v int, what string) {
	if v < -1<<31 || v > 1<<31-1 {
		e.fail("%s %d does not fit the frame", what, v)
	}
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(int32(v)))
}

func (e *encoder) lstr(v []byte, what string) {
	if len(v) > 255 {
		e.fail("%s is %d bytes, at most 255 fit", what, len(v))
	}
	e.byte1(byte(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) mix(mix []dispenser.Notes) {
	if len(mix) > 255 {
		e.fail("mix of %d cassettes", len(mix))
	}
	e.byte1(byte(len(mix)))
	for _, n := range mix {
		e.uint16(n.Cassette, "cassette id")
		e.int32(n.Count, "note count")
	}
}

// result returns the DATA, or hal.ErrInvalid when a field does not fit
// or the frame would be too long.
func (e *encoder) result(what string) ([]byte, error) {
	if e.err == nil && len(e.b) > frameMax-1 {
		e.fail("%d bytes of data, at most %d fit", len(e.b), frameMax-1)
	}
	if e.err != nil {
		return nil, fmt.Errorf("cdm: %s: %v: %w", what, e.err, hal.ErrInvalid)
	}
	return e.b, nil
}

// encodeDispense lays out DISPENSE: ATM, TXN, AMOUNT i64, CURRENCY, MIX,
// NONCE, TOKEN.
func encodeDispense(q dispenser.DispenseRequest) ([]byte, error) {
	e := &encoder{}
	e.lstr([]byte(q.ATM), "ATM id")
	e.lstr([]byte(q.Txn), "transaction")
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(q.Amount))
	e.lstr([]byte(q.Currency), "currency")
	e.mix(q.Mix)
	e.lstr(q.Nonce, "nonce")
	e.lstr(q.Token, "token")
	return e.result("dispense")
}

// encodeTestDispense lays out TEST-DISPENSE: MIX.
func encodeTestDispense(mix []dispenser.Notes) ([]byte, error) {
	e := &encoder{}
	e.mix(mix)
	return e.result("test dispense")
}

// encodeLoad lays out LOAD: N × (ID, DENOM, CURRENCY, COUNT, LOW, MISSING).
func encodeLoad(cs []dispenser.Cassette) ([]byte, error) {
	e := &encoder{}
	if len(cs) > 255 {
		e.fail("%d cassettes", len(cs))
	}
	e.byte1(byte(len(cs)))
	for _, c := range cs {
		e.uint16(c.ID, "cassette id")
		e.uint32(c.Denomination, "denomination")
		if len(c.Currency) != 3 {
			e.fail("currency %q is not 3 letters", c.Currency)
		}
		e.b = append(e.b, (c.Currency + "   ")[:3]...)
		e.uint32(int64(c.Count), "count")
		e.uint32(int64(c.Low), "low mark")
		if c.Status == dispenser.CassetteMissing {
			e.byte1(1)
		} else {
			e.byte1(0)
		}
	}
	return e.result("load")
}

// encodeLoadKey lays out LOAD-KEY: NAME, KEK, VALUE.
func encodeLoadKey(name, kek string, value []byte) ([]byte, error) {
	e := &encoder{}
	e.lstr([]byte(name), "key name")
	e.lstr([]byte(kek), "KEK name")
	e.lstr(value, "key value")
	return e.result("load key")
}
