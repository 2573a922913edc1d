package maint

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/internal/currency"
)

var update = flag.Bool("update", false, "rewrite the golden traces in testdata")

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// testAuth: 1001/1234 (cash, keys), 1002/5678 (keys), 1003/2468 (none).
func testAuth(t testing.TB) *Auth {
	t.Helper()
	var techs []Technician
	for _, x := range []struct {
		id, pin string
		roles   []string
	}{{"1001", "1234", []string{RoleCash, RoleKeys}}, {"1002", "5678", []string{RoleKeys}}, {"1003", "2468", nil}} {
		s, err := HashPIN(x.pin, MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHash(s)
		if err != nil {
			t.Fatal(err)
		}
		techs = append(techs, Technician{ID: x.id, Hash: h, Roles: x.roles})
	}
	a, err := NewAuth(techs, 3, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mdriver steps a menu and keeps its effects.
type mdriver struct {
	t     *testing.T
	m     *Menu
	now   time.Time
	out   []Effect // of the last step
	all   []Effect
	trace *strings.Builder
}

func newMenu(t *testing.T, console string, ready bool) *mdriver {
	t.Helper()
	twd, _ := currency.ByAlpha("TWD")
	m, err := New(Config{ATM: "ATM00001", Currency: twd, Console: console, Auth: testAuth(t)}, t0, ready)
	if err != nil {
		t.Fatal(err)
	}
	d := &mdriver{t: t, m: m, now: t0, trace: &strings.Builder{}}
	d.record(m.Start())
	return d
}

func (d *mdriver) record(out []Effect) {
	d.out = out
	d.all = append(d.all, out...)
	for _, e := range out {
		d.check(e)
		fmt.Fprintln(d.trace, "  "+describe(e))
	}
}

// check applies the rules every effect keeps.
func (d *mdriver) check(e Effect) {
	d.t.Helper()
	switch e := e.(type) {
	case Show:
		if err := e.Screen.Validate(); err != nil {
			d.t.Errorf("invalid screen: %v", err)
		}
		if len(e.Keys) > 16 {
			d.t.Errorf("screen %s arms %d keys; an EPP takes 16", e.Screen.ID, len(e.Keys))
		}
	case Journal:
		if e.Fields["console"] == "" {
			d.t.Errorf("%s without a console", e.Kind)
		}
		if e.Fields["tech"] == "" {
			d.t.Errorf("%s without a technician: %v", e.Kind, e.Fields)
		}
	}
}

func (d *mdriver) step(ev Event) []Effect {
	d.t.Helper()
	fmt.Fprintln(d.trace, "> "+describeEvent(ev))
	d.record(d.m.Step(ev))
	return d.out
}

func (d *mdriver) keys(ks ...string) {
	d.t.Helper()
	for _, k := range ks {
		d.step(Key{Key: pinpad.Key(k)})
	}
}

func (d *mdriver) typed(s string) {
	for _, r := range s {
		d.keys(string(r))
	}
	d.keys("ENTER")
}

func (d *mdriver) advance(dur time.Duration) {
	d.now = d.now.Add(dur)
	d.step(Tick{Now: d.now})
}

func (d *mdriver) screen() Show {
	d.t.Helper()
	for i := len(d.all) - 1; i >= 0; i-- {
		if s, ok := d.all[i].(Show); ok {
			return s
		}
	}
	d.t.Fatal("no screen shown")
	return Show{}
}

func (d *mdriver) want(id string) display.Screen {
	d.t.Helper()
	s := d.screen()
	if s.Screen.ID != id {
		d.t.Fatalf("screen %s, want %s:\n%s", s.Screen.ID, id, s.Screen.Text())
	}
	return s.Screen
}

// do finds the op the last step started and answers it.
func (d *mdriver) do(r Result) Op {
	d.t.Helper()
	for i := len(d.out) - 1; i >= 0; i-- {
		if x, ok := d.out[i].(Do); ok {
			d.step(Done{ID: x.ID, Result: r})
			return x.Op
		}
	}
	d.t.Fatalf("no op started: %v", d.out)
	return nil
}

func (d *mdriver) journaled(kind string) []map[string]string {
	var out []map[string]string
	for _, e := range d.all {
		if j, ok := e.(Journal); ok && j.Kind == kind {
			out = append(out, j.Fields)
		}
	}
	return out
}

func (d *mdriver) login(id, pin string) {
	d.t.Helper()
	d.typed(id)
	d.want("maint-pin")
	d.typed(pin)
}

func describe(e Effect) string {
	switch e := e.(type) {
	case Show:
		s := e.Screen
		var items []string
		for _, it := range s.Menu {
			items = append(items, it.Key+"="+it.ID)
		}
		in := ""
		if s.Input != nil {
			in = fmt.Sprintf(" input %s %q", s.Input.Kind, s.Input.Value)
		}
		return fmt.Sprintf("show %s %q%s menu[%s] keys%v", s.ID, s.Title, in, strings.Join(items, " "), e.Keys)
	case Journal:
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+e.Fields[k])
		}
		return "journal " + e.Kind + " " + strings.Join(kv, " ")
	case Do:
		return fmt.Sprintf("do #%d %s %+v", e.ID, Name(e.Op), e.Op)
	case Supervise:
		return fmt.Sprintf("supervise %v", e.On)
	case End:
		return "end"
	}
	return fmt.Sprintf("%T", e)
}

func describeEvent(ev Event) string {
	switch e := ev.(type) {
	case Key:
		return "key " + string(e.Key)
	case Tick:
		return "tick " + e.Now.Format("15:04:05")
	case Ready:
		return fmt.Sprintf("ready %v", e.On)
	case Done:
		return fmt.Sprintf("done #%d err=%v lines=%q", e.ID, e.Result.Err, e.Result.Lines)
	case Quit:
		return "quit " + e.Reason
	}
	return fmt.Sprintf("%T", ev)
}

// golden compares the trace with testdata/name.golden (-update rewrites it).
func (d *mdriver) golden(name string) {
	d.t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got := d.trace.String()
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			d.t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		d.t.Fatalf("%v (run go test ./maint -update)", err)
	}
	if string(want) != got {
		d.t.Errorf("trace differs from %s (go test ./maint -run %s -update to accept):\n%s", path, d.t.Name(), got)
	}
}

