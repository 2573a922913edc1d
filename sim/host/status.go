package host

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/admin"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/host/store"
)

// TerminalStatus is the last status report a terminal sent
// (hostlink/admin, 0800/360).
type TerminalStatus struct {
	admin.Status
	At      time.Time // when the host received it
	Reports int       // how many the terminal has sent since the host started
}

// statusBook keeps each terminal's last status report, in memory: a
// bank's monitoring would read it; the reference host shows it to tests
// and logs it. The zero value is ready.
type statusBook struct {
	mu sync.Mutex
	m  map[string]TerminalStatus
}

// TerminalStatus returns the last status report terminal id sent.
func (h *Host) TerminalStatus(id string) (TerminalStatus, bool) {
	h.status.mu.Lock()
	defer h.status.mu.Unlock()
	s, ok := h.status.m[id]
	return s, ok
}

// statusReport answers an 0800/360: it keeps the report and logs what
// changed. A malformed field 48 is 30.
func (h *Host) statusReport(log zerolog.Logger, req, resp *hostlink.Message) *hostlink.Message {
	s, err := admin.ParseStatus(req.Private)
	if err != nil {
		log.Warn().Err(err).Msg("status report refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	b := &h.status
	b.mu.Lock()
	if b.m == nil {
		b.m = map[string]TerminalStatus{}
	}
	prev := b.m[req.TerminalID]
	b.m[req.TerminalID] = TerminalStatus{Status: s, At: h.clock.Now(), Reports: prev.Reports + 1}
	b.mu.Unlock()
	ev := log.Info()
	if s.Faults != "" || s.Service != admin.InService {
		ev = log.Warn()
	}
	ev.Str("service", s.Service).Str("faults", s.Faults).Msg("terminal status")
	resp.RespCode = hostlink.RCApproved
	return resp
}

// totals answers an 0800/370 with the host's own count and amount for
// the terminal and currency since the period start: approved withdrawals
// less what reversals credited back. 00 when the amounts agree, 95 when
// they do not, 30 for a malformed request, 96 when the ledger cannot be
// read.
func (h *Host) totals(ctx context.Context, log zerolog.Logger, req, resp *hostlink.Message) *hostlink.Message {
	t, err := admin.ParseTotals(req.Private)
	cur, cerr := currency.ByNumeric(req.Currency)
	if err != nil || cerr != nil {
		log.Warn().Err(err).AnErr("currency", cerr).Msg("totals refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	db, err := h.store()
	var ledger []store.Entry
	if err == nil {
		ledger, err = db.Ledger(ctx)
	}
	if err != nil {
		log.Error().Err(err).Msg("totals: ledger unreadable")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	var mine admin.Totals
	for _, e := range ledger {
		if e.TerminalID != req.TerminalID || e.Kind != store.KindWithdrawal || e.RespCode != hostlink.RCApproved ||
			e.Currency != cur.Alpha || e.Time.Before(t.Since) {
			continue
		}
		if out := e.Amount - e.ReversedAmount; out > 0 {
			mine.Count++
			mine.Amount += out
		}
	}
	if resp.Private, err = admin.EncodeHost(mine); err != nil {
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	resp.Currency = req.Currency
	resp.RespCode = hostlink.RCApproved
	ev := log.Info()
	if mine.Amount != t.Amount {
		resp.RespCode = admin.RCReconcileFail
		ev = log.Warn()
	}
	ev.Time("since", t.Since).Int("atm_count", t.Count).Int64("atm_amount", t.Amount).
		Int("host_count", mine.Count).Int64("host_amount", mine.Amount).Msg("terminal totals")
	return resp
}
