package health

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
)

var t0 = time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

type step struct {
	sec    int
	device string
	st     hal.Status
	want   []Event
}

func raised(sec int, device, code, unit, detail string) Raised {
	return Raised{Device: device, Code: code, Unit: unit, At: at(sec), Detail: detail}
}

func cleared(sec int, device, code, unit string, lasted int) Cleared {
	return Cleared{Device: device, Code: code, Unit: unit, At: at(sec), Duration: time.Duration(lasted) * time.Second}
}

func online(extra map[string]string) hal.Status { return hal.Status{State: hal.Online, Extra: extra} }

func TestObserveTransitions(t *testing.T) {
	jam := hal.Status{State: hal.HardwareError, Fault: "DSP-JAM", Detail: "notes jammed in the transport"}
	shutter := hal.Status{State: hal.HardwareError, Fault: "DSP-SHUTTER", Detail: "shutter does not move"}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"fault appears and clears", []step{
			{0, "dispenser", online(nil), nil},
			{5, "dispenser", jam, []Event{raised(5, "dispenser", "DSP-JAM", "", "notes jammed in the transport")}},
			{6, "dispenser", jam, nil},
			{65, "dispenser", online(nil), []Event{cleared(65, "dispenser", "DSP-JAM", "", 60)}},
			{66, "dispenser", online(nil), nil},
		}},
		{"first status already faulty", []step{
			{0, "pinpad", hal.Status{State: hal.HardwareError, Fault: "PIN-TAMPER"}, []Event{raised(0, "pinpad", "PIN-TAMPER", "", "")}},
		}},
		{"changes code", []step{
			{0, "dispenser", jam, []Event{raised(0, "dispenser", "DSP-JAM", "", jam.Detail)}},
			{10, "dispenser", shutter, []Event{
				cleared(10, "dispenser", "DSP-JAM", "", 10),
				raised(10, "dispenser", "DSP-SHUTTER", "", shutter.Detail),
			}},
			{30, "dispenser", online(nil), []Event{cleared(30, "dispenser", "DSP-SHUTTER", "", 20)}},
		}},
		{"flaps", []step{
			{0, "printer", hal.Status{State: hal.Offline, Fault: "PRN-OFFLINE"}, []Event{raised(0, "printer", "PRN-OFFLINE", "", "")}},
			{1, "printer", online(nil), []Event{cleared(1, "printer", "PRN-OFFLINE", "", 1)}},
			{2, "printer", hal.Status{State: hal.Offline, Fault: "PRN-OFFLINE"}, []Event{raised(2, "printer", "PRN-OFFLINE", "", "")}},
			{4, "printer", online(nil), []Event{cleared(4, "printer", "PRN-OFFLINE", "", 2)}},
		}},
		{"devices are independent", []step{
			{0, "dispenser", jam, []Event{raised(0, "dispenser", "DSP-JAM", "", jam.Detail)}},
			{1, "printer", online(nil), nil},
			{2, "printer", hal.Status{State: hal.Offline, Fault: "PRN-OFFLINE"}, []Event{raised(2, "printer", "PRN-OFFLINE", "", "")}},
			{3, "dispenser", online(nil), []Event{cleared(3, "dispenser", "DSP-JAM", "", 3)}},
		}},
		{"busy is no fault", []step{
			{0, "dispenser", hal.Status{State: hal.Busy}, nil},
		}},
		{"malformed code", []step{
			{0, "pinpad", hal.Status{State: hal.HardwareError, Fault: "jam!\n", Detail: "odd"},
				[]Event{raised(0, "pinpad", "UNKNOWN", "", `code "jam!\n" odd`)}},
		}},
		{"clock going back", []step{
			{10, "camera", hal.Status{State: hal.Offline, Fault: "CAM-OFFLINE"}, []Event{raised(10, "camera", "CAM-OFFLINE", "", "")}},
			{5, "camera", online(nil), []Event{cleared(5, "camera", "CAM-OFFLINE", "", 0)}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, NewMonitor(), tc.steps) })
	}
}

func runSteps(t *testing.T, m *Monitor, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := m.Observe(at(s.sec), s.device, s.st)
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d (%s %v):\n got %v\nwant %v", i, s.device, s.st, got, s.want)
		}
	}
}

