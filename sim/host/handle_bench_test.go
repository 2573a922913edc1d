package host_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/loadgen"
)

// BenchmarkHandleWithdrawal is the reference host's own cost of one
// approved cash withdrawal, called in process (no network, no MAC):
// checks, PIN verification in the HSM, the database transaction and its
// durable commit, the dispense token. "serial" is one request at a time
// (every commit its own fsync); "parallel" has 64 requests in flight, so
// group commit shares transactions between them.
func BenchmarkHandleWithdrawal(b *testing.B) {
	for _, tc := range []struct {
		name     string
		parallel int
	}{{"serial", 0}, {"parallel", 64}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := loadgen.Generate(b.TempDir(), 1, 2000)
			if err != nil {
				b.Fatal(err)
			}
			h, err := host.New(f.Host, host.WithReset(), host.WithLogger(zerolog.Nop()))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := h.Open(ctx); err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			term := f.Terminals[0]
			kcv, _ := keyexchange.TDESCheck(term.TMK)
			f48, _ := keyexchange.Request{TMKCheck: kcv}.Encode()
			resp := h.Handle(ctx, &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: keyexchange.NetCode,
				STAN: "000001", TransmitTime: "0101000000", TerminalID: term.ID, Private: f48})
			kx, err := keyexchange.ParseResponse(resp.Private)
			if err != nil {
				b.Fatalf("key exchange: rc %s: %v", resp.RespCode, err)
			}
			keys, err := keyexchange.Unwrap(term.TMK, kx)
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			n.Store(1)
			tt := time.Now().UTC().Format("0102150405")
			withdraw := func() {
				i := n.Add(1)
				c := f.Cards[int(i)%len(f.Cards)]
				block, err := pinblock.EncryptFormat0(keys.TPK, []byte(c.PIN), []byte(c.PAN))
				if err != nil {
					b.Error(err)
					return
				}
				nonce := make([]byte, 16)
				rand.Read(nonce)
				resp := h.Handle(ctx, &hostlink.Message{
					MTI: hostlink.MTIFinRequest, PAN: c.PAN, ProcCode: hostlink.ProcWithdrawal, Amount: loadgen.DefaultAmount,
					TransmitTime: tt, STAN: fmt.Sprintf("%06d", i%1_000_000), TerminalID: term.ID, Expiry: c.Expiry,
					EntryMode: "021", Currency: "901", PINBlock: block, Private: "NC032" + hex.EncodeToString(nonce),
				})
				if resp.RespCode != hostlink.RCApproved {
					b.Errorf("rc %s", resp.RespCode)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if tc.parallel == 0 {
				for b.Loop() {
					withdraw()
				}
			} else {
				b.SetParallelism(tc.parallel / 2)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						withdraw()
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "withdrawals/s")
		})
	}
}
