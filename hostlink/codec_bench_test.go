package hostlink_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/moov-io/iso8583"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/mac"
)

// benchMessage is one message of the profile, packed and as a Message.
type benchMessage struct {
	name   string
	packed []byte
	msg    *hostlink.Message
}

// benchMessages returns every message of the profile: the golden frames
// of testdata (sign-on, echo, sign-off, withdrawal, balance inquiry,
// reversal and its repeat, each request and response, with and without
// MAC) and the key exchange pair, which has no golden frame.
func benchMessages(b *testing.B) []benchMessage {
	b.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no golden frames: %v", err)
	}
	sort.Strings(files)
	var out []benchMessage
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		fr, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
		if err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		packed, err := hostlink.ReadFrame(bytes.NewReader(fr), 0)
		if err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		m, err := hostlink.Unpack(packed)
		if err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		out = append(out, benchMessage{name: strings.TrimSuffix(filepath.Base(f), ".hex"), packed: packed, msg: m})
	}
	// Key exchange: 0800/101 with the TMK check value, 0810/101 with
	// three keys under the TMK and their check values.
	req, err := keyexchange.Request{TMKCheck: []byte{0xD2, 0x7A, 0x3F}}.Encode()
	if err != nil {
		b.Fatal(err)
	}
	k := keyexchange.Keys{TPK: bytes.Repeat([]byte{0x1A, 0x2B}, 8), TAK: bytes.Repeat([]byte{0x01, 0x23}, 8), TDK: bytes.Repeat([]byte{0x5C}, 32)}
	keyexchange.OddParity(k.TPK)
	k.TPK[15] ^= 0x0E // two different halves
	keyexchange.OddParity(k.TAK)
	k.TAK[15] ^= 0x0E
	tmk, _ := hex.DecodeString("6A714D09602D0077902DA355E89960A6") // the demo TMK of configs/sim.yaml
	wrapped, err := keyexchange.Wrap(tmk, k)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := wrapped.Encode()
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []*hostlink.Message{
		{MTI: hostlink.MTINetRequest, TransmitTime: "0315013000", STAN: "000007", LocalTime: "093000", LocalDate: "0315",
			TerminalID: "ATM00001", AcceptorID: "ATMD-BANK-0001", NetCode: keyexchange.NetCode, Private: req},
		{MTI: hostlink.MTINetResponse, TransmitTime: "0315013000", STAN: "000007", TerminalID: "ATM00001",
			NetCode: keyexchange.NetCode, RespCode: hostlink.RCApproved, Private: resp},
	} {
		packed, err := hostlink.Pack(m)
		if err != nil {
			b.Fatal(err)
		}
		u, err := hostlink.Unpack(packed)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchMessage{name: m.MTI + "_keyexchange", packed: packed, msg: u})
	}
	return out
}

// bareUnpacked is the target of bare moov-io Unmarshal: the same struct
// tags as hostlink.Message.
type bareUnpacked = hostlink.Message

// BenchmarkCodec packs and unpacks every message of the profile twice:
// with hostlink (Pack, Unpack: the profile checks on top of moov-io) and
// with bare moov-io/iso8583 on the same spec (NewMessage, Marshal, Pack;
// NewMessage, Unpack, Unmarshal). The ratio of the two is the cost of
// hostlink's layer; docs/bench.md reports it per message.
func BenchmarkCodec(b *testing.B) {
	for _, bm := range benchMessages(b) {
		b.Run("pack/"+bm.name+"/hostlink", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hostlink.Pack(bm.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("pack/"+bm.name+"/moov", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				msg := iso8583.NewMessage(hostlink.Spec)
				if err := msg.Marshal(bm.msg); err != nil {
					b.Fatal(err)
				}
				if _, err := msg.Pack(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("unpack/"+bm.name+"/hostlink", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hostlink.Unpack(bm.packed); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("unpack/"+bm.name+"/moov", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				msg := iso8583.NewMessage(hostlink.Spec)
				if err := msg.Unpack(bm.packed); err != nil {
					b.Fatal(err)
				}
				var m bareUnpacked
				if err := msg.Unmarshal(&m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMAC signs (PackMAC) and verifies (VerifyMAC) a withdrawal
// request with the in-memory retail MAC signer: the cost MACs add to a
// request on top of packing it, without a PIN pad round trip.
func BenchmarkMAC(b *testing.B) {
	key, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")
	s, err := mac.NewRetail(key)
	if err != nil {
		b.Fatal(err)
	}
	var w *hostlink.Message
	for _, bm := range benchMessages(b) {
		if bm.name == "0200_withdrawal" {
			w = bm.msg
		}
	}
	if w == nil {
		b.Fatal("no 0200_withdrawal golden frame")
	}
	ctx := context.Background()
	b.Run("packmac/0200_withdrawal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := *w
			if _, err := hostlink.PackMAC(ctx, &m, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	m := *w
	packed, err := hostlink.PackMAC(ctx, &m, s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verifymac/0200_withdrawal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := hostlink.VerifyMAC(ctx, packed, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
