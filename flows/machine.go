package flows

import (
	"fmt"
	"time"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/currency"
)

// Timeouts are the customer-facing timers.
type Timeouts struct {
	Entry    time.Duration // inactivity on any input screen before "more time?"
	MoreTime time.Duration // answering "more time?"
	TakeCard time.Duration // taking the card before it is retained
	TakeCash time.Duration // taking the cash before it is retracted
	Message  time.Duration // how long a notice or goodbye stays up
	Host     time.Duration // longest wait for a host reply before giving up
}

// DefaultTimeouts are those of a typical bank's ATM.
var DefaultTimeouts = Timeouts{
	Entry: 30 * time.Second, MoreTime: 20 * time.Second,
	TakeCard: 30 * time.Second, TakeCash: 30 * time.Second,
	Message: 5 * time.Second, Host: 90 * time.Second,
}

// Config is what the flows need to know about this ATM.
type Config struct {
	ATM         string            // terminal id
	Currency    currency.Currency // the currency dispensed
	FastAmounts []int64           // amount menu, minor units, at most 6
	MaxAmount   int64             // largest single withdrawal, minor units
	MaxNotes    int               // most notes in one dispense
	MaxPINTries int               // wrong PINs in a session before the card is retained
	PINFormat   pinpad.Format
	PINKey      string // name of the PIN key in the PIN pad
	Timeouts    Timeouts
	// Activation offers "Activate a new card" on the PIN screen
	// (flows/activation.go).
	Activation bool
	// Delegated offers "Delegated withdrawal" on the PIN screen
	// (flows/delegated.go); FaceCheck photographs the cardholder at their
	// own withdrawals for the host's face check.
	Delegated, FaceCheck bool
	// Boot tells this run of the machine from every earlier one (the
	// runner uses the journal sequence number of its STARTUP record), so
	// session and transaction ids stay unique across restarts.
	Boot string
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.ATM == "":
		return fmt.Errorf("flows: ATM id is empty")
	case c.Currency.Alpha == "":
		return fmt.Errorf("flows: no currency")
	case len(c.FastAmounts) == 0 || len(c.FastAmounts) > 6:
		return fmt.Errorf("flows: need 1 to 6 fast amounts, have %d", len(c.FastAmounts))
	case c.MaxAmount <= 0:
		return fmt.Errorf("flows: max amount must be positive")
	case c.MaxNotes <= 0:
		return fmt.Errorf("flows: max notes must be positive")
	case c.MaxPINTries <= 0:
		return fmt.Errorf("flows: max PIN tries must be positive")
	case c.PINKey == "":
		return fmt.Errorf("flows: PIN key name is empty")
	}
	for _, a := range c.FastAmounts {
		if a <= 0 || a > c.MaxAmount {
			return fmt.Errorf("flows: fast amount %d outside 1..max amount", a)
		}
	}
	t := c.Timeouts
	if t.Entry <= 0 || t.MoreTime <= 0 || t.TakeCard <= 0 || t.TakeCash <= 0 || t.Message <= 0 || t.Host <= 0 {
		return fmt.Errorf("flows: every timeout must be positive")
	}
	return nil
}

// session is one customer's visit, from card in to card out.
type session struct {
	id       string
	lang     string
	card     cardreader.Card
	cardIn   bool // the card is in the reader (not ejected, not retained)
	pin      pinpad.PINBlock
	havePIN  bool
	pinTries int // wrong PINs in this session
	txnSeq   int

	// The transaction in progress.
	kind      TxnKind
	txn       string
	amount    int64
	mix       []dispenser.Notes
	receipt   bool
	nonce     []byte
	reply     Reply
	dispensed dispenser.Result
	partial   bool
	reversed  bool

	input   string // what the entry field shows
	resume  State  // where "more time? yes" returns to
	after   State  // where a notice goes when it is done
	retract string // why cash is being retracted

	act *act // the card activation in progress, if any
	del *del // the delegated withdrawal in progress, if any
}

