package vcard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/atmd/atmd/internal/emv"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/sim/host/seed"
)

// Well-known application identifiers the card can carry.
var (
	AIDVisa       = []byte{0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10}
	AIDMastercard = []byte{0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10}
)

// DefaultATR is the card's answer to reset: direct convention, T=0 only,
// TB1 = 00 (no programming voltage), TC1 = 00 (no extra guard time), the
// basic ATR of EMV Book 1 — plus five historical bytes "ATMD1".
var DefaultATR = []byte{0x3B, 0x65, 0x00, 0x00, 'A', 'T', 'M', 'D', '1'}

// DemoIssuerKey is the demo issuer master key from which ProfileFromSeed
// derives every card's key (see DeriveCardKey). It is published in
// docs/devices/pcsc.md: it protects nothing.
var DemoIssuerKey = []byte{
	0x61, 0x74, 0x6D, 0x64, 0x2D, 0x64, 0x65, 0x6D, 0x6F, 0x2D, 0x69, 0x6D, 0x6B, 0x2D, 0x30, 0x31,
} // "atmd-demo-imk-01"

// Profile is what the card holds: the cardholder's data and how its chip
// behaves.
type Profile struct {
	PAN    string // 12–19 digits
	PANSeq int    // PAN sequence number, 0–99
	Expiry string // YYMM
	Name   string // cardholder name, as embossed (at most 26 characters)

	// ServiceCode goes into the track 2 equivalent data; "" means "201"
	// (international, chip, normal authorisation, no restrictions).
	ServiceCode string
	// Discretionary is the track 2 discretionary data (digits); nil
	// means one derived from the PAN, so every card has its own.
	Discretionary *string

	// AID is the card's one payment application; nil means the Visa or
	// Mastercard AID by the PAN's first digit (Visa for anything else).
	AID   []byte
	Label string // application label; "" means "ATMD DEBIT"

	// Key is the card's 16-byte application cryptogram key; nil means
	// DeriveCardKey(DemoIssuerKey, PAN, PANSeq).
	Key []byte
	// ATC is the application transaction counter before the first
	// GET PROCESSING OPTIONS; every GPO adds one.
	ATC uint16

	ATR []byte // answer to reset; nil means DefaultATR

	// NoPSE: the card has no payment system environment, so SELECT
	// 1PAY.SYS.DDF01 fails and the terminal must use its list of AIDs.
	NoPSE bool
	// T0 makes the card answer like a T=0 card: a command that returns
	// data to a case 4 command answers 61xx and waits for GET RESPONSE,
	// and a case 2 command whose Le is not the exact length answers 6Cxx.
	T0 bool
	// Format2 answers GET PROCESSING OPTIONS and GENERATE AC with
	// template 77 (format 2) instead of template 80 (format 1).
	Format2 bool
}

// ProfileFromSeed is the profile of a demo card from configs/seed.yaml:
// its PAN, sequence number, expiry and name, and a key derived from
// DemoIssuerKey.
func ProfileFromSeed(c seed.Card) Profile {
	return Profile{PAN: c.PAN, PANSeq: c.PANSeq, Expiry: c.Expiry, Name: c.Name}
}

// String describes the profile with the PAN masked.
func (p Profile) String() string {
	return "vcard " + mask.PAN(p.PAN) + " exp " + p.Expiry
}

// DeriveCardKey derives a card's 16-byte cryptogram key from the issuer
// master key: the first 16 bytes of HMAC-SHA256(imk, PAN digits ‖ PAN
// sequence number as two digits). An issuer host holding imk derives
// the same key to check the ARQC.
func DeriveCardKey(imk []byte, pan string, panSeq int) []byte {
	m := hmac.New(sha256.New, imk)
	m.Write([]byte(pan))
	m.Write([]byte(fmt.Sprintf("%02d", panSeq)))
	return m.Sum(nil)[:16]
}