// A session on the local console, as a trace: login asks for supervisor
// mode and waits for it; a test print is journaled before and after;
// exit gives supervisor mode back and ends the session.
func TestMenuTraceLocal(t *testing.T) {
	d := newMenu(t, ConsoleLocal, false)
	d.login("1001", "1234")
	d.want("maint-waiting")
	d.step(Ready{On: true})
	d.want("maint-main")
	d.keys("F2", "F4")
	d.do(Result{Lines: []string{"Printed a 4-line test receipt."}})
	d.want("maint-result")
	d.keys("F8", "F8", "F8")
	if !d.m.Ended() {
		t.Error("the session did not end")
	}
	d.golden("local-test-print")
}

// The panel's menu: supervisor mode is on before it opens; logout keeps
// the panel at its login screen; the switch going off ends it.
func TestMenuTracePanel(t *testing.T) {
	d := newMenu(t, ConsolePanel, true)
	d.login("1003", "2468")
	d.want("maint-main")
	d.keys("F3") // cash: not permitted
	d.want("maint-denied")
	d.keys("F8", "F8")
	d.want("maint-login")
	d.step(Quit{Reason: "switch off"})
	if !d.m.Ended() {
		t.Error("the panel's menu did not end with the switch")
	}
	for _, e := range d.all {
		if _, ok := e.(Supervise); ok {
			t.Errorf("the panel asked for supervisor mode: %v", e)
		}
	}
	d.golden("panel-denied")
}

// The PIN is never shown, journaled or kept: a secret field shows '*'.
func TestMenuPINNeverShown(t *testing.T) {
	d := newMenu(t, ConsoleLocal, true)
	d.typed("1001")
	for _, k := range []string{"1", "2", "3", "4"} {
		d.keys(k)
		if in := d.screen().Screen.Input; in == nil || strings.Trim(in.Value, "*") != "" || in.Kind != display.Secret {
			t.Fatalf("PIN field shows %+v", in)
		}
	}
	d.keys("ENTER")
	d.want("maint-main")
	if strings.Contains(d.trace.String(), "1234") {
		t.Errorf("the PIN appears in the effects:\n%s", d.trace)
	}
	if len(d.m.input) != 0 {
		t.Error("the entry field still holds the PIN")
	}
}

