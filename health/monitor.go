package health

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/atmd/atmd/hal"
)

// HistorySize is how many faults a Monitor remembers, raised or cleared.
const HistorySize = 500

// Fault is one occurrence of a fault: raised at Since, cleared at Until
// (zero while it lasts).
type Fault struct {
	Device string `json:"device"`
	Code   string `json:"code"`
	// Unit is the part of the device the fault is on, as Status.Extra
	// names it ("cassette.2"); "" for the device as a whole.
	Unit   string    `json:"unit,omitempty"`
	Detail string    `json:"detail,omitempty"` // the device's last word on it
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
	Entry  Entry     `json:"entry"` // the catalogue entry (generic for an unknown code)
}

// Active reports whether the fault has not cleared.
func (f Fault) Active() bool { return f.Until.IsZero() }

// Duration is how long the fault lasted, or has lasted by now while it
// is active.
func (f Fault) Duration(now time.Time) time.Duration {
	end := f.Until
	if end.IsZero() {
		end = now
	}
	return nonNegative(end.Sub(f.Since))
}

// String formats the fault as "device unit: Title (CODE): detail".
func (f Fault) String() string {
	return where(f.Device, f.Unit) + ": " + f.Entry.Title + " (" + f.Code + ")" + suffix(f.Detail)
}

// Event is what Observe and Note hand back: a Raised or a Cleared.
type Event interface {
	fmt.Stringer
	event()
}

// Raised: a fault appeared.
type Raised struct {
	Device, Code, Unit string
	At                 time.Time
	Detail             string
}

// Cleared: a fault went away after Duration.
type Cleared struct {
	Device, Code, Unit string
	At                 time.Time
	Duration           time.Duration
}

func (Raised) event()  {}
func (Cleared) event() {}

// String formats the event for a log line.
func (e Raised) String() string {
	return "raised " + where(e.Device, e.Unit) + " " + e.Code + suffix(e.Detail)
}

// String formats the event for a log line.
func (e Cleared) String() string {
	return "cleared " + where(e.Device, e.Unit) + " " + e.Code + " after " + e.Duration.String()
}

// key identifies a fault: the same code on the same unit of a device.
type key struct{ device, code, unit string }

// Monitor follows the status of every device, raises and clears faults
// and keeps their history. It does no I/O and reads no clock: time comes
// with each call. It is safe for concurrent use.
type Monitor struct {
	mu     sync.Mutex
	last   map[string]hal.Status // the last status observed, per device
	active map[key]*Fault
	ring   []*Fault // history, oldest first once full: ring[next] is the oldest
	next   int
}

// NewMonitor returns a monitor that has seen nothing yet.
func NewMonitor() *Monitor {
	return &Monitor{last: map[string]hal.Status{}, active: map[key]*Fault{}}
}

// Observe takes the status device reported at now, compares it with the
// faults active on device and returns what changed: Cleared events first,
// then Raised ones, each group sorted by code and unit.
//
// The faults a status carries are its Fault code and those its Extra
// implies: Extra["cassette.N"] "low", "empty" or "missing" (DSP-CASS-LOW,
// DSP-CASS-EMPTY, DSP-CASS-MISSING on unit "cassette.N"),
// Extra["dispense.outcome"] "unknown" (DSP-OUTCOME-UNKNOWN) and
// Extra["paper"] "low" or "out" (PRN-PAPER-LOW, PRN-PAPER-OUT). When Extra
// has cassettes, a cassette code in Fault is left to them (they say which
// cassette); a code both Fault and Extra give is one fault. An offline
// status without Extra keeps what the previous Extra implied: a device
// that cannot be asked has not been refilled. A Fault that is no
// well-formed code is recorded as UNKNOWN with the text in its detail.
func (m *Monitor) Observe(now time.Time, device string, st hal.Status) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st.State == hal.Offline && len(st.Extra) == 0 {
		if prev, ok := m.last[device]; ok {
			st.Extra = prev.Extra
		}
	}
	st.Extra = cloneExtra(st.Extra)
	m.last[device] = st

	want := faultsOf(device, st)
	var cleared, raised []Event
	for k, f := range m.active {
		if k.device != device {
			continue
		}
		if _, still := want[k]; !still {
			f.Until = now
			delete(m.active, k)
			cleared = append(cleared, Cleared{Device: device, Code: k.code, Unit: k.unit, At: now, Duration: f.Duration(now)})
		}
	}
	for k, detail := range want {
		if f, ok := m.active[k]; ok {
			f.Detail = detail
			continue
		}
		m.raise(now, k, detail)
		raised = append(raised, Raised{Device: device, Code: k.code, Unit: k.unit, At: now, Detail: detail})
	}
	sortEvents(cleared)
	sortEvents(raised)
	return append(cleared, raised...)
}

