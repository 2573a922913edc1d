package health

import (
	"testing"

	"github.com/atmd/atmd/hal"
)

// Assess names each cause with its device, in device order, so that the
// runner can tell the host link from the devices and say which device
// keeps the ATM out of service.
func TestAssessCauses(t *testing.T) {
	m := NewMonitor()
	m.Observe(at(0), HostLink, hal.Status{State: hal.Offline, Fault: CodeHostDown})
	m.Observe(at(0), Sensors, hal.Status{State: hal.Online, Fault: "SEN-TAMPER"})
	m.Observe(at(0), CardReader, hal.Status{State: hal.Offline, Fault: "CRD-OFFLINE"})
	m.Observe(at(0), NFCTag, hal.Status{State: hal.Offline, Fault: "NFC-OFFLINE"})
	a := m.Assess(nil)
	want := []Cause{
		{CardReader, "cardreader: Card reader offline (CRD-OFFLINE)"},
		{Sensors, "sensors: Tamper alarm (SEN-TAMPER)"},
		{HostLink, "hostlink: Host link down (HST-DOWN)"},
	}
	if a.InService || len(a.Causes) != len(want) {
		t.Fatalf("Assess = %+v", a)
	}
	for i := range want {
		if a.Causes[i] != want[i] {
			t.Errorf("cause %d = %+v, want %+v", i, a.Causes[i], want[i])
		}
	}
	if in, reason, _ := m.Service(nil); in || reason != a.Reason() {
		t.Errorf("Service = %v %q, Assess says %q", in, reason, a.Reason())
	}
	// Without the vital faults, the NFC tag only degrades the service.
	m.Observe(at(1), HostLink, hal.Status{State: hal.Online})
	m.Observe(at(1), Sensors, hal.Status{State: hal.Online})
	m.Observe(at(1), CardReader, hal.Status{State: hal.Online})
	a = m.Assess(nil)
	if !a.InService || len(a.Causes) != 0 || len(a.Degraded) != 1 || a.Degraded[0] != noNFC || a.Reason() != "" {
		t.Errorf("Assess = %+v", a)
	}
}
