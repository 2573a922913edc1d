package vcard

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/sim/host/seed"
)

// docBlock returns the lines of the fenced block ```name of
// docs/devices/pcsc.md, continuation lines joined and comments dropped,
// split into direction ("R>", "T>", "C<", "F55") and bytes.
func docBlock(t *testing.T, name string) [][2]string {
	t.Helper()
	f, err := os.Open("../../../docs/devices/pcsc.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l, _, _ := strings.Cut(sc.Text(), "#")
		switch {
		case l == "```"+name:
			in = true
		case in && l == "```":
			in = false
		case in && strings.HasPrefix(l, " ") && len(out) > 0:
			out[len(out)-1][1] += " " + strings.TrimSpace(l)
		case in:
			dir, rest, _ := strings.Cut(l, " ")
			out = append(out, [2]string{dir, strings.TrimSpace(rest)})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no ```%s block in the doc", name)
	}
	return out
}

func aliceFromSeed(t *testing.T) *Card {
	t.Helper()
	s, err := seed.Load("../../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := s.Card("alice-debit")
	if !ok {
		t.Fatal("no alice-debit in the seed")
	}
	return newCard(t, ProfileFromSeed(sc))
}

// serveOnPipe runs the card on one end of a pipe and returns the other.
func serveOnPipe(t *testing.T, c *Card) net.Conn {
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Serve(ctx, a)
	}()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	b.SetDeadline(time.Now().Add(10 * time.Second))
	return b
}

// TestDocVPCDExample replays the vpcd framing example byte for byte.
func TestDocVPCDExample(t *testing.T) {
	conn := serveOnPipe(t, aliceFromSeed(t))
	for _, l := range docBlock(t, "vpcd") {
		b := unhex(t, l[1])
		switch l[0] {
		case "R>":
			if _, _, err := ParseFrame(b); err != nil {
				t.Fatalf("doc frame %s: %v", l[1], err)
			}
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		case "C<":
			p, err := ReadFrame(conn)
			if err != nil {
				t.Fatal(err)
			}
			fr, _ := AppendFrame(nil, p)
			if !bytes.Equal(fr, b) {
				t.Fatalf("card sent % X\ndoc says  % X", fr, b)
			}
		default:
			t.Fatalf("unknown line %v", l)
		}
	}
}

// TestDocAPDUExample: the seed's alice-debit answers the doc's commands
// with exactly the doc's responses, cryptogram included.
func TestDocAPDUExample(t *testing.T) {
	conn := serveOnPipe(t, aliceFromSeed(t))
	on, _ := AppendFrame(nil, []byte{CtrlPowerOn})
	if _, err := conn.Write(on); err != nil {
		t.Fatal(err)
	}
	n := 0
	var pending []byte
	for _, l := range docBlock(t, "apdu") {
		switch l[0] {
		case "T>":
			pending = unhex(t, l[1])
		case "C<":
			fr, _ := AppendFrame(nil, pending)
			if _, err := conn.Write(fr); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFrame(conn)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, l[1]); !bytes.Equal(got, want) {
				t.Fatalf("answer to % X\n= % X\ndoc says % X", pending, got, want)
			}
			n++
		}
	}
	if n != 8 {
		t.Fatalf("%d exchanges in the doc, want 8", n)
	}
}
