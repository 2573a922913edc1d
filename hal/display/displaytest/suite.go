package displaytest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/display"
)

// Harness is a display under test plus the far side that looks at it and
// touches it.
type Harness struct {
	// Dev is the device under test.
	Dev display.Display
	// Current returns the screen shown now.
	Current func() display.Screen
	// Touch touches the menu item bound to key, blocking until the touch
	// has been read from Touches. It refuses keys not bound on the
	// current screen. Nil when the display has no touch.
	Touch func(ctx context.Context, key string) error
}

const (
	wait  = 5 * time.Second       // bounds every step expected to finish
	short = 50 * time.Millisecond // deadline for steps expected to block
)

// Screens used by the suite.
var (
	welcome = display.Screen{ID: "welcome", Lang: "en", Title: "Welcome", Lines: []string{"Please insert your card"}}
	menu    = display.Screen{ID: "main-menu", Lang: "en", Title: "Choose a service", Menu: []display.MenuItem{
		{Key: "F1", ID: "withdraw", Label: "Cash withdrawal"},
		{Key: "F2", ID: "balance", Label: "Balance"},
	}}
	pinScreen = display.Screen{ID: "pin", Lang: "zh-TW", Title: "請輸入密碼", Input: &display.Input{Kind: display.Secret, Label: "PIN", Value: "****"}}
	amount    = display.Screen{ID: "amount", Lang: "en", Tone: display.Info, Title: "Amount", Input: &display.Input{Kind: display.Amount, Value: "1500"}}
	qrScreen  = display.Screen{ID: "scan", Lang: "en", Title: "Scan with your banking app", QR: "atmd:session:ab12"}
)

// Run runs the conformance suite. open is called once per subtest and
// returns a fresh, online display; it should register its own cleanup
// with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Identity", testIdentity},
		{"ShowReplaces", testShow},
		{"InvalidScreens", testInvalid},
		{"EndedContext", testEndedContext},
		{"Touch", testTouch},
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
	_, touch := h.Dev.(display.Touch)
	if caps := h.Dev.Capabilities(); caps.Touch && (!touch || h.Touch == nil) {
		t.Errorf("Capabilities declare touch but the display does not implement display.Touch or the harness cannot touch")
	}
}

func testShow(t *testing.T, h Harness) {
	screens := []display.Screen{welcome, menu, pinScreen, amount}
	if h.Dev.Capabilities().QR {
		screens = append(screens, qrScreen)
	}
	for _, s := range screens {
		show(t, h, s)
	}
}

func testInvalid(t *testing.T, h Harness) {
	show(t, h, welcome)
	with := func(mod func(*display.Screen)) display.Screen {
		s := menu
		s.Menu = append([]display.MenuItem(nil), menu.Menu...)
		mod(&s)
		return s
	}
	tests := []struct {
		name string
		s    display.Screen
		want error
	}{
		{"no-id", with(func(s *display.Screen) { s.ID = "" }), hal.ErrInvalid},
		{"key-F9", with(func(s *display.Screen) { s.Menu[0].Key = "F9" }), hal.ErrInvalid},
		{"key-twice", with(func(s *display.Screen) { s.Menu[1].Key = "F1" }), hal.ErrInvalid},
		{"item-without-id", with(func(s *display.Screen) { s.Menu[0].ID = "" }), hal.ErrInvalid},
		{"unknown-tone", with(func(s *display.Screen) { s.Tone = "loud" }), hal.ErrInvalid},
		{"secret-in-clear", with(func(s *display.Screen) { s.Input = &display.Input{Kind: display.Secret, Value: "12**"} }), hal.ErrInvalid},
		{"unknown-input", with(func(s *display.Screen) { s.Input = &display.Input{Kind: "voice"} }), hal.ErrInvalid},
	}
	if !h.Dev.Capabilities().QR {
		tests = append(tests, struct {
			name string
			s    display.Screen
			want error
		}{"qr-without-capability", qrScreen, hal.ErrUnsupported})
	}
	for _, tc := range tests {
		if err := h.Dev.Show(timeout(t, wait), tc.s); !errors.Is(err, tc.want) {
			t.Errorf("%s: Show = %v, want %v", tc.name, err, tc.want)
		}
		if got := h.Current(); !reflect.DeepEqual(got, welcome) {
			t.Fatalf("%s: refused Show changed the screen to %q", tc.name, got.ID)
		}
	}
}

func testEndedContext(t *testing.T, h Harness) {
	show(t, h, welcome)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Dev.Show(ctx, menu); !errors.Is(err, context.Canceled) {
		t.Errorf("Show(cancelled) = %v, want context.Canceled", err)
	}
	if got := h.Current(); got.ID != welcome.ID {
		t.Errorf("Show(cancelled) changed the screen to %q", got.ID)
	}
}

func testTouch(t *testing.T, h Harness) {
	if !h.Dev.Capabilities().Touch {
		t.Skip("display has no touch")
	}
	touches := h.Dev.(display.Touch).Touches()
	show(t, h, menu)
	ctx := timeout(t, wait)
	got := make(chan string, 1)
	go func() {
		select {
		case k := <-touches:
			got <- k
		case <-ctx.Done():
		}
	}()
	if err := h.Touch(ctx, "F2"); err != nil {
		t.Fatalf("Touch(F2): %v", err)
	}
	if k := <-got; k != "F2" {
		t.Fatalf("Touches yielded %q, want F2", k)
	}
	if err := h.Touch(timeout(t, short), "F5"); err == nil {
		t.Error("Touch of a key bound to no menu item succeeded")
	}
	show(t, h, welcome)
	if err := h.Touch(timeout(t, short), "F1"); err == nil {
		t.Error("Touch of a key from the previous screen succeeded")
	}
}

func testHalt(t *testing.T, h Harness) {
	show(t, h, menu)
	ctx := timeout(t, wait)
	for i := 0; i < 2; i++ {
		if err := h.Dev.Halt(ctx); err != nil {
			t.Fatalf("Halt %d: %v", i+1, err)
		}
	}
	if s := h.Current(); len(s.Menu) != 0 || s.Input != nil || s.QR != "" {
		t.Errorf("screen after Halt = %+v, want no menu, entry field or QR code", s)
	}
	if h.Touch != nil {
		if err := h.Touch(timeout(t, short), "F1"); err == nil {
			t.Error("Touch of a menu key succeeded after Halt")
		}
	}
	if st := h.Dev.Status(); !st.OK() {
		t.Errorf("Status after Halt = %v, want OK", st)
	}
	show(t, h, welcome) // usable after Halt
}

func show(t *testing.T, h Harness, s display.Screen) {
	t.Helper()
	if err := h.Dev.Show(timeout(t, wait), s); err != nil {
		t.Fatalf("Show(%s): %v", s.ID, err)
	}
	if got := h.Current(); !reflect.DeepEqual(got, s) {
		t.Fatalf("after Show(%s) the screen is %+v, want %+v", s.ID, got, s)
	}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