func TestObserveExtra(t *testing.T) {
	cass := func(c1, c2, c3 string) map[string]string {
		return map[string]string{"shutter": "closed", "cassette.1": c1, "cassette.2": c2, "cassette.3": c3}
	}
	t.Run("dispenser", func(t *testing.T) {
		m := NewMonitor()
		runSteps(t, m, []step{
			{0, "dispenser", online(cass("ok", "ok", "ok")), nil},
			// The driver names the worst state in Fault; Extra says which cassette.
			{10, "dispenser", hal.Status{State: hal.Online, Fault: "DSP-CASS-EMPTY", Detail: "cassettes [2] empty", Extra: cass("ok", "empty", "low")}, []Event{
				raised(10, "dispenser", "DSP-CASS-EMPTY", "cassette.2", "cassette 2 empty"),
				raised(10, "dispenser", "DSP-CASS-LOW", "cassette.3", "cassette 3 low"),
			}},
			{20, "dispenser", hal.Status{State: hal.Online, Fault: "DSP-CASS-EMPTY", Extra: cass("ok", "empty", "empty")}, []Event{
				cleared(20, "dispenser", "DSP-CASS-LOW", "cassette.3", 10),
				raised(20, "dispenser", "DSP-CASS-EMPTY", "cassette.3", "cassette 3 empty"),
			}},
			// A jam hides the cassettes from Fault, not from Extra.
			{30, "dispenser", hal.Status{State: hal.HardwareError, Fault: "DSP-JAM", Extra: cass("ok", "empty", "empty")}, []Event{
				raised(30, "dispenser", "DSP-JAM", "", ""),
			}},
			// Offline without Extra: what was known about the cassettes stands.
			{40, "dispenser", hal.Status{State: hal.Offline, Fault: "DSP-OFFLINE"}, []Event{
				cleared(40, "dispenser", "DSP-JAM", "", 10),
				raised(40, "dispenser", "DSP-OFFLINE", "", ""),
			}},
			{50, "dispenser", hal.Status{State: hal.Online, Extra: map[string]string{"cassette.1": "ok", "cassette.2": "missing", "cassette.3": "ok", "dispense.outcome": "unknown"}}, []Event{
				cleared(50, "dispenser", "DSP-CASS-EMPTY", "cassette.2", 40),
				cleared(50, "dispenser", "DSP-CASS-EMPTY", "cassette.3", 30),
				cleared(50, "dispenser", "DSP-OFFLINE", "", 10),
				raised(50, "dispenser", "DSP-CASS-MISSING", "cassette.2", "cassette 2 missing"),
				raised(50, "dispenser", "DSP-OUTCOME-UNKNOWN", "", "the last dispense's outcome is not known yet"),
			}},
			{60, "dispenser", online(cass("ok", "ok", "ok")), []Event{
				cleared(60, "dispenser", "DSP-CASS-MISSING", "cassette.2", 10),
				cleared(60, "dispenser", "DSP-OUTCOME-UNKNOWN", "", 10),
			}},
		})
		if a := m.Active(); len(a) != 0 {
			t.Errorf("Active = %v", a)
		}
	})
	t.Run("dispenser without Extra", func(t *testing.T) {
		runSteps(t, NewMonitor(), []step{
			{0, "dispenser", hal.Status{State: hal.Online, Fault: "DSP-CASS-LOW", Detail: "cassettes [1] low"}, []Event{
				raised(0, "dispenser", "DSP-CASS-LOW", "", "cassettes [1] low"),
			}},
		})
	})
	t.Run("ignored keys", func(t *testing.T) {
		runSteps(t, NewMonitor(), []step{
			{0, "dispenser", online(map[string]string{"cassette.x": "empty", "cassette.": "empty", "cassette.12345": "empty", "notes.stacked": "3", "shutter": "open", "paper": "ok"}), nil},
		})
	})
	t.Run("printer", func(t *testing.T) {
		runSteps(t, NewMonitor(), []step{
			{0, "printer", online(map[string]string{"paper": "ok"}), nil},
			// The ESC/POS driver reports paper low in Extra only.
			{10, "printer", online(map[string]string{"paper": "low"}), []Event{raised(10, "printer", "PRN-PAPER-LOW", "", "paper low")}},
			{20, "printer", hal.Status{State: hal.HardwareError, Fault: "PRN-JAM", Detail: "autocutter error", Extra: map[string]string{"paper": "low"}}, []Event{
				raised(20, "printer", "PRN-JAM", "", "autocutter error"),
			}},
			// Fault and Extra both say paper out: one fault, the device's detail.
			{30, "printer", hal.Status{State: hal.UserError, Fault: "PRN-PAPER-OUT", Detail: "roll empty", Extra: map[string]string{"paper": "out"}}, []Event{
				cleared(30, "printer", "PRN-JAM", "", 10),
				cleared(30, "printer", "PRN-PAPER-LOW", "", 20),
				raised(30, "printer", "PRN-PAPER-OUT", "", "roll empty"),
			}},
			{40, "printer", online(map[string]string{"paper": "ok"}), []Event{cleared(40, "printer", "PRN-PAPER-OUT", "", 10)}},
			// The in-process simulator's paper out: Fault without detail.
			{50, "printer", hal.Status{State: hal.UserError, Fault: "PRN-PAPER-OUT", Extra: map[string]string{"paper": "out"}}, []Event{
				raised(50, "printer", "PRN-PAPER-OUT", "", "paper out"),
			}},
		})
	})
}

