package printertest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/printer"
)

// Harness is a printer under test plus the far side: the paper that comes
// out and the paper roll.
type Harness struct {
	// Dev is the device under test.
	Dev printer.Printer
	// Printed returns the receipts printed so far, in order, as they came
	// out (wrapped lines; Cut as performed).
	Printed func() []printer.Receipt
	// SetPaper sets the paper roll to "ok", "low" or "out".
	SetPaper func(state string) error
}

// PaperOutCode is the fault a printer out of paper reports.
const PaperOutCode = "PRN-PAPER-OUT"

const wait = 5 * time.Second // bounds every step expected to finish

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online printer with paper; it should register its own
// cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"Print", testPrint},
		{"Wrap", testWrap},
		{"InvalidReceipts", testInvalid},
		{"Paper", testPaper},
		{"EndedContext", testEndedContext},
		{"Halt", testHalt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testIdentity(t *testing.T, h Harness) {
	if h.Dev.String() == "" {
		t.Error("String is empty")
	}
	st := h.Dev.Status()
	if st.State != hal.Online || st.Fault != "" || st.Extra["paper"] != "ok" {
		t.Errorf("fresh Status = %v %v, want online without fault and paper ok", st, st.Extra)
	}
	if c := h.Dev.Capabilities(); c.Cols < 16 {
		t.Errorf("Capabilities.Cols = %d, want at least 16", c.Cols)
	}
}

func testPrint(t *testing.T, h Harness) {
	cut := h.Dev.Capabilities().Cut
	receipts := []printer.Receipt{
		{Lines: []string{"ATMD BANK", "", "WITHDRAWAL   1,500.00", "CARD **** 0119"}, Cut: true},
		{Lines: []string{"提款 1,500 元"}, Cut: false},
	}
	for _, r := range receipts {
		if err := h.Dev.Print(timeout(t), r); err != nil {
			t.Fatalf("Print: %v", err)
		}
	}
	got := h.Printed()
	if len(got) != len(receipts) {
		t.Fatalf("printed %d receipts, want %d", len(got), len(receipts))
	}
	for i, r := range receipts {
		r.Cut = r.Cut && cut
		if !reflect.DeepEqual(got[i], r) {
			t.Errorf("receipt %d printed as %+v, want %+v", i, got[i], r)
		}
	}
}

func testWrap(t *testing.T, h Harness) {
	cols := h.Dev.Capabilities().Cols
	long := strings.Repeat("0123456789", cols/10+1)[:cols] + strings.Repeat("é", cols) + "END"
	if err := h.Dev.Print(timeout(t), printer.Receipt{Lines: []string{"HEAD", long}}); err != nil {
		t.Fatalf("Print: %v", err)
	}
	got := h.Printed()
	if len(got) != 1 {
		t.Fatalf("printed %d receipts, want 1", len(got))
	}
	r := []rune(long)
	want := []string{"HEAD", string(r[:cols]), string(r[cols : 2*cols]), "END"}
	if !reflect.DeepEqual(got[0].Lines, want) {
		t.Errorf("long line printed as %q, want %q", got[0].Lines, want)
	}
}

func testInvalid(t *testing.T, h Harness) {
	for name, r := range map[string]printer.Receipt{
		"no-lines": {},
		"escape":   {Lines: []string{"TOTAL", "\x1bp\x00\x19\xfa"}}, // ESC p: open the cash drawer
		"newline":  {Lines: []string{"A\nB"}},
		"bad-utf8": {Lines: []string{"\xff\xfe"}},
	} {
		if err := h.Dev.Print(timeout(t), r); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("%s: Print = %v, want hal.ErrInvalid", name, err)
		}
	}
	if got := h.Printed(); len(got) != 0 {
		t.Errorf("refused receipts printed %+v", got)
	}
}

func testPaper(t *testing.T, h Harness) {
	r := printer.Receipt{Lines: []string{"PAPER TEST"}}
	steps := []struct {
		paper string
		state hal.State
		fault string
		err   error
	}{
		{"out", hal.UserError, PaperOutCode, printer.ErrPaperOut},
		{"low", hal.Online, "", nil},
		{"ok", hal.Online, "", nil},
	}
	printed := 0
	for _, s := range steps {
		if err := h.SetPaper(s.paper); err != nil {
			t.Fatalf("SetPaper(%s): %v", s.paper, err)
		}
		st := h.Dev.Status()
		if st.State != s.state || st.Fault != s.fault || st.Extra["paper"] != s.paper {
			t.Errorf("paper %s: Status = %v %v, want %v %q paper %s", s.paper, st, st.Extra, s.state, s.fault, s.paper)
		}
		if err := h.Dev.Print(timeout(t), r); !errors.Is(err, s.err) {
			t.Errorf("paper %s: Print = %v, want %v", s.paper, err, s.err)
		}
		if s.err == nil {
			printed++
		}
		if got := len(h.Printed()); got != printed {
			t.Errorf("paper %s: %d receipts printed, want %d", s.paper, got, printed)
		}
	}
}

func testEndedContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Dev.Print(ctx, printer.Receipt{Lines: []string{"X"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Print(cancelled) = %v, want context.Canceled", err)
	}
	if got := h.Printed(); len(got) != 0 {
		t.Errorf("Print(cancelled) printed %+v", got)
	}
}

func testHalt(t *testing.T, h Harness) {
	for i := 0; i < 2; i++ {
		if err := h.Dev.Halt(timeout(t)); err != nil {
			t.Fatalf("Halt %d: %v", i+1, err)
		}
	}
	if st := h.Dev.Status(); !st.OK() {
		t.Errorf("Status after Halt = %v, want OK", st)
	}
	if err := h.Dev.Print(timeout(t), printer.Receipt{Lines: []string{"AFTER HALT"}}); err != nil {
		t.Errorf("Print after Halt: %v", err)
	}
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}
