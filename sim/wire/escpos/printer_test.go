package escpos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/sim/wire"
	"github.com/atmd/atmd/sim/wire/escpos"
)

const wait = 5 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// feed runs bytes through a fresh parser on p and returns the answer.
func feed(p *escpos.Printer, b ...[]byte) []byte {
	var parser escpos.Parser
	var out []byte
	for _, x := range b {
		out = append(out, p.Feed(&parser, x)...)
	}
	return out
}

var statusAll = []byte{0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x03, 0x10, 0x04, 0x04}

func TestStatusBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*escpos.Printer)
		want []byte
	}{
		{"ready", func(*escpos.Printer) {}, []byte{0x12, 0x12, 0x12, 0x12}},
		{"paper low", func(p *escpos.Printer) { p.SetPaper("low") }, []byte{0x12, 0x12, 0x12, 0x1E}},
		{"paper out", func(p *escpos.Printer) { p.Inject(escpos.PaperOut) }, []byte{0x1A, 0x32, 0x12, 0x7E}},
		{"cover open", func(p *escpos.Printer) { p.Inject(escpos.CoverOpen) }, []byte{0x1A, 0x16, 0x12, 0x12}},
		{"cutter", func(p *escpos.Printer) { p.Inject(escpos.Jam) }, []byte{0x1A, 0x52, 0x1A, 0x12}},
		{"unrecoverable", func(p *escpos.Printer) { p.Inject(escpos.Hardware) }, []byte{0x1A, 0x52, 0x32, 0x12}},
		{"garbage", func(p *escpos.Printer) { p.Inject(escpos.Protocol) }, []byte{0xFF, 0xFF, 0xFF, 0xFF}},
		{"silent", func(p *escpos.Printer) { p.Inject(escpos.Offline) }, nil},
		{"truncated", func(p *escpos.Printer) { p.SetTruncate(true) }, []byte{0x12, 0x12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := escpos.New(escpos.Options{})
			tc.set(p)
			if got := feed(p, statusAll); !bytes.Equal(got, tc.want) {
				t.Errorf("answers % X, want % X", got, tc.want)
			}
			p.Clear()
			if got := feed(p, statusAll); !bytes.Equal(got, []byte{0x12, 0x12, 0x12, 0x12}) {
				t.Errorf("after Clear: % X", got)
			}
		})
	}
}

func TestRenderReceipts(t *testing.T) {
	p := escpos.New(escpos.Options{Cols: 10})
	out := feed(p,
		[]byte("\x1b@\x1bt\x00HELLO\n\n0123456789ABC\n"),            // wraps at 10 columns
		[]byte("\x1c&\xb4\xa3\xb4\xda\xb4\xa3\xb4\xda\xb4\xa3\xb4"), // 5 Big5 characters fill a line; the 6th is cut
		[]byte("\xda\n\x1c.\x82\x1bd\x04"),
		[]byte("\x1d\x56\x42\x00\x1d\x72\x01"),
		[]byte("\x1b@second\n\x1bd\x03"),
	)
	if !bytes.Equal(out, []byte{0x00}) {
		t.Errorf("answers % X, want the GS r answer 00", out)
	}
	want := []printer.Receipt{
		{Lines: []string{"HELLO", "", "0123456789", "ABC", "提款提款提", "款", "é"}, Cut: true},
		{Lines: []string{"second"}},
	}
	if got := p.Receipts(); !reflect.DeepEqual(got, want) {
		t.Errorf("receipts %+v\nwant     %+v", got, want)
	}
	if pr := p.Problems(); len(pr) != 0 {
		t.Errorf("problems %q", pr)
	}
	// ESC @ ends the open receipt.
	feed(p, []byte("\x1b@"))
	got, err := p.WaitReceipts(ctxFor(t), 2)
	if err != nil || len(got) != 2 || got[1].Cut {
		t.Errorf("WaitReceipts = %+v, %v", got, err)
	}
}

