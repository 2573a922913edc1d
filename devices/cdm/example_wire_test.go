package cdm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/sim/wire"
)

// line is one line of the protocol page's example: bytes in one
// direction.
type line struct {
	toDevice bool
	b        []byte
}

// pageExample reads the byte-level example exchange of
// docs/devices/dispenser.md: each "host → device" and "device → host"
// line with its indented continuation lines, hex up to the first word
// that is not a byte.
func pageExample(t *testing.T) []line {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "devices", "dispenser.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []line
	section, fence := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "## ") {
			section = text == "## Example exchange"
			continue
		}
		if !section {
			continue
		}
		if strings.HasPrefix(text, "```") {
			if fence {
				return lines
			}
			fence = true
			continue
		}
		var fields []string
		switch {
		case !fence:
			continue
		case strings.HasPrefix(text, "host → device"):
			lines = append(lines, line{toDevice: true})
			fields = strings.Fields(text)[3:]
		case strings.HasPrefix(text, "device → host"):
			lines = append(lines, line{})
			fields = strings.Fields(text)[3:]
		case strings.HasPrefix(text, " ") && len(lines) > 0 && len(lines[len(lines)-1].b) > 0:
			fields = strings.Fields(text)
		}
		for _, fl := range fields {
			b, err := hex.DecodeString(fl)
			if err != nil || len(b) != 1 {
				break
			}
			lines[len(lines)-1].b = append(lines[len(lines)-1].b, b[0])
		}
	}
	t.Fatal("no example exchange in docs/devices/dispenser.md")
	return nil
}

// The page's example, byte for byte, on a pseudo-terminal: a playback
// device on the master checks every byte the driver's link sends (frames
// and ACKs) and answers with the page's bytes; the driver must decode
// them to the page's values.
func TestPageExample(t *testing.T) {
	lines := pageExample(t)
	if len(lines) != 18 {
		t.Fatalf("example has %d lines, want 18", len(lines))
	}
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	port, err := openPort(p.Path, 115200)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan rxFrame, 1)
	l := newLink(p.Path, port, zerolog.Nop(), func(f rxFrame) { events <- f })
	defer l.close()

	played := make(chan error, 1)
	go func() {
		for i, ln := range lines {
			if !ln.toDevice {
				if _, err := p.Master.Write(ln.b); err != nil {
					played <- err
					return
				}
				continue
			}
			got := make([]byte, len(ln.b))
			if _, err := io.ReadFull(p.Master, got); err != nil {
				played <- err
				return
			}
			if !bytes.Equal(got, ln.b) {
				played <- fmt.Errorf("line %d: driver sent\n% X\nwant\n% X", i+1, got, ln.b)
				return
			}
		}
		played <- nil
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call := func(seq, op byte, data []byte) reply {
		t.Helper()
		f, _, err := l.exchange(ctx, seq, op, data, time.Second)
		if err != nil {
			t.Fatalf("%s: %v", opNames[op], err)
		}
		r, err := parseReply(f.Data)
		if err != nil || r.status != rsOK {
			t.Fatalf("%s: reply %+v, %v", opNames[op], r, err)
		}
		return r
	}

	// 1. NONCE
	d := &decoder{p: call(1, opNonce, nil).rest}
	nonce := d.lstr()
	if want, _ := hex.DecodeString("00000000000000011122334455667788"); d.done() != nil || !bytes.Equal(nonce, want) {
		t.Fatalf("nonce % X, want % X", nonce, want)
	}
	// 2. DISPENSE
	req := dispenser.DispenseRequest{ATM: "ATM00001", Txn: "000123", Amount: 300000, Currency: "TWD",
		Mix: []dispenser.Notes{{Cassette: 1, Count: 3}}, Nonce: nonce}
	req.Token = dispenser.SignToken([]byte("0123456789abcdef0123456789abcdef"),
		dispenser.TokenData{ATM: req.ATM, Txn: req.Txn, Amount: req.Amount, Currency: req.Currency, Nonce: nonce})
	data, err := encodeDispense(req)
	if err != nil {
		t.Fatal(err)
	}
	dev := &Dev{log: zerolog.Nop()}
	res, err := dev.outcome(opDispense, call(2, opDispense, data), nil)
	if err != nil || res.Rejected != 0 || !slices.Equal(res.Dispensed, req.Mix) {
		t.Fatalf("dispense result %+v, %v", res, err)
	}
	// 3. PRESENT
	d = &decoder{p: call(3, opPresent, nil).rest}
	if n := d.uint16(); d.done() != nil || n != 3 {
		t.Fatalf("presented %d", n)
	}
	// 4. CASH-TAKEN
	select {
	case ev := <-events:
		if ev.Seq != 0 || ev.Cmd != evCashTaken || !bytes.Equal(ev.Data, []byte{0, 3}) {
			t.Fatalf("event %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no CASH-TAKEN event")
	}
	// 5. STATUS
	ds, err := parseStatus(call(4, opStatus, nil).rest)
	if err != nil {
		t.Fatal(err)
	}
	if ds.state != 0 || ds.fault != "" || ds.shutter || ds.stacked != 0 || ds.presented != 0 || !ds.taken || ds.nonce ||
		ds.maxNotes != 40 || len(ds.cassettes) != 3 || ds.cassettes[2] != (cassetteState{3, dispenser.CassetteOK}) {
		t.Fatalf("status %+v", ds)
	}
	select {
	case err := <-played:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the playback did not finish: the driver did not ACK the last response")
	}
}
