package atm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/nfctag"
	"github.com/atmd/atmd/hal/opdisplay"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hal/sensors"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/saf"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/failpoint"
	"github.com/atmd/atmd/journal"
)

// Devices are the ATM's devices, one per hal contract.
type Devices struct {
	CardReader cardreader.Reader
	PinPad     pinpad.PinPad
	Display    display.Display
	OpDisplay  opdisplay.Display
	NFCTag     nfctag.Tag
	Dispenser  dispenser.Dispenser
	Printer    printer.Printer
	Camera     camera.Camera
	Sensors    sensors.Sensors
}

// Named returns the devices by name, in a fixed order. Vital devices
// (the ATM cannot serve without them) come first.
func (d Devices) Named() []NamedDevice {
	return []NamedDevice{
		{"cardreader", d.CardReader, true},
		{"pinpad", d.PinPad, true},
		{"dispenser", d.Dispenser, true},
		{"display", d.Display, true},
		{"printer", d.Printer, false},
		{"opdisplay", d.OpDisplay, false},
		{"nfctag", d.NFCTag, false},
		{"camera", d.Camera, false},
		{"sensors", d.Sensors, false},
	}
}

// NamedDevice is a device with its name and whether it is vital.
type NamedDevice struct {
	Name  string
	Dev   hal.Device
	Vital bool
}

// Link is what the runner needs of the host link (hostlink.Client).
type Link interface {
	Send(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error)
	Up() bool
	Events() <-chan bool
}

// ErrJournal: the journal could not record an intent, so the act it
// covers was not carried out.
var ErrJournal = errors.New("atm: journal write failed; command not carried out")

// Options configure a Runner.
type Options struct {
	Flows   flows.Config
	Devices Devices
	Link    Link
	Journal *journal.Journal
	Clock   clock.Clock
	Log     zerolog.Logger
	// ManualTicks: the runner does not tick by itself; the caller calls
	// Tick (the scenario runner, on a fake clock).
	ManualTicks bool
	// SAF is the store-and-forward queue reversals go to.
	SAF *saf.Queue
	// STAN numbers host requests; the runner numbers each request itself
	// so the number is in the journal before the request leaves.
	STAN hostlink.STANSource
	// OnLinkUp, when set, runs each time the link comes up (the key
	// exchange); the ATM counts the host as up only once it succeeded.
	OnLinkUp func(ctx context.Context) error
	// OnSupervise, when set, is told when supervisor mode begins and
	// ends (flows.Supervise). It runs in the loop and must not block.
	OnSupervise func(on bool)
	// Evidence is where evidence stills go (flows.Capture); nil: none
	// are taken (journaled as EVIDENCE-FAILED).
	Evidence *EvidenceQueue
}

type item struct {
	ev   flows.Event
	gen  int           // entry generation, 0 = not an entry result
	acc  int           // accept generation, 0 = not an Accept result
	call func()        // runs in the loop (the runner's own bookkeeping)
	done chan struct{} // barrier: closed once processed
}

// Runner runs the ATM.
type Runner struct {
	o   Options
	log zerolog.Logger
	m   *flows.Machine
	in  chan item
	ctx context.Context

	// Owned by the loop goroutine.
	gen        int
	entryStop  context.CancelFunc
	entryDone  chan struct{} // closed when the entry's device call has returned
	activeKeys []pinpad.Key
	acceptStop context.CancelFunc
	acceptGen  int  // which Accept is running; its result clears acceptStop
	wantAccept bool // the machine wants the slot open
	cardStop   context.CancelFunc
	cashStop   context.CancelFunc
	health     flows.Health
	causes     string           // why the devices keep the ATM out of service ("" when they do not)
	monitor    *health.Monitor  // fault history, from every health check
	keysFailed bool             // the last key exchange failed
	linkUp     bool             // the link was up at the last health check
	keysReady  bool             // OnLinkUp succeeded since the link came up
	exchanging bool             // OnLinkUp is running
	retryAt    time.Time        // after a failed OnLinkUp, not before this
	sent       map[string]*sent // by flows txn id, for reversals
	wg         sync.WaitGroup

	hostReady atomic.Bool // link up and keys exchanged: advices may go

	mu   sync.Mutex // guards the snapshot below
	snap Snapshot
}

