package pcsc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/internal/emv"
	"github.com/atmd/atmd/sim/wire/vcard"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cardPipe is a transceiver to a virtual card over an in-memory pipe,
// framed as vpcd frames it: the card's side of the wire without pcscd.
type cardPipe struct {
	conn net.Conn
	log  [][2][]byte // command, response
}

func newCardPipe(t *testing.T, c *vcard.Card) *cardPipe {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Serve(ctx, a)
	}()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	p := &cardPipe{conn: b}
	fr, _ := vcard.AppendFrame(nil, []byte{vcard.CtrlPowerOn})
	if _, err := b.Write(fr); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *cardPipe) transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	fr, _ := vcard.AppendFrame(nil, apdu)
	p.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.conn.Write(fr); err != nil {
		return nil, err
	}
	r, err := vcard.ReadFrame(p.conn)
	if err != nil {
		return nil, err
	}
	p.log = append(p.log, [2][]byte{append([]byte(nil), apdu...), append([]byte(nil), r...)})
	return r, nil
}

// fixedTime is the date of every scripted transaction.
var fixedTime = time.Date(2025, 9, 18, 10, 30, 0, 0, time.UTC)

func testKernel(t transceiver) *kernel {
	return &kernel{
		t: t, term: DefaultOptions.Terminal, aids: DefaultOptions.AIDs,
		now: func() time.Time { return fixedTime },
		un:  func() [4]byte { return [4]byte{0x11, 0x22, 0x33, 0x44} },
	}
}

var testTxn = cardreader.TxnData{
	Amount: 300000, CurrencyCode: "901", CountryCode: "158", Date: "250918", Type: 0x01,
	Unpredictable: [4]byte{0xA1, 0xB2, 0xC3, 0xD4},
}

var aliceProfile = vcard.Profile{PAN: "4761730000001019", PANSeq: 1, Expiry: "2912", Name: "LIN YA TING"}

func newVCard(t *testing.T, p vcard.Profile) *vcard.Card {
	t.Helper()
	c, err := vcard.New(p, vcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKernelWithVirtualCard reads the virtual card in every variant it
// offers and checks the data and the cryptogram.
func TestKernelWithVirtualCard(t *testing.T) {
	variants := map[string]func(*vcard.Profile){
		"PSE, format 1":      func(*vcard.Profile) {},
		"no PSE: AID list":   func(p *vcard.Profile) { p.NoPSE = true },
		"T=0 GET RESPONSE":   func(p *vcard.Profile) { p.T0 = true },
		"format 2 templates": func(p *vcard.Profile) { p.Format2 = true },
		"Mastercard, odd PAN length": func(p *vcard.Profile) {
			p.PAN, p.PANSeq = "5412345678901234567", 0
		},
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			p := aliceProfile
			v(&p)
			c := newVCard(t, p)
			k := testKernel(newCardPipe(t, c))
			ctx := context.Background()
			got, err := k.read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := cardreader.Card{PAN: p.PAN, PANSeq: fmt.Sprintf("%02d", p.PANSeq), Expiry: p.Expiry,
				Track2: c.Track2().Text(), Name: p.Name, Technology: cardreader.Chip}
			got.AID = nil
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Fatalf("read = %#v\nwant   %#v", got, want)
			}
			f55, err := k.generateAC(ctx, testTxn)
			if err != nil {
				t.Fatal(err)
			}
			checkField55(t, c, p, f55)
			if _, err := k.generateAC(ctx, testTxn); !errors.Is(err, hal.ErrInvalid) {
				t.Fatalf("second GenerateAC = %v, want hal.ErrInvalid", err)
			}
		})
	}
}