// ComputeAC computes an application cryptogram as the virtual card does:
// the first 8 bytes of HMAC-SHA256(key, CDOL1 data ‖ AIP ‖ ATC). It is a
// demo algorithm, documented in docs/devices/pcsc.md, not an EMV one.
func ComputeAC(key, cdol1Data, aip []byte, atc uint16) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(cdol1Data)
	m.Write(aip)
	m.Write([]byte{byte(atc >> 8), byte(atc)})
	return m.Sum(nil)[:8]
}

// resolved is a profile with its defaults applied and its data objects
// encoded.
type resolved struct {
	Profile
	track2 []byte
	expiry []byte // 5F24, YYMMDD
	eff    []byte // 5F25, YYMMDD
}

func (p Profile) resolve() (resolved, error) {
	if len(p.Expiry) != 4 || !allDigits(p.Expiry) || p.Expiry[2:] < "01" || p.Expiry[2:] > "12" {
		return resolved{}, fmt.Errorf("vcard: profile %s: expiry is not YYMM", p)
	}
	if p.ServiceCode == "" {
		p.ServiceCode = "201"
	}
	if p.Discretionary == nil {
		// Track 2 holds 37 characters: PAN, separator, expiry, service
		// code, then as much discretionary data as fits.
		d := discretionary(p.PAN)
		if room := 37 - len(p.PAN) - 8; room < len(d) {
			d = d[:max(room, 0)]
		}
		p.Discretionary = &d
	}
	if p.AID == nil {
		p.AID = AIDVisa
		if len(p.PAN) > 0 && p.PAN[0] == '5' {
			p.AID = AIDMastercard
		}
	}
	if p.Label == "" {
		p.Label = "ATMD DEBIT"
	}
	if p.Key == nil {
		p.Key = DeriveCardKey(DemoIssuerKey, p.PAN, p.PANSeq)
	}
	if p.ATR == nil {
		p.ATR = DefaultATR
	}
	r := resolved{Profile: p}
	var err error
	tr := emv.Track2{PAN: p.PAN, Expiry: p.Expiry, ServiceCode: p.ServiceCode, Discretionary: *p.Discretionary}
	if r.track2, err = tr.Bytes(); err != nil {
		return r, fmt.Errorf("vcard: profile %s: %w", p, err)
	}
	if p.PANSeq < 0 || p.PANSeq > 99 {
		return r, fmt.Errorf("vcard: profile %s: PAN sequence number %d out of range", p, p.PANSeq)
	}
	if len(p.Name) > 26 || len(p.Label) > 16 || len(p.AID) < 5 || len(p.AID) > 16 || len(p.ATR) < 2 || len(p.ATR) > 33 {
		return r, fmt.Errorf("vcard: profile %s: name, label, AID or ATR of a bad length", p)
	}
	yy, _ := strconv.Atoi(p.Expiry[:2])
	mm, _ := strconv.Atoi(p.Expiry[2:])
	r.expiry, _ = emv.Numeric(fmt.Sprintf("%02d%02d%02d", yy, mm, lastDay(2000+yy, mm)), 3)
	r.eff, _ = emv.Numeric(fmt.Sprintf("%02d%02d01", (yy+95)%100, mm), 3) // five years before expiry
	return r, nil
}

// discretionary derives 13 digits of track 2 discretionary data (PIN
// verification key index, a PVV-like and a CVV-like field) from the PAN,
// so they are stable per card and differ between cards.
func discretionary(pan string) string {
	sum := sha256.Sum256([]byte("atmd-vcard-track2:" + pan))
	n := hex.EncodeToString(sum[:])
	var out []byte
	for i := 0; i < len(n) && len(out) < 12; i++ {
		if n[i] >= '0' && n[i] <= '9' {
			out = append(out, n[i])
		}
	}
	for len(out) < 12 {
		out = append(out, '0')
	}
	return "1" + string(out)
}

func lastDay(year, month int) int {
	switch month {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
