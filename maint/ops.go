package maint

import (
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/journal"
)

// Op is an action the menu asks the caller to carry out (Do effect); the
// outcome comes back as a Done event with the same id. Ops are data: the
// Supervisor carries them out against the devices, the journal and the
// host link.
type Op interface{ opName() string }

// The ops. Each names itself for the journal (Name).
type (
	// OpStatus reads the service, the devices and the faults.
	OpStatus struct{}
	// OpTest runs one device test: DeviceCard, DeviceKeys, DevicePrint,
	// DeviceNFC, DeviceDisplay, DeviceSensors, DeviceCamera.
	OpTest struct{ Device string }
	// OpTestDispense picks Mix into the reject bin.
	OpTestDispense struct{ Mix []dispenser.Notes }
	// OpCounters reads the cassettes and the period's totals.
	OpCounters struct{}
	// OpLoad replaces the cassettes (replenishment).
	OpLoad struct{ Cassettes []dispenser.Cassette }
	// OpClearTotals closes the totals period and starts a new one.
	OpClearTotals struct{}
	// OpReconcile compares the period's totals with the host's.
	OpReconcile struct{}
	// OpJournal searches the journal.
	OpJournal struct{ Filter Filter }
	// OpExport writes the records Filter selects to a file in the export
	// directory (or Path when set, from the local command).
	OpExport struct {
		Filter Filter
		Path   string
	}
	// OpEcho tests the host link with an echo (0800/301).
	OpEcho struct{}
	// OpService sets whether the ATM stays out of service after
	// supervisor mode.
	OpService struct{ OutOfService bool }
	// OpLoadKey loads the terminal master key from its components into
	// the PIN pad and the dispenser.
	OpLoadKey struct{ Components [][]byte }
)

// Device tests (OpTest.Device).
const (
	DeviceCard    = "cardreader"
	DeviceKeys    = "pinpad"
	DevicePrint   = "printer"
	DeviceNFC     = "nfctag"
	DeviceDisplay = "display"
	DeviceSensors = "sensors"
	DeviceCamera  = "camera"
)

func (OpStatus) opName() string       { return "status" }
func (o OpTest) opName() string       { return "test-" + o.Device }
func (OpTestDispense) opName() string { return "test-dispense" }
func (OpCounters) opName() string     { return "counters" }
func (OpLoad) opName() string         { return "load" }
func (OpClearTotals) opName() string  { return "clear-totals" }
func (OpReconcile) opName() string    { return "reconcile" }
func (OpJournal) opName() string      { return "journal" }
func (OpExport) opName() string       { return "export" }
func (OpEcho) opName() string         { return "echo" }
func (OpService) opName() string      { return "service" }
func (OpLoadKey) opName() string      { return "load-key" }

// Name returns the op's name as the journal and the local command use
// it ("test-dispense").
func Name(o Op) string { return o.opName() }

// Result is what an op produced.
type Result struct {
	Err error
	// Lines describe the outcome for the screen, card data masked and
	// no key shown.
	Lines []string
	// Fields go into the journal record of the action.
	Fields map[string]string
	// Status, Counters and Records carry the data the status, cash and
	// journal screens and the local command need.
	Status   *Status
	Counters *Counters
	Records  []journal.Record
}

// Status is the ATM as the menu and `atmd maint status` show it.
type Status struct {
	ATM        string                `json:"atm"`
	Service    string                `json:"service"` // in-service, out-of-service
	State      string                `json:"state"`   // the flows' state ("supervisor")
	Reason     string                `json:"reason,omitempty"`
	Host       string                `json:"host"`
	Supervisor bool                  `json:"supervisor"`
	Switch     bool                  `json:"switch"` // the supervisor switch is on
	Devices    map[string]hal.Status `json:"devices"`
	Faults     []health.Fault        `json:"faults"`
	Degraded   []string              `json:"degraded,omitempty"`
	Cassettes  []dispenser.Cassette  `json:"cassettes,omitempty"`
	SAFPending int                   `json:"saf_pending"`
	// OutOfService: a technician keeps the ATM out of service.
	OutOfService bool `json:"out_of_service"`
	// Sessions are the technicians logged in, by console.
	Sessions []SessionInfo `json:"sessions,omitempty"`
}

// SessionInfo is one technician session.
type SessionInfo struct {
	Console string    `json:"console"` // "panel" or "local"
	Tech    string    `json:"tech,omitempty"`
	Since   time.Time `json:"since"`
}

// Filter selects journal records.
type Filter struct {
	Since time.Time `json:"since,omitzero"`  // records at or after
	Until time.Time `json:"until,omitzero"`  // records before
	Kinds []string  `json:"kinds,omitempty"` // kinds, or prefixes ending in "*" ("MAINT-*"); none: all
	Text  string    `json:"text,omitempty"`  // in the record's text form
	Limit int       `json:"limit,omitempty"` // the most recent Limit; 0: all
}

// Match reports whether rec passes the filter (Limit aside).
func (f Filter) Match(rec journal.Record) bool {
	if !f.Since.IsZero() && rec.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !rec.Time.Before(f.Until) {
		return false
	}
	if len(f.Kinds) > 0 {
		ok := false
		for _, k := range f.Kinds {
			if k == rec.Kind || (len(k) > 1 && k[len(k)-1] == '*' && len(rec.Kind) >= len(k)-1 && rec.Kind[:len(k)-1] == k[:len(k)-1]) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if f.Text != "" && !containsFold(rec.String(), f.Text) {
		return false
	}
	return true
}

// Apply returns the records of recs that pass, the most recent Limit of
// them when Limit is set, oldest first.
func (f Filter) Apply(recs []journal.Record) []journal.Record {
	var out []journal.Record
	for _, r := range recs {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

func containsFold(s, sub string) bool {
	if len(sub) > len(s) {
		return false
	}
	lower := func(b byte) byte {
		if b >= 'A' && b <= 'Z' {
			return b + 'a' - 'A'
		}
		return b
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lower(s[i+j]) == lower(sub[j]) {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}
