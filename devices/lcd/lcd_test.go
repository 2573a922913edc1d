package lcd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/devices/lcd"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/opdisplay"
	"github.com/atmd/atmd/hal/opdisplay/opdisplaytest"
	"github.com/atmd/atmd/sim/wire"
	simlcd "github.com/atmd/atmd/sim/wire/lcd"
)

const wait = 5 * time.Second // bounds every step expected to finish

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

func testOptions(t *testing.T) lcd.Options {
	o := lcd.DefaultOptions
	o.Poll = 20 * time.Millisecond
	o.Redraw = -1
	o.Log = zerolog.New(zerolog.NewTestWriter(t))
	return o
}

func openPTY(t *testing.T) *wire.PTY {
	t.Helper()
	p, err := wire.OpenPTY()
	if err != nil {
		t.Fatalf("OpenPTY: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// serve runs a simulated display on the PTY's master until the test ends.
func serve(t *testing.T, p *wire.PTY, o simlcd.Options) *simlcd.Display {
	t.Helper()
	sim := simlcd.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, p.Master) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("simulator: %v", err)
		}
	})
	return sim
}

func newDev(t *testing.T, path string, o lcd.Options) *lcd.Dev {
	t.Helper()
	d, err := lcd.NewSerial(path, o)
	if err != nil {
		t.Fatalf("NewSerial: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// screen returns what the simulator shows once it has processed every
// byte the driver sent.
func screen(t *testing.T, d *lcd.Dev, sim *simlcd.Display) []string {
	t.Helper()
	if err := sim.WaitReceived(ctxFor(t), d.Sent()); err != nil {
		t.Fatalf("simulator got %d of %d bytes: %v", sim.Received(), d.Sent(), err)
	}
	return sim.Text()
}

func TestConformance(t *testing.T) {
	for _, size := range []opdisplay.Capabilities{{Rows: 4, Cols: 20}, {Rows: 2, Cols: 16}} {
		t.Run("", func(t *testing.T) {
			opdisplaytest.Run(t, func(t *testing.T) opdisplaytest.Harness {
				p := openPTY(t)
				sim := serve(t, p, simlcd.Options{Rows: size.Rows, Cols: size.Cols})
				o := testOptions(t)
				o.Rows, o.Cols = size.Rows, size.Cols
				d := newDev(t, p.Path, o)
				return opdisplaytest.Harness{Dev: d, Lines: func() []string { return screen(t, d, sim) }}
			})
		})
	}
}

func TestCharacters(t *testing.T) {
	p := openPTY(t)
	sim := serve(t, p, simlcd.DefaultOptions)
	d := newDev(t, p.Path, testOptions(t))
	if err := d.Show(ctxFor(t), []string{"Café þ ÿ", "提款 €", "\u00ad\u00a0x"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"Café ? ÿ", "?? ?", "\u00ad\u00a0x"}
	if got := screen(t, d, sim); !slices.Equal(got, want) {
		t.Errorf("screen %q, want %q", got, want)
	}
	if pr := sim.Problems(); len(pr) != 0 {
		t.Errorf("problems %q", pr)
	}
	a := testOptions(t)
	a.Charset = "ascii"
	p2 := openPTY(t)
	sim2 := serve(t, p2, simlcd.DefaultOptions)
	d2 := newDev(t, p2.Path, a)
	if err := d2.Show(ctxFor(t), []string{"Café"}); err != nil {
		t.Fatal(err)
	}
	if got := screen(t, d2, sim2); !slices.Equal(got, []string{"Caf?"}) {
		t.Errorf("ascii screen %q", got)
	}
}

// The adapter is unplugged: the driver notices without writing, reports
// OPD-OFFLINE, keeps the text it is given, and shows it on the display
// that comes back under the same name.
func TestPortGoneAndBack(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "opdisplay")
	first := openPTY(t)
	serve(t, first, simlcd.DefaultOptions)
	if err := os.Symlink(first.Path, link); err != nil {
		t.Fatal(err)
	}
	d := newDev(t, link, testOptions(t))
	if err := d.Show(ctxFor(t), []string{"READY"}); err != nil {
		t.Fatal(err)
	}
	first.Close()
	st, err := d.WaitStatus(ctxFor(t), func(st hal.Status) bool { return st.State == hal.Offline })
	if err != nil || st.Fault != lcd.FaultOffline {
		t.Fatalf("status %v (%v), want offline %s", st, err, lcd.FaultOffline)
	}
	err = d.Show(ctxFor(t), []string{"PRINTER", "PAPER OUT"})
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != lcd.FaultOffline || !f.Recoverable || !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("Show = %v, want a recoverable OPD-OFFLINE fault wrapping hal.ErrOffline", err)
	}

	second := openPTY(t)
	sim2 := serve(t, second, simlcd.DefaultOptions)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Symlink(second.Path, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitStatus(ctxFor(t), func(st hal.Status) bool { return st.State == hal.Online }); err != nil {
		t.Fatal(err)
	}
	want := []string{"PRINTER", "PAPER OUT"}
	if err := sim2.WaitText(ctxFor(t), func(l []string) bool { return slices.Equal(l, want) }); err != nil {
		t.Fatalf("new display shows %q: %v", sim2.Text(), err)
	}
	if !sim2.Backlight() {
		t.Error("backlight off after reopening")
	}
}

// The display loses power behind a live adapter: the driver cannot see
// it, but its periodic redraw shows the text again once power is back.
func TestRedrawAfterPowerLoss(t *testing.T) {
	p := openPTY(t)
	sim := serve(t, p, simlcd.DefaultOptions)
	o := testOptions(t)
	o.Redraw = 30 * time.Millisecond
	d := newDev(t, p.Path, o)
	want := []string{"IN SERVICE"}
	if err := d.Show(ctxFor(t), want); err != nil {
		t.Fatal(err)
	}
	if err := sim.Inject(simlcd.Offline); err != nil {
		t.Fatal(err)
	}
	if got := sim.Text(); len(got) != 0 {
		t.Fatalf("dead display shows %q", got)
	}
	sim.Clear()
	if err := sim.WaitText(ctxFor(t), func(l []string) bool { return slices.Equal(l, want) }); err != nil {
		t.Fatalf("display shows %q after power came back: %v", sim.Text(), err)
	}
}

// Bytes from the display (a keypad, noise) are read and dropped.
func TestNoiseFromTheDisplay(t *testing.T) {
	p := openPTY(t)
	sim := serve(t, p, simlcd.DefaultOptions)
	d := newDev(t, p.Path, testOptions(t))
	if _, err := p.Master.Write(bytes.Repeat([]byte{0x41, 0xFF, 0x00}, 100)); err != nil {
		t.Fatal(err)
	}
	if err := d.Show(ctxFor(t), []string{"OK"}); err != nil {
		t.Fatal(err)
	}
	if got := screen(t, d, sim); !slices.Equal(got, []string{"OK"}) {
		t.Errorf("screen %q", got)
	}
	if st := d.Status(); st.State != hal.Online {
		t.Errorf("Status = %v", st)
	}
}

func TestAbsentAtStart(t *testing.T) {
	d := newDev(t, filepath.Join(t.TempDir(), "none"), testOptions(t))
	if st := d.Status(); st.State != hal.Offline || st.Fault != lcd.FaultOffline {
		t.Errorf("Status = %v", st)
	}
	if err := d.Halt(ctxFor(t)); hal.FaultCode(err) != lcd.FaultOffline {
		t.Errorf("Halt = %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]lcd.Options{
		"rows":    {Rows: 0, Cols: 20},
		"charset": {Charset: "ebcdic"},
		"poll":    {Poll: -1},
	} {
		if _, err := lcd.NewSerial("/dev/null", o); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("%s: NewSerial = %v, want hal.ErrInvalid", name, err)
		}
	}
}

// document reads the example exchange (host bytes) and the screen that
// follows it from docs/devices/lcd.md.
func document(t *testing.T) (host []byte, rows []string) {
	t.Helper()
	f, err := os.Open("../../docs/devices/lcd.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
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
			fields := strings.Fields(l)
			if len(fields) < 4 || fields[0] != "host" {
				t.Fatalf("exchange line %q", l)
			}
			for _, x := range fields[3:] {
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
	if len(host) == 0 || len(rows) == 0 {
		t.Fatal("no example in the document")
	}
	return host, rows
}

// The document's example, against the driver: it must send exactly the
// document's bytes.
func TestDocumentExample(t *testing.T) {
	host, rows := document(t)
	p := openPTY(t)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(host))
		n, _ := io.ReadFull(p.Master, b)
		got <- b[:n]
	}()
	d := newDev(t, p.Path, testOptions(t))
	var lines []string
	for _, r := range rows {
		lines = append(lines, strings.TrimRight(r, " "))
	}
	if err := d.Show(ctxFor(t), lines); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, host) {
			t.Errorf("driver sent % X\ndocument says % X", b, host)
		}
	case <-time.After(wait):
		t.Fatal("driver sent too little")
	}
	if n, err := unix.IoctlGetInt(int(p.Master.Fd()), unix.TIOCINQ); err != nil || n != 0 {
		t.Errorf("driver sent %d bytes beyond the document (%v)", n, err)
	}
}
