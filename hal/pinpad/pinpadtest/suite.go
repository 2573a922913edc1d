package pinpadtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/pinblock"
)

// PINKey is a PIN key loaded in the PIN pad under test, with its clear
// value so that the suite can open the blocks.
type PINKey struct {
	Name   string
	Format pinpad.Format // the format the suite uses it for
	Value  []byte
}

// Harness is a PIN pad under test plus the far side that presses keys.
type Harness struct {
	// Dev is the device under test.
	Dev pinpad.PinPad
	// Press presses keys in order; see the package comment.
	Press func(ctx context.Context, keys ...pinpad.Key) error
	// Keys holds at least one key per format in Capabilities().Formats.
	Keys []PINKey
}

// TestPAN is the account the suite binds PIN blocks to.
const TestPAN = "4761739001010119"

const (
	wait  = 5 * time.Second       // bounds every step expected to finish
	short = 50 * time.Millisecond // deadline for steps expected to block
)

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online PIN pad with Harness.Keys loaded; it should
// register its own cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"PINBlockDecrypts", testPINBlock},
		{"PINEditing", testPINEditing},
		{"PINLengthLimits", testPINLimits},
		{"PINCancel", testPINCancel},
		{"PINTerminators", testPINTerminators},
		{"PINIgnoresOtherFDKs", testPINIgnoresFDKs},
		{"InvalidRequests", testInvalid},
		{"GetData", testGetData},
		{"ReadKey", testReadKey},
		{"ContextEnds", testContextEnds},
		{"OneEntryAtATime", testBusy},
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
	c := h.Dev.Capabilities()
	if len(c.Formats) == 0 {
		t.Error("Capabilities declare no PIN block format")
	}
	for _, f := range c.Formats {
		if _, ok := keyFor(h, f); !ok {
			t.Errorf("harness has no key for declared format %d", f)
		}
	}
	if c.FDKs < 0 || c.FDKs > 8 {
		t.Errorf("Capabilities.FDKs = %d, want 0..8", c.FDKs)
	}
}

func testPINBlock(t *testing.T, h Harness) {
	for _, f := range h.Dev.Capabilities().Formats {
		k, _ := keyFor(h, f)
		var echo echoLog
		got := enterPIN(t, h, pinReq(k), echo.add, "1", "2", "3", "4", "5", pinpad.KeyEnter)
		if got != "12345" {
			t.Errorf("format %d: block opens to %q, want the digits pressed", f, got)
		}
		if e := echo.keys(); slices.ContainsFunc(e, pinpad.Key.IsDigit) || count(e, pinpad.KeyMasked) != 5 {
			t.Errorf("format %d: echo = %q, want five %q and no digit", f, e, pinpad.KeyMasked)
		}
	}
}

func testPINEditing(t *testing.T, h Harness) {
	k := h.Keys[0]
	var echo echoLog
	got := enterPIN(t, h, pinReq(k), echo.add,
		"9", "9", pinpad.KeyClear, "1", "2", "3", "9", pinpad.KeyBackspace, "4", pinpad.KeyEnter)
	if got != "1234" {
		t.Errorf("edited PIN opens to %q, want 1234", got)
	}
	e := echo.keys()
	if slices.ContainsFunc(e, pinpad.Key.IsDigit) || !slices.Contains(e, pinpad.KeyClear) || !slices.Contains(e, pinpad.KeyBackspace) {
		t.Errorf("echo = %q, want masks, CLEAR and BACKSPACE and no digit", e)
	}
}

func testPINLimits(t *testing.T, h Harness) {
	k := h.Keys[0]
	req := pinReq(k)
	req.MinLen, req.MaxLen = 4, 6
	var echo echoLog
	got := enterPIN(t, h, req, echo.add,
		"1", "2", "3", pinpad.KeyEnter, "4", "5", "6", "7", "8", pinpad.KeyEnter)
	if got != "123456" {
		t.Errorf("PIN opens to %q, want 123456 (early ENTER and extra digits ignored)", got)
	}
	if n := count(echo.keys(), pinpad.KeyMasked); n != 6 {
		t.Errorf("echo has %d masks, want 6: ignored digits are not echoed", n)
	}
}

