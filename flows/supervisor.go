package flows

// Supervisor mode, seen from the customer's side (DESIGN.md §6): the
// technician's wishes arrive as an Operator event; the machine finishes
// the customer session in progress as usual — card and cash are never
// abandoned — and only then, from out of service, enters Supervisor, where
// the card slot is closed, no entry is armed and nothing is shown: the
// maintenance menu (package maint) has the PIN pad and the screens until
// the Supervise{On: false} effect. The Operator event may come in any
// state; Step handles it before the state's own handler.

// Supervisor is the state of supervisor mode.
const Supervisor State = "supervisor"

// Operator is what the technicians want of the service: supervisor mode
// (the supervisor switch is on, or a technician is logged in to the local
// maintenance command), and whether the ATM stays out of service when
// supervisor mode ends. Each Operator event replaces the previous one.
type Operator struct {
	Supervisor   bool
	OutOfService bool
}

func (Operator) isEvent() {}

// Supervise tells the runner that supervisor mode began (On) or ended.
// While it lasts the maintenance menu owns the PIN pad and the screens;
// when it ends the machine shows its own screen and arms its own entry
// after this effect.
type Supervise struct{ On bool }

func (Supervise) isEffect() {}

// operator takes the technicians' wishes into account at once where no
// customer is being served; a session in progress ends as usual and then
// goes out of service (healthy is false), which enters Supervisor.
func (m *Machine) operator(e Operator) {
	before := m.op
	m.op = e
	switch m.state {
	case Supervisor:
		if !e.Supervisor {
			m.leaveSupervisor()
		}
	case Idle:
		if !m.healthy() {
			m.goTo(OutOfService)
		}
	case Starting:
		if e.Supervisor {
			m.goTo(OutOfService)
		}
	case OutOfService:
		switch {
		case e.Supervisor:
			m.goTo(Supervisor)
		case m.healthy():
			m.journal("IN-SERVICE")
			m.goTo(Idle)
		case before.OutOfService != e.OutOfService:
			m.goTo(OutOfService) // journal the new reason
		}
	}
}

// superviseIfWanted enters Supervisor from OutOfService when supervisor
// mode is wanted: the end of every road out of a customer session.
func (m *Machine) superviseIfWanted() {
	if m.op.Supervisor && m.state == OutOfService {
		m.goTo(Supervisor)
	}
}

func enterSupervisor(m *Machine) {
	m.emit(AcceptCard{On: false})
	m.noEntry()
	m.journal("SUPERVISOR-ENTERED")
	m.emit(Supervise{On: true})
}

func onSupervisor(m *Machine, ev Event) {
	// Health changes wait: the technician sees them in the menu, and the
	// service is decided when supervisor mode ends.
}

func (m *Machine) leaveSupervisor() {
	m.journal("SUPERVISOR-EXITED")
	m.emit(Supervise{On: false})
	if m.healthy() {
		m.journal("IN-SERVICE")
		m.goTo(Idle)
		return
	}
	m.goTo(OutOfService)
}
