package pn532

import (
	"errors"
	"testing"

	"github.com/atmd/atmd/hal/nfctag"
)

var goodCC = []byte{0x00, 0x0F, 0x20, 0x00, 0x3B, 0x00, 0x34, 0x04, 0x06, 0xE1, 0x04, 0x00, 0x32, 0x00, 0xFF}

func TestPhoneCC(t *testing.T) {
	tests := []struct {
		name string
		edit func(cc []byte)
		ok   bool
	}{
		{"good", func([]byte) {}, true},
		{"CCLEN short", func(cc []byte) { cc[1] = 0x0E }, false},
		{"mapping 1.0", func(cc []byte) { cc[2] = 0x10 }, false},
		{"mapping 3.0", func(cc []byte) { cc[2] = 0x30 }, false},
		{"MLe small", func(cc []byte) { cc[4] = 0x0E }, false},
		{"MLc zero", func(cc []byte) { cc[6] = 0x00 }, false},
		{"TLV type", func(cc []byte) { cc[7] = 0x05 }, false},
		{"TLV length", func(cc []byte) { cc[8] = 0x08 }, false},
		{"file E103", func(cc []byte) { cc[10] = 0x03 }, false},
		{"size small", func(cc []byte) { cc[11], cc[12] = 0, 4 }, false},
		{"size FFFF", func(cc []byte) { cc[11], cc[12] = 0xFF, 0xFF }, false},
		{"read denied", func(cc []byte) { cc[13] = 0xFF }, false},
	}
	for _, tc := range tests {
		cc := append([]byte(nil), goodCC...)
		tc.edit(cc)
		p := &phone{}
		if err := p.readCC(cc); (err == nil) != tc.ok {
			t.Errorf("%s: readCC = %v", tc.name, err)
		}
	}
	if err := (&phone{}).readCC(goodCC[:14]); err == nil {
		t.Error("short CC accepted")
	}
}

// feed runs the phone against a scripted list of R-APDUs.
func feed(p *phone, rs ...[]byte) {
	for _, r := range rs {
		p.command()
		p.response(r)
	}
}

func TestPhoneErrors(t *testing.T) {
	ok := []byte{0x90, 0x00}
	cc := append(append([]byte(nil), goodCC...), ok...)
	tests := []struct {
		name string
		rs   [][]byte
		is   error
	}{
		{"no SW", [][]byte{{0x90}}, ErrBadTag},
		{"bad SW", [][]byte{{0x6D, 0x00}}, ErrBadTag},
		{"SELECT with data", [][]byte{{0x01, 0x90, 0x00}}, ErrBadTag},
		{"no app", [][]byte{{0x6A, 0x82}}, nfctag.ErrNoMessage},
		{"no CC", [][]byte{ok, {0x6A, 0x82}}, ErrBadTag},
		{"short CC", [][]byte{ok, ok, {0x00, 0x0F, 0x90, 0x00}}, ErrBadTag},
		{"no NDEF file", [][]byte{ok, ok, cc, {0x6A, 0x82}}, nfctag.ErrNoMessage},
		{"NLEN short", [][]byte{ok, ok, cc, ok, {0x00, 0x90, 0x00}}, ErrBadTag},
		{"NLEN too big", [][]byte{ok, ok, cc, ok, {0x00, 0x31, 0x90, 0x00}}, ErrBadTag},
		{"NLEN 0", [][]byte{ok, ok, cc, ok, {0x00, 0x00, 0x90, 0x00}}, nfctag.ErrNoMessage},
		{"short read", [][]byte{ok, ok, cc, ok, {0x00, 0x03, 0x90, 0x00}, {0x01, 0x90, 0x00}}, ErrBadTag},
	}
	for _, tc := range tests {
		p := &phone{}
		feed(p, tc.rs...)
		if p.step != phDone || !errors.Is(p.err, tc.is) {
			t.Errorf("%s: step %d err %v, want %v", tc.name, p.step, p.err, tc.is)
		}
	}
	p := &phone{}
	feed(p, ok, ok, cc, ok, []byte{0x00, 0x03, 0x90, 0x00}, []byte{1, 2, 3, 0x90, 0x00})
	if p.step != phDone || p.err != nil || string(p.msg) != "\x01\x02\x03" {
		t.Errorf("good read: step %d err %v msg % X", p.step, p.err, p.msg)
	}
	p.response(ok) // after the end: ignored
	if p.command() != nil {
		t.Error("command after the end")
	}
}
