package atm

import (
	"context"
	"time"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/health"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/admin"
)

// statusTriggers are the journal records after which the host hears the
// ATM's status again: a fault raised or cleared, the service changing,
// and a new sign-on (the working keys exchanged).
var statusTriggers = map[string]bool{
	"FAULT-RAISED": true, "FAULT-CLEARED": true, "OUT-OF-SERVICE": true, "IN-SERVICE": true,
	"SUPERVISOR-ENTERED": true, "SUPERVISOR-EXITED": true, "KEYS-EXCHANGED": true,
}

// reportStatus sends the host a status report (0800, field 70 = 360,
// hostlink/admin): the service and the active faults in field 48, after
// every sign-on and whenever either changes. A report the host did not
// take is sent again at the next change or sign-on. It follows the
// journal, so it never slows the runner.
func (d *Daemon) reportStatus(ctx context.Context) error {
	recs, stop := d.Journal.Subscribe()
	defer stop()
	sent := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec := <-recs:
			if !statusTriggers[rec.Kind] {
				continue
			}
			if rec.Kind == "KEYS-EXCHANGED" {
				sent = "" // a new sign-on: the host hears it all again
			}
		}
		// Let the runner finish the step that wrote the record, so that
		// its snapshot has the new service.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.Runner.Sync(sctx)
		cancel()
		if err != nil {
			continue
		}
		s := d.Runner.Snapshot()
		st := admin.Status{Service: admin.OutOfService, Faults: health.Report(s.Faults)}
		switch {
		case s.State == string(flows.Supervisor):
			st.Service = admin.Supervisor
		case s.Service == "in-service":
			st.Service = admin.InService
		}
		f48, err := st.Encode()
		if err != nil || f48 == sent || !d.Link.Up() {
			continue
		}
		sctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		resp, err := d.Link.Send(sctx, &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: admin.NetStatus, Private: f48})
		cancel()
		if err != nil || resp.RespCode != hostlink.RCApproved {
			d.log.Warn().Err(err).Str("status", f48).Msg("status report not taken by the host")
			continue
		}
		sent = f48
		d.log.Debug().Str("service", st.Service).Str("faults", st.Faults).Msg("status reported to the host")
	}
}