// Snapshot is the runner's state as `atmd status` reports it.
type Snapshot struct {
	Service string                `json:"service"` // "in-service" or "out-of-service"
	State   string                `json:"state"`
	Reason  string                `json:"reason,omitempty"`
	Session string                `json:"session,omitempty"`
	Host    string                `json:"host"` // "up" or "down"
	Devices map[string]hal.Status `json:"devices"`
	Cash    []dispenser.Cassette  `json:"cassettes,omitempty"`
	// SAFPending is the number of advices waiting for the host.
	SAFPending int `json:"saf_pending"`
	// Faults are the active faults, each with its catalogue entry: likely
	// cause and the remedy a technician applies.
	Faults []health.Fault `json:"faults,omitempty"`
	// Degraded lists what the ATM does without while it serves (receipts,
	// cardless by NFC tap, some amounts), from the fault catalogue.
	Degraded []string `json:"degraded,omitempty"`
}

// New builds a runner. Every device must be present.
func New(o Options) (*Runner, error) {
	for _, d := range o.Devices.Named() {
		if d.Dev == nil || isNilDevice(d.Dev) {
			return nil, fmt.Errorf("atm: device %s missing", d.Name)
		}
	}
	if o.Link == nil || o.Journal == nil || o.SAF == nil || o.STAN == nil {
		return nil, errors.New("atm: host link, journal, store-and-forward queue and STAN source are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	m, err := flows.New(o.Flows, o.Clock.Now())
	if err != nil {
		return nil, err
	}
	return &Runner{o: o, log: o.Log, m: m, in: make(chan item, 64), sent: map[string]*sent{}, monitor: health.NewMonitor()}, nil
}

func isNilDevice(d hal.Device) bool {
	v := reflect.ValueOf(d)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Snapshot returns the current state for status reports.
func (r *Runner) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap
	s.Devices = map[string]hal.Status{}
	for k, v := range r.snap.Devices {
		s.Devices[k] = v
	}
	return s
}

// Run runs the loop until ctx ends, then halts every device.
func (r *Runner) Run(ctx context.Context) error {
	r.ctx = ctx
	r.apply(r.m.Step(flows.Tick{Now: r.o.Clock.Now()}))
	r.checkHealth()
	var tick <-chan time.Time
	if !r.o.ManualTicks {
		tick = r.o.Clock.After(time.Second)
	}
	var touches <-chan string
	if t, ok := r.o.Devices.Display.(display.Touch); ok {
		touches = t.Touches()
	}
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case it := <-r.in:
			r.handle(it)
		case now := <-tick:
			tick = r.o.Clock.After(time.Second)
			r.checkHealth()
			r.step(flows.Tick{Now: now})
			r.retryAccept()
		case <-r.o.Link.Events():
			r.checkHealth()
		case k := <-touches:
			r.touch(pinpad.Key(k))
		}
	}
}

// Tick advances the machine to the clock's time and waits until that is
// done (for ManualTicks).
func (r *Runner) Tick(ctx context.Context) error {
	return r.post(ctx, item{ev: flows.Tick{Now: r.o.Clock.Now()}, done: make(chan struct{})})
}

// Operate passes the technicians' wishes (supervisor mode, out of
// service) to the flows and waits until they have been taken in. A
// customer session in progress finishes first; OnSupervise says when
// supervisor mode has begun.
func (r *Runner) Operate(ctx context.Context, op flows.Operator) error {
	return r.post(ctx, item{ev: op, done: make(chan struct{})})
}

// Rekey has the working keys exchanged with the host again at the next
// health check (after a new master key was loaded).
func (r *Runner) Rekey(ctx context.Context) error {
	return r.post(ctx, item{call: func() { r.keysReady, r.retryAt = false, time.Time{} }, done: make(chan struct{})})
}

// Sync waits until every event posted before it has been processed.
func (r *Runner) Sync(ctx context.Context) error {
	return r.post(ctx, item{done: make(chan struct{})})
}

