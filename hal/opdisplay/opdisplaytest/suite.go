package opdisplaytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/opdisplay"
)

// Harness is an operator display under test plus the far side that reads
// it.
type Harness struct {
	// Dev is the device under test.
	Dev opdisplay.Display
	// Lines returns the text shown now, one entry per row shown.
	Lines func() []string
}

const wait = 5 * time.Second // bounds every step expected to finish

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online display; it should register its own cleanup
// with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"Show", testShow},
		{"TooLong", testTooLong},
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
	if st := h.Dev.Status(); st.State != hal.Online || st.Fault != "" {
		t.Errorf("fresh Status = %v, want online without fault", st)
	}
	if c := h.Dev.Capabilities(); c.Rows < 1 || c.Cols < 1 {
		t.Errorf("Capabilities = %+v, want at least one row and column", c)
	}
}

func testShow(t *testing.T, h Harness) {
	c := h.Dev.Capabilities()
	full := make([]string, c.Rows)
	for i := range full {
		full[i] = strings.Repeat(string(rune('A'+i%26)), c.Cols)
	}
	for _, lines := range [][]string{
		full,
		{clip("SUPERVISOR MODE", c.Cols)},
		{strings.Repeat("é", c.Cols)}, // Cols characters, more bytes
		{},
	} {
		show(t, h, lines)
	}
}

func testTooLong(t *testing.T, h Harness) {
	c := h.Dev.Capabilities()
	before := []string{clip("READY", c.Cols)}
	show(t, h, before)
	for name, lines := range map[string][]string{
		"too-many-rows": make([]string, c.Rows+1),
		"too-wide":      {strings.Repeat("x", c.Cols+1)},
		"too-wide-utf8": {strings.Repeat("é", c.Cols+1)},
	} {
		err := h.Dev.Show(timeout(t), lines)
		if !errors.Is(err, opdisplay.ErrTooLong) || !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("%s: Show = %v, want ErrTooLong wrapping hal.ErrInvalid", name, err)
		}
		if got := h.Lines(); !slices.Equal(got, before) {
			t.Errorf("%s: refused Show changed the display to %q", name, got)
		}
	}
}

func testEndedContext(t *testing.T, h Harness) {
	before := []string{"A"}
	show(t, h, before)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Dev.Show(ctx, []string{"B"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Show(cancelled) = %v, want context.Canceled", err)
	}
	if got := h.Lines(); !slices.Equal(got, before) {
		t.Errorf("Show(cancelled) changed the display to %q", got)
	}
}

func testHalt(t *testing.T, h Harness) {
	cols := h.Dev.Capabilities().Cols
	show(t, h, []string{clip("BUSY", cols)})
	for i := 0; i < 2; i++ {
		if err := h.Dev.Halt(timeout(t)); err != nil {
			t.Fatalf("Halt %d: %v", i+1, err)
		}
	}
	if got := h.Lines(); slices.ContainsFunc(got, func(l string) bool { return strings.TrimSpace(l) != "" }) {
		t.Errorf("display after Halt shows %q, want nothing", got)
	}
	if st := h.Dev.Status(); !st.OK() {
		t.Errorf("Status after Halt = %v, want OK", st)
	}
	show(t, h, []string{clip("READY", cols)}) // usable after Halt
}

func show(t *testing.T, h Harness, lines []string) {
	t.Helper()
	if err := h.Dev.Show(timeout(t), lines); err != nil {
		t.Fatalf("Show(%q): %v", lines, err)
	}
	if got := h.Lines(); !slices.Equal(got, lines) {
		t.Fatalf("after Show(%q) the display shows %q", lines, got)
	}
}

// clip cuts s to n characters.
func clip(s string, n int) string {
	r := []rune(s)
	return string(r[:min(len(r), n)])
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}
