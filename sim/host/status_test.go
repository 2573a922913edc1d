package host

import (
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/admin"
)

func (f *fixture) admin(code, tid, f48 string) *hostlink.Message {
	stan, tt := f.next()
	return &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: code, STAN: stan, TransmitTime: tt,
		TerminalID: tid, Currency: twd, Private: f48}
}

// The host keeps each terminal's last status report.
func TestStatusReport(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.h.TerminalStatus(terminal); ok {
		t.Fatal("a status before any report")
	}
	for _, s := range []admin.Status{
		{Service: admin.OutOfService, Faults: "dispenser=DSP-JAM"},
		{Service: admin.InService},
	} {
		f48, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		resp := f.expectRC(f.admin(admin.NetStatus, terminal, f48), hostlink.RCApproved)
		if resp.MTI != hostlink.MTINetResponse || resp.NetCode != admin.NetStatus {
			t.Errorf("response %s", hostlink.Describe(resp))
		}
	}
	got, ok := f.h.TerminalStatus(terminal)
	if !ok || got.Service != admin.InService || got.Faults != "" || got.Reports != 2 || !got.At.Equal(start) {
		t.Errorf("TerminalStatus = %+v, %v", got, ok)
	}
	f.expectRC(f.admin(admin.NetStatus, terminal, "SV001X"), hostlink.RCFormatError)
	if got2, _ := f.h.TerminalStatus(terminal); got2 != got {
		t.Errorf("a malformed report changed the status: %+v", got2)
	}
}

// The host's totals for a terminal: approved withdrawals since the
// period start, less what reversals credited back; 00 when they match
// the ATM's, 95 when not.
func TestTotals(t *testing.T) {
	f := newFixture(t)
	since := start.Add(-time.Minute)
	a := f.withdraw("alice-debit", 300_000)
	f.expectRC(a, hostlink.RCApproved)
	b := f.withdraw("bob-debit", 500_000)
	f.expectRC(b, hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversal, b, hostlink.ReplacementAmounts(200_000)), hostlink.RCApproved)
	c := f.withdraw("bob-debit", 100_000)
	f.expectRC(c, hostlink.RCApproved)
	f.expectRC(f.reversal(hostlink.MTIReversal, c, ""), hostlink.RCApproved)        // nothing handed out
	f.expectRC(f.withdraw("alice-debit", 99_900_000), hostlink.RCInsufficientFunds) // declined: not counted

	ask := func(tt admin.Totals, rc string) admin.Totals {
		t.Helper()
		f48, err := tt.Encode()
		if err != nil {
			t.Fatal(err)
		}
		resp := f.expectRC(f.admin(admin.NetTotals, terminal, f48), rc)
		h, err := admin.ParseHost(resp.Private)
		if err != nil {
			t.Fatalf("host totals %q: %v", resp.Private, err)
		}
		return h
	}
	h := ask(admin.Totals{Since: since, Count: 2, Amount: 500_000}, hostlink.RCApproved)
	if h.Count != 2 || h.Amount != 500_000 {
		t.Errorf("host totals %+v, want 2 withdrawals, 500000", h)
	}
	if h := ask(admin.Totals{Since: since, Count: 2, Amount: 400_000}, admin.RCReconcileFail); h.Amount != 500_000 {
		t.Errorf("host totals on a mismatch %+v", h)
	}
	if h := ask(admin.Totals{Since: start.Add(time.Minute), Count: 0, Amount: 0}, hostlink.RCApproved); h.Count != 0 || h.Amount != 0 {
		t.Errorf("totals of a period after the withdrawals %+v", h)
	}
	m := f.admin(admin.NetTotals, terminal, "TN0011")
	f.expectRC(m, hostlink.RCFormatError)
	f48, _ := admin.Totals{Since: since}.Encode()
	m = f.admin(admin.NetTotals, terminal, f48)
	m.Currency = "999"
	f.expectRC(m, hostlink.RCFormatError)
}