// Note records a fault that happens to one thing rather than lasting —
// HST-MAC, a message that failed its MAC check: it goes into the history
// already cleared and Note returns its Raised and Cleared events. A
// fault with that code already active on device only takes the new
// detail, and Note returns nothing.
func (m *Monitor) Note(now time.Time, device, code, detail string) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	code, detail = normalise(code, detail)
	k := key{device, code, ""}
	if f, ok := m.active[k]; ok {
		f.Detail = detail
		return nil
	}
	f := m.raise(now, k, detail)
	delete(m.active, k)
	f.Until = now
	return []Event{
		Raised{Device: device, Code: code, At: now, Detail: detail},
		Cleared{Device: device, Code: code, At: now},
	}
}

// raise makes k active from now and records it in the history.
func (m *Monitor) raise(now time.Time, k key, detail string) *Fault {
	e, _ := Lookup(k.code)
	f := &Fault{Device: k.device, Code: k.code, Unit: k.unit, Detail: detail, Since: now, Entry: e}
	m.active[k] = f
	if len(m.ring) < HistorySize {
		m.ring = append(m.ring, f)
	} else {
		m.ring[m.next] = f
		m.next = (m.next + 1) % HistorySize
	}
	return f
}

// Active returns the faults that have not cleared, oldest first (then
// by device, code and unit).
func (m *Monitor) Active() []Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Fault, 0, len(m.active))
	for _, f := range m.active {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return lessFault(out[i], out[j])
	})
	return out
}

// History returns up to n of the last HistorySize faults, most recently
// raised first, cleared ones with their Until. n <= 0 returns them all.
func (m *Monitor) History(n int) []Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n <= 0 || n > len(m.ring) {
		n = len(m.ring)
	}
	out := make([]Fault, 0, n)
	for i := 0; i < n; i++ {
		// The newest is just before next (or at the end while filling).
		j := (m.next - 1 - i + 2*len(m.ring)) % len(m.ring)
		out = append(out, *m.ring[j])
	}
	return out
}

// Status returns the last status observed for device.
func (m *Monitor) Status(device string) (hal.Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.last[device]
	st.Extra = cloneExtra(st.Extra)
	return st, ok
}

// Service decides whether the ATM can serve, from the active faults and
// the last status of each device. vital names the devices the ATM cannot
// serve without; nil means DefaultVital(). It is Assess with the causes
// joined into one reason.
func (m *Monitor) Service(vital map[string]bool) (inService bool, reason string, degraded []string) {
	a := m.Assess(vital)
	return a.InService, a.Reason(), a.Degraded
}

// Cause is one reason the ATM is out of service: the device and what is
// wrong with it ("dispenser: Notes jammed (DSP-JAM)").
type Cause struct {
	Device string `json:"device"`
	Text   string `json:"text"`
}

// Assessment is what Assess decides.
type Assessment struct {
	InService bool
	// Causes say why the ATM is out of service, in device order; none
	// while it is in service.
	Causes []Cause
	// Degraded lists what the ATM stops offering while it serves, once
	// each, in device order.
	Degraded []string
}