func TestCodeTables(t *testing.T) {
	p := escpos.New(escpos.Options{})
	feed(p, []byte("\x1b@\x1bt\x13\x80\xd5\n\x1bt\x10\x80\n\x1bt\x05\x80X\n\x1dV\x00"))
	want := []string{"Ç€", "€", "\uFFFDX"}
	if got := p.Receipts(); len(got) != 1 || !reflect.DeepEqual(got[0].Lines, want) {
		t.Errorf("receipts %+v, want %q", got, want)
	}
	if pr := p.Problems(); len(pr) != 1 || !strings.Contains(pr[0], "ESC t 5") {
		t.Errorf("problems %q, want the unknown code table", pr)
	}
}

func TestOfflineDropsAllButRealtime(t *testing.T) {
	p := escpos.New(escpos.Options{})
	p.SetPaper("out")
	out := feed(p, []byte("\x1b@LOST\n\x1dV\x00\x1dr\x01"), []byte{0x10, 0x04, 0x04})
	if !bytes.Equal(out, []byte{0x7E}) {
		t.Errorf("answers % X, want only the real-time 7E", out)
	}
	if got := p.Receipts(); len(got) != 0 {
		t.Errorf("printed %+v while out of paper", got)
	}
}

func TestJamNextCut(t *testing.T) {
	p := escpos.New(escpos.Options{})
	p.JamNextCut()
	out := feed(p, []byte("\x1b@A\n\x1dVB\x00\x1dr\x01"), statusAll)
	if !bytes.Equal(out, []byte{0x1A, 0x52, 0x1A, 0x12}) {
		t.Errorf("answers % X: want no GS r answer, then a cutter error", out)
	}
	if got := p.Receipts(); len(got) != 1 || got[0].Cut {
		t.Errorf("receipts %+v, want one, uncut", got)
	}
}

func TestUnknownAndBadInput(t *testing.T) {
	p := escpos.New(escpos.Options{})
	out := feed(p, []byte{0x1B, 0x01, 0x07, 0x10, 0x04, 0x09, 0x1D, 0x72, 0x07, 'O', 'K', '\n'})
	if len(out) != 0 {
		t.Errorf("answers % X to bad requests", out)
	}
	if got := p.Problems(); len(got) != 4 {
		t.Errorf("problems %q, want 4", got)
	}
	if got := p.Receipts(); len(got) != 1 || got[0].Lines[0] != "OK" {
		t.Errorf("receipts %+v", got)
	}
}

func TestControl(t *testing.T) {
	p := escpos.New(escpos.Options{})
	if err := p.SetPaper("wet"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("SetPaper(wet) = %v", err)
	}
	if err := p.Inject("PRN-SMOKE"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(PRN-SMOKE) = %v", err)
	}
	if p.String() == "" {
		t.Error("String is empty")
	}
}

// step is one line of an example exchange in the protocol document.
type step struct {
	host bool // host → printer
	b    []byte
}

// exchanges reads the ```exchange blocks of the ESC/POS document.
func exchanges(t *testing.T) [][]step {
	t.Helper()
	f, err := os.Open("../../../docs/devices/escpos.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]step
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "```exchange":
			in = true
			out = append(out, nil)
			continue
		case in && l == "```":
			in = false
			continue
		case !in:
			continue
		}
		fields := strings.Fields(l)
		if len(fields) < 4 || fields[1] != "→" {
			t.Fatalf("exchange line %q", l)
		}
		s := step{host: fields[0] == "host"}
		for _, x := range fields[3:] {
			b, err := hex.DecodeString(x)
			if err != nil || len(b) != 1 {
				break
			}
			s.b = append(s.b, b...)
		}
		out[len(out)-1] = append(out[len(out)-1], s)
	}
	if len(out) < 2 {
		t.Fatalf("found %d example exchanges", len(out))
	}
	return out
}

