package cdm_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/cdm"
	"github.com/atmd/atmd/sim/wire"
	simcdm "github.com/atmd/atmd/sim/wire/cdm"
)

// BenchmarkFrame is the time of one command exchange on the dispenser's
// serial link (docs/devices/framing.md): command frame, ACK, response
// frame, ACK.
//
// "driver" is CASSETTES (no data; the answer carries the retract bin and
// one 30-byte record per cassette) through the real driver (devices/cdm,
// tarm/serial) against the wire simulator (sim/wire/cdm) over a
// pseudo-terminal. "transport" is the same number of bytes through the
// same kind of pseudo-terminal with nothing but a read and a write on
// either end. The driver's overhead per frame is the difference.
func BenchmarkFrame(b *testing.B) {
	cassettes := len(simcdm.DefaultOptions.Cassettes)
	b.Run("driver", func(b *testing.B) {
		p, err := wire.OpenPTY()
		if err != nil {
			b.Fatal(err)
		}
		so := simcdm.DefaultOptions
		so.Key = testKey
		so.StateFile = filepath.Join(b.TempDir(), "cdm.json")
		s, err := simcdm.New(so)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, p.Master) }()
		port := filepath.Join(b.TempDir(), "ttyCDM")
		if err := os.Symlink(p.Path, port); err != nil {
			b.Fatal(err)
		}
		do := cdm.DefaultOptions
		do.Poll = -1 // no background STATUS while measuring
		dev, err := cdm.NewSerial(port, do)
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			dev.Close()
			cancel()
			p.Close()
			<-served
		}()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		cs, err := dev.Cassettes(wctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) != cassettes {
			b.Fatalf("%d cassettes, want %d", len(cs), cassettes)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dev.Cassettes(wctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Command frame: STX SEQ LEN(2) CMD CRC(2) ETX. Answer: ACK, then the
	// frame with status, RETRACT-BIN u32, N u8 and N records.
	b.Run("transport", func(b *testing.B) { ptyExchange(b, 8, 1+8+1+4+1+30*cassettes) })
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