func (r *Runner) post(ctx context.Context, it item) error {
	select {
	case r.in <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-it.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) handle(it item) {
	if it.done != nil {
		defer close(it.done)
	}
	if it.call != nil {
		it.call()
	}
	if it.ev == nil && it.acc == 0 {
		return
	}
	if _, ok := it.ev.(flows.Tick); ok {
		r.checkHealth()
		defer r.retryAccept()
	}
	if it.gen != 0 && it.gen != r.gen {
		return // result of an entry that has been replaced
	}
	if it.acc != 0 && it.acc == r.acceptGen {
		stop(&r.acceptStop) // that Accept is over; the next AcceptCard starts a new one
	}
	if it.ev == nil {
		return
	}
	if hr, ok := it.ev.(flows.HostReply); ok && hr.Reply.Code == hostlink.RCSecurityViolation && r.o.OnLinkUp != nil {
		// The host does not trust our keys or MAC: exchange keys again
		// before the next customer.
		r.keysReady = false
		defer r.checkHealth()
	}
	if ci, ok := it.ev.(flows.CardInserted); ok && r.m.State() != flows.Idle {
		// A card came in just as the slot was closed: give it straight back.
		r.log.Warn().Object("card", ci.Card).Msg("card accepted outside idle; ejecting")
		r.async(func(ctx context.Context) flows.Event { r.o.Devices.CardReader.Eject(ctx); return nil })
		return
	}
	r.step(it.ev)
}

func (r *Runner) step(ev flows.Event) {
	r.apply(r.m.Step(ev))
}

// emit posts an event from a device goroutine. It never blocks forever:
// when the loop has stopped the event is dropped.
func (r *Runner) emit(ev flows.Event, gen int) {
	select {
	case r.in <- item{ev: ev, gen: gen}:
	case <-r.ctx.Done():
	}
}

// async runs f in a goroutine; a non-nil event it returns is posted
// unless its context ended.
func (r *Runner) async(f func(ctx context.Context) flows.Event) {
	r.asyncCtx(r.ctx, 0, f)
}

func (r *Runner) asyncCtx(ctx context.Context, gen int, f func(ctx context.Context) flows.Event) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ev := f(ctx)
		if ev != nil && ctx.Err() == nil {
			r.emit(ev, gen)
		}
	}()
}

// hasEntry reports whether effects hold an Entry.
func hasEntry(effects []flows.Effect) bool {
	for _, e := range effects {
		if _, ok := e.(flows.Entry); ok {
			return true
		}
	}
	return false
}

