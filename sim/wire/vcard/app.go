package vcard

import (
	"bytes"

	"github.com/atmd/atmd/internal/emv"
)

// Instructions the card knows.
const (
	insSelect       = 0xA4
	insReadRecord   = 0xB2
	insGPO          = 0xA8
	insGenerateAC   = 0xAE
	insGetResponse  = 0xC0
	insGetData      = 0xCA
	pseName         = "1PAY.SYS.DDF01"
	cidARQC         = 0x80
	cidTC           = 0x40
	cidAAC          = 0x00
	maxGenerateACs  = 2
	sfiDirectory    = 1 // the PSE's directory file
	sfiApplication  = 1 // the application's records
	pinTryCounterOn = 3
)

// The data object lists and fixed data of the card's application.
var (
	// pdol asks for terminal country, terminal type and terminal
	// capabilities at GET PROCESSING OPTIONS.
	pdol = emv.DOL{{Tag: emv.TagCountry, Len: 2}, {Tag: emv.TagTermType, Len: 1}, {Tag: emv.TagTermCaps, Len: 3}}
	// cdol1 is what the first GENERATE AC covers.
	cdol1 = emv.DOL{
		{Tag: emv.TagAmount, Len: 6}, {Tag: emv.TagAmountOther, Len: 6}, {Tag: emv.TagCountry, Len: 2},
		{Tag: emv.TagTVR, Len: 5}, {Tag: emv.TagCurrency, Len: 2}, {Tag: emv.TagTxnDate, Len: 3},
		{Tag: emv.TagTxnType, Len: 1}, {Tag: emv.TagUN, Len: 4}, {Tag: emv.TagTermType, Len: 1},
		{Tag: emv.TagCVMResults, Len: 3},
	}
	// cdol2 is what the second GENERATE AC covers.
	cdol2 = emv.DOL{{Tag: emv.TagARC, Len: 2}, {Tag: emv.TagTVR, Len: 5}, {Tag: emv.TagUN, Len: 4}}
	aip   = []byte{0x18, 0x00} // cardholder verification and terminal risk management; no offline data authentication
	afl   = emv.EncodeAFL(emv.AFLEntry{SFI: sfiApplication, First: 1, Last: 2})
	// cvmList: amounts X = Y = 0; enciphered PIN online, always; then fail.
	cvmList = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0x00, 0x1F, 0x00}
	iad     = []byte{0x06, 0x01, 0x0A, 0x03, 0xA0, 0x00, 0x00}
)

type selection int

const (
	selNone selection = iota
	selPSE
	selApp
)

// app is the card's EMV application and its session state. It has no
// I/O: process takes a command APDU and returns the response APDU.
type app struct {
	p        resolved
	sel      selection
	gpo      bool   // GET PROCESSING OPTIONS done in this session
	acs      int    // GENERATE ACs answered in this session
	atc      uint16 // application transaction counter
	pending  []byte // T=0: response data waiting for GET RESPONSE
	lastAC   []byte // the last cryptogram, for tests
	lastCID  byte
	noApp    bool // fault: no application at all
	records  map[[2]byte][]byte
	dirEntry []byte
}

func newApp(p resolved) *app {
	a := &app{p: p, atc: p.ATC}
	name := emv.Append(nil, emv.TagName, []byte(p.Name))
	a.records = map[[2]byte][]byte{
		{sfiApplication, 1}: emv.Append(nil, emv.TagRecord, concat(
			emv.Append(nil, emv.TagTrack2, p.track2),
			name,
		)),
		{sfiApplication, 2}: emv.Append(nil, emv.TagRecord, concat(
			emv.Append(nil, emv.TagPAN, mustCN(p.PAN)),
			emv.Append(nil, emv.TagExpiry, p.expiry),
			emv.Append(nil, emv.TagEffective, p.eff),
			emv.Append(nil, emv.TagIssuerCountry, []byte{0x01, 0x58}),
			emv.Append(nil, emv.TagPANSeq, mustN(p.PANSeq)),
			emv.Append(nil, emv.TagCDOL1, cdol1.Encode()),
			emv.Append(nil, emv.TagCDOL2, cdol2.Encode()),
			emv.Append(nil, emv.TagCVMList, cvmList),
			emv.Append(nil, emv.TagAUC, []byte{0xFF, 0x00}),
			emv.Append(nil, emv.TagAppVersion, []byte{0x00, 0x8C}),
		)),
	}
	a.dirEntry = emv.Append(nil, emv.TagRecord, emv.Append(nil, emv.TagDirEntry, concat(
		emv.Append(nil, emv.TagAID, p.AID),
		emv.Append(nil, emv.TagLabel, []byte(p.Label)),
		emv.Append(nil, emv.TagPriority, []byte{0x01}),
	)))
	return a
}

