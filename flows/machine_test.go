package flows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/currency"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

var card = cardreader.Card{PAN: "4761739001010119", Expiry: "2812", Technology: cardreader.Chip}

func cassettes() []dispenser.Cassette {
	return []dispenser.Cassette{
		{ID: 1, Denomination: 100000, Currency: "TWD", Count: 500, Status: dispenser.CassetteOK},
		{ID: 2, Denomination: 50000, Currency: "TWD", Count: 500, Status: dispenser.CassetteOK},
		{ID: 3, Denomination: 10000, Currency: "TWD", Count: 500, Status: dispenser.CassetteOK},
	}
}

func testConfig() Config {
	twd, _ := currency.ByAlpha("TWD")
	return Config{
		ATM: "ATM00001", Currency: twd,
		FastAmounts: []int64{100000, 200000, 300000, 500000, 1000000, 2000000},
		MaxAmount:   2000000, MaxNotes: 40, MaxPINTries: 3,
		PINFormat: pinpad.ISO0, PINKey: "pin", Timeouts: DefaultTimeouts,
	}
}

// driver steps a machine and keeps every effect for inspection.
type driver struct {
	t   *testing.T
	m   *Machine
	now time.Time
	out []Effect // effects of the last step
	all []Effect
}

func newDriver(t *testing.T) *driver {
	m, err := New(testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, m: m, now: t0}
	d.step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true})
	d.wantState(Idle)
	return d
}

func (d *driver) step(ev Event) []Effect {
	d.t.Helper()
	d.out = d.m.Step(ev)
	d.all = append(d.all, d.out...)
	if len(d.m.Violations) > 0 {
		d.t.Fatalf("undeclared transitions: %v", d.m.Violations)
	}
	return d.out
}

func (d *driver) wait(dur time.Duration) {
	d.t.Helper()
	d.now = d.now.Add(dur)
	d.step(Tick{Now: d.now})
}

func (d *driver) press(k pinpad.Key) { d.t.Helper(); d.step(KeyPressed{Key: k}) }

func (d *driver) wantState(s State) {
	d.t.Helper()
	if d.m.State() != s {
		d.t.Fatalf("state %s, want %s", d.m.State(), s)
	}
}

func (d *driver) wantScreen(id string) {
	d.t.Helper()
	for i := len(d.out) - 1; i >= 0; i-- {
		if s, ok := d.out[i].(Show); ok {
			if s.Screen.ID != id {
				d.t.Fatalf("screen %s, want %s", s.Screen.ID, id)
			}
			return
		}
	}
	d.t.Fatalf("no screen shown, want %s", id)
}

// find returns the index of the first effect in the last step of type T.
func find[T Effect](effects []Effect) (T, int) {
	var zero T
	for i, e := range effects {
		if x, ok := e.(T); ok {
			return x, i
		}
	}
	return zero, -1
}

func (d *driver) journaled(kind string) bool {
	for _, e := range d.all {
		if j, ok := e.(Journal); ok && j.Kind == kind {
			return true
		}
	}
	return false
}

func (d *driver) toMainMenu() {
	d.t.Helper()
	d.step(CardInserted{Card: card})
	d.wantState(PINEntry)
	entry, i := find[Entry](d.out)
	if i < 0 || entry.Mode != EntryPIN || entry.PAN != card.PAN {
		d.t.Fatalf("PIN entry not armed: %+v", d.out)
	}
	d.step(Echo{Key: pinpad.KeyMasked})
	if s, _ := find[Show](d.out); s.Screen.Input == nil || s.Screen.Input.Value != "*" {
		d.t.Fatalf("echo not shown: %+v", d.out)
	}
	d.step(PINEntered{Block: pinpad.PINBlock{Block: []byte{1, 2, 3, 4, 5, 6, 7, 8}}})
	d.wantState(MainMenu)
}

func (d *driver) approve(stan string) {
	d.t.Helper()
	send, i := find[SendHost](d.out)
	if i < 0 {
		d.t.Fatalf("no host request: %+v", d.out)
	}
	d.step(HostReply{Reply: Reply{ID: send.Req.ID, Outcome: Approved, Code: "00", STAN: stan, AuthCode: "A1B2C3", Token: []byte("tok"),
		Available: 2400000, Ledger: 2400000, HasBal: true}})
}