func (r *Runner) apply(effects []flows.Effect) {
	journalFailed := false
	// Consecutive journal records of one step are written together: one
	// write, one fsync, before the next effect starts.
	var batch []journal.Entry
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := r.o.Journal.AppendBatch(r.m.Session(), batch); err != nil {
			r.log.Error().Err(err).Str("kind", batch[0].Kind).Msg("journal write failed")
			journalFailed = true
		} else {
			for _, e := range batch {
				switch {
				case e.Kind == "TXN-REPLY" && e.Fields["outcome"] == string(flows.Approved):
					failpoint.Hit(failpoint.ApprovalReceived)
				case e.Kind == "CASH-PRESENTED":
					failpoint.Hit(failpoint.CashPresented)
				case e.Kind == "CASH-TAKEN":
					failpoint.Hit(failpoint.CashTaken)
				}
			}
		}
		batch = nil
	}
	defer flush()
	for i, e := range effects {
		if jr, ok := e.(flows.Journal); ok {
			batch = append(batch, journal.Entry{Kind: jr.Kind, Fields: jr.Fields})
			continue
		}
		flush()
		switch e := e.(type) {
		case flows.Show:
			// A screen that comes with a new entry replaces the old
			// entry first: the customer (or a scenario) who sees the new
			// screen must not have a key taken by the entry of the old
			// one (CANCEL on the QR screen is not CANCEL of the PIN
			// entry that follows it).
			if hasEntry(effects[i:]) {
				r.endEntry()
				r.gen++
				r.activeKeys = nil
			}
			if err := r.o.Devices.Display.Show(r.ctx, e.Screen); err != nil {
				r.log.Error().Err(err).Str("screen", e.Screen.ID).Msg("display failed")
			}
		case flows.Entry:
			r.entry(e)
		case flows.AcceptCard:
			r.accept(e.On)
		case flows.EjectCard:
			ctx, cancel := context.WithCancel(r.ctx)
			r.cardStop = cancel
			r.asyncCtx(ctx, 0, func(ctx context.Context) flows.Event {
				if err := r.o.Devices.CardReader.Eject(ctx); err != nil {
					return flows.CardEjected{Err: err}
				}
				r.emit(flows.CardEjected{}, 0)
				if err := r.o.Devices.CardReader.WaitTaken(ctx); err != nil {
					return nil
				}
				return flows.CardTaken{}
			})
		case flows.RetainCard:
			stop(&r.cardStop)
			r.async(func(ctx context.Context) flows.Event {
				return flows.CardRetained{Err: r.o.Devices.CardReader.Retain(ctx)}
			})
		case flows.GetNonce:
			r.async(func(ctx context.Context) flows.Event {
				n, err := r.o.Devices.Dispenser.Nonce(ctx)
				return flows.NonceReady{Nonce: n, Err: err}
			})
		case flows.SendHost:
			if journalFailed {
				r.emitLater(flows.HostReply{Reply: flows.Reply{ID: e.Req.ID, Outcome: flows.Unavailable, Err: ErrJournal}})
				continue
			}
			r.sendHost(e.Req)
		case flows.Dispense:
			if journalFailed {
				r.emitLater(flows.Dispensed{Err: ErrJournal})
				continue
			}
			req := e.Req
			r.async(func(ctx context.Context) flows.Event {
				res, err := r.o.Devices.Dispenser.Dispense(ctx, req)
				return flows.Dispensed{Result: res, Err: err}
			})
		case flows.PresentCash:
			ctx, cancel := context.WithCancel(r.ctx)
			r.cashStop = cancel
			r.asyncCtx(ctx, 0, func(ctx context.Context) flows.Event {
				if err := r.o.Devices.Dispenser.Present(ctx); err != nil {
					return flows.CashPresented{Err: err}
				}
				r.emit(flows.CashPresented{}, 0)
				if err := r.o.Devices.Dispenser.WaitTaken(ctx); err != nil {
					return nil
				}
				return flows.CashTaken{}
			})
		case flows.RetractCash:
			stop(&r.cashStop)
			r.async(func(ctx context.Context) flows.Event {
				n, err := r.o.Devices.Dispenser.Retract(ctx)
				return flows.CashRetracted{Notes: n, Err: err}
			})
		case flows.Print:
			rc := e.Receipt
			r.async(func(ctx context.Context) flows.Event {
				return flows.ReceiptPrinted{Err: r.o.Devices.Printer.Print(ctx, rc)}
			})
		case flows.Reverse:
			r.reverse(e)
		case flows.Supervise:
			if r.o.OnSupervise != nil {
				r.o.OnSupervise(e.On)
			}
		case flows.Capture:
			r.capture(e)
		case flows.SessionEnded:
			// Requests of a finished session are no longer needed for a
			// reversal; drop them and the card data they hold.
			for id := range r.sent {
				if strings.HasPrefix(id, e.ID+"-") {
					delete(r.sent, id)
				}
			}
			r.log.Info().Str("session", e.ID).Msg("session ended")
		}
	}
	r.snapshot()
}

// observeFaults feeds the health monitor every device's status and the
// host link's, and journals each fault as it is raised and cleared, with
// its catalogue code, so a technician reads when it started and ended.
func (r *Runner) observeFaults(devs map[string]hal.Status, linkUp bool) {
	now := r.o.Clock.Now()
	var events []health.Event
	for _, d := range r.o.Devices.Named() {
		events = append(events, r.monitor.Observe(now, d.Name, devs[d.Name])...)
	}
	link := hal.Status{State: hal.Online}
	switch {
	case !linkUp:
		link = hal.Status{State: hal.Offline, Fault: health.CodeHostDown, Detail: "host link down"}
	case r.keysFailed:
		link = hal.Status{State: hal.HardwareError, Fault: health.CodeHostKeys, Detail: "key exchange failed"}
	}
	events = append(events, r.monitor.Observe(now, health.HostLink, link)...)
	for _, e := range events {
		switch e := e.(type) {
		case health.Raised:
			r.o.Journal.Append("FAULT-RAISED", "", map[string]string{"device": e.Device, "code": e.Code, "unit": e.Unit, "detail": e.Detail})
			r.log.Warn().Str("device", e.Device).Str("code", e.Code).Str("unit", e.Unit).Str("detail", e.Detail).Msg("fault raised")
		case health.Cleared:
			r.o.Journal.Append("FAULT-CLEARED", "", map[string]string{"device": e.Device, "code": e.Code, "unit": e.Unit, "after": e.Duration.String()})
			r.log.Info().Str("device", e.Device).Str("code", e.Code).Str("unit", e.Unit).Dur("after", e.Duration).Msg("fault cleared")
		}
	}
}

// FaultHistory returns the most recent n faults, newest first, active or
// cleared.
func (r *Runner) FaultHistory(n int) []health.Fault { return r.monitor.History(n) }