// Wrong PINs lock the technician out after MaxTries; the lockout ends
// after its time.
func TestMenuLockout(t *testing.T) {
	d := newMenu(t, ConsolePanel, true)
	for i := 1; i <= 3; i++ {
		d.login("1001", "0000")
		d.keys("F8")
	}
	if n := len(d.journaled("MAINT-LOGIN-FAILED")); n != 3 {
		t.Errorf("%d MAINT-LOGIN-FAILED", n)
	}
	if l := d.journaled("MAINT-LOCKED"); len(l) != 1 || l[0]["tech"] != "1001" || l[0]["until"] != "2026-11-22T09:15:00Z" {
		t.Errorf("MAINT-LOCKED %v", l)
	}
	d.login("1001", "1234")
	d.want("maint-locked")
	if l := d.journaled("MAINT-LOGIN-REFUSED"); len(l) != 1 {
		t.Errorf("MAINT-LOGIN-REFUSED %v", l)
	}
	d.keys("F8")
	d.advance(15 * time.Minute)
	d.login("1001", "1234")
	d.want("maint-main")
}

// An idle technician is logged out; on the local console the session
// ends and supervisor mode is given back.
func TestMenuTimeout(t *testing.T) {
	d := newMenu(t, ConsoleLocal, true)
	d.login("1001", "1234")
	d.advance(4 * time.Minute)
	d.want("maint-main")
	d.keys("F2") // activity
	d.advance(4 * time.Minute)
	if d.m.Ended() {
		t.Fatal("logged out within the timeout")
	}
	d.advance(2 * time.Minute)
	if !d.m.Ended() {
		t.Fatal("not logged out after the timeout")
	}
	if l := d.journaled("MAINT-LOGOUT"); len(l) != 1 || l[0]["reason"] != "timeout" {
		t.Errorf("MAINT-LOGOUT %v", l)
	}
	if s, i := findLast[Supervise](d.all); i < 0 || s.On {
		t.Error("supervisor mode not given back")
	}
}

func findLast[T Effect](es []Effect) (T, int) {
	var zero T
	for i := len(es) - 1; i >= 0; i-- {
		if x, ok := es[i].(T); ok {
			return x, i
		}
	}
	return zero, -1
}

// A test dispense is journaled before the dispenser is asked and picks
// into the reject bin only (the op has no amount, token or shutter).
func TestMenuTestDispense(t *testing.T) {
	d := newMenu(t, ConsolePanel, true)
	d.login("1001", "1234")
	d.keys("F2", "F3")
	d.do(Result{Counters: &Counters{Cassettes: []CassetteCount{
		{Cassette: dispenser.Cassette{ID: 1, Denomination: 100000, Count: 50}},
		{Cassette: dispenser.Cassette{ID: 3, Denomination: 10000, Count: 80}},
	}}})
	d.keys("F2")
	d.keys("1", "1", "ENTER") // 11: over the limit
	d.want("maint-dispense-notes")
	d.keys("2", "ENTER")
	d.want("maint-confirm")
	d.keys("F1")
	intent, ji := findLast[Journal](d.out)
	do, di := findLast[Do](d.out)
	if ji < 0 || di < ji || intent.Kind != "MAINT-TEST-DISPENSE-INTENT" || intent.Fields["mix"] != "3x2" {
		t.Fatalf("intent %+v at %d, op at %d", intent, ji, di)
	}
	if op, ok := do.Op.(OpTestDispense); !ok || len(op.Mix) != 1 || op.Mix[0] != (dispenser.Notes{Cassette: 3, Count: 2}) {
		t.Fatalf("op %+v", do.Op)
	}
	d.do(Result{Lines: []string{"Picked 3x2"}, Fields: map[string]string{"rejected": "2"}})
	if l := d.journaled(KindTestDispense); len(l) != 1 || l[0]["result"] != "ok" || l[0]["rejected"] != "2" || l[0]["tech"] != "1001" {
		t.Errorf("MAINT-TEST-DISPENSE %v", l)
	}
}

// Status shows each fault; its screen has the catalogue's cause and
// remedy.
func TestMenuFaultScreen(t *testing.T) {
	d := newMenu(t, ConsoleLocal, true)
	d.login("1003", "2468")
	d.keys("F1")
	e, _ := health.Lookup("DSP-JAM")
	d.do(Result{Status: &Status{Service: "out-of-service", State: "supervisor", Host: "up",
		Faults: []health.Fault{{Device: "dispenser", Code: "DSP-JAM", Since: t0, Entry: e}}}})
	s := d.want("maint-status")
	if len(s.Menu) != 2 || s.Menu[0].Key != "F1" || !strings.Contains(s.Menu[0].Label, "DSP-JAM") {
		t.Fatalf("status menu %+v", s.Menu)
	}
	d.keys("F1")
	text := d.want("maint-fault").Text()
	if !strings.Contains(text, "Cause: "+e.Cause) || !strings.Contains(text, "Remedy: "+e.Remedy) {
		t.Errorf("fault screen:\n%s", text)
	}
}