func TestWithdrawalHappyPath(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.press(pinpad.F1)
	d.wantScreen("amount-menu")
	d.press(pinpad.F2) // NT$2,000
	d.wantState(ReceiptChoice)
	d.press(pinpad.F1) // receipt: yes
	d.wantState(Authorizing)
	if _, i := find[GetNonce](d.out); i < 0 {
		t.Fatal("no nonce requested before the host request")
	}
	d.step(NonceReady{Nonce: []byte("nonce")})
	send, _ := find[SendHost](d.out)
	if send.Req.Amount != 200000 || string(send.Req.Nonce) != "nonce" || send.Req.Kind != Withdrawal {
		t.Fatalf("request %+v", send.Req)
	}
	d.approve("000042")
	d.wantState(Dispensing)
	// The intent is journaled before the dispense command.
	ji := -1
	for i, e := range d.out {
		if j, ok := e.(Journal); ok && j.Kind == "DISPENSE-INTENT" {
			ji = i
		}
	}
	disp, di := find[Dispense](d.out)
	if di < 0 || ji < 0 || ji > di {
		t.Fatalf("journal intent must precede dispense: %+v", d.out)
	}
	if disp.Req.Txn != "000042" || disp.Req.Amount != 200000 || string(disp.Req.Token) != "tok" || dispenser.MixAmount(disp.Req.Mix, cassettes()) != 200000 {
		t.Fatalf("dispense request %+v", disp.Req)
	}
	d.step(Dispensed{Result: dispenser.Result{Dispensed: disp.Req.Mix}})
	// Card before cash.
	if _, i := find[EjectCard](d.out); i < 0 {
		t.Fatal("card not ejected before cash")
	}
	if _, i := find[PresentCash](d.out); i >= 0 {
		t.Fatal("cash presented before card taken")
	}
	d.step(CardEjected{})
	d.step(CardTaken{})
	d.wantState(TakeCash)
	if _, i := find[PresentCash](d.out); i < 0 {
		t.Fatal("cash not presented")
	}
	d.wantScreen("take-cash")
	d.step(CashPresented{})
	d.step(CashTaken{})
	d.wantState(Printing)
	p, _ := find[Print](d.out)
	text := strings.Join(p.Receipt.Lines, "\n")
	if !strings.Contains(text, "NT$2,000") || !strings.Contains(text, "**** 0119") || strings.Contains(text, card.PAN) {
		t.Fatalf("receipt:\n%s", text)
	}
	d.step(ReceiptPrinted{})
	d.wantState(Goodbye)
	d.wait(DefaultTimeouts.Message)
	d.wantState(Idle)
	if !d.journaled("SESSION-END") {
		t.Fatal("session end not journaled")
	}
}

func TestWrongPINThenRetain(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.press(pinpad.F2) // balance
	for try := 1; try <= 3; try++ {
		send, _ := find[SendHost](d.out)
		d.step(HostReply{Reply: Reply{ID: send.Req.ID, Outcome: WrongPIN, Code: "55"}})
		if try < 3 {
			d.wantState(PINEntry)
			d.wantScreen("pin-retry")
			d.step(PINEntered{Block: pinpad.PINBlock{Block: []byte{9}}})
			d.wantState(Authorizing)
		}
	}
	d.wantState(Retaining)
	if _, i := find[RetainCard](d.out); i < 0 {
		t.Fatal("card not retained")
	}
	d.step(CardRetained{})
	if !d.journaled("CARD-RETAINED") {
		t.Fatal("retention not journaled")
	}
	d.wait(DefaultTimeouts.Message)
	d.wantState(Idle)
}

func TestInactivityMoreTimeThenCardLeft(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.wait(DefaultTimeouts.Entry - time.Second)
	d.wantState(MainMenu)
	d.wait(time.Second)
	d.wantState(MoreTime)
	d.press(pinpad.F1)
	d.wantState(MainMenu)
	d.wait(DefaultTimeouts.Entry)
	d.wantState(MoreTime)
	d.wait(DefaultTimeouts.MoreTime)
	d.wantState(Ending)
	d.wantScreen("take-card")
	d.wait(DefaultTimeouts.TakeCard)
	d.wantState(CardLeft)
	if _, i := find[RetainCard](d.out); i < 0 {
		t.Fatal("forgotten card not retained")
	}
	if _, i := find[RetractCash](d.out); i >= 0 {
		t.Fatal("retract with no cash stacked")
	}
}

func TestCashNotTakenIsRetractedAndReversed(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.press(pinpad.F1)
	d.press(pinpad.F1) // NT$1,000
	d.press(pinpad.F2) // no receipt
	d.step(NonceReady{Nonce: []byte("n")})
	d.approve("000007")
	disp, _ := find[Dispense](d.out)
	d.step(Dispensed{Result: dispenser.Result{Dispensed: disp.Req.Mix}})
	d.step(CardTaken{})
	d.step(CashPresented{})
	d.wait(DefaultTimeouts.TakeCash)
	d.wantState(Retracting)
	d.step(CashRetracted{Notes: 1})
	rev, i := find[Reverse](d.out)
	if i < 0 || rev.Reason != "cash-not-taken" || rev.Dispensed != 0 {
		t.Fatalf("reversal %+v", d.out)
	}
	d.wantState(Goodbye)
}

