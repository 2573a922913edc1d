package hostlink_test

import (
	"context"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/mac"
)

// linkPair is a Client signed on to a Server over loopback TCP whose
// handler answers every request at once from the request's own fields:
// what is left is the link itself (pack, frame, TCP, unpack, match by
// STAN, both ways).
func linkPair(b *testing.B, macs bool) *hostlink.Client {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	handler := hostlink.HandlerFunc(func(_ context.Context, req *hostlink.Message) *hostlink.Message {
		return &hostlink.Message{
			MTI: hostlink.ResponseMTI(req.MTI), PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
			TransmitTime: req.TransmitTime, STAN: req.STAN, TerminalID: req.TerminalID, AcceptorID: req.AcceptorID,
			Currency: req.Currency, NetCode: req.NetCode, RespCode: hostlink.RCApproved, RRN: "607401000002", AuthCode: "A1B2C3",
		}
	})
	srv := &hostlink.Server{Handler: handler}
	cfg := hostlink.Config{Addr: ln.Addr().String(), TerminalID: "ATM00001", AcceptorID: "ATMD-BANK-0001",
		Timeout: 10 * time.Second, EchoInterval: time.Hour}
	if macs {
		key, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")
		s, err := mac.NewRetail(key)
		if err != nil {
			b.Fatal(err)
		}
		srv.MAC = func(string) hostlink.MACer { return s }
		cfg.MAC = s
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	c := hostlink.NewClient(cfg)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-ran
		<-served
	})
	select {
	case up := <-c.Events():
		if !up {
			b.Fatal("link went down before it came up")
		}
	case <-time.After(10 * time.Second):
		b.Fatal("client did not sign on")
	}
	return c
}

// withdrawalRequest is a 0200 cash withdrawal as the ATM sends it, less
// what Send fills in (STAN, times, terminal).
func withdrawalRequest() *hostlink.Message {
	return &hostlink.Message{
		MTI: hostlink.MTIFinRequest, PAN: "4761739001010119", ProcCode: hostlink.ProcWithdrawal, Amount: 300000,
		Expiry: "2812", EntryMode: "051", PANSeq: "001", Track2: "4761739001010119D28122011758928889",
		Currency: "901", PINBlock: []byte{0x3F, 0x9A, 0xC4, 0x1E, 0x7D, 0x20, 0xB5, 0x68},
		Private: "NC0329F3B61C0D2E4F5A6B7C8D9E0F1A2B3C4",
	}
}

// BenchmarkRoundTrip sends 0200 withdrawals over one loopback connection
// to a host that answers at once: "serial" waits for each response before
// the next request (the latency of one round trip; 1e9/ns-op round trips
// a second), "parallel" keeps GOMAXPROCS×8 requests in flight on the same
// connection (its throughput). "mac" signs every request and response
// with the retail MAC in memory.
func BenchmarkRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name string
		macs bool
	}{{"plain", false}, {"mac", true}} {
		b.Run(tc.name+"/serial", func(b *testing.B) {
			c := linkPair(b, tc.macs)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Send(ctx, withdrawalRequest())
				if err != nil || resp.RespCode != hostlink.RCApproved {
					b.Fatalf("Send: %v %v", resp, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			c := linkPair(b, tc.macs)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Send(ctx, withdrawalRequest())
					if err != nil || resp.RespCode != hostlink.RCApproved {
						b.Errorf("Send: %v %v", resp, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rt/s")
		})
	}
}