// reset starts a new card session (power on, reset): nothing selected.
// The transaction counter survives, as in a real card.
func (a *app) reset() {
	a.sel, a.gpo, a.acs, a.pending = selNone, false, 0, nil
}

// process answers one command APDU.
func (a *app) process(b []byte) []byte {
	c, err := ParseCommand(b)
	if err != nil {
		return response(nil, SWWrongLength)
	}
	if c.INS == insGetResponse && c.CLA == 0x00 {
		return a.getResponse(c)
	}
	a.pending = nil
	var data []byte
	var sw uint16
	switch {
	case c.CLA == 0x00 && c.INS == insSelect:
		data, sw = a.selectFile(c)
	case c.CLA == 0x00 && c.INS == insReadRecord:
		data, sw = a.readRecord(c)
	case c.CLA == 0x80 && c.INS == insGPO:
		data, sw = a.getProcessingOptions(c)
	case c.CLA == 0x80 && c.INS == insGenerateAC:
		data, sw = a.generateAC(c)
	case c.CLA == 0x80 && c.INS == insGetData:
		data, sw = a.getData(c)
	case c.CLA != 0x00 && c.CLA != 0x80:
		sw = SWCLANotSupported
	default:
		sw = SWINSNotSupported
	}
	if sw != SWOK || !a.p.T0 || len(data) == 0 {
		return response(data, sw)
	}
	// T=0: case 4 gets 61xx and GET RESPONSE; case 2 with a wrong Le
	// gets 6Cxx and is sent again.
	switch {
	case c.Data != nil:
		a.pending = data
		return response(nil, SWBytesAvailable|uint16(len(data)&0xFF))
	case c.Le != len(data):
		return response(nil, SWWrongLe|uint16(len(data)&0xFF))
	}
	return response(data, sw)
}

func (a *app) getResponse(c Command) []byte {
	if a.pending == nil || c.P1 != 0 || c.P2 != 0 {
		return response(nil, SWConditions)
	}
	n := len(a.pending)
	if c.Le >= 0 && c.Le < n {
		out := a.pending[:c.Le]
		a.pending = a.pending[c.Le:]
		return response(out, SWBytesAvailable|uint16(len(a.pending)&0xFF))
	}
	out := a.pending
	a.pending = nil
	return response(out, SWOK)
}

func (a *app) selectFile(c Command) ([]byte, uint16) {
	if c.P1 != 0x04 || (c.P2 != 0x00 && c.P2 != 0x02) {
		return nil, SWIncorrectP1P2
	}
	if len(c.Data) < 5 || len(c.Data) > 16 {
		return nil, SWWrongLength
	}
	a.sel, a.gpo, a.acs = selNone, false, 0
	switch {
	case a.noApp:
		return nil, SWFileNotFound
	case string(c.Data) == pseName && !a.p.NoPSE && c.P2 == 0x00:
		a.sel = selPSE
		return emv.Append(nil, emv.TagFCI, concat(
			emv.Append(nil, emv.TagDFName, []byte(pseName)),
			emv.Append(nil, emv.TagFCIProprietary, concat(
				emv.Append(nil, emv.TagSFI, []byte{sfiDirectory}),
				emv.Append(nil, emv.TagLanguage, []byte("zhen")),
			)),
		)), SWOK
	case bytes.HasPrefix(a.p.AID, c.Data) && c.P2 == 0x00:
		// Full or partial name: the card has one application, so
		// "next occurrence" (P2 = 02) never finds another.
		a.sel = selApp
		return emv.Append(nil, emv.TagFCI, concat(
			emv.Append(nil, emv.TagDFName, a.p.AID),
			emv.Append(nil, emv.TagFCIProprietary, concat(
				emv.Append(nil, emv.TagLabel, []byte(a.p.Label)),
				emv.Append(nil, emv.TagPriority, []byte{0x01}),
				emv.Append(nil, emv.TagPDOL, pdol.Encode()),
				emv.Append(nil, emv.TagLanguage, []byte("zhen")),
			)),
		)), SWOK
	}
	return nil, SWFileNotFound
}

