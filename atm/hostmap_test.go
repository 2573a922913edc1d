package atm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/currency"
)

// An activation step becomes an 0100 with processing code 930000: the
// step and its tags in field 48 in a fixed order, the first PIN block in
// field 52 and the second under P2; its answer's field 48 comes back as
// the reply's data.
func TestActivationMapping(t *testing.T) {
	twd, _ := currency.ByAlpha("TWD")
	card := cardreader.Card{PAN: "4761730000004054", Expiry: "3011", PANSeq: "001", Technology: cardreader.Chip}
	blk := func(b byte) pinpad.PINBlock { return pinpad.PINBlock{Block: bytes.Repeat([]byte{b}, 8)} }
	req := flows.Request{ID: "S1-1", Kind: flows.Activation, Card: card, Step: hostlink.StepNewPIN,
		Data: map[string]string{hostlink.TagActID: "0123456789ABCDEF"}, PIN: blk(0xA1), PIN2: blk(0xB2)}
	m, err := request(req, twd)
	if err != nil {
		t.Fatal(err)
	}
	if m.MTI != "0100" || m.ProcCode != "930000" || m.Amount != 0 || m.Currency != "" || m.EntryMode != "051" {
		t.Fatalf("message %s", hostlink.Describe(m))
	}
	if !bytes.Equal(m.PINBlock, blk(0xA1).Block) {
		t.Fatalf("field 52 %X", m.PINBlock)
	}
	want := "AS002NPAI0160123456789ABCDEFP2016B2B2B2B2B2B2B2B2"
	if m.Private != want {
		t.Fatalf("field 48 %q, want %q", m.Private, want)
	}
	// The step that carries no PIN sends no field 52.
	m, err = request(flows.Request{Kind: flows.Activation, Card: card, Step: hostlink.StepStart}, twd)
	if err != nil || m.PINBlock != nil || m.Private != "AS002ST" {
		t.Fatalf("start: %v %s", err, hostlink.Describe(m))
	}
	if _, err := request(flows.Request{Kind: flows.Activation, Card: card}, twd); err == nil {
		t.Fatal("a request without a step was mapped")
	}
	if _, err := request(flows.Request{Kind: flows.Activation, Card: card, Step: "VC", PIN: pinpad.PINBlock{Block: make([]byte, 16)}}, twd); err == nil {
		t.Fatal("a 16-byte block was put in field 52")
	}

	resp := &hostlink.Message{MTI: "0110", ProcCode: hostlink.ProcActivation, RespCode: "00", Private: "AI0160123456789ABCDEFAM001R"}
	r := reply("S1-1", false, resp, nil)
	if r.Outcome != flows.Approved || r.Data[hostlink.TagActMode] != "R" || r.Data[hostlink.TagActID] != "0123456789ABCDEF" || r.Err != nil {
		t.Fatalf("reply %+v", r)
	}
	resp.Private = "AI0990123"
	if r := reply("S1-1", false, resp, nil); r.Err == nil || !strings.Contains(r.Err.Error(), "activation reply") {
		t.Fatalf("malformed field 48 taken: %+v", r)
	}
}