// SendAdvice sends a store-and-forward advice, but only while the link is
// up with keys exchanged: an advice MAC'd under keys the host is replacing
// would be refused. Otherwise it returns hostlink.ErrNotConnected
// (nothing sent) and the queue tries again later.
func (r *Runner) SendAdvice(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
	if !r.hostReady.Load() {
		return nil, fmt.Errorf("%w: waiting for sign-on and keys", hostlink.ErrNotConnected)
	}
	return r.o.Link.Send(ctx, m)
}

// linkCameUp runs OnLinkUp in the background; the host counts as up for
// customers only once it succeeded. A failure is retried at the next
// health check.
func (r *Runner) linkCameUp() {
	r.keysReady = false
	if r.o.OnLinkUp == nil || r.exchanging {
		return
	}
	r.exchanging = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
		err := r.o.OnLinkUp(ctx)
		cancel()
		if err != nil {
			r.log.Error().Err(err).Msg("link up, but the key exchange failed; will retry")
			r.o.Journal.Append("KEY-EXCHANGE-FAILED", "", map[string]string{"error": err.Error()})
		}
		select {
		case r.in <- item{call: func() {
			r.exchanging, r.keysReady = false, err == nil
			r.keysFailed = err != nil
			if err != nil {
				r.retryAt = r.o.Clock.Now().Add(5 * time.Second)
			}
			r.checkHealth()
		}}:
		case <-r.ctx.Done():
		}
	}()
}

// retryAccept reopens the slot after an Accept that ended in a device
// error, when the machine still wants it open.
func (r *Runner) retryAccept() {
	if r.wantAccept && r.acceptStop == nil {
		r.accept(true)
	}
}

// emitLater posts an event from a goroutine (never from the loop itself,
// which would deadlock on a full channel).
func (r *Runner) emitLater(ev flows.Event) {
	r.async(func(context.Context) flows.Event { return ev })
}

func stop(f *context.CancelFunc) {
	if *f != nil {
		(*f)()
		*f = nil
	}
}

// accept opens (on) or closes the card slot. A card that Accept returns
// is always reported, even when the slot was being closed at that moment:
// the loop then gives it straight back rather than swallow it. Only an
// unreadable card is a customer event; any other Accept failure is a
// device matter, left to the health check, and the slot is tried again
// on the next tick.
func (r *Runner) accept(on bool) {
	r.wantAccept = on
	if !on {
		stop(&r.acceptStop)
		return
	}
	if r.acceptStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.acceptStop = cancel
	r.acceptGen++
	acc := r.acceptGen
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c, err := r.o.Devices.CardReader.Accept(ctx)
		var ev flows.Event
		switch {
		case err == nil:
			ev = flows.CardInserted{Card: c}
		case ctx.Err() != nil:
		case errors.Is(err, cardreader.ErrUnreadable):
			ev = flows.CardFailed{Err: err}
		default:
			r.log.Warn().Err(err).Msg("card reader could not accept a card")
		}
		select {
		case r.in <- item{ev: ev, acc: acc}:
		case <-r.ctx.Done():
		}
	}()
}

func (r *Runner) entry(e flows.Entry) {
	r.endEntry()
	r.gen++
	r.activeKeys = nil
	if e.Mode == flows.EntryNone {
		return
	}
	gen := r.gen
	ctx, cancel := context.WithCancel(r.ctx)
	r.entryStop = cancel
	done := make(chan struct{})
	r.entryDone = done
	pp := r.o.Devices.PinPad
	echo := func(k pinpad.Key) { r.emit(flows.Echo{Key: k}, gen) }
	switch e.Mode {
	case flows.EntryKeys:
		r.activeKeys = e.Keys
		keys := e.Keys
		r.asyncCtx(ctx, gen, func(ctx context.Context) flows.Event {
			k, err := pp.ReadKey(ctx, keys)
			close(done)
			if err != nil {
				return entryError(err)
			}
			return flows.KeyPressed{Key: k}
		})
	case flows.EntryData:
		req := pinpad.DataRequest{MaxLen: e.MaxLen}
		r.asyncCtx(ctx, gen, func(ctx context.Context) flows.Event {
			d, err := pp.GetData(ctx, req, echo)
			close(done)
			if err != nil {
				return entryError(err)
			}
			return flows.DataEntered{Data: d}
		})
	case flows.EntryPIN:
		req := pinpad.PINRequest{PAN: e.PAN, MinLen: e.MinLen, MaxLen: e.MaxLen, Format: r.o.Flows.PINFormat, Key: r.o.Flows.PINKey,
			Terminators: e.Terminators}
		// A touch on a terminator's menu item ends the entry like the key.
		r.activeKeys = e.Terminators
		r.asyncCtx(ctx, gen, func(ctx context.Context) flows.Event {
			b, err := pp.GetPIN(ctx, req, echo)
			close(done)
			if err != nil {
				return entryError(err)
			}
			return flows.PINEntered{Block: b}
		})
	}
}