func testPINCancel(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	res := async(func() (pinpad.PINBlock, error) { return h.Dev.GetPIN(ctx, pinReq(h.Keys[0]), nil) })
	if err := h.Press(ctx, "1", "2", pinpad.KeyCancel); err != nil {
		t.Fatalf("Press: %v", err)
	}
	if b, err := await(t, res); !errors.Is(err, hal.ErrCancelled) || b.Block != nil {
		t.Fatalf("GetPIN after CANCEL = %x, %v; want no block and hal.ErrCancelled", b.Block, err)
	}
}

// terminatorCaps skips a terminator test on a PIN pad with fewer than
// four function keys: the tests use F1..F4.
func terminatorCaps(t *testing.T, h Harness) {
	t.Helper()
	if n := h.Dev.Capabilities().FDKs; n < 4 {
		t.Skipf("the PIN pad declares %d function keys; the terminator tests use F1..F4", n)
	}
}

func testPINTerminators(t *testing.T, h Harness) {
	terminatorCaps(t, h)
	tests := []struct {
		name  string
		press []pinpad.Key
		want  pinpad.Key
		masks int
	}{
		{"after-digits", []pinpad.Key{"1", "2", "3", pinpad.F4}, pinpad.F4, 3},
		{"first-key", []pinpad.Key{pinpad.F1}, pinpad.F1, 0},
		{"after-clear", []pinpad.Key{"9", pinpad.KeyClear, "8", pinpad.F1}, pinpad.F1, 2},
	}
	for _, tc := range tests {
		ctx := timeout(t, wait)
		req := pinReq(h.Keys[0])
		req.Terminators = []pinpad.Key{pinpad.F4, pinpad.F1}
		var echo echoLog
		res := async(func() (pinpad.PINBlock, error) { return h.Dev.GetPIN(ctx, req, echo.add) })
		if err := h.Press(ctx, tc.press...); err != nil {
			t.Fatalf("%s: Press: %v", tc.name, err)
		}
		b, err := await(t, res)
		var te *pinpad.TerminatedError
		if !errors.As(err, &te) || te.Key != tc.want || !errors.Is(err, pinpad.ErrTerminated) || b.Block != nil {
			t.Fatalf("%s: GetPIN = %x, %v; want no block and a *pinpad.TerminatedError naming %s", tc.name, b.Block, err, tc.want)
		}
		if errors.Is(err, hal.ErrCancelled) {
			t.Errorf("%s: a terminator is not a cancel: %v", tc.name, err)
		}
		e := echo.keys()
		if slices.ContainsFunc(e, pinpad.Key.IsDigit) || slices.ContainsFunc(e, pinpad.Key.IsFDK) || count(e, pinpad.KeyMasked) != tc.masks {
			t.Errorf("%s: echo = %q, want %d masks, no digit and no function key", tc.name, e, tc.masks)
		}
		// The digits keyed before the terminator are gone: a new entry
		// starts empty.
		if got := enterPIN(t, h, pinReq(h.Keys[0]), nil, "5", "6", "7", "8", pinpad.KeyEnter); got != "5678" {
			t.Fatalf("%s: PIN after a terminated entry opens to %q, want 5678", tc.name, got)
		}
	}
}

func testPINIgnoresFDKs(t *testing.T, h Harness) {
	terminatorCaps(t, h)
	tests := []struct {
		name    string
		terms   []pinpad.Key
		ignored []pinpad.Key
	}{
		{"other-than-terminators", []pinpad.Key{pinpad.F4}, []pinpad.Key{pinpad.F2, pinpad.F3}},
		{"no-terminators", nil, []pinpad.Key{pinpad.F4, pinpad.F1}},
	}
	for _, tc := range tests {
		ctx := timeout(t, wait)
		req := pinReq(h.Keys[0])
		req.Terminators = tc.terms
		res := async(func() (pinpad.PINBlock, error) { return h.Dev.GetPIN(ctx, req, nil) })
		if err := h.Press(ctx, "1", "2"); err != nil {
			t.Fatalf("%s: Press: %v", tc.name, err)
		}
		// Keys the entry does not take: a harness may block on them or
		// drop them.
		for _, k := range tc.ignored {
			if err := h.Press(timeout(t, short), k); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: Press of %s: %v", tc.name, k, err)
			}
		}
		if err := h.Press(ctx, "3", "4", pinpad.KeyEnter); err != nil {
			_, gerr := await(t, res)
			t.Fatalf("%s: Press after ignored function keys: %v (GetPIN = %v)", tc.name, err, gerr)
		}
		b, err := await(t, res)
		if err != nil {
			t.Fatalf("%s: GetPIN = %v, want a block: %v are not terminators", tc.name, err, tc.ignored)
		}
		if got, err := openBlock(h, req, b); err != nil || got != "1234" {
			t.Errorf("%s: block opens to %q, %v; want 1234", tc.name, got, err)
		}
	}
}

