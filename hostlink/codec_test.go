package hostlink

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.hex golden frames")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Demo card data: the PAN is the demo one, the PIN block and cryptogram
// are opaque bytes as they leave the PIN pad and the chip.
const (
	demoPAN    = "4761739001010119"
	demoTrack2 = "4761739001010119D28122011758928889"
	demoTID    = "ATM00001"
	demoAccID  = "ATMD-BANK-0001"
	demoNonce  = "9F3B61C0D2E4F5A6B7C8D9E0F1A2B3C4"
	demoToken  = "5D1E0A7C3B9F2E8D4C6A1B0F9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B3A2F1E0D"
	demoActID  = "5f0c2a9e1b7d3c44"                                              // activation id
	demoQR     = "atmd://activate?c=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // QR payload: 32 demo bytes
)

var (
	demoPIN = mustHex("3F9AC41E7D20B568")
	demoICC = mustHex("9F2608C2A1B3D4E5F60718 9F2701 80 9F1007 06010A03A00000 9F3704 1A2B3C4D" +
		" 9F3602 0001 9505 0000000000 9A03 260315 9C01 01 9F0206 000000300000 5F2A02 0901 820238 00 9F1A02 0158")
)

func tlv(t TLV) string {
	s, err := t.Encode()
	if err != nil {
		panic(err)
	}
	return s
}

func amounts(bs ...Balance) string {
	s, err := EncodeAmounts(bs)
	if err != nil {
		panic(err)
	}
	return s
}

// golden is one example of every message of the profile, as the client
// and the reference host build them. Its packed frames are in testdata
// and, byte for byte, in docs/hostlink.md.
func golden() []struct {
	name string
	m    *Message
	mac  MACer // signs the frame when set (PackMAC)
} {
	net := func(mti, stan, code, rc string) *Message {
		m := &Message{MTI: mti, TransmitTime: "0315013000", STAN: stan, TerminalID: demoTID, NetCode: code, RespCode: rc}
		if rc == "" {
			m.LocalTime, m.LocalDate, m.AcceptorID = "093000", "0315", demoAccID
		}
		return m
	}
	card := func(m *Message) *Message {
		m.PAN, m.Expiry, m.EntryMode, m.PANSeq = demoPAN, "2812", "051", "001"
		m.Track2, m.PINBlock, m.ICC = demoTrack2, demoPIN, demoICC
		m.TerminalID, m.AcceptorID, m.Currency = demoTID, demoAccID, "901"
		m.LocalTime, m.LocalDate = "093105", "0315"
		return m
	}
	withdrawal := card(&Message{
		MTI: MTIFinRequest, ProcCode: ProcWithdrawal, Amount: 300000,
		TransmitTime: "0315013105", STAN: "000002",
		Private: tlv(TLV{{TagNonce, demoNonce}}),
	})
	reversal := &Message{
		MTI: MTIReversal, PAN: demoPAN, ProcCode: ProcWithdrawal, Amount: 300000,
		TransmitTime: "0315013152", STAN: "000004", LocalTime: "093152", LocalDate: "0315",
		EntryMode: "051", TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901",
		Private:     tlv(TLV{{TagReason, ReasonPartial}}),
		Original:    OriginalData(withdrawal),
		Replacement: ReplacementAmounts(200000),
	}
	repeat := *reversal
	repeat.MTI, repeat.TransmitTime = MTIReversalRepeat, "0315013222"
	withdrawalResp := func() *Message {
		return &Message{
			MTI: MTIFinResponse, PAN: demoPAN, ProcCode: ProcWithdrawal, Amount: 300000,
			TransmitTime: "0315013105", STAN: "000002", RRN: "607401000002", AuthCode: "A1B2C3",
			RespCode: RCApproved, TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901",
			Private: tlv(TLV{{TagToken, demoToken}}),
			AddAmounts: amounts(
				Balance{"20", AmountLedger, "901", 1234550},
				Balance{"20", AmountAvailable, "901", 1184550}),
		}
	}
	reversalResp := func() *Message {
		return &Message{
			MTI: MTIReversalResponse, PAN: demoPAN, ProcCode: ProcWithdrawal, Amount: 300000,
			TransmitTime: "0315013222", STAN: "000004", RespCode: RCApproved,
			TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901",
			Original: reversal.Original,
		}
	}
	// Card activation, start step: the ATM asks; the host answers with
	// the activation id, the app state (ready) and the QR payload.
	activationStart := &Message{
		MTI: MTIAuthRequest, PAN: demoPAN, ProcCode: ProcActivation,
		TransmitTime: "0315013010", STAN: "000007", LocalTime: "093010", LocalDate: "0315",
		TerminalID: demoTID, AcceptorID: demoAccID,
		Private: tlv(TLV{{TagActStep, StepStart}}),
	}
	activationStartResp := *activationStart
	activationStartResp.MTI, activationStartResp.RespCode = MTIAuthResponse, RCApproved
	activationStartResp.Private = tlv(TLV{{TagActID, demoActID}, {TagActMode, ModeReady}, {TagActQR, demoQR}})
	macWithdrawal, macReversal := *withdrawal, *reversal
	signer := demoMACer()
	return []struct {
		name string
		m    *Message
		mac  MACer
	}{
		{"0800_signon", net(MTINetRequest, "000001", NetSignOn, ""), nil},
		{"0810_signon", net(MTINetResponse, "000001", NetSignOn, RCApproved), nil},
		{"0800_echo", net(MTINetRequest, "000005", NetEcho, ""), nil},
		{"0810_echo", net(MTINetResponse, "000005", NetEcho, RCApproved), nil},
		{"0800_signoff", net(MTINetRequest, "000006", NetSignOff, ""), nil},
		{"0810_signoff", net(MTINetResponse, "000006", NetSignOff, RCApproved), nil},
		{"0200_withdrawal", withdrawal, nil},
		{"0210_withdrawal", withdrawalResp(), nil},
		{"0200_balance", card(&Message{
			MTI: MTIFinRequest, ProcCode: ProcBalance, TransmitTime: "0315013105", STAN: "000003",
		}), nil},
		{"0210_balance", &Message{
			MTI: MTIFinResponse, PAN: demoPAN, ProcCode: ProcBalance,
			TransmitTime: "0315013105", STAN: "000003", RRN: "607401000003",
			RespCode: RCApproved, TerminalID: demoTID, AcceptorID: demoAccID, Currency: "901",
			AddAmounts: amounts(
				Balance{"20", AmountLedger, "901", 1234550},
				Balance{"20", AmountAvailable, "901", -2500}),
		}, nil},
		{"0420_reversal", reversal, nil},
		{"0421_reversal", &repeat, nil},
		{"0430_reversal", reversalResp(), nil},
		{"0100_activation_start", activationStart, nil},
		{"0110_activation_start", &activationStartResp, nil},
		// The same financial and reversal messages with MACs on.
		{"0200_withdrawal_mac", &macWithdrawal, signer},
		{"0210_withdrawal_mac", withdrawalResp(), signer},
		{"0420_reversal_mac", &macReversal, signer},
		{"0430_reversal_mac", reversalResp(), signer},
	}
}

