package escpos_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/devices/escpos"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// step is one line of an example exchange in the protocol document.
type step struct {
	host bool // host → printer
	b    []byte
}

// exchanges reads the ```exchange blocks of docs/devices/escpos.md.
func exchanges(t *testing.T) [][]step {
	t.Helper()
	f, err := os.Open("../../docs/devices/escpos.md")
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

// play acts the printer's side of an exchange on the master: it expects
// exactly the host's bytes and sends the printer's. It reports the
// first difference, or nil once every step is done.
func play(master *os.File, steps []step) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i, s := range steps {
			if !s.host {
				if _, err := master.Write(s.b); err != nil {
					done <- err
					return
				}
				continue
			}
			got := make([]byte, len(s.b))
			if _, err := io.ReadFull(master, got); err != nil {
				done <- err
				return
			}
			if !bytes.Equal(got, s.b) {
				done <- fmt.Errorf("step %d: driver sent % X, document says % X", i+1, got, s.b)
				return
			}
		}
		done <- nil
	}()
	return done
}

// The document's examples, played against the driver: the driver must
// send exactly the document's bytes and make of the answers what the
// document says.
func TestDocumentExamples(t *testing.T) {
	ex := exchanges(t)
	receipt := printer.Receipt{Lines: []string{"ATMD BANK", "提款 1,500 元", "Café"}, Cut: true}
	for i, check := range []func(t *testing.T, d *escpos.Dev, err error){
		func(t *testing.T, d *escpos.Dev, err error) {
			if err != nil {
				t.Fatalf("Print: %v", err)
			}
			if st := d.Status(); st.State != hal.Online || st.Fault != "" || st.Extra["paper"] != "low" {
				t.Errorf("Status = %v %v, want online, paper low", st, st.Extra)
			}
		},
		func(t *testing.T, d *escpos.Dev, err error) {
			if !errors.Is(err, printer.ErrPaperOut) || hal.FaultCode(err) != escpos.FaultPaperOut {
				t.Errorf("Print = %v, want PRN-PAPER-OUT wrapping printer.ErrPaperOut", err)
			}
			if st := d.Status(); st.State != hal.UserError || st.Fault != escpos.FaultPaperOut || st.Extra["paper"] != "out" {
				t.Errorf("Status = %v %v", st, st.Extra)
			}
		},
	} {
		t.Run(fmt.Sprint("example", i+1), func(t *testing.T) {
			p := openPTY(t)
			done := play(p.Master, ex[i])
			o := testOptions()
			d := newDev(t, p.Path, o)
			err := d.Print(ctxFor(t), receipt)
			select {
			case perr := <-done:
				if perr != nil {
					t.Fatal(perr)
				}
			case <-time.After(wait):
				t.Fatal("the exchange did not complete")
			}
			check(t, d, err)
			if n, err := unix.IoctlGetInt(int(p.Master.Fd()), unix.TIOCINQ); err != nil || n != 0 {
				t.Errorf("driver sent %d bytes beyond the document (%v)", n, err)
			}
		})
	}
}
