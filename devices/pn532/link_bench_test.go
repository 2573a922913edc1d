package pn532

import (
	"context"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tarm/serial"

	"github.com/atmd/atmd/sim/wire"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
)

// BenchmarkFrame is the time of one PN532 command exchange on the HSU
// serial link (UM0701-02): command frame, ACK frame, response frame.
//
// "driver" is GetFirmwareVersion (a 9-byte command; a 6-byte ACK and a
// 13-byte response) through the driver's link layer (framing, checksums,
// ACK wait, tarm/serial) against the PN532 wire simulator
// (sim/wire/pn532) over a pseudo-terminal. "transport" is the same bytes
// through the same kind of pseudo-terminal with nothing but a read and a
// write on either end. The driver's overhead per frame is the
// difference.
func BenchmarkFrame(b *testing.B) {
	b.Run("driver", func(b *testing.B) {
		p, err := wire.OpenPTY()
		if err != nil {
			b.Fatal(err)
		}
		sim := pn532sim.New(pn532sim.DefaultOptions)
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- sim.Serve(ctx, p.Master) }()
		opts := DefaultOptions
		if err := opts.fill(); err != nil {
			b.Fatal(err)
		}
		port, err := serial.OpenPort(&serial.Config{Name: p.Path, Baud: opts.Baud, ReadTimeout: readSlice})
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			port.Close()
			cancel()
			p.Close()
			<-served
		}()
		l := newLink(port, &opts, zerolog.Nop())
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if _, err := l.command(wctx, cmdGetFirmwareVersion, nil, opts.ResponseTimeout); err != nil { // wakes it up
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.command(wctx, cmdGetFirmwareVersion, nil, opts.ResponseTimeout); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("transport", func(b *testing.B) { ptyExchange(b, 9, 6+13) })
}

// ptyExchange is one command exchange's bytes over a raw pseudo-terminal
// and nothing else: the host end writes cmd bytes, the device end reads
// them and answers resp bytes (ACK frame and response frame), which the
// host end reads.
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
		for {
			if _, err := io.ReadFull(p.Master, in); err != nil {
				return
			}
			if _, err := p.Master.Write(out); err != nil {
				return
			}
		}
	}()
	defer func() {
		host.Close()
		p.Close()
		<-done
	}()
	out, in := make([]byte, cmd), make([]byte, resp)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := host.Write(out); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(host, in); err != nil {
			b.Fatal(err)
		}
	}
}
