package vcard

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/internal/emv"
	"github.com/atmd/atmd/sim/host/seed"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var alice = Profile{PAN: "4761730000001019", PANSeq: 1, Expiry: "2912", Name: "LIN YA TING"}

func newCard(t *testing.T, p Profile) *Card {
	t.Helper()
	c, err := New(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFrames(t *testing.T) {
	b, err := AppendFrame(nil, []byte{CtrlGetATR})
	if err != nil || !bytes.Equal(b, []byte{0, 1, 4}) {
		t.Fatalf("AppendFrame = % X %v", b, err)
	}
	b, _ = AppendFrame(b, []byte{0x90, 0x00})
	p, rest, err := ParseFrame(b)
	if err != nil || !bytes.Equal(p, []byte{4}) || !bytes.Equal(rest, []byte{0, 2, 0x90, 0}) {
		t.Fatalf("ParseFrame = % X % X %v", p, rest, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 3, 1, 2}} {
		if _, _, err := ParseFrame(bad); !errors.Is(err, ErrFrame) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParseFrame(% X) = %v", bad, err)
		}
	}
	if _, err := AppendFrame(nil, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrame) {
		t.Errorf("AppendFrame of an oversized payload = %v", err)
	}
	r := bytes.NewReader([]byte{0, 2, 0x90, 0x00, 0, 5, 1})
	if p, err := ReadFrame(r); err != nil || !bytes.Equal(p, []byte{0x90, 0}) {
		t.Fatalf("ReadFrame = % X %v", p, err)
	}
	if _, err := ReadFrame(r); !errors.Is(err, ErrFrame) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadFrame of a cut frame = %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("ReadFrame at the end = %v, want io.EOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0})); !errors.Is(err, ErrFrame) {
		t.Fatalf("ReadFrame of a cut length = %v", err)
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
		err  bool
	}{
		{"00A40400", Command{0, 0xA4, 4, 0, nil, -1}, false},
		{"00B2010C00", Command{0, 0xB2, 1, 0x0C, nil, 256}, false},
		{"00B2010C10", Command{0, 0xB2, 1, 0x0C, nil, 16}, false},
		{"00A4040002AABB", Command{0, 0xA4, 4, 0, []byte{0xAA, 0xBB}, -1}, false},
		{"00A4040002AABB00", Command{0, 0xA4, 4, 0, []byte{0xAA, 0xBB}, 256}, false},
		{"00A404", Command{}, true},
		{"00A4040003AABB", Command{}, true},
		{"00A40400000002AABB", Command{}, true}, // extended
	}
	for _, tc := range tests {
		got, err := ParseCommand(unhex(t, tc.in))
		if tc.err {
			if !errors.Is(err, ErrCommand) {
				t.Errorf("ParseCommand(%s) = %+v, want ErrCommand", tc.in, got)
			}
			continue
		}
		if err != nil || got.CLA != tc.want.CLA || got.INS != tc.want.INS || got.P1 != tc.want.P1 ||
			got.P2 != tc.want.P2 || !bytes.Equal(got.Data, tc.want.Data) || got.Le != tc.want.Le {
			t.Errorf("ParseCommand(%s) = %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

// exchange runs one APDU through the card's application.
func exchange(t *testing.T, c *Card, apdu string) (data []byte, sw uint16) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.app.process(unhex(t, apdu))
	return r[:len(r)-2], uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
}

func TestApplication(t *testing.T) {
	c := newCard(t, alice)
	steps := []struct {
		name, apdu string
		sw         uint16
	}{
		{"read before select", "00B2010C00", SWConditions},
		{"GPO before select", "80A8000002830000", SWConditions},
		{"select PSE", "00A404000E315041592E5359532E444446303100", SWOK},
		{"PSE directory", "00B2010C00", SWOK},
		{"PSE record 2", "00B2020C00", SWRecordNotFound},
		{"unknown AID", "00A4040007A000000004101000", SWFileNotFound},
		{"next occurrence", "00A4040207A000000003101000", SWFileNotFound},
		{"partial AID", "00A4040005A00000000300", SWOK},
		{"select AID", "00A4040007A000000003101000", SWOK},
		{"bad P1", "00A4010007A000000003101000", SWIncorrectP1P2},
		{"select AID again", "00A4040007A000000003101000", SWOK},
		{"GENERATE AC before GPO", "80AE8000" + "21" + strings.Repeat("00", 33) + "00", SWConditions},
		{"GPO wrong length", "80A80000038301AA00", SWWrongLength},
		{"GPO", "80A80000088306015814204000" + "00", SWOK},
		{"GPO twice", "80A80000088306015814204000" + "00", SWConditions},
		{"record 1", "00B2010C00", SWOK},
		{"record 2", "00B2020C00", SWOK},
		{"record 3", "00B2030C00", SWRecordNotFound},
		{"bad P2", "00B2010800", SWIncorrectP1P2},
		{"record of SFI 2", "00B2011400", SWRecordNotFound},
		{"GET DATA ATC", "80CA9F3600", SWOK},
		{"GET DATA PIN try counter", "80CA9F1700", SWOK},
		{"GET DATA unknown", "80CA9F4F00", SWDataNotFound},
		{"GENERATE AC wrong length", "80AE800002000000", SWWrongLength},
		{"GENERATE AC bad P1", "80AEC000" + "21" + strings.Repeat("00", 33) + "00", SWIncorrectP1P2},
		{"GENERATE AC", "80AE8000" + "21" + strings.Repeat("00", 33) + "00", SWOK},
		{"second GENERATE AC", "80AE4000" + "0B" + strings.Repeat("00", 11) + "00", SWOK},
		{"third GENERATE AC", "80AE4000" + "0B" + strings.Repeat("00", 11) + "00", SWConditions},
		{"unknown INS", "00DA000000", SWINSNotSupported},
		{"unknown CLA", "84B2010C00", SWCLANotSupported},
		{"too short", "00B2", SWWrongLength},
		{"GET RESPONSE without data", "00C0000010", SWConditions},
	}
	for _, s := range steps {
		if _, sw := exchange(t, c, s.apdu); sw != s.sw {
			t.Errorf("%s: status %04X, want %04X", s.name, sw, s.sw)
		}
	}
	if c.ATC() != 1 {
		t.Errorf("ATC = %d after one GPO, want 1", c.ATC())
	}
	if ac, cid := c.LastCryptogram(); len(ac) != 8 || cid != cidTC {
		t.Errorf("last cryptogram % X cid %02X, want 8 bytes and a TC", ac, cid)
	}
}

func TestRecordsHoldTheProfile(t *testing.T) {
	c := newCard(t, alice)
	exchange(t, c, "00A4040007A000000003101000")
	data := map[emv.Tag][]byte{}
	for _, rec := range []string{"00B2010C00", "00B2020C00"} {
		r, sw := exchange(t, c, rec)
		if sw != SWOK {
			t.Fatalf("%s: %04X", rec, sw)
		}
		m, err := emv.Flatten(r)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range m {
			data[k] = v
		}
	}
	tr, err := emv.ParseTrack2(data[emv.TagTrack2])
	if err != nil || tr.PAN != alice.PAN || tr.Expiry != "2912" || tr.ServiceCode != "201" || tr != c.Track2() {
		t.Fatalf("track 2 = %v %v", tr, err)
	}
	checks := map[emv.Tag]string{
		emv.TagPAN: "4761730000001019", emv.TagExpiry: "291231", emv.TagPANSeq: "01", emv.TagEffective: "241201",
	}
	for tag, want := range checks {
		if got := hex.EncodeToString(data[tag]); got != want {
			t.Errorf("%s = %s, want %s", tag, got, want)
		}
	}
	if string(data[emv.TagName]) != "LIN YA TING" {
		t.Errorf("name = %q", data[emv.TagName])
	}
}

func TestT0(t *testing.T) {
	p := alice
	p.T0 = true
	c := newCard(t, p)
	_, sw := exchange(t, c, "00A4040007A000000003101000")
	if sw>>8 != 0x61 {
		t.Fatalf("SELECT on T=0 = %04X, want 61xx", sw)
	}
	n := sw & 0xFF
	part, sw := exchange(t, c, "00C0000010")
	if len(part) != 16 || sw != SWBytesAvailable|(n-16) {
		t.Fatalf("partial GET RESPONSE = %d bytes, %04X", len(part), sw)
	}
	rest, sw := exchange(t, c, "00C0000000")
	if sw != SWOK || len(rest) != int(n)-16 {
		t.Fatalf("GET RESPONSE = %d bytes, %04X", len(rest), sw)
	}
	if _, err := emv.Parse(append(part, rest...)); err != nil {
		t.Fatalf("FCI in two parts does not parse: %v", err)
	}
	_, sw = exchange(t, c, "00A4040007A000000003101000")
	_, sw2 := exchange(t, c, "00B2010C00") // a new command drops the pending data
	if sw>>8 != 0x61 || sw2>>8 != 0x6C {
		t.Fatalf("READ RECORD with Le 00 on T=0 = %04X, want 6Cxx", sw2)
	}
	r, sw := exchange(t, c, "00B2010C"+hex.EncodeToString([]byte{byte(sw2)}))
	if sw != SWOK || len(r) != int(sw2&0xFF) {
		t.Fatalf("READ RECORD with the right Le = %d bytes %04X", len(r), sw)
	}
}

func TestFormat2(t *testing.T) {
	p := alice
	p.Format2 = true
	c := newCard(t, p)
	exchange(t, c, "00A4040007A000000003101000")
	r, sw := exchange(t, c, "80A80000088306015814204000"+"00")
	if sw != SWOK || r[0] != 0x77 {
		t.Fatalf("GPO format 2 = % X %04X", r, sw)
	}
	r, sw = exchange(t, c, "80AE8000"+"21"+strings.Repeat("00", 33)+"00")
	m, err := emv.Flatten(r)
	if sw != SWOK || err != nil || len(m[emv.TagAC]) != 8 || !bytes.Equal(m[emv.TagCID], []byte{cidARQC}) {
		t.Fatalf("GENERATE AC format 2 = % X %04X %v", r, sw, err)
	}
}

func TestProfiles(t *testing.T) {
	s, err := seed.Load("../../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cu := range s.Customers {
		for _, sc := range cu.Cards {
			p := ProfileFromSeed(sc)
			if _, err := New(p, Options{}); err != nil {
				t.Errorf("seed card %s: %v", sc.ID, err)
			}
			if strings.Contains(p.String(), sc.PAN) {
				t.Errorf("Profile.String leaks the PAN: %s", p)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no seed cards")
	}
	for _, bad := range []Profile{
		{PAN: "123", Expiry: "2912"}, {PAN: alice.PAN, Expiry: "2913"}, {PAN: alice.PAN, Expiry: "29"},
		{PAN: alice.PAN, Expiry: "2912", PANSeq: 100}, {PAN: alice.PAN, Expiry: "2912", Name: strings.Repeat("X", 27)},
	} {
		if _, err := New(bad, Options{}); err == nil {
			t.Errorf("New(%+v) accepted a bad profile", bad)
		}
	}
	k1 := DeriveCardKey(DemoIssuerKey, alice.PAN, 1)
	k2 := DeriveCardKey(DemoIssuerKey, alice.PAN, 2)
	if len(k1) != 16 || bytes.Equal(k1, k2) {
		t.Fatal("DeriveCardKey does not separate sequence numbers")
	}
	if d1, d2 := discretionary("4761730000001019"), discretionary("4761730000002033"); d1 == d2 || len(d1) != 13 {
		t.Fatalf("discretionary data %q %q", d1, d2)
	}
}

// fakeVPCD plays vpcd: it accepts the card's connection.
type fakeVPCD struct {
	t    *testing.T
	l    net.Listener
	conn net.Conn
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &fakeVPCD{t: t, l: l}
}

func (v *fakeVPCD) accept() {
	v.t.Helper()
	c, err := v.l.Accept()
	if err != nil {
		v.t.Fatal(err)
	}
	v.conn = c
	v.t.Cleanup(func() { c.Close() })
}

func (v *fakeVPCD) send(p []byte) {
	v.t.Helper()
	b, _ := AppendFrame(nil, p)
	if _, err := v.conn.Write(b); err != nil {
		v.t.Fatal(err)
	}
}

func (v *fakeVPCD) recv() ([]byte, error) {
	v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	return ReadFrame(v.conn)
}

func TestInsertRemoveOverTCP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := newFakeVPCD(t)
	c := newCard(t, alice)
	if err := c.Insert(ctx, v.l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := c.Insert(ctx, v.l.Addr().String()); !errors.Is(err, ErrInserted) {
		t.Fatalf("second Insert = %v", err)
	}
	v.accept()
	v.send([]byte{CtrlGetATR})
	if atr, err := v.recv(); err != nil || !bytes.Equal(atr, DefaultATR) {
		t.Fatalf("ATR = % X %v", atr, err)
	}
	v.send([]byte{CtrlPowerOn})
	v.send([]byte{CtrlReset})
	v.send([]byte{0x07}) // unknown control byte: ignored
	v.send(unhex(t, "00A404000E315041592E5359532E444446303100"))
	r, err := v.recv()
	if err != nil || !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT PSE = % X %v", r, err)
	}
	// Pulled mid-read: one more APDU answered, then the card leaves.
	c.RemoveAfter(1)
	v.send(unhex(t, "00B2010C00"))
	if _, err := v.recv(); err != nil {
		t.Fatal(err)
	}
	v.send(unhex(t, "00A4040007A000000003101000"))
	if r, err := v.recv(); err == nil {
		t.Fatalf("card answered % X after it was pulled", r)
	}
	waitFor(t, c, func() bool { return !c.Inserted() })
	if err := c.Remove(); !errors.Is(err, ErrNotInserted) {
		t.Fatalf("Remove of a removed card = %v", err)
	}
	if n := len(c.Commands()); n != 3 {
		t.Fatalf("card saw %d commands, want 3", n)
	}

	// Insert again, then Remove: vpcd sees the link close.
	if err := c.Insert(ctx, v.l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	v.accept()
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.recv(); err == nil {
		t.Fatal("link still open after Remove")
	}
}

func TestFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := newCard(t, alice)
	if err := c.Inject("melted"); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("Inject of an unknown fault = %v", err)
	}
	v := newFakeVPCD(t)
	if err := c.Insert(ctx, v.l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	v.accept()
	selPSE := unhex(t, "00A404000E315041592E5359532E444446303100")
	for _, tc := range []struct {
		fault string
		want  []byte
	}{
		{FaultNoApp, []byte{0x6A, 0x82}},
		{FaultGarbage, append(append([]byte(nil), Garbage...), 0x90, 0x00)},
		{FaultShortResponse, []byte{0x90}},
	} {
		if err := c.Inject(tc.fault); err != nil {
			t.Fatal(err)
		}
		v.send(selPSE)
		if r, err := v.recv(); err != nil || !bytes.Equal(r, tc.want) {
			t.Errorf("%s: SELECT PSE = % X %v, want % X", tc.fault, r, err, tc.want)
		}
	}
	c.Clear()
	v.send(selPSE)
	if r, err := v.recv(); err != nil || !bytes.HasSuffix(r, []byte{0x90, 0x00}) || len(r) < 10 {
		t.Fatalf("after Clear: % X %v", r, err)
	}
	// Mute: no answer; the ATR poll would not come while vpcd waits.
	if err := c.Inject(FaultMute); err != nil {
		t.Fatal(err)
	}
	v.send(selPSE)
	v.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := ReadFrame(v.conn); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("mute card answered: %v", err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	// Bad frame: a length that promises more than follows, then the link drops.
	c.Clear()
	if err := c.Inject(FaultBadFrame); err != nil {
		t.Fatal(err)
	}
	if err := c.Insert(ctx, v.l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	v.accept()
	v.send(selPSE)
	if _, err := v.recv(); !errors.Is(err, ErrFrame) {
		t.Fatalf("bad frame read as %v", err)
	}
	waitFor(t, c, func() bool { return !c.Inserted() })
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func waitFor(t *testing.T, c *Card, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		ch := c.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("condition not reached within 5 s")
		}
	}
}

func TestServeEndsWithContext(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newCard(t, alice)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, a) }()
	fr, _ := AppendFrame(nil, []byte{CtrlGetATR})
	if _, err := b.Write(fr); err != nil {
		t.Fatal(err)
	}
	if atr, err := ReadFrame(b); err != nil || !bytes.Equal(atr, DefaultATR) {
		t.Fatalf("ATR over a pipe = % X %v", atr, err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not end with its context")
	}
	// A stream that ends between frames ends Serve with nil.
	a2, b2 := net.Pipe()
	go func() { b2.Close() }()
	if err := c.Serve(context.Background(), a2); err != nil {
		t.Fatalf("Serve at end of stream = %v", err)
	}
}

func TestRun(t *testing.T) {
	v := newFakeVPCD(t)
	c := newCard(t, alice)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, v.l.Addr().String()) }()
	v.accept()
	v.send([]byte{CtrlGetATR})
	if atr, err := v.recv(); err != nil || !bytes.Equal(atr, DefaultATR) {
		t.Fatalf("ATR = % X %v", atr, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after its context ended = %v", err)
	}
	if c.Inserted() {
		t.Fatal("card still inserted after Run")
	}
	// vpcd going away ends Run with ErrLinkClosed.
	go func() { done <- c.Run(context.Background(), v.l.Addr().String()) }()
	v.accept()
	v.conn.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("Run when vpcd closed the link = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when the link closed")
	}
}
