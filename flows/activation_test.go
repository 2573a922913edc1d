package flows

import (
	"testing"

	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
)

func newActDriver(t *testing.T) *driver {
	t.Helper()
	cfg := testConfig()
	cfg.Activation = true
	m, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, m: m, now: t0}
	d.step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true})
	return d
}

// startAct inserts the card and picks "Activate a new card" on the PIN
// screen, which must offer it as a terminator of the PIN entry.
func (d *driver) startAct() Request {
	d.t.Helper()
	d.step(CardInserted{Card: card})
	d.wantState(PINEntry)
	entry, _ := find[Entry](d.out)
	if len(entry.Terminators) != 1 || entry.Terminators[0] != pinpad.F4 {
		d.t.Fatalf("PIN entry terminators %v, want [F4]", entry.Terminators)
	}
	sc, _ := find[Show](d.out)
	if len(sc.Screen.Menu) != 1 || sc.Screen.Menu[0].ID != "activate" {
		d.t.Fatalf("PIN screen menu %+v", sc.Screen.Menu)
	}
	d.press(pinpad.F4)
	d.wantState(ActHost)
	return d.sent(hostlink.StepStart)
}

// sent returns the host request of the last step, which must be step.
func (d *driver) sent(step string) Request {
	d.t.Helper()
	s, i := find[SendHost](d.out)
	if i < 0 {
		d.t.Fatalf("no host request for step %s: %+v", step, d.out)
	}
	if s.Req.Kind != Activation || s.Req.Step != step {
		d.t.Fatalf("request %s/%s, want activation/%s", s.Req.Kind, s.Req.Step, step)
	}
	return s.Req
}

func (d *driver) reply(req Request, rc string, tags ...string) {
	d.t.Helper()
	data := map[string]string{}
	for i := 0; i+1 < len(tags); i += 2 {
		data[tags[i]] = tags[i+1]
	}
	out := Approved
	if rc != "00" {
		out = Declined
	}
	d.step(HostReply{Reply: Reply{ID: req.ID, Outcome: out, Code: rc, Data: data}})
}

func (d *driver) pin(b byte) PINEntered {
	return PINEntered{Block: pinpad.PINBlock{Block: []byte{b, b, b, b, b, b, b, b}}}
}

func TestActivationBoundAppPath(t *testing.T) {
	d := newActDriver(t)
	st := d.startAct()
	if st.Data[hostlink.TagActID] != "" {
		t.Fatal("start must not carry an activation id")
	}
	d.reply(st, "00", hostlink.TagActID, "A1", hostlink.TagActMode, hostlink.ModeReady, hostlink.TagActQR, "atmd://activate?c=x")
	d.wantState(ActQR)
	sc, _ := find[Show](d.out)
	if sc.Screen.QR != "atmd://activate?c=x" || sc.Screen.ID != "activate-qr" {
		t.Fatalf("QR screen %+v", sc.Screen)
	}
	// Polls go one at a time, every QRPoll.
	d.wait(QRPoll)
	poll := d.sent(hostlink.StepQRStatus)
	if poll.Data[hostlink.TagActID] != "A1" {
		t.Fatalf("poll without the activation id: %v", poll.Data)
	}
	d.wait(QRPoll)
	if _, i := find[SendHost](d.out); i >= 0 {
		t.Fatal("a second poll while the first is unanswered")
	}
	d.reply(poll, "00", hostlink.TagActQRState, hostlink.QRPending)
	d.wantState(ActQR)
	d.wait(QRPoll)
	poll = d.sent(hostlink.StepQRStatus)
	d.reply(poll, "00", hostlink.TagActQRState, hostlink.QRVerified, hostlink.TagActChannel, "push")
	d.wantState(ActDefaultPIN)
	d.wantScreen("activate-default-pin")
	if e, _ := find[Entry](d.out); e.Mode != EntryPIN || e.PAN != card.PAN {
		t.Fatalf("default PIN entry %+v", e)
	}
	d.step(d.pin(1))
	dp := d.sent(hostlink.StepDefaultPIN)
	if len(dp.PIN.Block) != 8 || dp.PIN.Block[0] != 1 {
		t.Fatalf("default PIN block not sent: %+v", dp.PIN)
	}
	d.reply(dp, "55", hostlink.TagActTries, "2")
	d.wantState(ActDefaultPIN)
	d.wantScreen("activate-default-pin-wrong")
	d.step(d.pin(2))
	d.reply(d.sent(hostlink.StepDefaultPIN), "00")
	d.wantState(ActNewPIN)
	d.step(d.pin(3))
	d.wantState(ActNewPIN2)
	d.step(d.pin(4))
	np := d.sent(hostlink.StepNewPIN)
	if np.PIN.Block[0] != 3 || np.PIN2.Block[0] != 4 {
		t.Fatalf("new PIN blocks %x / %x", np.PIN.Block, np.PIN2.Block)
	}
	d.reply(np, "05", hostlink.TagActReason, hostlink.ReasonPINMismatch)
	d.wantState(ActNewPIN)
	d.wantScreen("activate-pins-differ")
	d.step(d.pin(5))
	d.step(d.pin(5))
	d.reply(d.sent(hostlink.StepNewPIN), "00")
	d.wantState(ActDone)
	if !d.journaled("ACTIVATION-DONE") {
		t.Fatal("activation not journaled")
	}
	// Other services: the PIN screen again, without the activation offer.
	d.press(pinpad.F1)
	d.wantState(PINEntry)
	if e, _ := find[Entry](d.out); len(e.Terminators) != 0 {
		t.Fatalf("activation offered again: %v", e.Terminators)
	}
}