// frame packs m, signed with mac when it is set, behind its header.
func frame(t testing.TB, m *Message, mac MACer) []byte {
	t.Helper()
	var (
		b   []byte
		err error
	)
	if mac != nil {
		b, err = PackMAC(context.Background(), m, mac)
	} else {
		b, err = Pack(m)
	}
	if err != nil {
		t.Fatalf("Pack(%s): %v", Describe(m), err)
	}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGoldenFrames(t *testing.T) {
	for _, g := range golden() {
		t.Run(g.name, func(t *testing.T) {
			got := frame(t, g.m, g.mac)
			path := filepath.Join("testdata", g.name+".hex")
			if *update {
				if err := os.WriteFile(path, []byte(strings.ToUpper(hex.EncodeToString(got))+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenFrames -update)", err)
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
				t.Fatalf("Unpack: %v", err)
			}
			if !reflect.DeepEqual(back, g.m) {
				t.Errorf("round trip lost data:\n got %+v\nwant %+v", back, g.m)
			}
			switch err := VerifyMAC(context.Background(), msg, demoMACer()); {
			case g.mac != nil && err != nil:
				t.Errorf("VerifyMAC: %v", err)
			case g.mac == nil && !errors.Is(err, ErrNoMAC):
				t.Errorf("VerifyMAC of a frame without MAC = %v, want ErrNoMAC", err)
			}
		})
	}
}

// TestDocsShowGoldenFrames keeps the examples in docs/hostlink.md true.
func TestDocsShowGoldenFrames(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "hostlink.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(doc)), "")
	for _, g := range golden() {
		if !strings.Contains(flat, strings.ToUpper(hex.EncodeToString(frame(t, g.m, g.mac)))) {
			t.Errorf("docs/hostlink.md lacks the frame of %s", g.name)
		}
	}
}

// TestBitmap pins the bitmap rules: 16 hex characters while every field
// is at most 64, and a secondary bitmap, announced by bit 1, as soon as
// one is above 64.
func TestBitmap(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"primary only", Message{MTI: "0800", STAN: "000001"},
			"0800" + "0020000000000000" + "000001"},
		{"field 55 is still primary", Message{MTI: "0200", STAN: "000001", ICC: []byte{0xAB}},
			"0200" + "0020000000000200" + "000001" + "002AB"},
		{"field 70", Message{MTI: "0800", STAN: "000001", NetCode: NetEcho},
			"0800" + "8020000000000000" + "0400000000000000" + "000001" + "301"},
		{"field 90", Message{MTI: "0420", STAN: "000001", Original: strings.Repeat("1", 42)},
			"0420" + "8020000000000000" + "0000004000000000" + "000001" + strings.Repeat("1", 42)},
		{"field 95", Message{MTI: "0420", STAN: "000001", Replacement: ReplacementAmounts(5)},
			"0420" + "8020000000000000" + "0000000200000000" + "000001" + ReplacementAmounts(5)},
		{"field 128", Message{MTI: "0200", STAN: "000001", MAC: mustHex("0102030405060708")},
			"0200" + "8020000000000000" + "0000000000000001" + "000001" + "0102030405060708"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Pack(&tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Pack =\n %s\nwant\n %s", b, tt.want)
			}
			back, err := Unpack(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*back, tt.m) {
				t.Errorf("round trip: got %+v, want %+v", *back, tt.m)
			}
		})
	}
}

