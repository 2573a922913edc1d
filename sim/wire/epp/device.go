package epp

import (
	"crypto/aes"
	"crypto/cipher"
	"slices"
	"strings"

	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/pinblock"
)

// Command, response and event codes (docs/devices/epp.md).
const (
	cmdGetStatus   = 0x01
	cmdLoadKey     = 0x02
	cmdDeleteKey   = 0x03
	cmdMAC         = 0x04
	cmdKeyCheck    = 0x05
	cmdPINEntry    = 0x10
	cmdDataEntry   = 0x11
	cmdKeyEntry    = 0x12
	cmdCancelEntry = 0x13
	cmdBeep        = 0x14
	respBit        = 0x80
	evKey          = 0x40
	evStatus       = 0x41
)

// Status bytes (framing.md) and the reasons after a security refusal.
const (
	stOK        = 0x00
	stUnknown   = 0x01
	stBadParam  = 0x02
	stBusy      = 0x03
	stCancelled = 0x04
	stFault     = 0x06
	stSecurity  = 0x07
	stNotReady  = 0x08

	reasonNoKey    = 0x01
	reasonKeyUnfit = 0x02
)

// Key codes.
const (
	kEnter     = 0x0D
	kCancel    = 0x1B
	kClear     = 0x7F
	kBackspace = 0x08
	kMasked    = 0x2A
)

// MAC parts (the PT byte of MAC) and limits.
const (
	partWhole  = 0x00
	partFirst  = 0x01
	partMiddle = 0x02
	partLast   = 0x03

	macPartMax = 1000 // DL of one MAC command
	macDataMax = 8192 // bytes of one MAC, all parts together
)

// PIN block format codes, and the FM byte of a PIN-ENTRY response that
// carries a terminator instead of a block.
const (
	fmtISO0       = 0x00
	fmtISO4       = 0x04
	fmtTerminated = 0xFF
)

// keyCode maps a contract key to its code.
func keyCode(k pinpad.Key) (byte, bool) {
	switch {
	case k.IsDigit():
		return k[0], true // '0'..'9' are 0x30..0x39
	case k.IsFDK():
		return 0xF0 + k[1] - '0', true
	}
	switch k {
	case pinpad.KeyEnter:
		return kEnter, true
	case pinpad.KeyCancel:
		return kCancel, true
	case pinpad.KeyClear:
		return kClear, true
	case pinpad.KeyBackspace:
		return kBackspace, true
	}
	return 0, false
}

