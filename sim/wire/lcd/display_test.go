package lcd_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/sim/wire"
	"github.com/atmd/atmd/sim/wire/lcd"
)

func feed(d *lcd.Display, b ...[]byte) {
	var p lcd.Parser
	for _, x := range b {
		d.Feed(&p, x)
	}
}

func TestParse(t *testing.T) {
	var p lcd.Parser
	var got []string
	for _, chunk := range [][]byte{{'A', 0xFE}, {0x47, 0x01}, {0x02, 'B', 0xFE, 0x00, 0xFE, 0x58}} {
		for _, c := range p.Feed(chunk) {
			got = append(got, c.String())
		}
	}
	want := []string{"text 41", "set cursor 01 02", "text 42", "unknown FE 00", "clear "}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %q\nwant   %q", got, want)
	}
}

func TestScreenSemantics(t *testing.T) {
	d := lcd.New(lcd.Options{Rows: 2, Cols: 4})
	feed(d, []byte("ABCDEF")) // wrap on: continues on row 2
	if got := d.Lines(); !slices.Equal(got, []string{"ABCD", "EF  "}) {
		t.Errorf("wrap: %q", got)
	}
	feed(d, []byte("GHIJ")) // past the last row: scrolls up
	if got := d.Lines(); !slices.Equal(got, []string{"EFGH", "IJ  "}) {
		t.Errorf("scroll: %q", got)
	}
	feed(d, []byte{0xFE, 0x58, 0xFE, 0x44, 'W', 'X', 'Y', 'Z', '!', 0xFE, 0x47, 0x02, 0x02, 'q'})
	if got := d.Lines(); !slices.Equal(got, []string{"WXYZ", " q  "}) {
		t.Errorf("no wrap, set cursor: %q", got)
	}
	feed(d, []byte{0xFE, 0x43, 0xFE, 0x52, 0xFE, 0x47, 0x04, 0x02, 'k', 'l'}) // wrap, no scroll: back to the top
	if got := d.Lines(); !slices.Equal(got, []string{"lXYZ", " q k"}) {
		t.Errorf("no scroll: %q", got)
	}
	feed(d, []byte{0xFE, 0x47, 0x05, 0x01, 0xFE, 0x36, 0xFE, 0x01, 0x03, 0x0A, 0x9B})
	if got := d.Problems(); len(got) != 5 {
		t.Errorf("problems %q, want 5: cursor off screen, read-back, unknown, two bad bytes", got)
	}
	feed(d, []byte{0xFE, 0x46, 0xFE, 0x53})
	if _, _, visible := d.Cursor(); !visible || d.Backlight() {
		t.Error("block cursor on and backlight off not applied")
	}
}

func TestPowerLoss(t *testing.T) {
	d := lcd.New(lcd.DefaultOptions)
	feed(d, []byte("HELLO"))
	if err := d.Inject("OPD-SMOKE"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(OPD-SMOKE) = %v", err)
	}
	if err := d.Inject(lcd.Offline); err != nil {
		t.Fatal(err)
	}
	feed(d, []byte("IGNORED"))
	if got := d.Text(); len(got) != 0 || d.Backlight() {
		t.Errorf("dead display shows %q", got)
	}
	d.Clear()
	feed(d, []byte("BACK"))
	if got := d.Text(); !slices.Equal(got, []string{"BACK"}) {
		t.Errorf("after Clear: %q", got)
	}
	if d.Received() != 5+7+4 {
		t.Errorf("Received = %d", d.Received())
	}
}

// FuzzParser: any stream, in one piece or two, parses alike and without
// panicking; the display never breaks its grid.
func FuzzParser(f *testing.F) {
	f.Add([]byte{0xFE, 0x58, 0xFE, 0x47, 0x01, 0x01, 'A', 0xE9}, 3)
	f.Add([]byte{0xFE, 0x40, 'x', 0xFE, 0x4E, 1, 2, 3}, 1)
	f.Add([]byte{0xFE}, 0)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		if cut < 0 {
			cut = -cut
		}
		cut %= len(data) + 1
		var one, two lcd.Parser
		a := join(one.Feed(data))
		b := join(append(two.Feed(data[:cut]), two.Feed(data[cut:])...))
		if a != b {
			t.Fatalf("one piece: %s\ntwo pieces: %s", a, b)
		}
		d := lcd.New(lcd.Options{Rows: 2, Cols: 3})
		feed(d, data)
		for _, l := range d.Lines() {
			if len([]rune(l)) != 3 {
				t.Fatalf("row %q", l)
			}
		}
	})
}

// join renders elements with adjacent text merged.
func join(cmds []lcd.Cmd) string {
	var sb strings.Builder
	text := false
	for _, c := range cmds {
		if c.Text != nil {
			if !text {
				sb.WriteString("|text ")
			}
			sb.WriteString(hex.EncodeToString(c.Text))
			text = true
			continue
		}
		text = false
		sb.WriteString("|" + c.String())
	}
	return sb.String()
}

// The document's example, against the simulator over a pseudo-terminal:
// the screen must be the document's.
func TestDocumentExample(t *testing.T) {
	f, err := os.Open("../../../docs/devices/lcd.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var host []byte
	var rows []string
	block := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```") && block == "":
			block = strings.TrimPrefix(l, "```")
		case l == "```":
			block = ""
		case block == "exchange":
			for _, x := range strings.Fields(l)[3:] {
				b, err := hex.DecodeString(x)
				if err != nil || len(b) != 1 {
					break
				}
				host = append(host, b...)
			}
		case block == "screen":
			rows = append(rows, strings.Trim(l, "|"))
		}
	}
	pty, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	d := lcd.New(lcd.DefaultOptions)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, pty.Master) }()
	peer, err := os.OpenFile(pty.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Write(host); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitReceived(ctx, uint64(len(host))); err != nil {
		t.Fatal(err)
	}
	if got := d.Lines(); !slices.Equal(got, rows) {
		t.Errorf("screen %q\nwant   %q", got, rows)
	}
	if _, _, visible := d.Cursor(); visible || !d.Backlight() || len(d.Problems()) > 0 {
		t.Errorf("cursor visible %v, backlight %v, problems %q", visible, d.Backlight(), d.Problems())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v", err)
	}
}