// Machine is the ATM's flow state machine. It is not safe for concurrent
// use: the runner owns it and feeds it from one goroutine.
type Machine struct {
	cfg          Config
	state        State
	now          time.Time
	deadline     time.Time
	health       Health
	haveHealth   bool
	sess         *session
	sessions     int
	lang         string // language picked on the welcome screen
	out          []Effect
	shown        display.Screen // the last screen shown
	noticeScreen display.Screen
	op           Operator // the technicians' wishes (supervisor.go)
	// Violations lists transitions not declared in the state table; the
	// tests require it to stay empty.
	Violations []string
}

// New returns a machine in state Starting. It needs a Health event to go
// in service.
func New(cfg Config, now time.Time) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, now: now, lang: Languages[0]}
	m.goTo(Starting)
	return m, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// InService reports whether the ATM is taking customers or serving one.
func (m *Machine) InService() bool {
	return m.state != Starting && m.state != OutOfService && m.state != Supervisor
}

// Session returns the id of the customer session in progress, or "".
func (m *Machine) Session() string {
	if m.sess == nil {
		return ""
	}
	return m.sess.id
}

// Step feeds one event and returns the effects to carry out, in order.
func (m *Machine) Step(ev Event) []Effect {
	m.out = nil
	defer m.remember()
	switch e := ev.(type) {
	case Tick:
		m.now = e.Now
		if !m.deadline.IsZero() && !m.now.Before(m.deadline) {
			m.deadline = time.Time{}
			if d := states[m.state]; d.timeout != nil {
				d.timeout(m)
			}
		}
		return m.out
	case Health:
		m.health, m.haveHealth = e, true
	case Echo:
		if m.sess != nil {
			m.echo(e.Key)
			return m.out
		}
	case Operator:
		m.operator(e)
		return m.out
	}
	if d := states[m.state]; d.on != nil {
		d.on(m, ev)
	}
	return m.out
}

// remember keeps the last screen shown, so that an echo can update its
// entry field.
func (m *Machine) remember() {
	for _, e := range m.out {
		if s, ok := e.(Show); ok {
			m.shown = s.Screen
		}
	}
}

// healthy reports whether the ATM can take a new customer.
func (m *Machine) healthy() bool {
	return m.haveHealth && m.health.HostUp && m.health.Down == "" && !m.op.Supervisor && !m.op.OutOfService
}

// outOfServiceReason says why the ATM cannot serve.
func (m *Machine) outOfServiceReason() string {
	switch {
	case m.op.Supervisor:
		return "supervisor mode"
	case m.op.OutOfService:
		return "taken out of service by a technician"
	case !m.haveHealth:
		return "starting"
	case !m.health.HostUp:
		return "host link down"
	case m.health.Down != "":
		return m.health.Down + " failed"
	}
	return ""
}

func (m *Machine) emit(e ...Effect) { m.out = append(m.out, e...) }

// journal emits a journal record for the current session.
func (m *Machine) journal(kind string, kv ...string) {
	f := make(map[string]string, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	if m.sess != nil {
		f["session"] = m.sess.id
	}
	m.emit(Journal{Kind: kind, Fields: f})
}

// goTo leaves the current state for s and runs s's enter function.
func (m *Machine) goTo(s State) {
	if m.state != "" && !states[m.state].allows(s) {
		m.Violations = append(m.Violations, fmt.Sprintf("%s -> %s", m.state, s))
		m.journal("FLOW-ERROR", "detail", fmt.Sprintf("undeclared transition %s -> %s", m.state, s))
	}
	m.state = s
	m.deadline = time.Time{}
	if d := states[s]; d.enter != nil {
		d.enter(m)
	}
}

// timer arms the state's timeout.
func (m *Machine) timer(d time.Duration) { m.deadline = m.now.Add(d) }

// fmtAmount formats minor units in the ATM's currency.
func (m *Machine) fmtAmount(a int64) string { return m.cfg.Currency.Format(a) }

func (m *Machine) langOf() string {
	if m.sess != nil {
		return m.sess.lang
	}
	return m.lang
}
