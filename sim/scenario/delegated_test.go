package scenario

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/host/seed"
)

// The master key components of the second ATM of configs/sim.yaml
// (ATM00002, TMK KCV 20BDF0), as its custodians would load them.
var atm2Components = []string{"3B8E5D2A7C41F09613E2A4C8570B6D9F", "A4175C3E92D068BB2F7E1954C3A08E61"}

// twoATMs starts the reference host of base and two ATMs, ATM00001 and
// ATM00002, against it, on one simulated clock; it returns a driver
// for each (they share the host and its mobile API).
func twoATMs(t *testing.T, base *atm.Config) []*Driver {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "atmd.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	log := zerolog.New(logf).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	clk := clock.NewFake(Start)
	sd, err := seed.Load(base.Host.Seed)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := currency.ByAlpha(base.ATM.Currency)
	hr := &Driver{o: Options{Patience: 5 * time.Second}, clk: clk}
	hc := *base.Host
	hc.DB = filepath.Join(dir, "host.db")
	if err := hr.startHost(ctx, hc, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hr.stopHost(); hr.h.Close() })

	var drivers []*Driver
	for i, id := range []string{"ATM00001", "ATM00002"} {
		cfg := *base
		cfg.ATM.ID = id
		cfg.ATM.StateDir = filepath.Join(dir, id)
		cfg.Host = nil
		cfg.HostLink.Addr = hr.hostAddr
		devs := cfg.Devices
		dc := *devs.Display
		dc.Addr, dc.Panel = "", false
		devs.Display = &dc
		if i == 1 {
			var mk []atm.HexKey
			for _, c := range atm2Components {
				b, _ := hex.DecodeString(c)
				mk = append(mk, atm.HexKey(b))
			}
			pp, dp := *devs.PinPad, *devs.Dispenser
			pp.MasterKey, dp.MasterKey = mk, mk
			devs.PinPad, devs.Dispenser = &pp, &dp
		}
		cfg.Devices = devs
		d, err := atm.Start(ctx, &cfg, atm.DaemonOptions{Clock: clk, ManualTicks: true, NoControl: true,
			Log: log.With().Str("atm", id).Logger()})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		t.Cleanup(func() { d.Stop() })
		dr := &Driver{o: Options{Patience: 5 * time.Second}, cur: cur, seed: sd, clk: clk, d: d, sim: d.Sim, h: hr.h,
			hostAddr: hr.hostAddr, mobileAPI: hr.mobileAPI}
		if err := dr.waitInService(ctx); err != nil {
			t.Fatalf("%s did not come into service: %v", id, err)
		}
		drivers = append(drivers, dr)
	}
	return drivers
}

// steps runs scenario lines on a driver.
func steps(t *testing.T, dr *Driver, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if err := dr.Do(t.Context(), l); err != nil {
			t.Fatalf("%s: %s: %v", dr.d.Config.ATM.ID, l, err)
		}
	}
}

// The same delegate code at two ATMs at once: both check it, both send
// the withdrawal at the same moment, exactly one is approved and pays
// out; the other is refused as used. The account is debited once.
func TestDelegatedSameCodeAtTwoATMs(t *testing.T) {
	drs := twoATMs(t, loadConfig(t))
	a, b := drs[0], drs[1]
	steps(t, a, "phone login alice")
	want := int64(25000)
	for round := range 3 {
		steps(t, a, "phone delegate create alice-debit 2000")
		b.phone.secret = a.phone.secret // the code reached both ATMs
		for _, dr := range drs {
			steps(t, dr, "insert card alice-debit", "choose delegated", "enter phone", "press enter",
				"expect screen delegate-amount", "choose amount-2000", "expect screen receipt-choice")
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, dr := range drs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = dr.Do(t.Context(), "choose no")
			}()
		}
		wg.Wait()
		var won []*Driver
		for i, dr := range drs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			var screen string
			err := dr.poll(t.Context(), func() (bool, string) {
				screen = dr.sim.Display.Current().ID
				return screen == "take-card-cash" || screen == "delegate-used", "screen " + screen
			})
			if err != nil {
				t.Fatalf("round %d, %s: %v", round, dr.d.Config.ATM.ID, err)
			}
			if screen == "take-card-cash" {
				won = append(won, dr)
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d ATMs approved the same code", round, len(won))
		}
		want -= 2000
		for _, dr := range drs {
			if dr == won[0] {
				steps(t, dr, "take card", "expect cash 2000", "take cash", "expect screen goodbye")
				continue
			}
			steps(t, dr, "expect screen delegate-used", "expect journal DELEGATED-CHECK-REPLY outcome=approved")
		}
		steps(t, won[0], "expect evidence delegate-face", fmt.Sprintf("expect balance alice-twd %d", want))
		steps(t, a, "expect delegate used") // on the cardholder's phone
		// Both back to idle: the loser's notice ends and its card comes back.
		for _, dr := range drs {
			steps(t, dr, "wait 5s")
		}
		for _, dr := range drs {
			if dr != won[0] {
				steps(t, dr, "expect screen take-card", "take card", "expect screen goodbye", "wait 5s")
			}
			steps(t, dr, "expect state in-service", "expect screen welcome")
		}
	}
	// Every 0200 sent by either ATM: exactly one approval per round.
	approved := 0
	for _, dr := range drs {
		for _, m := range dr.d.HostMessages(0) {
			if m.MTI == "0210" && m.RC == "00" {
				approved++
			}
		}
	}
	if approved != 3 {
		t.Fatalf("%d approvals in 3 rounds", approved)
	}
}