// keyName maps a code back to its key, for logs and Active.
func keyName(c byte) string {
	switch {
	case isDigit(c):
		return string(rune(c))
	case isFDK(c):
		return "F" + string(rune('0'+c-0xF0))
	}
	switch c {
	case kEnter:
		return string(pinpad.KeyEnter)
	case kCancel:
		return string(pinpad.KeyCancel)
	case kClear:
		return string(pinpad.KeyClear)
	case kBackspace:
		return string(pinpad.KeyBackspace)
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isFDK(c byte) bool { return c >= 0xF1 && c <= 0xF8 }

// entry is a running PIN-ENTRY, DATA-ENTRY or KEY-ENTRY.
type entry struct {
	cmd    byte // which of the three
	seq    byte // the command's SEQ, for the response
	format byte
	min    int
	max    int
	pan    []byte
	key    Key    // a copy, wiped when the entry ends
	terms  []byte // DATA-ENTRY's and PIN-ENTRY's terminators
	active []byte
	digits []byte // PIN digits live here only, wiped when the entry ends
}

func (e *entry) accepts(c byte) bool {
	switch e.cmd {
	case cmdKeyEntry:
		return slices.Contains(e.active, c)
	case cmdDataEntry, cmdPINEntry:
		if slices.Contains(e.terms, c) {
			return true
		}
	}
	return isDigit(c) || c == kEnter || c == kCancel || c == kClear || c == kBackspace
}

// describe is what Active reports: "pin" or "pin:F4,F5" (with
// terminators), "data", or "keys:" and the active keys.
func (e *entry) describe() string {
	switch e.cmd {
	case cmdPINEntry:
		if len(e.terms) > 0 {
			return "pin:" + keyNames(e.terms)
		}
		return "pin"
	case cmdDataEntry:
		return "data"
	}
	return "keys:" + keyNames(e.active)
}

// keyNames lists the keys of codes separated by commas: "F1,CANCEL".
func keyNames(codes []byte) string {
	names := make([]string, len(codes))
	for i, c := range codes {
		names[i] = keyName(c)
	}
	return strings.Join(names, ",")
}

// commandLocked executes a well-formed frame from the host and queues
// the response, applying framing.md's repeated-SEQ rule.
func (s *Sim) commandLocked(f frame) {
	if f.seq == 0 || f.cmd < 0x01 || f.cmd > 0x3F {
		s.log.Debug().Uint8("seq", f.seq).Uint8("cmd", f.cmd).Msg("not a command frame, ignored")
		return
	}
	if s.haveLast && f.seq == s.lastSeq {
		s.log.Debug().Uint8("seq", f.seq).Msg("repeated command, not executed again")
		if s.lastResp != nil {
			s.queueLocked(*s.lastResp, nil)
		}
		return
	}
	s.haveLast, s.lastSeq, s.lastResp = true, f.seq, nil
	data, started := s.execLocked(f)
	if started {
		return
	}
	resp := frame{seq: f.seq, cmd: f.cmd | respBit, data: data}
	s.lastResp = &resp
	s.queueLocked(resp, nil)
}

// execLocked runs one command. It returns the response's DATA, or
// started = true when an entry began (its response comes when it ends).
func (s *Sim) execLocked(f frame) (data []byte, started bool) {
	if s.fault != "" && f.cmd != cmdGetStatus {
		return append([]byte{stFault}, s.fault...), false
	}
	switch f.cmd {
	case cmdGetStatus:
		if len(f.data) != 0 {
			return []byte{stBadParam}, false
		}
		return append([]byte{stOK}, s.statusLocked()...), false
	case cmdLoadKey:
		return s.loadKeyLocked(f.data), false
	case cmdDeleteKey:
		return s.deleteKeyLocked(f.data), false
	case cmdMAC:
		return s.macLocked(f.data), false
	case cmdKeyCheck:
		return s.keyCheckLocked(f.data), false
	case cmdPINEntry, cmdDataEntry, cmdKeyEntry:
		return s.startEntryLocked(f)
	case cmdCancelEntry:
		if len(f.data) != 0 {
			return []byte{stBadParam}, false
		}
		if s.entry == nil {
			return []byte{stNotReady}, false
		}
		s.log.Info().Msg("entry cancelled by the host")
		s.endEntryLocked([]byte{stCancelled}, nil)
		return []byte{stOK}, false
	case cmdBeep:
		if !s.opts.Caps.Beeper {
			return []byte{stUnknown}, false
		}
		if len(f.data) != 1 || f.data[0] > 2 {
			return []byte{stBadParam}, false
		}
		s.log.Debug().Uint8("tone", f.data[0]).Msg("beep")
		return []byte{stOK}, false
	}
	return []byte{stUnknown}, false
}

// statusLocked is the device status of GET-STATUS and the STATUS event.
func (s *Sim) statusLocked() []byte {
	var st, en byte
	switch {
	case s.fault != "":
		st = 0x02
	case s.entry != nil:
		st, en = 0x01, s.entry.cmd
	}
	out := []byte{st, en, byte(len(s.fault))}
	out = append(out, s.fault...)
	out = append(out, byte(len(s.opts.Caps.Formats)))
	for _, f := range s.opts.Caps.Formats {
		out = append(out, byte(f))
	}
	var flags byte
	if s.opts.Caps.Beeper {
		flags |= 0x01
	}
	return append(out, byte(s.opts.Caps.FDKs), flags)
}

// parser reads a command's DATA field by field; any shortfall marks it
// bad.
type parser struct {
	b   []byte
	bad bool
}

func (p *parser) byte() byte {
	if len(p.b) < 1 {
		p.bad = true
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *parser) take(n int) []byte {
	if len(p.b) < n {
		p.bad = true
		return nil
	}
	out := p.b[:n]
	p.b = p.b[n:]
	return out
}

// name reads a length-prefixed name of minLen..16 printable bytes.
func (p *parser) name(minLen int) string {
	n := int(p.byte())
	b := p.take(n)
	if n < minLen || n > 16 {
		p.bad = true
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7E {
			p.bad = true
		}
	}
	return string(b)
}

// done reports whether the whole DATA was read without a shortfall.
func (p *parser) done() bool { return !p.bad && len(p.b) == 0 }

// fits reports whether a key of n bytes is a valid key of alg.
func fits(alg Alg, n int) bool {
	switch alg {
	case TDES:
		return n == 16 || n == 24
	case AES:
		return n == 16 || n == 24 || n == 32
	}
	return false
}

func (s *Sim) loadKeyLocked(data []byte) []byte {
	if s.entry != nil {
		return []byte{stBusy}
	}
	s.dropMACLocked()
	p := parser{b: data}
	al := Alg(p.byte())
	name := p.name(1)
	kek := p.name(0)
	value := p.take(int(p.byte()))
	if !p.done() || al > AES || (len(value) != 16 && len(value) != 24 && len(value) != 32) {
		return []byte{stBadParam}
	}
	alg := al
	var key []byte
	if kek == "" {
		if al == 0 {
			return []byte{stBadParam}
		}
		key = slices.Clone(value)
		if old, ok := s.keys[name]; ok {
			if old.Alg != alg || len(old.Value) != len(key) {
				pinblock.Wipe(key)
				return []byte{stBadParam}
			}
			for i := range key {
				key[i] ^= old.Value[i]
			}
		}
	} else {
		kk, ok := s.keys[kek]
		if !ok {
			return []byte{stSecurity, reasonNoKey}
		}
		if al == 0 {
			alg = kk.Alg
		}
		var c cipher.Block
		var err error
		if kk.Alg == TDES {
			c, err = pinblock.TDES(kk.Value)
		} else {
			c, err = aes.NewCipher(kk.Value)
		}
		if err != nil || len(value)%c.BlockSize() != 0 {
			return []byte{stBadParam}
		}
		key = make([]byte, len(value))
		for i := 0; i < len(value); i += c.BlockSize() {
			c.Decrypt(key[i:], value[i:])
		}
	}
	if !fits(alg, len(key)) {
		pinblock.Wipe(key)
		return []byte{stBadParam}
	}
	kcv, err := kcvOf(Key{Alg: alg, Value: key})
	if err != nil {
		pinblock.Wipe(key)
		return []byte{stBadParam}
	}
	if old, ok := s.keys[name]; ok {
		pinblock.Wipe(old.Value)
	}
	s.keys[name] = Key{Alg: alg, Value: key}
	s.log.Info().Str("key", name).Str("kek", kek).Uint8("alg", byte(alg)).Hex("kcv", kcv).Msg("key loaded")
	return append([]byte{stOK}, kcv...)
}

func (s *Sim) deleteKeyLocked(data []byte) []byte {
	if s.entry != nil {
		return []byte{stBusy}
	}
	s.dropMACLocked()
	p := parser{b: data}
	name := p.name(1)
	if !p.done() {
		return []byte{stBadParam}
	}
	k, ok := s.keys[name]
	if !ok {
		return []byte{stSecurity, reasonNoKey}
	}
	pinblock.Wipe(k.Value)
	delete(s.keys, name)
	s.log.Info().Str("key", name).Msg("key deleted")
	return []byte{stOK}
}

// macLocked runs MAC: it keeps the parts of a MAC sent in parts and,
// with the whole data, computes ISO 9797-1 algorithm 3 under the named
// key (internal/mac.RetailMAC).
func (s *Sim) macLocked(data []byte) []byte {
	p := parser{b: data}
	pt := p.byte()
	name := p.name(1)
	n := int(p.byte())<<8 | int(p.byte())
	part := p.take(n)
	if !p.done() || pt > partLast || n > macPartMax {
		return []byte{stBadParam}
	}
	var kept []byte
	switch pt {
	case partWhole, partFirst:
		s.dropMACLocked()
	default:
		if s.mac == nil || s.mac.key != name {
			s.dropMACLocked()
			return []byte{stBadParam}
		}
		kept = s.mac.data
		s.mac = nil
	}
	k, ok := s.keys[name]
	switch {
	case !ok:
		return []byte{stSecurity, reasonNoKey}
	case k.Alg != TDES || len(k.Value) != 16:
		return []byte{stSecurity, reasonKeyUnfit}
	case len(kept)+len(part) > macDataMax:
		return []byte{stBadParam}
	}
	all := append(kept, part...)
	if pt == partFirst || pt == partMiddle {
		s.mac = &macInProgress{key: name, data: all}
		return []byte{stOK}
	}
	m, err := mac.RetailMAC(k.Value, all)
	if err != nil { // halves equal: not a MAC key
		return []byte{stSecurity, reasonKeyUnfit}
	}
	s.log.Debug().Str("key", name).Int("bytes", len(all)).Msg("MAC computed")
	return append([]byte{stOK}, m...)
}

// dropMACLocked forgets the parts of an unfinished MAC.
func (s *Sim) dropMACLocked() { s.mac = nil }

// keyCheckLocked runs KEY-CHECK: the check value of a loaded key, by its
// algorithm.
func (s *Sim) keyCheckLocked(data []byte) []byte {
	p := parser{b: data}
	name := p.name(1)
	if !p.done() {
		return []byte{stBadParam}
	}
	k, ok := s.keys[name]
	if !ok {
		return []byte{stSecurity, reasonNoKey}
	}
	kcv, err := kcvOf(k)
	if err != nil {
		return []byte{stSecurity, reasonKeyUnfit}
	}
	return append([]byte{stOK}, kcv...)
}

// kcvOf is a key's check value: TDES or AES by its algorithm.
func kcvOf(k Key) ([]byte, error) {
	if k.Alg == TDES {
		return pinblock.KCV(k.Value)
	}
	return pinblock.KCVAES(k.Value)
}

// startEntryLocked checks an entry command and starts the entry.
func (s *Sim) startEntryLocked(f frame) ([]byte, bool) {
	if s.entry != nil {
		return []byte{stBusy}, false
	}
	e := &entry{cmd: f.cmd, seq: f.seq}
	p := parser{b: f.data}
	switch f.cmd {
	case cmdPINEntry:
		e.format = p.byte()
		e.min, e.max = int(p.byte()), int(p.byte())
		e.pan = slices.Clone(p.take(int(p.byte())))
		name := p.name(1)
		if len(p.b) > 0 { // the optional terminators: NT, then NT codes
			e.terms = slices.Clone(p.take(int(p.byte())))
		}
		if !p.done() || !s.declares(e.format) || e.min < 4 || e.min > e.max || e.max > 12 ||
			len(e.pan) < 12 || len(e.pan) > 19 || strings.IndexFunc(string(e.pan), func(r rune) bool { return r < '0' || r > '9' }) >= 0 ||
			!pinTerminators(e.terms) {
			return []byte{stBadParam}, false
		}
		k, ok := s.keys[name]
		if !ok {
			return []byte{stSecurity, reasonNoKey}, false
		}
		if (e.format == fmtISO0) != (k.Alg == TDES) {
			return []byte{stSecurity, reasonKeyUnfit}, false
		}
		e.key = Key{Alg: k.Alg, Value: slices.Clone(k.Value)}
		e.digits = make([]byte, 0, 12)
		s.log.Info().Str("key", name).Uint8("format", e.format).Str("pan", mask.PAN(string(e.pan))).
			Str("terminators", keyNames(e.terms)).Msg("PIN entry started")
	case cmdDataEntry:
		e.max = int(p.byte())
		e.terms = slices.Clone(p.take(int(p.byte())))
		if !p.done() || e.max < 1 || e.max > 32 || len(e.terms) > 8 {
			return []byte{stBadParam}, false
		}
		for _, c := range e.terms {
			if c != kEnter && (c < 0xF1 || c > 0xF8) {
				return []byte{stBadParam}, false
			}
		}
		s.log.Info().Int("max", e.max).Msg("data entry started")
	case cmdKeyEntry:
		e.active = slices.Clone(p.take(int(p.byte())))
		if !p.done() || len(e.active) < 1 || len(e.active) > 16 {
			return []byte{stBadParam}, false
		}
		for _, c := range e.active {
			if keyName(c) == "" {
				return []byte{stBadParam}, false
			}
		}
		s.log.Info().Str("active", e.describe()).Msg("key entry started")
	}
	s.entry = e
	s.broadcastLocked()
	return nil, true
}

// pinTerminators reports whether codes are valid PIN-ENTRY terminators:
// at most eight, each F1..F8, none twice.
func pinTerminators(codes []byte) bool {
	if len(codes) > 8 {
		return false
	}
	for i, c := range codes {
		if !isFDK(c) || slices.Contains(codes[:i], c) {
			return false
		}
	}
	return true
}

// declares reports whether the EPP makes PIN blocks of format code fm.
func (s *Sim) declares(fm byte) bool {
	for _, f := range s.opts.Caps.Formats {
		if (fm == fmtISO0 && f == pinpad.ISO0) || (fm == fmtISO4 && f == pinpad.ISO4) {
			return true
		}
	}
	return false
}

// keyLocked deals with a key the running entry accepts. It returns a
// channel closed once the frames the key caused are delivered.
func (s *Sim) keyLocked(c byte) chan struct{} {
	e := s.entry
	done := make(chan struct{})
	queued := false
	event := func(code byte) {
		s.queueLocked(frame{cmd: evKey, data: []byte{code}}, done)
		queued = true
	}
	end := func(data []byte) { queued = s.endEntryLocked(data, done) }
	switch {
	case e.cmd == cmdKeyEntry:
		s.log.Debug().Str("key", keyName(c)).Msg("key read")
		end([]byte{stOK, c})
	case isDigit(c):
		if len(e.digits) < e.max {
			e.digits = append(e.digits, c)
			if e.cmd == cmdPINEntry {
				event(kMasked)
			} else {
				event(c)
			}
		}
	case c == kBackspace:
		if len(e.digits) > 0 {
			e.digits[len(e.digits)-1] = 0
			e.digits = e.digits[:len(e.digits)-1]
			event(kBackspace)
		}
	case c == kClear:
		pinblock.Wipe(e.digits)
		e.digits = e.digits[:0]
		event(kClear)
	case c == kCancel:
		s.log.Info().Msg("entry cancelled by the customer")
		end([]byte{stCancelled})
	case e.cmd == cmdDataEntry:
		end(append([]byte{stOK, c, byte(len(e.digits))}, e.digits...))
	case slices.Contains(e.terms, c): // a PIN-ENTRY terminator: no block, the digits wiped
		s.log.Info().Str("terminator", keyName(c)).Msg("PIN entry ended by a function key")
		pinblock.Wipe(e.digits)
		e.digits = e.digits[:0]
		end([]byte{stOK, fmtTerminated, c})
	case len(e.digits) >= e.min: // ENTER in PIN entry
		var block []byte
		var err error
		if e.format == fmtISO0 {
			block, err = pinblock.EncryptFormat0(e.key.Value, e.digits, e.pan)
		} else {
			block, err = pinblock.EncryptFormat4(e.key.Value, e.digits, e.pan)
		}
		if err != nil {
			s.log.Error().Err(err).Msg("PIN block not built")
			end(append([]byte{stFault}, "PIN-HARDWARE"...))
			break
		}
		s.log.Info().Msg("PIN block built")
		end(append([]byte{stOK, e.format, byte(len(block))}, block...))
	}
	if !queued {
		close(done)
	}
	return done
}

// endEntryLocked ends the running entry, wiping what it collected, and
// queues its response with data (none when data is nil). It reports
// whether done was handed to the outbox.
func (s *Sim) endEntryLocked(data []byte, done chan struct{}) bool {
	e := s.entry
	if e == nil {
		return false
	}
	s.entry = nil
	pinblock.Wipe(e.digits[:cap(e.digits)])
	pinblock.Wipe(e.key.Value)
	s.broadcastLocked()
	if data == nil {
		return false
	}
	resp := frame{seq: e.seq, cmd: e.cmd | respBit, data: data}
	if s.haveLast && s.lastSeq == e.seq {
		s.lastResp = &resp
	}
	s.queueLocked(resp, done)
	return true
}