func TestObserveDoesNotKeepCallersMap(t *testing.T) {
	m := NewMonitor()
	extra := map[string]string{"cassette.1": "ok"}
	m.Observe(t0, "dispenser", online(extra))
	extra["cassette.1"] = "empty"
	if st, _ := m.Status("dispenser"); st.Extra["cassette.1"] != "ok" {
		t.Errorf("the monitor sees the caller's later change: %v", st.Extra)
	}
	st, ok := m.Status("dispenser")
	st.Extra["cassette.1"] = "empty"
	if st2, _ := m.Status("dispenser"); !ok || st2.Extra["cassette.1"] != "ok" {
		t.Errorf("Status hands out the monitor's map")
	}
	if _, ok := m.Status("printer"); ok {
		t.Error("Status of a device never observed")
	}
}

func TestActive(t *testing.T) {
	m := NewMonitor()
	m.Observe(at(5), "printer", hal.Status{State: hal.Offline, Fault: "PRN-OFFLINE", Detail: "port gone"})
	m.Observe(at(1), "dispenser", hal.Status{State: hal.HardwareError, Fault: "DSP-JAM", Extra: map[string]string{"cassette.1": "low"}})
	m.Observe(at(9), "printer", hal.Status{State: hal.Offline, Fault: "PRN-OFFLINE", Detail: "still gone"})
	got := m.Active()
	var codes []string
	for _, f := range got {
		codes = append(codes, f.String())
		if !f.Active() || f.Entry.Code != f.Code || f.Entry.Title == "" {
			t.Errorf("fault %+v", f)
		}
	}
	want := []string{
		"dispenser cassette.1: Cassette low (DSP-CASS-LOW): cassette 1 low",
		"dispenser: Notes jammed (DSP-JAM)",
		"printer: Receipt printer offline (PRN-OFFLINE): still gone",
	}
	if !reflect.DeepEqual(codes, want) {
		t.Errorf("Active:\n got %q\nwant %q", codes, want)
	}
	if d := got[2].Duration(at(65)); d != time.Minute || !got[2].Since.Equal(at(5)) {
		t.Errorf("printer fault since %v, %v by 65 s", got[2].Since, d)
	}
}

func TestHistory(t *testing.T) {
	m := NewMonitor()
	if h := m.History(10); len(h) != 0 {
		t.Fatalf("History of a new monitor = %v", h)
	}
	off := hal.Status{State: hal.Offline, Fault: "NFC-OFFLINE"}
	m.Observe(at(0), "nfctag", off)
	m.Observe(at(3), "nfctag", online(nil))
	m.Observe(at(4), "nfctag", off)
	h := m.History(0)
	if len(h) != 2 || !h[0].Since.Equal(at(4)) || !h[0].Active() || !h[1].Until.Equal(at(3)) || h[1].Duration(at(100)) != 3*time.Second {
		t.Fatalf("History = %+v", h)
	}

	// The ring keeps the last HistorySize, newest first.
	m = NewMonitor()
	for i := range HistorySize + 100 {
		m.Observe(at(2*i), "printer", hal.Status{State: hal.UserError, Fault: "PRN-COVER-OPEN"})
		m.Observe(at(2*i+1), "printer", online(nil))
	}
	h = m.History(0)
	if len(h) != HistorySize {
		t.Fatalf("History holds %d, want %d", len(h), HistorySize)
	}
	last := HistorySize + 100 - 1
	if !h[0].Since.Equal(at(2*last)) || !h[0].Until.Equal(at(2*last+1)) {
		t.Errorf("newest = %+v, want raised at %v", h[0], at(2*last))
	}
	if oldest := h[len(h)-1]; !oldest.Since.Equal(at(2 * 100)) {
		t.Errorf("oldest = %v, want raised at %v", oldest.Since, at(200))
	}
	for i := 1; i < len(h); i++ {
		if !h[i].Since.Before(h[i-1].Since) {
			t.Fatalf("History not newest first at %d", i)
		}
	}
	if h3 := m.History(3); len(h3) != 3 || !reflect.DeepEqual(h3, h[:3]) {
		t.Errorf("History(3) = %v", h3)
	}
	if hn := m.History(HistorySize + 1); len(hn) != HistorySize {
		t.Errorf("History(%d) holds %d", HistorySize+1, len(hn))
	}
}