func testInvalid(t *testing.T, h Harness) {
	k := h.Keys[0]
	bad := func(mod func(*pinpad.PINRequest)) pinpad.PINRequest {
		r := pinReq(k)
		mod(&r)
		return r
	}
	ctx := timeout(t, wait)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"pin-min-3", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.MinLen = 3 })), hal.ErrInvalid},
		{"pin-max-13", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.MaxLen = 13 })), hal.ErrInvalid},
		{"pin-format-2", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Format = 2 })), hal.ErrInvalid},
		{"pin-short-pan", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.PAN = "47617390" })), hal.ErrInvalid},
		{"pin-unknown-key", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Key = "no-such-key" })), pinpad.ErrNoKey},
		{"pin-digit-terminator", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Terminators = []pinpad.Key{pinpad.F4, "5"} })), hal.ErrInvalid},
		{"pin-enter-terminator", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Terminators = []pinpad.Key{pinpad.KeyEnter} })), hal.ErrInvalid},
		{"pin-f9-terminator", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Terminators = []pinpad.Key{"F9"} })), hal.ErrInvalid},
		{"pin-duplicate-terminators", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Terminators = []pinpad.Key{pinpad.F4, pinpad.F4} })), hal.ErrInvalid},
		{"data-maxlen-0", data(ctx, h, pinpad.DataRequest{}), hal.ErrInvalid},
		{"data-digit-terminator", data(ctx, h, pinpad.DataRequest{MaxLen: 4, Terminators: []pinpad.Key{"5"}}), hal.ErrInvalid},
		{"readkey-none", readKey(ctx, h, nil), hal.ErrInvalid},
		{"readkey-unknown", readKey(ctx, h, []pinpad.Key{"F9"}), hal.ErrInvalid},
	}
	for _, f := range []pinpad.Format{pinpad.ISO0, pinpad.ISO4} {
		if !slices.Contains(h.Dev.Capabilities().Formats, f) {
			tests = append(tests, struct {
				name string
				call func() error
				want error
			}{"pin-undeclared-format", pin(ctx, h, bad(func(r *pinpad.PINRequest) { r.Format = f })), hal.ErrUnsupported})
		}
	}
	for _, tc := range tests {
		res := async(func() (struct{}, error) { return struct{}{}, tc.call() })
		if _, err := await(t, res); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Nothing was started: a valid entry works.
	if got := enterPIN(t, h, pinReq(k), nil, "4", "3", "2", "1", pinpad.KeyEnter); got != "4321" {
		t.Errorf("PIN after refused requests opens to %q, want 4321", got)
	}
}

func testGetData(t *testing.T, h Harness) {
	tests := []struct {
		name  string
		req   pinpad.DataRequest
		press []pinpad.Key
		want  pinpad.Data
		err   error
		echo  string // digits the echo shows, in order
	}{
		{"enter", pinpad.DataRequest{MaxLen: 6},
			[]pinpad.Key{"1", "0", "0", pinpad.KeyEnter}, pinpad.Data{Digits: "100", Terminator: pinpad.KeyEnter}, nil, "100"},
		{"terminator", pinpad.DataRequest{MaxLen: 6, Terminators: []pinpad.Key{pinpad.F1}},
			[]pinpad.Key{"2", "5", pinpad.F1}, pinpad.Data{Digits: "25", Terminator: pinpad.F1}, nil, "25"},
		{"edit-and-limit", pinpad.DataRequest{MaxLen: 3},
			[]pinpad.Key{"7", pinpad.KeyClear, "1", "2", "3", "4", pinpad.KeyBackspace, "5", pinpad.KeyEnter},
			pinpad.Data{Digits: "125", Terminator: pinpad.KeyEnter}, nil, "71235"},
		{"empty", pinpad.DataRequest{MaxLen: 6},
			[]pinpad.Key{pinpad.KeyEnter}, pinpad.Data{Terminator: pinpad.KeyEnter}, nil, ""},
		{"cancel", pinpad.DataRequest{MaxLen: 6},
			[]pinpad.Key{"1", pinpad.KeyCancel}, pinpad.Data{}, hal.ErrCancelled, "1"},
	}
	for _, tc := range tests {
		ctx := timeout(t, wait)
		var echo echoLog
		res := async(func() (pinpad.Data, error) { return h.Dev.GetData(ctx, tc.req, echo.add) })
		if err := h.Press(ctx, tc.press...); err != nil {
			t.Fatalf("%s: Press: %v", tc.name, err)
		}
		got, err := await(t, res)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%s: GetData = %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.err)
		}
		var digits string
		for _, k := range echo.keys() {
			if k.IsDigit() {
				digits += string(k)
			}
		}
		if digits != tc.echo {
			t.Errorf("%s: echo shows digits %q, want %q", tc.name, digits, tc.echo)
		}
	}
}

