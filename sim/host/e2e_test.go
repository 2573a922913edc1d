package host

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
)

// TestEndToEnd drives the host over 127.0.0.1 TCP with hostlink's client:
// sign-on, a withdrawal, its reversal, sign-off.
func TestEndToEnd(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- f.h.Serve(ctx, ln) }()

	cl := hostlink.NewClient(hostlink.Config{Addr: ln.Addr().String(), TerminalID: terminal, Timeout: 10 * time.Second})
	runCtx, stopClient := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- cl.Run(runCtx) }()
	deadline := time.After(10 * time.Second)
	select {
	case up := <-cl.Events():
		if !up {
			t.Fatal("link went down before it came up")
		}
	case <-deadline:
		t.Fatal("client did not sign on")
	}
	if on, err := f.h.SignedOn(ctx, terminal); err != nil || !on {
		t.Fatalf("host does not see the terminal signed on: %v, %v", on, err)
	}

	req := f.withdraw("bob-debit", 300_000)
	req.STAN, req.TransmitTime = "", "" // the client numbers and stamps it
	resp, err := cl.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MTI != hostlink.MTIFinResponse || resp.RespCode != hostlink.RCApproved || resp.STAN != req.STAN {
		t.Fatalf("withdrawal answered with %s", hostlink.Describe(resp))
	}
	tlv, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tlv.Get(hostlink.TagToken); !ok {
		t.Error("approval carries no dispense token")
	}
	if got := f.balance("bob-twd"); got != 11_700_000 {
		t.Errorf("balance after the withdrawal = %d, want 11700000", got)
	}

	rev := &hostlink.Message{MTI: hostlink.MTIReversal, PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
		Currency: req.Currency, Original: hostlink.OriginalData(req), Replacement: hostlink.ReplacementAmounts(100_000)}
	resp, err = cl.Send(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MTI != hostlink.MTIReversalResponse || resp.RespCode != hostlink.RCApproved {
		t.Fatalf("reversal answered with %s", hostlink.Describe(resp))
	}
	if got := f.balance("bob-twd"); got != 11_900_000 {
		t.Errorf("balance after the partial reversal = %d, want 11900000", got)
	}

	stopClient()
	if err := <-ran; err != nil {
		t.Errorf("client Run: %v", err)
	}
	if on, _ := f.h.SignedOn(ctx, terminal); on {
		t.Error("terminal still signed on after the client stopped")
	}
	stop()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestServeNotOpen(t *testing.T) {
	h, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Serve(context.Background(), ln); err != ErrNotOpen {
		t.Errorf("Serve before Open: err = %v, want ErrNotOpen", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Serve left the listener open")
	}
}