// Reason joins the causes' texts with "; " ("" in service).
func (a Assessment) Reason() string {
	texts := make([]string, len(a.Causes))
	for i, c := range a.Causes {
		texts[i] = c.Text
	}
	return strings.Join(texts, "; ")
}

// Assess decides whether the ATM can serve, from the active faults and
// the last status of each device. vital names the devices the ATM cannot
// serve without; nil means DefaultVital().
//
// The ATM is out of service while
//   - an active fault's catalogue severity is Vital (whatever vital says:
//     the map can make more devices vital, never make a vital fault
//     harmless);
//   - a vital device's last status is not usable (offline, hardware
//     error, user error), whatever its code, or without one;
//   - a device reports cassettes and every one is empty or missing.
//
// Each cause names its device ("dispenser: Notes jammed (DSP-JAM)").
// Otherwise Degraded lists, once each and in device order, what the ATM
// stops offering: the Degrades of each Degraded fault (the device's name
// for an unknown code), and for a device that is not usable without a
// Degraded fault, what its offline code degrades. Info faults restrict
// nothing.
func (m *Monitor) Assess(vital map[string]bool) Assessment {
	if vital == nil {
		vital = DefaultVital()
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	faults := make([]*Fault, 0, len(m.active))
	for _, f := range m.active {
		faults = append(faults, f)
	}
	sort.Slice(faults, func(i, j int) bool { return lessFault(*faults[i], *faults[j]) })
	devices := make([]string, 0, len(m.last))
	for d := range m.last {
		devices = append(devices, d)
	}
	sort.Slice(devices, func(i, j int) bool { return lessDevice(devices[i], devices[j]) })

	var out []Cause
	var degraded []string
	restricted := map[string]bool{} // devices whose loss is already described
	for _, d := range devices {
		st := m.last[d]
		vitalFault := false
		var codes []string
		for _, f := range faults {
			if f.Device != d {
				continue
			}
			codes = append(codes, f.Code)
			switch f.Entry.Severity {
			case Vital:
				vitalFault = true
				out = append(out, Cause{Device: d, Text: where(d, f.Unit) + ": " + f.Entry.Title + " (" + f.Code + ")"})
			case Degraded:
				restricted[d] = true
				what := f.Entry.Degrades
				if what == "" {
					what = d
				}
				degraded = appendOnce(degraded, what)
			}
		}
		usable := st.State.Usable()
		switch {
		case !usable && vital[d] && !vitalFault:
			r := d + ": " + st.State.String()
			if len(codes) > 0 {
				r += " (" + strings.Join(codes, ", ") + ")"
			}
			out = append(out, Cause{Device: d, Text: r})
		case !usable && !vital[d] && !restricted[d] && !vitalFault:
			if e, ok := byCode[offlineCode(d)]; ok {
				if e.Severity == Degraded {
					degraded = appendOnce(degraded, e.Degrades)
				}
			} else {
				degraded = appendOnce(degraded, d)
			}
		}
		if noCash(st.Extra) {
			out = append(out, Cause{Device: d, Text: d + ": no notes (every cassette empty or missing)"})
		}
	}
	if len(out) > 0 {
		return Assessment{Causes: out}
	}
	return Assessment{InService: true, Degraded: degraded}
}

// offlineCode is the catalogue code a device reports when it cannot be
// reached ("DSP-OFFLINE"), "" for a device the catalogue does not know.
func offlineCode(device string) string {
	for p, d := range prefixes {
		if d == device {
			return p + "-OFFLINE"
		}
	}
	return ""
}

// faultsOf lists the faults a status of device carries, with their
// details.
func faultsOf(device string, st hal.Status) map[key]string {
	want := map[key]string{}
	hasCassettes := false
	for k, v := range st.Extra {
		switch {
		case isCassetteKey(k):
			hasCassettes = true
			n := strings.TrimPrefix(k, "cassette.")
			switch v {
			case "low":
				want[key{device: device, code: CodeCassetteLow, unit: k}] = "cassette " + n + " low"
			case "empty":
				want[key{device: device, code: CodeCassetteEmpty, unit: k}] = "cassette " + n + " empty"
			case "missing":
				want[key{device: device, code: CodeCassetteMissing, unit: k}] = "cassette " + n + " missing"
			}
		case k == "dispense.outcome" && v == "unknown":
			want[key{device: device, code: CodeOutcomeUnknown}] = "the last dispense's outcome is not known yet"
		case k == "paper" && v == "low":
			want[key{device: device, code: CodePaperLow}] = "paper low"
		case k == "paper" && v == "out":
			want[key{device: device, code: CodePaperOut}] = "paper out"
		}
	}
	if st.Fault != "" {
		code, detail := normalise(st.Fault, st.Detail)
		k := key{device: device, code: code}
		_, derived := want[k]
		switch {
		case hasCassettes && (code == CodeCassetteLow || code == CodeCassetteEmpty || code == CodeCassetteMissing):
			// Extra says which cassettes; the device-wide code adds nothing.
		case derived && detail == "":
			// Keep the derived detail.
		default:
			want[k] = detail
		}
	}
	return want
}

// isCassetteKey reports whether k is "cassette." and 1 to 4 digits.
func isCassetteKey(k string) bool {
	n, ok := strings.CutPrefix(k, "cassette.")
	if !ok || len(n) == 0 || len(n) > 4 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// noCash reports whether extra lists cassettes and each is empty or
// missing.
func noCash(extra map[string]string) bool {
	n := 0
	for k, v := range extra {
		if !isCassetteKey(k) {
			continue
		}
		if v != "empty" && v != "missing" {
			return false
		}
		n++
	}
	return n > 0
}

// maxCodeLen bounds a fault code; longer text is no code.
const maxCodeLen = 32

// validCode reports whether s looks like a catalogue code: an upper-case
// letter, then upper-case letters, digits and single hyphens, not ending
// in a hyphen.
func validCode(s string) bool {
	if len(s) == 0 || len(s) > maxCodeLen || s[0] < 'A' || s[0] > 'Z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && s[i-1] != '-':
		default:
			return false
		}
	}
	return true
}