func testReadKey(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	res := async(func() (pinpad.Key, error) {
		return h.Dev.ReadKey(ctx, []pinpad.Key{pinpad.F1, pinpad.F2, pinpad.KeyCancel})
	})
	// Inactive keys are not taken; a harness may block on them or drop them.
	if err := h.Press(timeout(t, short), pinpad.F3, "5", pinpad.KeyEnter); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Press of inactive keys: %v", err)
	}
	if err := h.Press(ctx, pinpad.F2); err != nil {
		t.Fatalf("Press: %v", err)
	}
	if k, err := await(t, res); err != nil || k != pinpad.F2 {
		t.Fatalf("ReadKey = %q, %v; want F2", k, err)
	}
	res = async(func() (pinpad.Key, error) { return h.Dev.ReadKey(ctx, []pinpad.Key{pinpad.KeyCancel}) })
	if err := h.Press(ctx, pinpad.KeyCancel); err != nil {
		t.Fatalf("Press: %v", err)
	}
	if k, err := await(t, res); err != nil || k != pinpad.KeyCancel {
		t.Fatalf("ReadKey with CANCEL active = %q, %v; want CANCEL", k, err)
	}
}

func testContextEnds(t *testing.T, h Harness) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetPIN", func(ctx context.Context) error { return pin(ctx, h, pinReq(h.Keys[0]))() }},
		{"GetData", func(ctx context.Context) error { return data(ctx, h, pinpad.DataRequest{MaxLen: 4})() }},
		{"ReadKey", func(ctx context.Context) error { return readKey(ctx, h, []pinpad.Key{pinpad.F1})() }},
	}
	for _, c := range calls {
		sctx := timeout(t, short)
		start := time.Now()
		res := async(func() (struct{}, error) { return struct{}{}, c.call(sctx) })
		if _, err := await(t, res); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with no key pressed = %v, want deadline exceeded", c.name, err)
		}
		if d := time.Since(start); d > wait/2 {
			t.Errorf("%s returned %v after a %v deadline", c.name, d, short)
		}
		res = async(func() (struct{}, error) { return struct{}{}, c.call(cancelled) })
		if _, err := await(t, res); !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled) = %v, want context.Canceled", c.name, err)
		}
	}
	// The ended entries left nothing behind.
	if got := enterPIN(t, h, pinReq(h.Keys[0]), nil, "1", "1", "1", "1", pinpad.KeyEnter); got != "1111" {
		t.Errorf("PIN after ended entries opens to %q, want 1111", got)
	}
}

func testBusy(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	res := async(func() (pinpad.Data, error) { return h.Dev.GetData(ctx, pinpad.DataRequest{MaxLen: 4}, nil) })
	if err := h.Press(ctx, "7"); err != nil { // the entry is active now
		t.Fatalf("Press: %v", err)
	}
	if _, err := h.Dev.ReadKey(ctx, []pinpad.Key{pinpad.F1}); !errors.Is(err, hal.ErrBusy) {
		t.Errorf("ReadKey during GetData = %v, want hal.ErrBusy", err)
	}
	if _, err := h.Dev.GetPIN(ctx, pinReq(h.Keys[0]), nil); !errors.Is(err, hal.ErrBusy) {
		t.Errorf("GetPIN during GetData = %v, want hal.ErrBusy", err)
	}
	if err := h.Press(ctx, pinpad.KeyEnter); err != nil {
		t.Fatalf("Press: %v", err)
	}
	if d, err := await(t, res); err != nil || d.Digits != "7" {
		t.Errorf("GetData = %+v, %v; want 7", d, err)
	}
}