// The document's examples, played against the simulator over a
// pseudo-terminal: every answer byte must match.
func TestDocumentExamples(t *testing.T) {
	// What the far side does before a step: the roll reaches its near end
	// between opening and printing in the first example, and is out from
	// the start in the second.
	setups := []map[int]func(*escpos.Printer){
		{3: func(p *escpos.Printer) { p.SetPaper("low") }},
		{0: func(p *escpos.Printer) { p.SetPaper("out") }},
	}
	for i, ex := range exchanges(t) {
		pty, err := wire.OpenPTY()
		if err != nil {
			t.Fatal(err)
		}
		p := escpos.New(escpos.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Serve(ctx, pty.Master) }()
		peer, err := os.OpenFile(pty.Path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for n, s := range ex {
			if i < len(setups) && setups[i][n] != nil {
				setups[i][n](p)
			}
			if s.host {
				if _, err := peer.Write(s.b); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got := make([]byte, len(s.b))
			if _, err := io.ReadFull(peer, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, s.b) {
				t.Errorf("example %d step %d: printer sent % X, document says % X", i+1, n+1, got, s.b)
			}
		}
		if i == 0 {
			got, err := p.WaitReceipts(ctxFor(t), 1)
			want := []printer.Receipt{{Lines: []string{"ATMD BANK", "提款 1,500 元", "Café"}, Cut: true}}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("example 1 printed %+v (%v), want %+v", got, err, want)
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
		peer.Close()
		pty.Close()
	}
}

// Serve on a pseudo-terminal master returns when its context ends, and a
// second Serve on the same line is its only reader.
func TestServeTwiceOnOneLine(t *testing.T) {
	pty, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	peer, err := os.OpenFile(pty.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	p := escpos.New(escpos.Options{})
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Serve(ctx, pty.Master) }()
		if _, err := peer.Write(statusAll); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, []byte{0x12, 0x12, 0x12, 0x12}) {
			t.Fatalf("answers % X, %v", got, err)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Serve = %v", err)
			}
		case <-time.After(wait):
			t.Fatal("Serve did not return after cancel")
		}
	}
}

// Under PRN-TIMEOUT the answers come Options.Delay late.
func TestLateAnswers(t *testing.T) {
	pty, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	peer, err := os.OpenFile(pty.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	p := escpos.New(escpos.Options{Delay: 200 * time.Millisecond})
	p.Inject(escpos.Timeout)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Serve(ctx, pty.Master)
	start := time.Now()
	if _, err := peer.Write(statusAll[:3]); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1)
	if _, err := io.ReadFull(peer, got); err != nil || got[0] != 0x12 {
		t.Fatalf("answer % X, %v", got, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answer after %v, want at least the delay", d)
	}
}

// FuzzPrinter: any stream, cut anywhere, drives the printer without
// panicking; every answer byte is a status byte a printer sends; no
// printed line is wider than the paper.
func FuzzPrinter(f *testing.F) {
	f.Add([]byte("\x1b@\x1bt\x00\x1c.ATMD\n\x1c&\xb4\xa3\xb4\xda\n\x1dVB\x00\x1dr\x01"), 7)
	f.Add(append(statusAll, 0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 0x01, 0x00, 0xFF, 'A', '\n'), 3)
	f.Add([]byte{0x1C, 0x26, 0xA4, 0xB8, 0xA4, 0xB8, 0xA4, 0xB8, 0xA4, 0xB8, 0xA4, 0xB8, 0x0A}, 0)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		cut = int(uint(cut) % uint(len(data)+1))
		p := escpos.New(escpos.Options{Cols: 8})
		out := feed(p, data[:cut], data[cut:])
		for _, b := range out {
			realtime := b&0x93 == 0x12
			paper := b&0x90 == 0
			if !realtime && !paper {
				t.Fatalf("answer byte %02X", b)
			}
		}
		for _, r := range p.Receipts() {
			for _, l := range r.Lines {
				w := 0
				for _, c := range l {
					w++
					if c >= 0x1100 && c != '\uFFFD' {
						w++ // a Big5 character
					}
				}
				if w > 8*2 {
					t.Fatalf("line %q too wide", l)
				}
			}
		}
	})
}