func TestPackRejects(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"no MTI", Message{STAN: "000001"}},
		{"short MTI", Message{MTI: "080"}},
		{"letters in STAN", Message{MTI: "0800", STAN: "00000A"}},
		{"short STAN", Message{MTI: "0800", STAN: "1"}},
		{"letters in PAN", Message{MTI: "0200", PAN: "4761x39001010119"}},
		{"negative amount", Message{MTI: "0200", Amount: -1}},
		{"amount over n12", Message{MTI: "0200", Amount: 1_000_000_000_000}},
		{"PIN block of 7 bytes", Message{MTI: "0200", PINBlock: make([]byte, 7)}},
		{"terminal id of 9", Message{MTI: "0200", TerminalID: "ATM000001"}},
		{"track 2 with letters", Message{MTI: "0200", Track2: "4761739001010119X2812"}},
		{"ICC over 255 bytes", Message{MTI: "0200", ICC: make([]byte, 256)}},
		{"non-ASCII private data", Message{MTI: "0200", Private: "NC001\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := Pack(&tt.m); err == nil {
				t.Errorf("Pack succeeded: %q", b)
			} else if !strings.HasPrefix(err.Error(), "hostlink: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestUnpackRejects(t *testing.T) {
	echo := func(t *testing.T) []byte {
		b, err := Pack(&Message{MTI: "0800", STAN: "000001", NetCode: NetEcho})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		msg     func(t *testing.T) []byte
		fieldID int
	}{
		{"empty", func(*testing.T) []byte { return nil }, 0},
		{"MTI of letters", func(*testing.T) []byte { return []byte("08A0" + "0000000000000000") }, 0},
		{"short bitmap", func(*testing.T) []byte { return []byte("08000020") }, 1},
		{"bitmap not hex", func(*testing.T) []byte { return []byte("0800ZZ20000000000000") }, 1},
		{"field outside the profile", func(*testing.T) []byte { return []byte("08004000000000000000" + "123456") }, 2},
		{"truncated STAN", func(t *testing.T) []byte { b := echo(t); return b[:len(b)-5] }, 11},
		{"trailing bytes", func(t *testing.T) []byte { return append(echo(t), "00"...) }, -1},
		{"empty secondary bitmap", func(*testing.T) []byte {
			return []byte("0800" + "8020000000000000" + "0000000000000000" + "000001")
		}, 1},
		{"third bitmap", func(*testing.T) []byte {
			return []byte("0800" + "8020000000000000" + "8000000000000000" + "0000000000000000" + "000001")
		}, 1},
		{"negative amount", func(*testing.T) []byte {
			return []byte("0200" + "1000000000000000" + "-00000000001")
		}, 4},
		{"letters in numeric field", func(*testing.T) []byte {
			return []byte("0800" + "0020000000000000" + "00000A")
		}, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unpack(tt.msg(t))
			var ue *UnpackError
			if !errors.As(err, &ue) {
				t.Fatalf("Unpack = %+v, %v; want *UnpackError", m, err)
			}
			if ue.FieldID != tt.fieldID {
				t.Errorf("FieldID = %d, want %d (%v)", ue.FieldID, tt.fieldID, err)
			}
			if errors.Unwrap(err) == nil {
				t.Error("UnpackError does not unwrap")
			}
		})
	}
}

