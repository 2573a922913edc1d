package pcsc

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal/cardreader"
)

// docExchange reads the ```apdu example of docs/devices/pcsc.md: the
// command/response pairs and the field 55 it ends with.
func docExchange(t *testing.T) (steps [][2]string, f55 string) {
	t.Helper()
	f, err := os.Open("../../docs/devices/pcsc.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string // "T> ...", "C< ...", "F55 ...", continuation lines joined
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "```apdu":
			in = true
		case in && l == "```":
			in = false
		case in && strings.HasPrefix(l, " ") && len(lines) > 0:
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
		case in:
			lines = append(lines, l)
		}
	}
	for _, l := range lines {
		kind, hexs, _ := strings.Cut(l, " ")
		switch kind {
		case "T>":
			steps = append(steps, [2]string{hexs, ""})
		case "C<":
			steps[len(steps)-1][1] = hexs
		case "F55":
			f55 = hexs
		default:
			t.Fatalf("doc example: unknown line %q", l)
		}
	}
	if len(steps) == 0 || f55 == "" {
		t.Fatal("doc example not found")
	}
	return steps, f55
}

// TestDocExample: the kernel sends exactly the doc's commands, reads the
// doc's card from the doc's responses and builds the doc's field 55.
func TestDocExample(t *testing.T) {
	steps, f55 := docExchange(t)
	s := &script{t: t, steps: steps}
	k := testKernel(s)
	c, err := k.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := cardreader.Card{PAN: "4761730000001019", PANSeq: "01", Expiry: "2912",
		Track2: "4761730000001019=29122011759825862847", Name: "LIN YA TING", Technology: cardreader.Chip,
		AID: AIDVisa}
	if c.PAN != want.PAN || c.PANSeq != want.PANSeq || c.Expiry != want.Expiry || c.Track2 != want.Track2 ||
		c.Name != want.Name || c.Technology != want.Technology || !bytes.Equal(c.AID, want.AID) {
		t.Fatalf("read %#v\nwant %#v", c, want)
	}
	got, err := k.generateAC(context.Background(), testTxn)
	if err != nil {
		t.Fatal(err)
	}
	s.done()
	if !bytes.Equal(got, unhex(t, f55)) {
		t.Fatalf("field 55 = % X\ndoc says   % X", got, unhex(t, f55))
	}
}
