package flows

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
)

// codeBlock is the PIN block of the delegate code the tests key.
var codeBlock = pinpad.PINBlock{Block: []byte{0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8}}

func newDelDriver(t *testing.T, mod func(*Config)) *driver {
	t.Helper()
	cfg := testConfig()
	cfg.Delegated, cfg.Activation = true, true
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, m: m, now: t0}
	d.step(Health{HostUp: true, Cassettes: cassettes(), PrinterOK: true, CameraOK: true})
	d.wantState(Idle)
	return d
}

// startDel inserts the card, picks "Delegated withdrawal" on the PIN
// screen and keys the code; it returns the check request.
func (d *driver) startDel() Request {
	d.t.Helper()
	d.step(CardInserted{Card: card})
	d.wantState(PINEntry)
	entry, _ := find[Entry](d.out)
	if entry.Mode != EntryPIN || len(entry.Terminators) != 2 || entry.Terminators[1] != pinpad.F5 {
		d.t.Fatalf("PIN entry %+v: want F4 and F5 as terminators", entry)
	}
	sc, _ := find[Show](d.out)
	if len(sc.Screen.Menu) != 2 || sc.Screen.Menu[1].ID != "delegated" || sc.Screen.Menu[1].Key != "F5" {
		d.t.Fatalf("PIN screen menu %+v", sc.Screen.Menu)
	}
	d.press(pinpad.F5)
	d.wantState(DelCode)
	d.wantScreen("delegate-code")
	entry, _ = find[Entry](d.out)
	if entry.Mode != EntryPIN || entry.MinLen != 6 || entry.MaxLen != 8 || entry.PAN != card.PAN {
		d.t.Fatalf("code entry %+v", entry)
	}
	return d.keyCode()
}

// keyCode keys the code (secure entry) and returns the check request.
func (d *driver) keyCode() Request {
	d.t.Helper()
	d.step(Echo{Key: pinpad.KeyMasked})
	d.step(PINEntered{Block: codeBlock})
	d.wantState(DelCheck)
	s, i := find[SendHost](d.out)
	if i < 0 || s.Req.Kind != DelegateCheck || string(s.Req.PIN.Block) != string(codeBlock.Block) {
		d.t.Fatalf("check request %+v", s.Req)
	}
	return s.Req
}

// delReply answers req with rc and field 48 tags.
func (d *driver) delReply(req Request, out Outcome, rc string, tags ...string) {
	d.t.Helper()
	data := map[string]string{}
	for i := 0; i+1 < len(tags); i += 2 {
		data[tags[i]] = tags[i+1]
	}
	d.step(HostReply{Reply: Reply{ID: req.ID, Outcome: out, Code: rc, Data: data, STAN: "000077", AuthCode: "ABC123",
		Token: []byte("tok"), Available: 2400000, Ledger: 2400000, HasBal: true}})
}

// toDelAmount runs the journey up to the amount menu with a cap of
// NT$3,000.
func (d *driver) toDelAmount() {
	d.t.Helper()
	req := d.startDel()
	d.delReply(req, Approved, "00", hostlink.TagDelegation, "D0123456789", hostlink.TagDelCap, "300000")
	d.wantState(DelAmount)
}

// allowedItems are the only menu items a delegated withdrawal may offer.
func allowedItem(id string) bool {
	return strings.HasPrefix(id, "amount-") || id == "other" || id == "cancel" || id == "yes" || id == "no"
}