func TestUnpackErrorsDoNotLeakCardData(t *testing.T) {
	// A withdrawal cut inside field 55: every field up to it holds card
	// data, and the error must quote none of it.
	b, err := Pack(golden()[6].m)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 20; cut < len(b); cut += 7 {
		_, err := Unpack(b[:cut])
		if err == nil {
			t.Fatalf("Unpack of %d of %d bytes succeeded", cut, len(b))
		}
		for _, secret := range []string{demoPAN, demoPAN[6:12], "D2812", "3F9AC41E"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q contains card data %q", err, secret)
			}
		}
	}
}

func TestResponseMTI(t *testing.T) {
	tests := map[string]string{
		"0100": "0110", "0200": "0210", "0220": "0230", "0420": "0430",
		"0421": "0430", "0800": "0810", "0801": "0810",
		"0210": "", "0430": "", "0810": "", "": "", "08": "", "08a0": "", "0840": "",
	}
	for in, want := range tests {
		if got := ResponseMTI(in); got != want {
			t.Errorf("ResponseMTI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	g := golden()
	got := Describe(g[6].m) // 0200 withdrawal
	want := "0200 proc=010000 stan=000002 pan=476173******0119 amount=300000 cur=901 exp=**** entry=051 seq=001" +
		" track2=len34 pin=*** icc=len" + strconv.Itoa(len(demoICC)) + " tid=ATM00001 acceptor=ATMD-BANK-0001 f48=[NC]"
	if got != want {
		t.Errorf("Describe =\n %s\nwant\n %s", got, want)
	}
	for _, s := range []string{demoPAN, demoTrack2, "2812", demoNonce, "3F9AC41E"} {
		if strings.Contains(got, s) {
			t.Errorf("Describe leaks %q", s)
		}
	}
	resp := Describe(g[7].m) // 0210 with token and balances
	for _, s := range []string{demoToken, "1234550"} {
		if strings.Contains(resp, s) {
			t.Errorf("Describe of the response leaks %q: %s", s, resp)
		}
	}
	if bad := Describe(&Message{MTI: "0200", Private: "N"}); !strings.Contains(bad, "f48=malformed,len1") {
		t.Errorf("Describe with a bad field 48 = %q", bad)
	}
}

func TestReversalFields(t *testing.T) {
	orig := &Message{MTI: "0200", STAN: "000123", TransmitTime: "0315013105"}
	if got, want := OriginalData(orig), "0200"+"000123"+"0315013105"+strings.Repeat("0", 22); got != want {
		t.Errorf("OriginalData = %q, want %q", got, want)
	}
	if got, want := ReplacementAmounts(5000), "000000005000"+"000000000000"+"C00000000"+"C00000000"; got != want {
		t.Errorf("ReplacementAmounts = %q, want %q", got, want)
	}
	if got := len(ReplacementAmounts(999999999999)); got != 42 {
		t.Errorf("ReplacementAmounts length %d, want 42", got)
	}
}

func FuzzUnpack(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden frames: %v", err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mustHex(strings.TrimSpace(string(b)))[2:]) // without the length header
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unpack(b)
		if err != nil {
			var ue *UnpackError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not an *UnpackError", err)
			}
			return
		}
		_ = Describe(m)
		packed, err := Pack(m)
		if err != nil {
			t.Fatalf("unpacked message does not pack: %v", err)
		}
		// Unpack counted the bytes it used without packing again; an
		// accepted input is exactly as long as the message it encodes.
		if len(packed) != len(b) {
			t.Fatalf("accepted %d bytes for a message that packs to %d", len(b), len(packed))
		}
		again, err := Unpack(packed)
		if err != nil {
			t.Fatalf("repacked message does not unpack: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}