func TestNote(t *testing.T) {
	m := NewMonitor()
	got := m.Note(at(7), HostLink, CodeHostMAC, "0210 STAN 000042")
	want := []Event{raised(7, HostLink, CodeHostMAC, "", "0210 STAN 000042"), cleared(7, HostLink, CodeHostMAC, "", 0)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Note = %v, want %v", got, want)
	}
	if a := m.Active(); len(a) != 0 {
		t.Errorf("a noted fault is active: %v", a)
	}
	if h := m.History(0); len(h) != 1 || h[0].Active() || h[0].Entry.Severity != Info {
		t.Errorf("History = %+v", h)
	}
	// The same code while it is active: only the detail.
	m.Observe(at(8), HostLink, hal.Status{State: hal.Online, Fault: CodeHostMAC})
	if ev := m.Note(at(9), HostLink, CodeHostMAC, "again"); ev != nil {
		t.Errorf("Note on an active fault = %v", ev)
	}
	if a := m.Active(); len(a) != 1 || a[0].Detail != "again" {
		t.Errorf("Active = %v", a)
	}
}

func TestEventString(t *testing.T) {
	r := raised(0, "dispenser", "DSP-CASS-EMPTY", "cassette.2", "cassette 2 empty")
	c := cleared(0, "dispenser", "DSP-JAM", "", 90)
	if r.String() != "raised dispenser cassette.2 DSP-CASS-EMPTY: cassette 2 empty" || c.String() != "cleared dispenser DSP-JAM after 1m30s" {
		t.Errorf("%q\n%q", r, c)
	}
}