// Key loading takes two custodians, each keying a component; only check
// values are shown and journaled; the same technician cannot be both.
func TestMenuKeyLoadingDualControl(t *testing.T) {
	d := newMenu(t, ConsolePanel, true)
	d.login("1001", "1234")
	comp1 := "9D51835E014C8AEFA232B5F1CDAB1698"
	comp2 := "F720CE5761618A98321F16A42532763E"
	key := func(hexText string) {
		for _, c := range hexText {
			k := string(c)
			if c >= 'A' && c <= 'F' {
				k = "F" + string(rune('1'+c-'A'))
			}
			d.keys(k)
		}
	}
	d.keys("F7")
	d.want("maint-key-component")
	key(comp1)
	if !strings.Contains(d.want("maint-key-kcv").Text(), "027B3B") {
		t.Fatalf("component 1's check value not shown:\n%s", d.screen().Screen.Text())
	}
	d.keys("F1")
	d.want("maint-key-second-id")
	second := func(id, pin string) {
		d.typed(id)
		d.want("maint-key-second-pin")
		d.typed(pin)
	}
	second("1001", "1234") // the same technician
	d.want("maint-key-failed")
	d.keys("F8")
	d.want("maint-key-second-id")
	second("1003", "2468") // no key custodian
	d.want("maint-key-failed")
	d.keys("F8")
	second("1002", "5678")
	d.want("maint-key-component")
	key(comp2)
	if !strings.Contains(d.want("maint-key-kcv").Text(), "F7925B") {
		t.Fatal("component 2's check value not shown")
	}
	d.keys("F1")
	if !strings.Contains(d.want("maint-confirm").Text(), "D27A3F") {
		t.Fatalf("the master key's check value not shown:\n%s", d.screen().Screen.Text())
	}
	d.keys("F1")
	op := d.do(Result{Lines: []string{"loaded"}})
	lk, ok := op.(OpLoadKey)
	if !ok || len(lk.Components) != 2 {
		t.Fatalf("op %+v", op)
	}
	if l := d.journaled("MAINT-KEY-COMPONENT"); len(l) != 2 || l[0]["custodian"] != "1001" || l[1]["custodian"] != "1002" {
		t.Errorf("MAINT-KEY-COMPONENT %v", l)
	}
	if l := d.journaled("MAINT-KEY-LOADED"); len(l) != 1 || l[0]["custodians"] != "1001,1002" || l[0]["kcv"] != "D27A3F" {
		t.Errorf("MAINT-KEY-LOADED %v", l)
	}
	trace := strings.ToUpper(d.trace.String())
	for _, c := range []string{comp1, comp2, comp1[:8], comp2[:8]} {
		if strings.Contains(trace, c) {
			t.Errorf("key material %s appears in the effects", c[:8])
		}
	}
	if len(d.m.comps) != 0 || len(d.m.input) != 0 {
		t.Error("the menu still holds components")
	}
}

// Every screen of every function keeps the rules (checked on each
// effect): valid, at most 16 keys, journal records with the technician.
func TestMenuWalk(t *testing.T) {
	d := newMenu(t, ConsoleLocal, true)
	d.login("1001", "1234")
	ok := Result{Lines: []string{"done"}}
	for _, path := range [][]string{
		{"F2", "F1"}, {"F2", "F5"}, {"F2", "F6"}, {"F2", "F7"},
		{"F3", "F1"}, {"F3", "F2"}, {"F3", "F5"},
		{"F4", "F1"}, {"F4", "F2"}, {"F4", "F3"}, {"F4", "F4"},
		{"F5"},
	} {
		for _, k := range path {
			d.keys(k)
		}
		if _, i := findLast[Do](d.out); i >= 0 {
			d.do(ok)
		}
		for d.screen().Screen.ID != "maint-main" {
			d.keys("F8")
		}
	}
	d.keys("F2", "F2")
	d.do(Result{Lines: []string{"Key pin: check value 123456"}})
	d.keys("1", "ENTER", "CANCEL")
	if l := d.journaled("MAINT-TEST"); len(l) == 0 || !strings.Contains(l[len(l)-1]["keys"], "1 ENTER") {
		t.Errorf("key test %v", l)
	}
	d.keys("F8", "F6")
	d.do(Result{Status: &Status{Service: "out-of-service", State: "supervisor"}})
	d.keys("F2")
	d.do(Result{Status: &Status{Service: "out-of-service", State: "supervisor", OutOfService: true}})
	if l := d.journaled("MAINT-SERVICE"); len(l) != 1 || l[0]["out_of_service"] != "true" {
		t.Errorf("MAINT-SERVICE %v", l)
	}
	d.keys("F8", "F8")
	if !d.m.Ended() {
		t.Error("exit did not end the session")
	}
	// An op that fails shows the error.
	d2 := newMenu(t, ConsoleLocal, true)
	d2.login("1001", "1234")
	d2.keys("F5")
	d2.do(Result{Err: errors.New("hostlink: not connected")})
	if !strings.Contains(d2.want("maint-result").Text(), "FAILED: hostlink: not connected") {
		t.Error("the failure is not shown")
	}
}