// endEntry cancels the entry in progress and waits (briefly) for the PIN
// pad to let go of it: a PIN pad takes one entry at a time.
func (r *Runner) endEntry() {
	stop(&r.entryStop)
	if r.entryDone == nil {
		return
	}
	select {
	case <-r.entryDone:
	case <-time.After(2 * time.Second):
		r.log.Error().Msg("PIN pad did not end the previous entry")
	}
	r.entryDone = nil
}

func entryError(err error) flows.Event {
	if errors.Is(err, hal.ErrCancelled) {
		return flows.EntryCancelled{}
	}
	// The customer chose a menu item instead of keying a PIN.
	var te *pinpad.TerminatedError
	if errors.As(err, &te) {
		return flows.KeyPressed{Key: te.Key}
	}
	return flows.EntryFailed{Err: err}
}

// touch turns a touch on the screen into a key press when that key is
// active, replacing the PIN pad's wait for it.
func (r *Runner) touch(k pinpad.Key) {
	for _, a := range r.activeKeys {
		if a == k {
			r.endEntry()
			r.gen++
			r.activeKeys = nil
			r.step(flows.KeyPressed{Key: k})
			return
		}
	}
}

// sent is a request given to the link. The link fills in STAN and times
// while it sends, so the message may be read only after done is closed.
type sent struct {
	msg  *hostlink.Message
	done chan struct{}
}

func (r *Runner) sendHost(req flows.Request) {
	msg, err := request(req, r.o.Flows.Currency)
	if err != nil {
		r.emitLater(flows.HostReply{Reply: flows.Reply{ID: req.ID, Outcome: flows.Unavailable, Err: err}})
		return
	}
	// Number the request and write down where it is going before it
	// leaves: after a crash, recovery needs exactly these to reverse it.
	msg.STAN = r.o.STAN.NextSTAN()
	msg.TransmitTime = r.o.Clock.Now().UTC().Format("0102150405")
	if _, err := r.o.Journal.Append("HOST-SEND", r.m.Session(), originOf(msg).fields(req.ID)); err != nil {
		r.log.Error().Err(err).Msg("journal write failed; request not sent")
		r.emitLater(flows.HostReply{Reply: flows.Reply{ID: req.ID, Outcome: flows.Unavailable, Err: ErrJournal}})
		return
	}
	failpoint.Hit(failpoint.BeforeSend)
	s := &sent{msg: msg, done: make(chan struct{})}
	r.sent[req.ID] = s
	r.async(func(ctx context.Context) flows.Event {
		resp, err := r.o.Link.Send(ctx, msg)
		close(s.done)
		if err == nil && resp == nil {
			err = errors.New("atm: host link returned no response")
		}
		return flows.HostReply{Reply: reply(req.ID, req.Kind == flows.Withdrawal, resp, err)}
	})
}

// reverse puts a reversal advice for the transaction into the
// store-and-forward queue, which delivers it (0420, then 0421 repeats)
// until the host acknowledges it, across restarts.
func (r *Runner) reverse(e flows.Reverse) {
	s, ok := r.sent[e.ID]
	if !ok {
		r.log.Error().Str("txn", e.ID).Msg("reversal for an unknown transaction")
		return
	}
	delete(r.sent, e.ID)
	q, stan, log := r.o.SAF, r.o.STAN, r.log
	r.async(func(ctx context.Context) flows.Event {
		// The original's STAN and times are final once its send is over.
		select {
		case <-s.done:
		case <-ctx.Done():
			return nil // recovery queues it after a restart
		}
		m, err := reversalAdvice(originOf(s.msg), stan.NextSTAN(), e.Reason, e.Dispensed)
		if err == nil {
			err = q.Add(saf.Advice{ID: e.ID, Msg: m})
		}
		if err != nil {
			log.Error().Err(err).Str("txn", e.ID).Msg("reversal not queued; recovery will queue it at the next start")
		}
		return nil
	})
}