func TestActivationNonAppPath(t *testing.T) {
	d := newActDriver(t)
	st := d.startAct()
	d.reply(st, "00", hostlink.TagActID, "A2", hostlink.TagActMode, hostlink.ModeNoApp)
	d.wantState(ActMobile)
	d.step(DataEntered{Data: pinpad.Data{Digits: "12345"}})
	d.wantScreen("activate-mobile-invalid")
	d.step(DataEntered{Data: pinpad.Data{Digits: "0966000606"}})
	d.wantState(ActBirth)
	d.step(DataEntered{Data: pinpad.Data{Digits: "19901399"}})
	d.wantScreen("activate-birth-invalid")
	d.step(DataEntered{Data: pinpad.Data{Digits: "19900517"}})
	id := d.sent(hostlink.StepIdentity)
	if id.Data[hostlink.TagActMobile] != "0966000606" || id.Data[hostlink.TagActBirth] != "19900517" || id.Data[hostlink.TagActID] != "A2" {
		t.Fatalf("identity request %v", id.Data)
	}
	for _, e := range d.all {
		if j, ok := e.(Journal); ok {
			for _, v := range j.Fields {
				if v == "0966000606" || v == "19900517" {
					t.Fatalf("personal data journaled: %+v", j)
				}
			}
		}
	}
	d.reply(id, "05", hostlink.TagActReason, hostlink.ReasonMismatch, hostlink.TagActTries, "2")
	d.wantState(ActChoice)
	d.wantScreen("activate-mismatch")
	d.press(pinpad.F1)
	d.wantState(ActMobile)
	d.step(DataEntered{Data: pinpad.Data{Digits: "0966000606"}})
	d.step(DataEntered{Data: pinpad.Data{Digits: "19900517"}})
	d.reply(d.sent(hostlink.StepIdentity), "00", hostlink.TagActChannel, "sms", hostlink.TagActPhone, "0606")
	d.wantState(ActCode)
	sc, _ := find[Show](d.out)
	if sc.Screen.ID != "activate-code" || sc.Screen.Input == nil || sc.Screen.Input.Kind != display.Secret {
		t.Fatalf("code screen %+v", sc.Screen)
	}
	if e, _ := find[Entry](d.out); e.Mode != EntryPIN || e.MinLen != 6 || e.MaxLen != 6 {
		t.Fatalf("code entry %+v", e)
	}
	// A new code on request, on the same channel.
	d.press(pinpad.F1)
	sc2 := d.sent(hostlink.StepSendCode)
	if sc2.Data[hostlink.TagActChannel] != "sms" {
		t.Fatalf("new code on %q", sc2.Data[hostlink.TagActChannel])
	}
	d.reply(sc2, "00", hostlink.TagActChannel, "sms", hostlink.TagActPhone, "0606")
	d.step(d.pin(6))
	vc := d.sent(hostlink.StepVerifyCode)
	d.reply(vc, "55", hostlink.TagActTries, "1")
	d.wantScreen("activate-code-wrong")
	d.step(d.pin(7))
	d.reply(d.sent(hostlink.StepVerifyCode), "75", hostlink.TagActReason, hostlink.ReasonLocked)
	d.wantState(Notice)
	d.wantScreen("activate-locked")
	d.wait(DefaultTimeouts.Message)
	d.wantState(Ending)
}

func TestActivationRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, rc, reason, screen string
		state                    State
	}{
		{"already active", "12", hostlink.ReasonActive, "activate-already-active", Notice},
		{"blocked", "62", hostlink.ReasonBlocked, "card-refused", Notice},
		{"unknown", "14", hostlink.ReasonUnknownCard, "card-refused", Notice},
		{"no app", "12", hostlink.ReasonNoApp, "activate-app-login", ActChoice},
		{"system error", "96", "", "activate-failed", Notice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newActDriver(t)
			st := d.startAct()
			var tags []string
			if tc.reason != "" {
				tags = []string{hostlink.TagActReason, tc.reason}
			}
			d.reply(st, tc.rc, tags...)
			d.wantState(tc.state)
			d.wantScreen(tc.screen)
		})
	}
}

func TestActivationAppNotReady(t *testing.T) {
	for _, mode := range []string{hostlink.ModeLogin, hostlink.ModeUnbound} {
		d := newActDriver(t)
		st := d.startAct()
		d.reply(st, "00", hostlink.TagActID, "A3", hostlink.TagActMode, mode)
		d.wantState(ActChoice)
		// Try again: a fresh start, which finds the app ready this time.
		d.press(pinpad.F1)
		st = d.sent(hostlink.StepStart)
		d.reply(st, "00", hostlink.TagActID, "A4", hostlink.TagActMode, hostlink.ModeReady, hostlink.TagActQR, "atmd://activate?c=y")
		d.wantState(ActQR)
	}
}

// Cancel anywhere: the card comes back and the host is told to forget
// the activation.
func TestActivationCancelEverywhere(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reach  func(d *driver)
		cancel Event
	}{
		{"qr", func(d *driver) {
			d.reply(d.sent(hostlink.StepStart), "00", hostlink.TagActID, "A", hostlink.TagActMode, hostlink.ModeReady, hostlink.TagActQR, "q")
		}, KeyPressed{Key: pinpad.F8}},
		{"mobile", func(d *driver) {
			d.reply(d.sent(hostlink.StepStart), "00", hostlink.TagActID, "A", hostlink.TagActMode, hostlink.ModeNoApp)
		}, EntryCancelled{}},
		{"code", func(d *driver) {
			d.reply(d.sent(hostlink.StepStart), "00", hostlink.TagActID, "A", hostlink.TagActMode, hostlink.ModeReady, hostlink.TagActQR, "q")
			d.press(pinpad.F2)
			d.reply(d.sent(hostlink.StepSendCode), "00", hostlink.TagActChannel, "push")
		}, KeyPressed{Key: pinpad.F8}},
		{"app-login", func(d *driver) {
			d.reply(d.sent(hostlink.StepStart), "00", hostlink.TagActID, "A", hostlink.TagActMode, hostlink.ModeLogin)
		}, KeyPressed{Key: pinpad.F8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newActDriver(t)
			d.startAct()
			tc.reach(d)
			d.step(tc.cancel)
			d.wantState(Ending)
			cx := d.sent(hostlink.StepCancel)
			if cx.Data[hostlink.TagActID] != "A" {
				t.Fatalf("cancel without the activation id: %v", cx.Data)
			}
			if _, i := find[EjectCard](d.out); i < 0 {
				t.Fatal("card not given back")
			}
			if !d.journaled("CANCELLED") {
				t.Fatal("cancel not journaled")
			}
		})
	}
}

func TestActivationDefaultPINTriesRetainCard(t *testing.T) {
	d := newActDriver(t)
	d.reply(d.startAct(), "00", hostlink.TagActID, "A", hostlink.TagActMode, hostlink.ModeReady, hostlink.TagActQR, "q")
	d.wait(QRPoll)
	d.reply(d.sent(hostlink.StepQRStatus), "00", hostlink.TagActQRState, hostlink.QRVerified)
	d.step(d.pin(1))
	d.reply(d.sent(hostlink.StepDefaultPIN), "75", hostlink.TagActReason, hostlink.ReasonPINTries)
	d.wantState(Retaining)
}

func TestActivationNotOfferedWhenOff(t *testing.T) {
	d := newDriver(t) // testConfig: Activation off
	d.step(CardInserted{Card: card})
	if e, _ := find[Entry](d.out); len(e.Terminators) != 0 {
		t.Fatalf("terminators %v with activation off", e.Terminators)
	}
	d.press(pinpad.F4)
	d.wantState(PINEntry)
}