func TestAuth(t *testing.T) {
	a := testAuth(t)
	now := t0
	if _, _, _, err := a.Check(now, "1001", "1234"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, wrong, locked, err := a.Check(now, "1001", "9999"); !errors.Is(err, ErrBadCredentials) || wrong != i || locked {
			t.Fatalf("try %d: %d %v %v", i, wrong, locked, err)
		}
	}
	// A right PIN clears the count.
	if _, _, _, err := a.Check(now, "1001", "1234"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		a.Check(now, "1001", "9999")
	}
	if _, _, _, err := a.Check(now.Add(14*time.Minute), "1001", "1234"); !errors.Is(err, ErrLocked) {
		t.Errorf("locked: %v", err)
	}
	if _, _, _, err := a.Check(now.Add(15*time.Minute), "1001", "1234"); err != nil {
		t.Errorf("after the lockout: %v", err)
	}
	// Unknown ids count and lock too, and say nothing more.
	for i := 1; i <= 3; i++ {
		if _, _, _, err := a.Check(now, "4242", "1234"); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	if l, _ := a.Locked(now, "4242"); !l {
		t.Error("unknown id not locked")
	}
	if _, err := NewAuth(nil, 0, time.Minute); err == nil {
		t.Error("NewAuth without tries")
	}
}

func TestHashPIN(t *testing.T) {
	s, err := HashPIN("2468", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHash(s)
	if err != nil || h.String() != s || !h.Matches("2468") || h.Matches("2469") {
		t.Fatalf("%q: %v", s, err)
	}
	for _, pin := range []string{"", "123", "1234567890123", "12a4"} {
		if _, err := HashPIN(pin, MinIterations); !errors.Is(err, ErrBadPIN) {
			t.Errorf("HashPIN(%q) = %v", pin, err)
		}
	}
	if _, err := HashPIN("1234", 10); err == nil {
		t.Error("a weak iteration count was taken")
	}
	for _, bad := range []string{"", "pbkdf2-sha256$1000$c2FsdHNhbHQ$", "md5$1$a$b", "pbkdf2-sha256$0999$" + strings.Repeat("A", 22) + "$" + strings.Repeat("A", 43)} {
		if _, err := ParseHash(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("ParseHash(%q) = %v", bad, err)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	s, _ := HashPIN("1234", MinIterations)
	f.Add(s)
	f.Add("pbkdf2-sha256$200000$c2LvLcHAaaQkCyOR5faY3w$pZ3q9pWGzkOn_kC7MQUYaPHi6aZi52KfYjWUxuviiUw")
	f.Add("pbkdf2-sha256$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if !errors.Is(err, ErrBadHash) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if h.String() != s {
			t.Fatalf("%q parses to %q", s, h.String())
		}
	})
}

// Keys as the local console types them reach the menu as PIN pad keys;
// anything else is refused before it gets there.
func FuzzMenuKeys(f *testing.F) {
	f.Add("1001\n1234\nF2\nF4\nF8")
	f.Add("F7\n0123456789ABCDEF\nCANCEL")
	f.Fuzz(func(t *testing.T, script string) {
		d := newMenu(t, ConsoleLocal, true)
		for _, w := range strings.Fields(script) {
			if len(w) > 16 {
				w = w[:16]
			}
			d.m.Step(Key{Key: pinpad.Key(w)}) // invalid keys are ignored
			d.m.Step(Tick{Now: t0.Add(time.Second)})
			if len(d.m.input) > componentLen {
				t.Fatalf("entry field grew to %d", len(d.m.input))
			}
		}
	})
}