func (a *app) readRecord(c Command) ([]byte, uint16) {
	if c.P2&7 != 4 || c.P1 == 0 {
		return nil, SWIncorrectP1P2
	}
	key := [2]byte{c.P2 >> 3, c.P1}
	switch a.sel {
	case selPSE:
		if key == [2]byte{sfiDirectory, 1} {
			return a.dirEntry, SWOK
		}
	case selApp:
		if r, ok := a.records[key]; ok {
			return r, SWOK
		}
	default:
		return nil, SWConditions
	}
	return nil, SWRecordNotFound
}

func (a *app) getProcessingOptions(c Command) ([]byte, uint16) {
	if a.sel != selApp || a.gpo {
		return nil, SWConditions
	}
	if c.P1 != 0 || c.P2 != 0 {
		return nil, SWIncorrectP1P2
	}
	tlvs, err := emv.Parse(c.Data)
	if err != nil || len(tlvs) != 1 || tlvs[0].Tag != emv.TagCommandData || len(tlvs[0].Value) != pdol.Size() {
		return nil, SWWrongLength
	}
	a.gpo = true
	a.atc++
	if a.p.Format2 {
		return emv.Append(nil, emv.TagRespFormat2, concat(
			emv.Append(nil, emv.TagAIP, aip),
			emv.Append(nil, emv.TagAFL, afl),
		)), SWOK
	}
	return emv.Append(nil, emv.TagRespFormat1, concat(aip, afl)), SWOK
}

func (a *app) generateAC(c Command) ([]byte, uint16) {
	if !a.gpo || a.acs >= maxGenerateACs {
		return nil, SWConditions
	}
	if c.P2 != 0 || c.P1&0x2F != 0 || c.P1&0xC0 == 0xC0 {
		return nil, SWIncorrectP1P2
	}
	dol := cdol1
	if a.acs == 1 {
		dol = cdol2
	}
	if len(c.Data) != dol.Size() {
		return nil, SWWrongLength
	}
	// An online-only card: the first GENERATE AC gives an ARQC unless
	// the terminal asked for an AAC; the second gives what was asked.
	asked := c.P1 & 0xC0
	cid := byte(cidARQC)
	switch {
	case asked == cidAAC:
		cid = cidAAC
	case a.acs == 1:
		cid = asked
	}
	a.acs++
	ac := ComputeAC(a.p.Key, c.Data, aip, a.atc)
	a.lastAC, a.lastCID = ac, cid
	atc := []byte{byte(a.atc >> 8), byte(a.atc)}
	if a.p.Format2 {
		return emv.Append(nil, emv.TagRespFormat2, concat(
			emv.Append(nil, emv.TagCID, []byte{cid}),
			emv.Append(nil, emv.TagATC, atc),
			emv.Append(nil, emv.TagAC, ac),
			emv.Append(nil, emv.TagIAD, iad),
		)), SWOK
	}
	return emv.Append(nil, emv.TagRespFormat1, concat([]byte{cid}, atc, ac, iad)), SWOK
}

func (a *app) getData(c Command) ([]byte, uint16) {
	tag := emv.Tag(c.P1)<<8 | emv.Tag(c.P2)
	switch tag {
	case emv.TagATC:
		return emv.Append(nil, tag, []byte{byte(a.atc >> 8), byte(a.atc)}), SWOK
	case emv.TagPINTryCounter:
		return emv.Append(nil, tag, []byte{pinTryCounterOn}), SWOK
	}
	return nil, SWDataNotFound
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mustCN(pan string) []byte {
	b, _ := emv.CompressedNumeric(pan, 0)
	return b
}

func mustN(seq int) []byte {
	b, _ := emv.NumericInt(int64(seq), 1)
	return b
}