func TestHostTimeoutReverses(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.press(pinpad.F1)
	d.press(pinpad.F1)
	d.press(pinpad.F2)
	d.step(NonceReady{Nonce: []byte("n")})
	send, _ := find[SendHost](d.out)
	d.step(HostReply{Reply: Reply{ID: send.Req.ID, Outcome: Unknown, Err: errors.New("timeout")}})
	if rev, i := find[Reverse](d.out); i < 0 || rev.ID != send.Req.ID || rev.Reason != "timeout" {
		t.Fatalf("no reversal after unknown outcome: %+v", d.out)
	}
	d.wantScreen("unable-to-complete")
	if _, i := find[Dispense](d.all); i >= 0 {
		t.Fatal("dispensed without approval")
	}
}

func TestAmountThatCannotBeMade(t *testing.T) {
	d := newDriver(t)
	d.toMainMenu()
	d.press(pinpad.F1)
	d.press(pinpad.F4) // other amount
	d.wantState(OtherAmount)
	d.step(DataEntered{Data: pinpad.Data{Digits: "150", Terminator: pinpad.KeyEnter}})
	d.wantState(AmountError)
	d.wantScreen("amount-unavailable")
	d.press(pinpad.F1)
	d.wantState(AmountMenu)
	d.press(pinpad.F4)
	d.step(DataEntered{Data: pinpad.Data{Digits: "1700", Terminator: pinpad.KeyEnter}})
	d.wantState(ReceiptChoice)
}

func TestOutOfServiceAndBack(t *testing.T) {
	d := newDriver(t)
	d.step(Health{HostUp: false, Cassettes: cassettes(), PrinterOK: true})
	d.wantState(OutOfService)
	d.wantScreen("out-of-service")
	if a, i := find[AcceptCard](d.out); i < 0 || a.On {
		t.Fatal("card slot left open out of service")
	}
	d.step(Health{HostUp: true, Down: "dispenser", Cassettes: cassettes()})
	d.wantState(OutOfService)
	d.step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true})
	d.wantState(Idle)
	d.wantScreen("welcome")
}

func TestDeclinesAndInsufficientFunds(t *testing.T) {
	for _, tc := range []struct {
		out    Outcome
		screen string
		state  State
	}{
		{InsufficientFunds, "insufficient-funds", Refused},
		{LimitExceeded, "limit-exceeded", Refused},
		{CardRefused, "card-refused", Notice},
		{Declined, "declined", Notice},
		{Unavailable, "service-unavailable", Notice},
	} {
		t.Run(string(tc.out), func(t *testing.T) {
			d := newDriver(t)
			d.toMainMenu()
			d.press(pinpad.F1)
			d.press(pinpad.F1)
			d.press(pinpad.F2)
			d.step(NonceReady{Nonce: []byte("n")})
			send, _ := find[SendHost](d.out)
			d.step(HostReply{Reply: Reply{ID: send.Req.ID, Outcome: tc.out}})
			d.wantState(tc.state)
			d.wantScreen(tc.screen)
			if _, i := find[Reverse](d.all); i >= 0 {
				t.Fatal("reversal for a clean decline")
			}
		})
	}
}

func TestDiagramCoversEveryState(t *testing.T) {
	dg := Diagram(CardServices) + Diagram(CardActivation) + Diagram(DelegatedWithdrawal)
	for s := range states {
		if !strings.Contains(dg, strings.ReplaceAll(string(s), "-", "_")+" :") {
			t.Errorf("state %s missing from diagram", s)
		}
		for _, n := range states[s].next {
			if _, ok := states[n]; !ok {
				t.Errorf("%s goes to undeclared state %s", s, n)
			}
		}
	}
	if !strings.HasPrefix(dg, "stateDiagram-v2") {
		t.Fatal(dg)
	}
}

func TestEveryScreenHasEveryLanguage(t *testing.T) {
	for id, tx := range catalogue {
		for _, l := range Languages {
			if tx[l] == "" {
				t.Errorf("%s has no %s text", id, l)
			}
		}
	}
}

// Session ids carry the boot mark, so two runs of the machine that start
// a session in the same second still give different ids.
func TestSessionIDsUniqueAcrossBoots(t *testing.T) {
	ids := map[string]bool{}
	for _, boot := range []string{"11", "12"} {
		cfg := testConfig()
		cfg.Boot = boot
		m, err := New(cfg, t0)
		if err != nil {
			t.Fatal(err)
		}
		m.Step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true})
		m.Step(CardInserted{Card: card})
		if ids[m.Session()] {
			t.Fatalf("session id %s repeated across boots", m.Session())
		}
		ids[m.Session()] = true
	}
}