// checkOnlyDelegated fails on any screen shown after the journey began
// (from index from of the effects) that is not the delegated
// withdrawal's: a balance, a main menu, a menu item other than amounts,
// other amount, cancel and yes/no, or any text with the balance.
func checkOnlyDelegated(t *testing.T, effects []Effect, from int) {
	t.Helper()
	shown := 0
	for _, e := range effects[from:] {
		switch e := e.(type) {
		case SessionEnded:
			if shown < 8 {
				t.Fatalf("only %d screens checked", shown)
			}
			return
		case Show:
			shown++
			sc := e.Screen
			switch sc.ID {
			case "balance", "main-menu", "amount-menu", "other-amount", "amount-unavailable", "enter-pin", "pin-retry":
				t.Errorf("screen %s shown during a delegated withdrawal", sc.ID)
			}
			for _, it := range sc.Menu {
				if !allowedItem(it.ID) {
					t.Errorf("screen %s offers %q during a delegated withdrawal", sc.ID, it.ID)
				}
			}
			if strings.Contains(sc.Text(), "24,000") {
				t.Errorf("screen %s shows the balance: %q", sc.ID, sc.Text())
			}
		case Print:
			text := strings.Join(e.Receipt.Lines, "\n")
			if strings.Contains(text, "24,000") || strings.Contains(text, "AVAILABLE") || strings.Contains(text, "LEDGER") {
				t.Errorf("receipt shows the balance:\n%s", text)
			}
		case Journal:
			for k, v := range e.Fields {
				if strings.Contains(strings.ToLower(v), hex.EncodeToString(codeBlock.Block)) {
					t.Errorf("journal %s %s holds the code's PIN block", e.Kind, k)
				}
			}
		}
	}
	t.Fatal("the session did not end")
}

func TestDelegatedWithdrawalHappyPath(t *testing.T) {
	for _, receipt := range []bool{false, true} {
		d := newDelDriver(t, nil)
		d.step(CardInserted{Card: card})
		from := len(d.all)
		d.step(CardEjected{}) // nothing: the card is inside; an unexpected event is ignored
		d.press(pinpad.F5)
		d.keyCode()
		req := d.m.sess
		d.delReply(Request{ID: req.txn}, Approved, "00", hostlink.TagDelegation, "D0123456789", hostlink.TagDelCap, "250000")
		d.wantState(DelAmount)
		sc, _ := find[Show](d.out)
		var ids []string
		for _, it := range sc.Screen.Menu {
			ids = append(ids, it.ID)
		}
		if got := strings.Join(ids, ","); got != "amount-1000,amount-2000,amount-2500,other,cancel" {
			t.Fatalf("amount menu %s", got)
		}
		if !strings.Contains(sc.Screen.Text(), "NT$2,500") {
			t.Fatalf("amount screen does not show the cap: %q", sc.Screen.Text())
		}
		// More time? Yes: back to the menu.
		d.wait(DefaultTimeouts.Entry)
		d.wantState(MoreTime)
		d.press(pinpad.F1)
		d.wantState(DelAmount)
		d.press(pinpad.F3) // NT$2,500
		d.wantState(ReceiptChoice)
		if receipt {
			d.press(pinpad.F1)
		} else {
			d.press(pinpad.F2)
		}
		d.wantState(Authorizing)
		d.step(NonceReady{Nonce: []byte("nonce")})
		send, _ := find[SendHost](d.out)
		if send.Req.Kind != Withdrawal || send.Req.Amount != 250000 || string(send.Req.PIN.Block) != string(codeBlock.Block) ||
			send.Req.Data[hostlink.TagDelegation] != "D0123456789" {
			t.Fatalf("withdrawal request %+v", send.Req)
		}
		d.delReply(send.Req, Approved, "00")
		d.wantState(Dispensing)
		disp, _ := find[Dispense](d.out)
		if string(disp.Req.Token) != "tok" || disp.Req.Amount != 250000 {
			t.Fatalf("dispense %+v", disp.Req)
		}
		d.step(Dispensed{Result: dispenser.Result{Dispensed: disp.Req.Mix}})
		d.step(CardTaken{})
		d.wantState(TakeCash)
		c, i := find[Capture](d.out)
		if i < 0 || c.Kind != hostlink.EvidenceDelegateFace || c.Txn != send.Req.ID {
			t.Fatalf("no capture of the helper's face: %+v", d.out)
		}
		d.step(CashPresented{})
		d.step(CashTaken{})
		if receipt {
			d.wantState(Printing)
			p, _ := find[Print](d.out)
			if text := strings.Join(p.Receipt.Lines, "\n"); !strings.Contains(text, "DELEGATED WITHDRAWAL") || !strings.Contains(text, "NT$2,500") {
				t.Fatalf("receipt:\n%s", text)
			}
			d.step(ReceiptPrinted{})
		}
		d.wantState(Goodbye)
		d.wait(DefaultTimeouts.Message)
		d.wantState(Idle)
		checkOnlyDelegated(t, d.all, from)
		for _, k := range []string{"DELEGATED-START", "DELEGATED-CHECK", "DELEGATED-CHECK-REPLY", "DELEGATED-WITHDRAWAL", "EVIDENCE-CAPTURE", "DISPENSE-INTENT"} {
			if !d.journaled(k) {
				t.Errorf("%s not journaled", k)
			}
		}
	}
}