// CodeUnknown stands for a fault text that is no well-formed code.
const CodeUnknown = "UNKNOWN"

// normalise keeps a well-formed code and turns anything else into
// CodeUnknown, quoting (a bounded part of) the text in the detail.
func normalise(code, detail string) (string, string) {
	if validCode(code) {
		return code, detail
	}
	if len(code) > maxCodeLen {
		code = code[:maxCodeLen] + "..."
	}
	return CodeUnknown, strings.TrimSpace(fmt.Sprintf("code %q %s", code, detail))
}

func cloneExtra(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func sortEvents(es []Event) {
	k := func(e Event) (string, string) {
		switch e := e.(type) {
		case Raised:
			return e.Code, e.Unit
		case Cleared:
			return e.Code, e.Unit
		}
		return "", ""
	}
	sort.Slice(es, func(i, j int) bool {
		ci, ui := k(es[i])
		cj, uj := k(es[j])
		if ci != cj {
			return ci < cj
		}
		return ui < uj
	})
}

// deviceRank orders devices as Devices() lists them, others after them
// by name.
func deviceRank(d string) int {
	for i, x := range deviceOrder {
		if x == d {
			return i
		}
	}
	return len(deviceOrder)
}

func lessDevice(a, b string) bool {
	ra, rb := deviceRank(a), deviceRank(b)
	if ra != rb {
		return ra < rb
	}
	return a < b
}

func lessFault(a, b Fault) bool {
	if a.Device != b.Device {
		return lessDevice(a.Device, b.Device)
	}
	if a.Code != b.Code {
		return a.Code < b.Code
	}
	return a.Unit < b.Unit
}

func where(device, unit string) string {
	if unit == "" {
		return device
	}
	return device + " " + unit
}

func suffix(detail string) string {
	if detail == "" {
		return ""
	}
	return ": " + detail
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
