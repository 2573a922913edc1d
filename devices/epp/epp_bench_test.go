package epp_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/sim/wire"
	simepp "github.com/atmd/atmd/sim/wire/epp"
)

// BenchmarkFrame is the time of one command exchange on the serial link
// (docs/devices/framing.md): command frame, ACK, response frame, ACK.
//
// "driver" is BEEP (1 data byte, a 9-byte frame each way) through the
// real driver (devices/epp, tarm/serial) against the wire simulator
// (sim/wire/epp) over a pseudo-terminal. "transport" is the same bytes
// through the same kind of pseudo-terminal with nothing but a read and a
// write on either end: the cost of the transport itself. The driver's
// overhead per frame is the difference.
func BenchmarkFrame(b *testing.B) {
	b.Run("driver", func(b *testing.B) {
		p, err := wire.OpenPTY()
		if err != nil {
			b.Fatal(err)
		}
		sim := simepp.New(simepp.DefaultOptions)
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- sim.Serve(ctx, p.Master) }()
		port := filepath.Join(b.TempDir(), "ttyEPP")
		if err := os.Symlink(p.Path, port); err != nil {
			b.Fatal(err)
		}
		// No background GET-STATUS while measuring.
		dev, err := epp.NewSerial(port, epp.Options{Poll: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			dev.Close()
			cancel()
			<-served
			p.Close()
		}()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if err := dev.Beep(wctx, epp.ToneClick); err != nil { // connects
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := dev.Beep(wctx, epp.ToneClick); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("transport", func(b *testing.B) { ptyExchange(b, 9, 1+9) })
}

// ptyExchange is one command exchange's bytes over a raw pseudo-terminal
// and nothing else: the host end writes cmd bytes, the device end reads
// them and answers resp bytes (ACK and response frame), the host end
// reads those and writes a 1-byte ACK, which the device end reads.
func ptyExchange(b *testing.B, cmd, resp int) {
	p, err := wire.OpenPTY()
	if err != nil {
		b.Fatal(err)
	}
	host, err := os.OpenFile(p.Path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		p.Close()
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		in, out := make([]byte, cmd), make([]byte, resp)
		ack := make([]byte, 1)
		for {
			if _, err := io.ReadFull(p.Master, in); err != nil {
				return
			}
			if _, err := p.Master.Write(out); err != nil {
				return
			}
			if _, err := io.ReadFull(p.Master, ack); err != nil {
				return
			}
		}
	}()
	defer func() {
		host.Close()
		p.Close()
		<-done
	}()
	out, in, ack := make([]byte, cmd), make([]byte, resp), []byte{0x06}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := host.Write(out); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(host, in); err != nil {
			b.Fatal(err)
		}
		if _, err := host.Write(ack); err != nil {
			b.Fatal(err)
		}
	}
}