// Wrong codes: keyed again with the attempts left, then the session
// ends; the card comes back (a wrong delegate code is not a wrong PIN).
func TestDelegatedWrongCode(t *testing.T) {
	d := newDelDriver(t, nil)
	from := len(d.all)
	req := d.startDel()
	d.delReply(req, WrongPIN, "55", hostlink.TagDelReason, hostlink.DelWrong, hostlink.TagDelTries, "2")
	d.wantState(DelCode)
	d.wantScreen("delegate-code-wrong")
	if sc, _ := find[Show](d.out); !strings.Contains(sc.Screen.Text(), "Attempts left: 2") {
		t.Fatalf("wrong-code screen %q", sc.Screen.Text())
	}
	req = d.keyCode()
	d.delReply(req, PINTriesExceeded, "75", hostlink.TagDelReason, hostlink.DelLocked)
	d.wantState(Notice)
	d.wantScreen("delegate-locked")
	d.wait(DefaultTimeouts.Message)
	d.wantState(Ending)
	if _, i := find[EjectCard](d.out); i < 0 {
		t.Fatal("card not given back")
	}
	if d.journaled("CARD-RETAINED") {
		t.Fatal("card retained for wrong delegate codes")
	}
	checkOnlyDelegatedSome(t, d.all, from)

	// Without the host's count, this ATM stops after max_pin_tries.
	d = newDelDriver(t, nil)
	req = d.startDel()
	for try := 1; try < 3; try++ {
		d.delReply(req, WrongPIN, "55", hostlink.TagDelReason, hostlink.DelWrong)
		d.wantScreen("delegate-code-wrong")
		req = d.keyCode()
	}
	d.delReply(req, WrongPIN, "55", hostlink.TagDelReason, hostlink.DelWrong)
	d.wantScreen("delegate-wrong")
}

// checkOnlyDelegatedSome is checkOnlyDelegated for a short journey.
func checkOnlyDelegatedSome(t *testing.T, effects []Effect, from int) {
	t.Helper()
	for _, e := range effects[from:] {
		if _, ok := e.(SessionEnded); ok {
			return
		}
		if s, ok := e.(Show); ok {
			for _, it := range s.Screen.Menu {
				if !allowedItem(it.ID) && !(s.Screen.ID == "enter-pin" && (it.ID == "delegated" || it.ID == "activate")) {
					t.Errorf("screen %s offers %q", s.Screen.ID, it.ID)
				}
			}
			if s.Screen.ID == "balance" || s.Screen.ID == "main-menu" {
				t.Errorf("screen %s shown", s.Screen.ID)
			}
		}
	}
}

func TestDelegatedRefusals(t *testing.T) {
	for _, tc := range []struct {
		out    Outcome
		rc     string
		reason string
		screen string
	}{
		{Declined, "05", hostlink.DelUsed, "delegate-used"},
		{Declined, "05", hostlink.DelExpired, "delegate-expired"},
		{Declined, "05", hostlink.DelCancelled, "delegate-cancelled"},
		{CardRefused, "54", "", "card-refused"},
		{Unknown, "", "", "unable-to-complete"},
		{Unavailable, "", "", "service-unavailable"},
		{Declined, "05", "", "declined"},
	} {
		d := newDelDriver(t, nil)
		req := d.startDel()
		d.delReply(req, tc.out, tc.rc, hostlink.TagDelReason, tc.reason)
		d.wantState(Notice)
		d.wantScreen(tc.screen)
		if _, i := find[Reverse](d.all); i >= 0 {
			t.Fatalf("%s: a check is reversed", tc.screen)
		}
		d.wait(DefaultTimeouts.Message)
		d.wantState(Ending)
	}
	// An approval without a cap is no approval.
	d := newDelDriver(t, nil)
	req := d.startDel()
	d.delReply(req, Approved, "00", hostlink.TagDelegation, "D0123456789")
	d.wantScreen("declined")
}