func testHalt(t *testing.T, h Harness) {
	ctx := timeout(t, wait)
	res := async(func() (pinpad.PINBlock, error) { return h.Dev.GetPIN(ctx, pinReq(h.Keys[0]), nil) })
	if err := h.Press(ctx, "1"); err != nil { // the entry is active now
		t.Fatalf("Press: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := h.Dev.Halt(ctx); err != nil {
			t.Fatalf("Halt %d: %v", i+1, err)
		}
	}
	if b, err := await(t, res); !errors.Is(err, hal.ErrCancelled) || b.Block != nil {
		t.Fatalf("GetPIN ended by Halt = %x, %v; want no block and hal.ErrCancelled", b.Block, err)
	}
	if st := h.Dev.Status(); !st.OK() {
		t.Errorf("Status after Halt = %v, want OK", st)
	}
	// The halted entry's digit is gone: a new entry starts empty.
	if got := enterPIN(t, h, pinReq(h.Keys[0]), nil, "5", "6", "7", "8", pinpad.KeyEnter); got != "5678" {
		t.Errorf("PIN after Halt opens to %q, want 5678", got)
	}
}

func keyFor(h Harness, f pinpad.Format) (PINKey, bool) {
	for _, k := range h.Keys {
		if k.Format == f {
			return k, true
		}
	}
	return PINKey{}, false
}

func pinReq(k PINKey) pinpad.PINRequest {
	return pinpad.PINRequest{PAN: TestPAN, MinLen: 4, MaxLen: 12, Format: k.Format, Key: k.Name}
}

// enterPIN runs GetPIN, presses keys and returns the clear PIN the block
// opens to.
func enterPIN(t *testing.T, h Harness, req pinpad.PINRequest, echo func(pinpad.Key), keys ...pinpad.Key) string {
	t.Helper()
	ctx := timeout(t, wait)
	res := async(func() (pinpad.PINBlock, error) { return h.Dev.GetPIN(ctx, req, echo) })
	if err := h.Press(ctx, keys...); err != nil {
		t.Fatalf("Press: %v", err)
	}
	b, err := await(t, res)
	if err != nil {
		t.Fatalf("GetPIN: %v", err)
	}
	got, err := openBlock(h, req, b)
	if err != nil {
		t.Fatalf("PIN block %x does not open: %v", b.Block, err)
	}
	return got
}

// openBlock checks a PIN block's format and key name and returns the
// clear PIN it opens to.
func openBlock(h Harness, req pinpad.PINRequest, b pinpad.PINBlock) (string, error) {
	if b.Format != req.Format || b.Key != req.Key {
		return "", fmt.Errorf("PIN block is format %d under %q, want %d under %q", b.Format, b.Key, req.Format, req.Key)
	}
	k, _ := keyFor(h, req.Format)
	var clear []byte
	var err error
	switch req.Format {
	case pinpad.ISO0:
		clear, err = pinblock.DecryptFormat0(k.Value, b.Block, []byte(req.PAN))
	case pinpad.ISO4:
		clear, err = pinblock.DecryptFormat4(k.Value, b.Block, []byte(req.PAN))
	}
	if err != nil {
		return "", err
	}
	defer pinblock.Wipe(clear)
	return string(clear), nil
}

func pin(ctx context.Context, h Harness, req pinpad.PINRequest) func() error {
	return func() error { _, err := h.Dev.GetPIN(ctx, req, nil); return err }
}

func data(ctx context.Context, h Harness, req pinpad.DataRequest) func() error {
	return func() error { _, err := h.Dev.GetData(ctx, req, nil); return err }
}

func readKey(ctx context.Context, h Harness, active []pinpad.Key) func() error {
	return func() error { _, err := h.Dev.ReadKey(ctx, active); return err }
}

// echoLog records echoed keys; the device may call it from any goroutine.
type echoLog struct {
	mu sync.Mutex
	k  []pinpad.Key
}

func (e *echoLog) add(k pinpad.Key) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.k = append(e.k, k)
}

func (e *echoLog) keys() []pinpad.Key {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.k)
}

func count(keys []pinpad.Key, k pinpad.Key) int {
	n := 0
	for _, x := range keys {
		if x == k {
			n++
		}
	}
	return n
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

type result[T any] struct {
	v   T
	err error
}

func async[T any](f func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := f()
		ch <- result[T]{v, err}
	}()
	return ch
}

func await[T any](t *testing.T, ch <-chan result[T]) (T, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(wait):
		t.Fatalf("no answer within %v", wait)
		var zero T
		return zero, nil
	}
}