// checkField55 checks field 55 against what the card computed and
// recomputes the ARQC as an issuer would.
func checkField55(t *testing.T, c *vcard.Card, p vcard.Profile, f55 []byte) {
	t.Helper()
	tlvs, err := emv.Parse(f55)
	if err != nil {
		t.Fatalf("field 55 does not parse: %v", err)
	}
	m := map[emv.Tag][]byte{}
	var order []emv.Tag
	for _, x := range tlvs {
		m[x.Tag] = x.Value
		order = append(order, x.Tag)
	}
	if fmt.Sprint(order) != fmt.Sprint(emv.Field55Tags) {
		t.Errorf("field 55 tags %v, want %v", order, emv.Field55Tags)
	}
	ac, cid := c.LastCryptogram()
	if !bytes.Equal(m[emv.TagAC], ac) || cid != 0x80 || !bytes.Equal(m[emv.TagCID], []byte{0x80}) {
		t.Errorf("9F26 %X 9F27 %X; card made %X cid %02X", m[emv.TagAC], m[emv.TagCID], ac, cid)
	}
	checks := map[emv.Tag]string{
		emv.TagAmount: "000000300000", emv.TagCurrency: "0901", emv.TagCountry: "0158", emv.TagTxnDate: "250918",
		emv.TagTxnType: "01", emv.TagUN: "a1b2c3d4", emv.TagAIP: "1800", emv.TagTermType: "14",
		emv.TagATC: fmt.Sprintf("%04x", c.ATC()), emv.TagAmountOther: "000000000000",
	}
	for tag, want := range checks {
		if got := hex.EncodeToString(m[tag]); got != want {
			t.Errorf("field 55 %s = %s, want %s", tag, got, want)
		}
	}
	// The issuer's check: the CDOL1 data is in the card's last command.
	cmds := c.Commands()
	last := cmds[len(cmds)-1]
	if p.T0 {
		last = cmds[len(cmds)-2] // then came GET RESPONSE
	}
	if last[1] != 0xAE {
		t.Fatalf("last command % X is not GENERATE AC", last)
	}
	key := vcard.DeriveCardKey(vcard.DemoIssuerKey, p.PAN, p.PANSeq)
	want := vcard.ComputeAC(key, last[5:len(last)-1], m[emv.TagAIP], c.ATC())
	if !bytes.Equal(want, m[emv.TagAC]) {
		t.Errorf("ARQC %X does not verify (want %X)", m[emv.TagAC], want)
	}
}

func TestKernelExpiredCardTVR(t *testing.T) {
	p := aliceProfile
	p.Expiry = "2408"
	c := newVCard(t, p)
	k := testKernel(newCardPipe(t, c))
	if _, err := k.read(context.Background()); err != nil {
		t.Fatal(err)
	}
	f55, err := k.generateAC(context.Background(), testTxn)
	if err != nil {
		t.Fatal(err)
	}
	tvr, _, _ := emv.Find(f55, emv.TagTVR)
	if hex.EncodeToString(tvr) != "8040040000" {
		t.Fatalf("TVR of an expired card = %X, want 80 40 04 00 00", tvr)
	}
}

func TestKernelRejectsBadTxn(t *testing.T) {
	c := newVCard(t, aliceProfile)
	pipe := newCardPipe(t, c)
	k := testKernel(pipe)
	if _, err := k.generateAC(context.Background(), testTxn); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("GenerateAC before read = %v", err)
	}
	if _, err := k.read(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(pipe.log)
	for _, bad := range []cardreader.TxnData{
		{Amount: -1, CurrencyCode: "901", CountryCode: "158", Date: "250918"},
		{Amount: 1e12, CurrencyCode: "901", CountryCode: "158", Date: "250918"},
		{CurrencyCode: "TWD", CountryCode: "158", Date: "250918"},
		{CurrencyCode: "901", CountryCode: "15", Date: "250918"},
		{CurrencyCode: "901", CountryCode: "158", Date: "251318"},
	} {
		if _, err := k.generateAC(context.Background(), bad); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("GenerateAC(%+v) = %v, want hal.ErrInvalid", bad, err)
		}
	}
	if len(pipe.log) != n {
		t.Fatal("a refused GenerateAC reached the card")
	}
}

// script is a transceiver that plays a recorded exchange and fails the
// test when the kernel sends anything else (like periph's
// conntest.Playback).
type script struct {
	t     *testing.T
	steps [][2]string // command, response (hex)
	i     int
}

func (s *script) transmit(_ context.Context, apdu []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.steps) {
		s.t.Fatalf("unexpected command % X after the script ended", apdu)
	}
	st := s.steps[s.i]
	s.i++
	if want := unhex(s.t, st[0]); !bytes.Equal(apdu, want) {
		s.t.Fatalf("step %d: kernel sent % X, script has % X", s.i, apdu, want)
	}
	return unhex(s.t, st[1]), nil
}

func (s *script) done() {
	s.t.Helper()
	if s.i != len(s.steps) {
		s.t.Fatalf("script used %d of %d steps", s.i, len(s.steps))
	}
}

const (
	selPSE  = "00A404000E315041592E5359532E444446303100"
	selVisa = "00A4040007A000000003101000"
	selMC   = "00A4040007A000000004101000"
	// An FCI for the Visa AID without PDOL.
	fciVisa = "6F0B 8407A0000000031010 A500 9000"
	fciMC   = "6F0B 8407A0000000041010 A500 9000"
	gpoNoPD = "80A8000002830000"
	gpoResp = "800A 1800 08010100 10010100 9000"
	rec1    = "7015 5713 4761730000001019D29122011234567890123F 9000"
	rec2    = "701C 5A0847617300000010195F24032912315F3401018C069F02069F3704 9000"
	readR1  = "00B2010C00"
	readR2  = "00B2011400"
)

// twoAIDs is the terminal list of the scripts: Visa, then Mastercard.
var twoAIDs = [][]byte{AIDVisa, AIDMastercard}