// More than the cap is refused on the spot; an amount the cassettes
// cannot make too; the helper chooses again.
func TestDelegatedOverCap(t *testing.T) {
	d := newDelDriver(t, nil)
	d.toDelAmount()
	d.press(pinpad.F4)
	d.wantState(DelOther)
	d.wantScreen("delegate-other")
	d.step(DataEntered{Data: pinpad.Data{Digits: "5000"}})
	d.wantState(DelAmount)
	d.wantScreen("delegate-over-cap")
	if !d.journaled("DELEGATED-OVER-CAP") {
		t.Fatal("over-cap amount not journaled")
	}
	if _, i := find[SendHost](d.all); i >= 0 {
		if s, _ := find[SendHost](d.all); s.Req.Kind == Withdrawal {
			t.Fatal("an amount over the cap went to the host")
		}
	}
	d.press(pinpad.F4)
	d.step(DataEntered{Data: pinpad.Data{Digits: "150"}}) // no NT$50 notes
	d.wantScreen("delegate-amount-unavailable")
	d.press(pinpad.F4)
	d.step(DataEntered{Data: pinpad.Data{Digits: "3000"}})
	d.wantState(ReceiptChoice)
}

// Cancel at every step gives the card back and sends nothing to spend
// the code.
func TestDelegatedCancelEverywhere(t *testing.T) {
	steps := map[string]func(d *driver){
		"code (CANCEL)": func(d *driver) {
			d.step(CardInserted{Card: card})
			d.press(pinpad.F5)
			d.step(EntryCancelled{})
		},
		"code (F8)": func(d *driver) {
			d.step(CardInserted{Card: card})
			d.press(pinpad.F5)
			d.press(pinpad.F8)
		},
		"amount menu": func(d *driver) { d.toDelAmount(); d.press(pinpad.F8) },
		"other amount": func(d *driver) {
			d.toDelAmount()
			d.press(pinpad.F4)
			d.step(EntryCancelled{})
		},
		"receipt choice": func(d *driver) { d.toDelAmount(); d.press(pinpad.F1); d.press(pinpad.KeyCancel) },
		"more time": func(d *driver) {
			d.toDelAmount()
			d.wait(DefaultTimeouts.Entry)
			d.press(pinpad.F2)
		},
	}
	for name, run := range steps {
		d := newDelDriver(t, nil)
		run(d)
		d.wantState(Ending)
		if _, i := find[EjectCard](d.out); i < 0 {
			t.Fatalf("%s: card not given back", name)
		}
		for _, e := range d.all {
			if s, ok := e.(SendHost); ok && s.Req.Kind == Withdrawal {
				t.Fatalf("%s: a withdrawal was sent", name)
			}
		}
		if !d.journaled("CANCELLED") && !d.journaled("TIMEOUT") {
			t.Fatalf("%s: cancel not journaled", name)
		}
	}
}

// A host that does not answer the delegated 0200: reversal, as for any
// withdrawal, and the card back.
func TestDelegatedHostTimeoutReverses(t *testing.T) {
	for _, how := range []string{"link", "timer"} {
		d := newDelDriver(t, nil)
		d.toDelAmount()
		d.press(pinpad.F1)
		d.press(pinpad.F2)
		d.step(NonceReady{Nonce: []byte("n")})
		send, _ := find[SendHost](d.out)
		if how == "link" {
			d.step(HostReply{Reply: Reply{ID: send.Req.ID, Outcome: Unknown}})
		} else {
			d.wait(DefaultTimeouts.Host)
		}
		rev, i := find[Reverse](d.all)
		if i < 0 || rev.ID != send.Req.ID || rev.Reason != "timeout" {
			t.Fatalf("%s: no reversal: %+v", how, rev)
		}
		d.wantScreen("unable-to-complete")
		if _, i := find[Dispense](d.all); i >= 0 {
			t.Fatalf("%s: dispensed", how)
		}
	}
}