// The face check on the cardholder's own withdrawals (atm.services.
// face_check): a still of someone else alerts the cardholder; a still of
// the cardholder does not. The face comparison is the simulator's
// (sim/face).
func TestOwnerFaceCheckScenario(t *testing.T) {
	cfg := loadConfig(t)
	cfg.ATM.Services.FaceCheck = true
	for _, tc := range []struct {
		who, result string
		alert       bool
	}{{"alice", "match", false}, {"stranger", "mismatch", true}} {
		text := strings.Join([]string{
			"phone login alice",
			"camera sees " + tc.who,
			"insert card alice-debit", "enter 7968", "press enter", "choose withdrawal", "choose amount-1000", "choose no",
			"take card", "take cash",
			"expect camera 1",
			"expect evidence owner-face " + tc.result,
			"expect journal EVIDENCE-SENT kind=OF",
		}, "\n")
		if tc.alert {
			text += "\nexpect alert contains \"does not match\""
		} else {
			text += "\nexpect no alert"
		}
		sc, err := Parse("face-check-"+tc.who, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if err := Run(context.Background(), cfg, sc, Options{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseDelegatedSteps(t *testing.T) {
	good := `phone delegate create alice-debit 3000 expires 2h
phone delegate create alice-debit 3,000
phone delegate cancel
expect delegate used
expect alert
expect alert contains "wrong"
expect no alert
expect camera 1
expect evidence delegate-face
expect evidence owner-face mismatch
expect evidence none
camera sees helper
host drop reply`
	if _, err := Parse("good", []byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"phone delegate create alice-debit",
		"phone delegate create alice-debit lots",
		"phone delegate create alice-debit 3000 expires never",
		"phone delegate create alice-debit 3000 for 2h",
		"phone delegate cancel now",
		"phone delegate revoke",
		"expect delegate gone",
		"expect alert \"wrong\"",
		"expect camera many",
		"expect evidence fingerprint",
		"expect evidence owner-face maybe",
		"expect evidence none at-all",
		"host drop everything",
		"camera sees",
	} {
		if _, err := Parse("bad", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Every screen the helper sees, from picking "Delegated withdrawal" to
// the welcome screen, as the display recorded them: no balance, no main
// menu, no service but the delegated withdrawal — menus offer only
// amounts, other amount, cancel and the receipt question — and neither
// a screen nor the receipt shows the account's balance.
func TestDelegatedScreensShowNothingElse(t *testing.T) {
	dr := twoATMs(t, loadConfig(t))[0]
	steps(t, dr, "phone login alice", "phone delegate create alice-debit 3000")
	start := len(dr.sim.Display.History())
	steps(t, dr, "insert card alice-debit", "expect screen enter-pin", "choose delegated", "expect screen delegate-code",
		"enter 975310", "press enter", "expect screen delegate-code-wrong",
		"enter phone", "press enter", "expect screen delegate-amount",
		"choose other", "enter 5000", "press enter", "expect screen delegate-over-cap",
		"wait 30s", "expect screen more-time", "choose yes",
		"choose amount-2000", "choose yes", "take card", "take cash", "expect screen printing", "wait 5s", "expect screen welcome")
	hist := dr.sim.Display.History()[start:]
	began := false
	seen := map[string]bool{}
	for _, s := range hist {
		if s.ID == "delegate-code" {
			began = true
		}
		if !began {
			continue
		}
		if s.ID == "welcome" {
			break
		}
		seen[s.ID] = true
		switch s.ID {
		case "balance", "main-menu", "amount-menu", "other-amount", "enter-pin", "pin-retry", "insufficient-funds", "limit-exceeded":
			t.Errorf("screen %s shown during a delegated withdrawal", s.ID)
		}
		for _, it := range s.Menu {
			if !strings.HasPrefix(it.ID, "amount-") && it.ID != "other" && it.ID != "cancel" && it.ID != "yes" && it.ID != "no" {
				t.Errorf("screen %s offers %q", s.ID, it.ID)
			}
		}
		for _, bal := range []string{"25,000", "23,000"} {
			if strings.Contains(s.Text(), bal) {
				t.Errorf("screen %s shows the balance: %q", s.ID, s.Text())
			}
		}
	}
	for _, want := range []string{"delegate-code", "delegate-code-wrong", "delegate-amount", "delegate-other", "delegate-over-cap",
		"more-time", "receipt-choice", "please-wait", "dispensing", "take-card-cash", "take-cash", "printing", "goodbye"} {
		if !seen[want] {
			t.Errorf("the walk did not show %s", want)
		}
	}
	rs := dr.sim.Printer.Receipts()
	if len(rs) != 1 {
		t.Fatalf("%d receipts", len(rs))
	}
	text := strings.Join(rs[0].Lines, "\n")
	if !strings.Contains(text, "DELEGATED WITHDRAWAL") || strings.Contains(text, "AVAILABLE") || strings.Contains(text, "LEDGER") ||
		strings.Contains(text, "23,000") {
		t.Fatalf("receipt:\n%s", text)
	}
}