func TestKernelScripts(t *testing.T) {
	readPath := [][2]string{{gpoNoPD, gpoResp}, {readR1, rec1}, {readR2, rec2}}
	join := func(parts ...[][2]string) [][2]string {
		var out [][2]string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		steps [][2]string
		err   error // nil: the read succeeds
		aid   string
	}{
		{
			name: "PSE with two applications: priority wins",
			steps: join([][2]string{
				{selPSE, "6F15 840E315041592E5359532E4444463031 A503 880101 9000"},
				{readR1, "701C 610C 4F07A0000000031010 870102 610C 4F07A0000000041010 870101 9000"},
				{"00B2020C00", "6A83"},
				{selMC, fciMC},
			}, readPath),
			aid: "A0000000041010",
		},
		{
			name: "no PSE; partial selection; GPO refused on the first",
			steps: join([][2]string{
				{selPSE, "6A82"},
				{selVisa, "6F0C 8408A000000003101001 A500 9000"},
				{"00A4040207A000000003101000", "6F0C 8408A000000003101002 A500 9000"},
				{"00A4040207A000000003101000", "6A82"},
				{selMC, "6A82"},
				{"00A4040008A00000000310100100", "6F0C 8408A000000003101001 A500 9000"}, {gpoNoPD, "6985"},
				{"00A4040008A00000000310100200", "6F0C 8408A000000003101002 A500 9000"},
			}, readPath),
			aid: "A000000003101002",
		},
		{
			name: "T=0: 61xx and 6Cxx",
			steps: [][2]string{
				{selPSE, "6A82"}, {selVisa, "610D"}, {"00C000000D", fciVisa}, {selMC, "6A82"},
				{selVisa, fciVisa}, {gpoNoPD, "610C"}, {"00C000000C", gpoResp},
				{readR1, "6C17"}, {"00B2010C17", rec1}, {readR2, rec2},
			},
			aid: "A0000000031010",
		},
		{
			name:  "blocked card",
			steps: [][2]string{{selPSE, "6A81"}, {selVisa, "6A81"}},
			err:   ErrNoApplication,
		},
		{
			name:  "no matching application",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, "6A82"}, {selMC, "6A82"}},
			err:   ErrNoApplication,
		},
		{
			name:  "garbage",
			steps: [][2]string{{selPSE, "DEADBEEF9000"}, {selVisa, "DEADBEEF9000"}, {selMC, "DEADBEEF9000"}},
			err:   ErrProtocol,
		},
		{
			name:  "response shorter than a status word",
			steps: [][2]string{{selPSE, "90"}, {selVisa, "90"}, {selMC, ""}},
			err:   ErrShortResponse,
		},
		{
			name:  "SW1 not allowed",
			steps: [][2]string{{selPSE, "1234"}, {selVisa, "6A82"}, {selMC, "6A82"}},
			err:   ErrProtocol,
		},
		{
			name:  "PSE without SFI, application selected by list",
			steps: join([][2]string{{selPSE, "6F04 8402AABB 9000"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}}, readPath),
			aid:   "A0000000031010",
		},
		{
			name:  "endless GET RESPONSE",
			steps: append([][2]string{{selPSE, "6A82"}, {selVisa, "6101"}}, append(repeat([2]string{"00C0000001", "6101"}, maxGetResponse), [2]string{selMC, "6A82"})...),
			err:   ErrProtocol,
		},
		{
			name:  "READ RECORD refused",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}, {gpoNoPD, gpoResp}, {readR1, "6A83"}},
			err:   ErrProtocol,
		},
		{
			name:  "GPO answer without AFL",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}, {gpoNoPD, "80021800 9000"}},
			err:   emv.ErrMalformed,
		},
		{
			name: "track 2 and PAN differ",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}, {gpoNoPD, gpoResp},
				{readR1, "7015 5713 4761730000009999D29122011234567890123F 9000"}, {readR2, rec2}},
			err: ErrProtocol,
		},
		{
			name: "object read twice",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}, {gpoNoPD, gpoResp},
				{readR1, rec2}, {readR2, rec2}},
			err: ErrProtocol,
		},
		{
			name: "no expiry",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}, {gpoNoPD, gpoResp},
				{readR1, rec1}, {readR2, "7016 5A0847617300000010195F3401018C069F02069F3704 9000"}},
			err: ErrProtocol,
		},
		{
			name: "PAN not BCD",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa}, {gpoNoPD, gpoResp},
				{readR1, "7000 9000"}, {readR2, "701C 5A0847617300000A10195F24032912315F3401018C069F02069F3704 9000"}},
			err: ErrProtocol,
		},
		{
			name:  "FCI of another application",
			steps: [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciMC}},
			err:   ErrProtocol,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{t: t, steps: tc.steps}
			k := testKernel(s)
			k.aids = twoAIDs
			c, err := k.read(context.Background())
			if tc.err != nil {
				var ce *CardError
				if !errors.Is(err, tc.err) || !errors.As(err, &ce) {
					t.Fatalf("read = %v, want a *CardError wrapping %v", err, tc.err)
				}
				if e := err.Error(); strings.Contains(e, "476173") || strings.Contains(e, "47 61 73") {
					t.Errorf("error leaks the PAN: %v", err)
				}
				s.done()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.done()
			want := cardreader.Card{PAN: "4761730000001019", PANSeq: "01", Expiry: "2912",
				Track2: "4761730000001019=29122011234567890123", Technology: cardreader.Chip, AID: unhex(t, tc.aid)}
			if fmt.Sprintf("%#v", c) != fmt.Sprintf("%#v", want) {
				t.Fatalf("read = %#v\nwant   %#v", c, want)
			}
		})
	}
}