// Refusals of the withdrawal itself end the session; none leads to a
// main menu.
func TestDelegatedWithdrawalRefused(t *testing.T) {
	for _, tc := range []struct {
		out    Outcome
		rc     string
		reason string
		screen string
	}{
		{Declined, "05", hostlink.DelUsed, "delegate-used"},
		{WrongPIN, "55", hostlink.DelWrong, "delegate-wrong"},
		{PINTriesExceeded, "75", hostlink.DelLocked, "delegate-locked"},
		{InsufficientFunds, "51", "", "insufficient-funds"},
		{LimitExceeded, "61", "", "limit-exceeded"},
		{LimitExceeded, "61", hostlink.DelOverCap, "limit-exceeded"},
	} {
		d := newDelDriver(t, nil)
		d.toDelAmount()
		d.press(pinpad.F1)
		d.press(pinpad.F2)
		d.step(NonceReady{Nonce: []byte("n")})
		send, _ := find[SendHost](d.out)
		d.delReply(send.Req, tc.out, tc.rc, hostlink.TagDelReason, tc.reason)
		d.wantState(Notice)
		d.wantScreen(tc.screen)
		d.wait(DefaultTimeouts.Message)
		d.wantState(Ending)
		if d.journaled("CARD-RETAINED") || d.journaled("RETAIN") {
			t.Fatalf("%s: card retained", tc.screen)
		}
	}
}

func TestDelegatedNotOffered(t *testing.T) {
	for name, tc := range map[string]struct {
		mod    func(*Config)
		health Health
	}{
		"off":       {func(c *Config) { c.Delegated = false }, Health{HostUp: true, Cassettes: cassettes(), CameraOK: true}},
		"no camera": {nil, Health{HostUp: true, Cassettes: cassettes()}},
	} {
		d := newDelDriver(t, tc.mod)
		d.step(tc.health)
		d.step(CardInserted{Card: card})
		sc, _ := find[Show](d.out)
		for _, it := range sc.Screen.Menu {
			if it.ID == "delegated" {
				t.Fatalf("%s: offered", name)
			}
		}
		d.press(pinpad.F5)
		d.wantState(PINEntry)
	}
	// Not after a wrong PIN: the PIN holder is at the ATM.
	d := newDelDriver(t, nil)
	d.step(CardInserted{Card: card})
	d.step(PINEntered{Block: pinpad.PINBlock{Block: []byte{1, 2, 3, 4, 5, 6, 7, 8}}})
	d.press(pinpad.F2)
	send, _ := find[SendHost](d.out)
	d.step(HostReply{Reply: Reply{ID: send.Req.ID, Outcome: WrongPIN, Code: "55"}})
	d.wantState(PINEntry)
	if sc, _ := find[Show](d.out); len(sc.Screen.Menu) != 0 {
		t.Fatalf("PIN retry screen offers %+v", sc.Screen.Menu)
	}
}

// The face check photographs the cardholder at their own withdrawals.
func TestFaceCheckCapturesOwner(t *testing.T) {
	for _, on := range []bool{false, true} {
		d := newDelDriver(t, func(c *Config) { c.FaceCheck = on })
		d.toMainMenu()
		d.press(pinpad.F1)
		d.press(pinpad.F1)
		d.press(pinpad.F2)
		d.step(NonceReady{Nonce: []byte("n")})
		d.approve("000042")
		disp, _ := find[Dispense](d.out)
		d.step(Dispensed{Result: dispenser.Result{Dispensed: disp.Req.Mix}})
		d.step(CardTaken{})
		c, i := find[Capture](d.out)
		if on != (i >= 0) || (on && c.Kind != hostlink.EvidenceOwnerFace) {
			t.Fatalf("face check %v: capture %+v at %d", on, c, i)
		}
	}
}

// The delegated screens have every language and their ids are the ones
// docs/scenarios.md lists.
func TestDelegatedScreensTranslated(t *testing.T) {
	for _, id := range []string{"delegate-code", "delegate-code-wrong", "delegate-amount", "delegate-over-cap",
		"delegate-amount-unavailable", "delegate-other", "delegate-wrong", "delegate-locked", "delegate-used",
		"delegate-expired", "delegate-cancelled", "lbl-delegated", "lbl-delegate-code", "rcpt-delegated"} {
		for _, l := range Languages {
			if catalogue[id][l] == "" {
				t.Errorf("%s has no %s text", id, l)
			}
		}
	}
}
