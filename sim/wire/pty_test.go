package wire

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/tarm/serial"
)

// Binary bytes, control characters included, pass both ways unchanged
// between a simulator on the master and a tarm/serial driver on the slave.
func TestPTYCarriesBinaryBothWays(t *testing.T) {
	p, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	port, err := serial.OpenPort(&serial.Config{Name: p.Path, Baud: 115200, ReadTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if _, err := port.Write(all); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(all))
	if _, err := io.ReadFull(p.Master, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, all) {
		t.Fatalf("driver → simulator bytes changed")
	}
	if _, err := p.Master.Write(all); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	buf := make([]byte, 64)
	for len(got) < len(all) {
		n, err := port.Read(buf)
		if n == 0 && err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, all) {
		t.Fatalf("simulator → driver bytes changed")
	}
}
