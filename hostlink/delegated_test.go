package hostlink

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// demoStill is a tiny stand-in for a camera still in the examples: the
// PNG signature and the start of its header chunk.
var demoStill = mustHex("89504E470D0A1A0A0000000D49484452")

// delegatedGolden is one example of each delegated-withdrawal message,
// in testdata and, byte for byte, in docs/hostlink.md section 6e.
func delegatedGolden() []struct {
	name string
	m    *Message
} {
	check := &Message{
		MTI: MTIAuthRequest, PAN: demoPAN, ProcCode: ProcDelegateCheck, TransmitTime: "0315013020", STAN: "000009",
		LocalTime: "093020", LocalDate: "0315", Expiry: "2812", EntryMode: "051", PANSeq: "001",
		TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901", PINBlock: mustHex("A7C1F2093B5E6D48"),
	}
	checkResp := &Message{
		MTI: MTIAuthResponse, PAN: demoPAN, ProcCode: ProcDelegateCheck, TransmitTime: "0315013020", STAN: "000009",
		LocalTime: "093020", LocalDate: "0315", RespCode: RCApproved, TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901",
		Private: tlv(TLV{{TagDelegation, "D3F9A0C27B1"}, {TagDelCap, "300000"}, {TagDelExpires, "20260315053000"}}),
	}
	withdrawal := &Message{
		MTI: MTIFinRequest, PAN: demoPAN, ProcCode: ProcWithdrawal, Amount: 200000, TransmitTime: "0315013041", STAN: "000010",
		LocalTime: "093041", LocalDate: "0315", Expiry: "2812", EntryMode: "051", PANSeq: "001",
		TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901", PINBlock: mustHex("A7C1F2093B5E6D48"),
		Private: tlv(TLV{{TagNonce, demoNonce}, {TagDelegation, "D3F9A0C27B1"}}),
	}
	sum := sha256.Sum256(demoStill)
	evidence := &Message{
		MTI: MTIAdminAdvice, TransmitTime: "0315013112", STAN: "000011", LocalTime: "093112", LocalDate: "0315",
		TerminalID: demoTID, AcceptorID: demoAccID, Original: OriginalData(withdrawal),
		Private: tlv(TLV{{TagEvKind, EvidenceDelegateFace}, {TagEvFormat, "image/png"}, {TagEvHash, hex.EncodeToString(sum[:])},
			{TagEvSize, "16"}, {TagEvTaken, "20260315013111"}, {TagEvPart, "1/1"},
			{TagEvData, base64.StdEncoding.EncodeToString(demoStill)}}),
	}
	evidenceResp := &Message{
		MTI: MTIAdminAdviceResponse, TransmitTime: "0315013112", STAN: "000011", LocalTime: "093112", LocalDate: "0315",
		RespCode: RCApproved, TerminalID: demoTID, AcceptorID: demoAccID, Original: evidence.Original,
	}
	return []struct {
		name string
		m    *Message
	}{
		{"0100_delegate_check", check},
		{"0110_delegate_check", checkResp},
		{"0200_delegated_withdrawal", withdrawal},
		{"0620_evidence", evidence},
		{"0630_evidence", evidenceResp},
	}
}

func TestDelegatedGoldenFrames(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "hostlink.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(doc)), "")
	for _, g := range delegatedGolden() {
		got := frame(t, g.m, nil)
		path := filepath.Join("testdata", g.name+".hex")
		if *update {
			if err := os.WriteFile(path, []byte(strings.ToUpper(hex.EncodeToString(got))+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestDelegatedGoldenFrames -update)", err)
		}
		if !bytes.Equal(got, mustHex(strings.TrimSpace(string(want)))) {
			t.Errorf("frame differs from %s\n got %X", path, got)
		}
		msg, err := ReadFrame(bytes.NewReader(got), 0)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unpack(msg)
		if err != nil {
			t.Fatalf("%s: Unpack: %v", g.name, err)
		}
		if !reflect.DeepEqual(back, g.m) {
			t.Errorf("%s: round trip lost data:\n got %+v\nwant %+v", g.name, back, g.m)
		}
		if !strings.Contains(flat, strings.ToUpper(hex.EncodeToString(got))) {
			t.Errorf("docs/hostlink.md lacks the frame of %s", g.name)
		}
		if ResponseMTI(g.m.MTI) == "" && g.m.MTI[2] != '1' && g.m.MTI[2] != '3' {
			t.Errorf("%s: no response MTI", g.name)
		}
	}
	if ResponseMTI(MTIAdminAdvice) != MTIAdminAdviceResponse || !NeedsMAC(MTIAdminAdvice) || !NeedsMAC(MTIAdminAdviceResponse) {
		t.Fatal("0620 is not answered by a MAC'd 0630")
	}
	// The biggest part fits field 48.
	big := TLV{{TagEvKind, EvidenceOwnerFace}, {TagEvFormat, "image/jpeg"}, {TagEvHash, strings.Repeat("a", 64)},
		{TagEvSize, "1048576"}, {TagEvTaken, "20260315013111"}, {TagEvPart, "1748/1748"},
		{TagEvData, base64.StdEncoding.EncodeToString(make([]byte, EvidencePartSize))}}
	if _, err := big.Encode(); err != nil {
		t.Fatalf("a full evidence part does not fit field 48: %v", err)
	}
}