func TestService(t *testing.T) {
	cust := map[string]bool{CardReader: true, PinPad: true, Dispenser: true, Display: true, Printer: true}
	for _, tc := range []struct {
		name     string
		vital    map[string]bool
		obs      map[string]hal.Status
		in       bool
		reason   string
		degraded []string
	}{
		{name: "nothing observed", in: true},
		{name: "all well", obs: map[string]hal.Status{
			"cardreader": online(nil), "dispenser": online(map[string]string{"cassette.1": "ok"}), "printer": online(map[string]string{"paper": "ok"}),
		}, in: true},
		{name: "busy vital device", obs: map[string]hal.Status{"dispenser": {State: hal.Busy}}, in: true},
		{name: "vital fault", obs: map[string]hal.Status{
			"dispenser": {State: hal.HardwareError, Fault: "DSP-JAM"},
		}, reason: "dispenser: Notes jammed (DSP-JAM)"},
		{name: "printer out of paper", obs: map[string]hal.Status{
			"printer": {State: hal.UserError, Fault: "PRN-PAPER-OUT", Extra: map[string]string{"paper": "out"}},
		}, in: true, degraded: []string{noReceipts}},
		{name: "printer paper low", obs: map[string]hal.Status{
			"printer": online(map[string]string{"paper": "low"}),
		}, in: true},
		{name: "printer made vital", vital: cust, obs: map[string]hal.Status{
			"printer": {State: hal.UserError, Fault: "PRN-PAPER-OUT"},
		}, reason: "printer: user-error (PRN-PAPER-OUT)"},
		{name: "the map cannot make a vital fault harmless", vital: map[string]bool{Sensors: false}, obs: map[string]hal.Status{
			"sensors": {State: hal.Online, Fault: "SEN-TAMPER", Detail: "tamper input active"},
		}, reason: "sensors: Tamper alarm (SEN-TAMPER)"},
		{name: "unknown code, vital device down", obs: map[string]hal.Status{
			"dispenser": {State: hal.HardwareError, Fault: "DSP-WOBBLE"},
		}, reason: "dispenser: hardware-error (DSP-WOBBLE)"},
		{name: "unknown code, vital device usable", obs: map[string]hal.Status{
			"dispenser": {State: hal.Online, Fault: "DSP-WOBBLE"},
		}, in: true, degraded: []string{"dispenser"}},
		{name: "vital device offline without a code", obs: map[string]hal.Status{
			"cardreader": {State: hal.Offline},
		}, reason: "cardreader: offline"},
		{name: "optional device offline without a code", obs: map[string]hal.Status{
			"nfctag": {State: hal.Offline}, "opdisplay": {State: hal.Offline}, "gizmo": {State: hal.Offline},
		}, in: true, degraded: []string{noNFC, "gizmo"}},
		{name: "operator display offline", obs: map[string]hal.Status{
			"opdisplay": {State: hal.Offline, Fault: "OPD-OFFLINE"},
		}, in: true},
		{name: "one cassette empty", obs: map[string]hal.Status{
			"dispenser": online(map[string]string{"cassette.1": "ok", "cassette.2": "empty", "cassette.3": "missing"}),
		}, in: true, degraded: []string{
			"amounts that need notes from the empty cassette (the ATM goes out of service when every cassette is empty)",
			"amounts that need notes from the missing cassette",
		}},
		{name: "no cash", obs: map[string]hal.Status{
			"dispenser": online(map[string]string{"cassette.1": "empty", "cassette.2": "missing"}),
		}, reason: "dispenser: no notes (every cassette empty or missing)"},
		{name: "host down", obs: map[string]hal.Status{
			HostLink: {State: hal.Offline, Fault: CodeHostDown}, "printer": {State: hal.Offline, Fault: "PRN-OFFLINE"},
		}, reason: "hostlink: Host link down (HST-DOWN)"},
		{name: "several causes, in device order", obs: map[string]hal.Status{
			"dispenser": {State: hal.HardwareError, Fault: "DSP-SHUTTER"},
			"pinpad":    {State: hal.HardwareError, Fault: "PIN-TAMPER"},
			"display":   {State: hal.Offline},
		}, reason: "pinpad: PIN pad tampered, keys erased (PIN-TAMPER); dispenser: Cash shutter stuck (DSP-SHUTTER); display: offline"},
		{name: "several restrictions, once each", obs: map[string]hal.Status{
			"printer": {State: hal.HardwareError, Fault: "PRN-JAM", Extra: map[string]string{"paper": "out"}},
			"nfctag":  {State: hal.Offline, Fault: "NFC-TIMEOUT"},
			"camera":  {State: hal.HardwareError, Fault: "CAM-PROTOCOL"},
		}, in: true, degraded: []string{noReceipts, noNFC, noCamera}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMonitor()
			for d, st := range tc.obs {
				m.Observe(t0, d, st)
			}
			in, reason, degraded := m.Service(tc.vital)
			if in != tc.in || reason != tc.reason || !reflect.DeepEqual(degraded, tc.degraded) {
				t.Errorf("Service = %v, %q, %q\n     want %v, %q, %q", in, reason, degraded, tc.in, tc.reason, tc.degraded)
			}
		})
	}
}

func TestServiceFollowsObservations(t *testing.T) {
	m := NewMonitor()
	m.Observe(at(0), "dispenser", hal.Status{State: hal.HardwareError, Fault: "DSP-JAM"})
	if in, _, _ := m.Service(nil); in {
		t.Fatal("in service with notes jammed")
	}
	m.Observe(at(60), "dispenser", online(nil))
	if in, reason, _ := m.Service(nil); !in || reason != "" {
		t.Fatalf("Service after the jam cleared = %v %q", in, reason)
	}
}

func TestValidCode(t *testing.T) {
	for s, want := range map[string]bool{
		"DSP-JAM": true, "DSP-CASS-EMPTY": true, "UNKNOWN": true, "A1-B2": true,
		"": false, "dsp-jam": false, "DSP--JAM": false, "DSP-": false, "-DSP": false, "1DSP": false,
		"DSP JAM": false, strings.Repeat("A", 33): false, strings.Repeat("A", 32): true,
	} {
		if validCode(s) != want {
			t.Errorf("validCode(%q) = %v", s, !want)
		}
	}
}

func TestMonitorConcurrentUse(t *testing.T) {
	m := NewMonitor()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				st := online(map[string]string{"paper": "ok"})
				if (i+g)%2 == 0 {
					st = hal.Status{State: hal.UserError, Fault: "PRN-PAPER-OUT", Extra: map[string]string{"paper": "out"}}
				}
				m.Observe(at(i), "printer", st)
				m.Note(at(i), HostLink, CodeHostMAC, "")
				_ = m.Active()
				_ = m.History(5)
				_, _, _ = m.Service(nil)
				_ = Report(m.Active())
			}
		}()
	}
	for range 4 {
		<-done
	}
	if h := m.History(0); len(h) == 0 || len(h) > HistorySize {
		t.Errorf("History holds %d", len(h))
	}
}