func repeat(step [2]string, n int) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = step
	}
	return out
}

func TestKernelGenerateACScripts(t *testing.T) {
	read := [][2]string{{selPSE, "6A82"}, {selVisa, fciVisa}, {selMC, "6A82"}, {selVisa, fciVisa},
		{gpoNoPD, gpoResp}, {readR1, rec1}, {readR2, rec2}}
	genAC := "80AE80000A000000300000A1B2C3D400"
	tests := []struct {
		name, resp string
		err        error
		f55        string
	}{
		{"format 1", "8012 80 0001 1122334455667788 06010A03A00000 9000", nil,
			"9F2608112233445566778 8 9F270180 9F100706010A03A00000 9F3704A1B2C3D4 9F36020001 950580000400 00" +
				" 9A03250918 9C0101 9F0206000000300000 5F2A020901 82021800 9F1A020158 9F0306000000000000" +
				" 9F3303204000 9F3403020000 9F350114 8407A0000000031010"},
		{"format 2, AAC", "7718 9F270100 9F36020002 9F26081122334455667788 9F100100 9000", nil, ""},
		{"CID not allowed", "8012 C0 0001 1122334455667788 06010A03A00000 9000", ErrProtocol, ""},
		{"short format 1", "8004 80000111 9000", ErrProtocol, ""},
		{"format 2 without AC", "770A 9F270180 9F36020002 9000", ErrProtocol, ""},
		{"refused", "6985", ErrProtocol, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{t: t, steps: append(append([][2]string(nil), read...), [2]string{genAC, tc.resp})}
			k := testKernel(s)
			k.aids = twoAIDs
			if _, err := k.read(context.Background()); err != nil {
				t.Fatal(err)
			}
			f55, err := k.generateAC(context.Background(), testTxn)
			s.done()
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("generateAC = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := emv.Parse(f55); err != nil {
				t.Fatalf("field 55 % X: %v", f55, err)
			}
			if tc.f55 != "" && !bytes.Equal(f55, unhex(t, tc.f55)) {
				t.Fatalf("field 55 = %X\nwant       %X", f55, unhex(t, tc.f55))
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	for in, want := range map[string]Response{
		"9000": {Data: []byte{}, SW: 0x9000}, "01029000": {Data: []byte{1, 2}, SW: 0x9000}, "6A82": {Data: []byte{}, SW: 0x6A82},
	} {
		got, err := ParseResponse(unhex(t, in))
		if err != nil || got.SW != want.SW || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("ParseResponse(%s) = %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "90", "0000", "6000", "A000", "019000FF"} {
		if _, err := ParseResponse(unhex(t, bad)); !errors.Is(err, ErrShortResponse) || !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseResponse(%s) = %v, want ErrShortResponse", bad, err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{
		{AIDs: [][]byte{{1, 2}}},
		{Terminal: Terminal{Country: "15", Currency: "901", IFDSerial: "12345678"}},
		{Terminal: Terminal{Country: "158", Currency: "901", IFDSerial: "1"}},
		{Motor: &Motor{}},
		{Motor: &Motor{ControlCode: 1, Retain: []byte{1}}},
		{Motor: &Motor{ControlCode: 1, BinCapacity: 3}},
	} {
		if _, err := o.withDefaults(); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("withDefaults(%+v) = %v, want hal.ErrInvalid", o, err)
		}
	}
	o, err := Options{Motor: &Motor{ControlCode: 1, Retain: []byte{1}, BinCapacity: 2}}.withDefaults()
	if err != nil || o.Terminal.Capabilities[2]&0x20 == 0 {
		t.Fatalf("a reader that can capture does not say so in 9F33: %v %X", err, o.Terminal.Capabilities)
	}
	if DefaultOptions.Terminal.Capabilities[2] != 0 {
		t.Fatal("withDefaults changed DefaultOptions")
	}
}
