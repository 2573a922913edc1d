package flows

import (
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
)

// journalFields returns the fields of the last record of kind in the
// effects so far.
func (d *driver) journalFields(kind string) (map[string]string, bool) {
	for i := len(d.all) - 1; i >= 0; i-- {
		if j, ok := d.all[i].(Journal); ok && j.Kind == kind {
			return j.Fields, true
		}
	}
	return nil, false
}

func wantSupervise(t *testing.T, effects []Effect, on bool) {
	t.Helper()
	s, i := find[Supervise](effects)
	if i < 0 || s.On != on {
		t.Fatalf("want Supervise{On: %v} in %+v", on, effects)
	}
}

// From idle, supervisor mode begins at once: out of service (journaled
// with the reason), card slot closed, no entry, then Supervise.
func TestSupervisorFromIdle(t *testing.T) {
	d := newDriver(t)
	d.step(Operator{Supervisor: true})
	d.wantState(Supervisor)
	wantSupervise(t, d.out, true)
	if a, i := find[AcceptCard](d.out); i < 0 || a.On {
		t.Fatalf("card slot not closed: %+v", d.out)
	}
	if f, ok := d.journalFields("OUT-OF-SERVICE"); !ok || f["reason"] != "supervisor mode" {
		t.Fatalf("OUT-OF-SERVICE %v", f)
	}
	if !d.journaled("SUPERVISOR-ENTERED") || d.m.InService() {
		t.Fatalf("in service %v, journal %+v", d.m.InService(), d.all)
	}
	// Health changes wait for the end of supervisor mode.
	d.step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true})
	d.wantState(Supervisor)

	d.step(Operator{})
	d.wantState(Idle)
	wantSupervise(t, d.out, false)
	d.wantScreen("welcome")
	if !d.journaled("SUPERVISOR-EXITED") || !d.journaled("IN-SERVICE") {
		t.Fatalf("journal %+v", d.all)
	}
}

// A customer being served finishes the session — card and cash handed
// over as usual — before supervisor mode begins.
func TestSupervisorWaitsForTheSession(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.step(Operator{Supervisor: true})
	d.wantState(MainMenu)
	if _, i := find[Supervise](d.out); i >= 0 {
		t.Fatal("supervisor mode began during a session")
	}
	d.press(pinpad.F1)
	d.press(pinpad.F1) // NT$1,000
	d.press(pinpad.F2) // no receipt
	d.step(NonceReady{Nonce: []byte("n")})
	d.approve("000001")
	disp, _ := find[Dispense](d.out)
	d.step(Dispensed{Result: dispenser.Result{Dispensed: disp.Req.Mix}})
	d.step(CardEjected{})
	d.step(CardTaken{})
	d.step(CashPresented{})
	d.step(CashTaken{})
	d.wantState(Goodbye)
	d.wait(DefaultTimeouts.Message)
	d.wantState(Supervisor)
	wantSupervise(t, d.out, true)
	if !d.journaled("SESSION-END") || !d.journaled("CASH-TAKEN") {
		t.Fatalf("journal %+v", d.all)
	}
}

// A technician can leave the ATM out of service; it returns to service
// only when told to.
func TestSupervisorLeavesOutOfService(t *testing.T) {
	d := newDriver(t)
	d.step(Operator{Supervisor: true})
	d.wantState(Supervisor)
	d.step(Operator{Supervisor: true, OutOfService: true})
	d.wantState(Supervisor)
	d.step(Operator{OutOfService: true})
	d.wantState(OutOfService)
	wantSupervise(t, d.out, false)
	if f, _ := d.journalFields("OUT-OF-SERVICE"); f["reason"] != "taken out of service by a technician" {
		t.Fatalf("reason %q", f["reason"])
	}
	d.step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true})
	d.wantState(OutOfService)
	d.step(Operator{})
	d.wantState(Idle)

	// Out of service without supervisor mode, from idle and back.
	d.step(Operator{OutOfService: true})
	d.wantState(OutOfService)
	d.step(Operator{})
	d.wantState(Idle)
}

// Supervisor mode asked for before the first health report begins at
// once; leaving it with the host down goes out of service.
func TestSupervisorWhileStarting(t *testing.T) {
	m, err := New(testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	m.Step(Operator{Supervisor: true})
	if m.State() != Supervisor {
		t.Fatalf("state %s", m.State())
	}
	m.Step(Health{HostUp: false})
	m.Step(Operator{})
	if m.State() != OutOfService || len(m.Violations) > 0 {
		t.Fatalf("state %s, violations %v", m.State(), m.Violations)
	}
}