// checkHealth polls device status and the link, and tells the machine
// when the picture changed.
func (r *Runner) checkHealth() {
	up := r.o.Link.Up()
	if !up {
		r.keysReady = false
	} else if !r.linkUp || (!r.keysReady && !r.exchanging && !r.o.Clock.Now().Before(r.retryAt)) {
		r.linkCameUp()
	}
	r.linkUp = up
	h := flows.Health{HostUp: up && (r.o.OnLinkUp == nil || r.keysReady)}
	r.hostReady.Store(h.HostUp)
	devs := map[string]hal.Status{}
	vital := map[string]bool{}
	for _, d := range r.o.Devices.Named() {
		devs[d.Name] = d.Dev.Status()
		vital[d.Name] = d.Vital
	}
	h.PrinterOK = devs["printer"].State.Usable()
	h.CameraOK = devs["camera"].State.Usable()
	r.observeFaults(devs, up)
	// The service follows the fault catalogue: a vital device down or a
	// vital fault on any device (a tamper alarm) takes the ATM out of
	// service; the host link is HostUp's business.
	a := r.monitor.Assess(vital)
	var causes []string
	for _, c := range a.Causes {
		if c.Device == health.HostLink {
			continue
		}
		if h.Down == "" {
			h.Down = c.Device
		}
		causes = append(causes, c.Text)
	}
	r.causes = strings.Join(causes, "; ")
	ctx, cancel := context.WithTimeout(r.ctx, time.Second)
	cs, err := r.o.Devices.Dispenser.Cassettes(ctx)
	cancel()
	if err == nil {
		h.Cassettes = cs
		cash := false
		for _, c := range cs {
			if c.Count > 0 && c.Status != dispenser.CassetteMissing {
				cash = true
			}
		}
		if !cash && h.Down == "" {
			h.Down = "dispenser (no cash)"
		}
	}
	changed := !sameHealth(h, r.health)
	r.health = h
	r.mu.Lock()
	r.snap.Devices = devs
	r.snap.Cash = cs
	r.snap.Faults = r.monitor.Active()
	r.snap.Degraded = a.Degraded
	r.mu.Unlock()
	if changed {
		r.log.Info().Bool("host_up", h.HostUp).Str("down", h.Down).Bool("printer", h.PrinterOK).Msg("health changed")
		r.step(h)
	}
}

func sameHealth(a, b flows.Health) bool {
	if a.HostUp != b.HostUp || a.Down != b.Down || a.PrinterOK != b.PrinterOK || a.CameraOK != b.CameraOK || len(a.Cassettes) != len(b.Cassettes) {
		return false
	}
	for i := range a.Cassettes {
		if a.Cassettes[i].Count != b.Cassettes[i].Count || a.Cassettes[i].Status != b.Cassettes[i].Status {
			return false
		}
	}
	return true
}

func (r *Runner) snapshot() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.State = string(r.m.State())
	r.snap.Session = r.m.Session()
	r.snap.Service = "in-service"
	r.snap.Reason = ""
	if !r.m.InService() {
		r.snap.Service = "out-of-service"
		switch {
		case !r.health.HostUp:
			r.snap.Reason = "host link down"
		case r.health.Down != "" && r.causes != "":
			r.snap.Reason = r.causes
		case r.health.Down != "":
			r.snap.Reason = r.health.Down + " failed"
		}
		switch r.m.State() {
		case flows.Supervisor:
			r.snap.Reason = "supervisor mode"
		case flows.OutOfService:
			if r.snap.Reason == "" {
				r.snap.Reason = "taken out of service by a technician"
			}
		}
	}
	r.snap.Host = "down"
	if r.health.HostUp {
		r.snap.Host = "up"
	}
}

// shutdown stops every wait and halts the devices into their safe state.
func (r *Runner) shutdown() {
	r.endEntry()
	for _, f := range []*context.CancelFunc{&r.acceptStop, &r.cardStop, &r.cashStop} {
		stop(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, d := range r.o.Devices.Named() {
		if err := d.Dev.Halt(ctx); err != nil {
			r.log.Error().Err(err).Str("device", d.Name).Msg("halt failed")
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.log.Error().Msg("device calls still running at shutdown")
	}
	r.o.Journal.Append("SHUTDOWN", "", nil)
}
