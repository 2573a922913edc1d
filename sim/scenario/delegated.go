package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/phone"
)

// Delegated withdrawal steps (docs/scenarios.md): the cardholder's phone
// creates and cancels delegate codes, the owner's alerts, the camera and
// the evidence the host stores, and a host whose reply to a 0200 is lost
// on the way (so the ATM times out and reverses).

// delegatedRun is a run's state for these steps.
type delegatedRun struct {
	code      phone.Delegate // the code the phone created last (its digits are the handset's secret)
	alertSeen int64          // newest alert an "expect alert" matched

	// The host's reply to the next 0200 is lost (host drop reply).
	dropNext atomic.Bool
	lost     atomic.Bool // a reply was lost and its request may still wait
	mu       sync.Mutex
}

// replyLost reports whether a request whose reply was lost may still be
// waiting: time may then move on without waiting for the link.
func (d *delegatedRun) replyLost() bool { return d.lost.Load() }

// timedOut clears replyLost once nothing waits on the link any more.
func (d *delegatedRun) timedOut(link interface{ InFlight() int }) {
	if link != nil && d.lost.Load() && link.InFlight() == 0 {
		d.lost.Store(false)
	}
}

// dropper is the host as the terminals see it in a scenario: the
// reference host, except that a reply can be lost (host drop reply).
type dropper struct {
	h   *host.Host
	run *delegatedRun
}

// Handle answers m; the reply to a 0200 is dropped when asked to, after
// the host has decided (and recorded) it.
func (x dropper) Handle(ctx context.Context, m *hostlink.Message) *hostlink.Message {
	resp := x.h.Handle(ctx, m)
	if m.MTI == hostlink.MTIFinRequest && x.run.dropNext.CompareAndSwap(true, false) {
		x.run.lost.Store(true)
		return nil
	}
	return resp
}

// serveTerminals serves the host on ln, through dropper; the config's
// TLS is not used (scenarios run on loopback).
func (r *run) serveTerminals(ctx context.Context, ln net.Listener) error {
	srv := &hostlink.Server{Handler: dropper{h: r.h, run: &r.del}, MAC: r.h.MAC}
	return srv.Serve(ctx, ln)
}

// checkDelegated validates the arguments of the delegated steps.
func checkDelegated(verb string, args []string) error {
	switch verb {
	case "phone delegate":
		switch args[0] {
		case "cancel":
			if len(args) != 1 {
				return fmt.Errorf("nothing may follow cancel")
			}
		case "create":
			if len(args) != 3 && len(args) != 5 {
				return fmt.Errorf("create takes CARD-ID AMOUNT [expires DURATION]")
			}
			if _, err := parseAmount(args[2]); err != nil {
				return err
			}
			if len(args) == 5 {
				if d, err := time.ParseDuration(args[4]); args[3] != "expires" || err != nil || d <= 0 {
					return fmt.Errorf("expected expires DURATION, e.g. expires 2h")
				}
			}
		default:
			return fmt.Errorf("create or cancel, not %q", args[0])
		}
	case "expect delegate":
		switch args[0] {
		case "live", "used", "cancelled", "locked", "expired":
		default:
			return fmt.Errorf("state must be live, used, cancelled, locked or expired")
		}
	case "expect alert":
		if len(args) != 0 && (len(args) != 2 || args[0] != "contains") {
			return fmt.Errorf(`expected contains "TEXT"`)
		}
	case "expect camera":
		if n, err := strconv.Atoi(args[0]); err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of stills", args[0])
		}
	case "expect evidence":
		switch args[0] {
		case "none":
			if len(args) != 1 {
				return fmt.Errorf("nothing may follow none")
			}
		case "delegate-face", "owner-face":
			if len(args) == 2 && args[1] != "match" && args[1] != "mismatch" {
				return fmt.Errorf("match or mismatch, not %q", args[1])
			}
		default:
			return fmt.Errorf("delegate-face, owner-face or none, not %q", args[0])
		}
	case "host drop":
		if args[0] != "reply" {
			return fmt.Errorf("host drop reply")
		}
	}
	return nil
}

// evidenceKinds maps the scenario's names to the host's.
var evidenceKinds = map[string]string{"delegate-face": hostlink.EvidenceDelegateFace, "owner-face": hostlink.EvidenceOwnerFace}

func (r *run) delegatedStep(ctx context.Context, st Step) error {
	a := st.Args
	ph := &r.phone
	switch st.Verb {
	case "phone delegate", "expect delegate":
		if r.mobileAPI == "" {
			return errors.New("the host's mobile API is not reachable (the host config has no mobile section)")
		}
		if ph.app == nil {
			return errors.New("the phone is not logged in to the banking app (phone login USER)")
		}
	case "expect evidence", "host drop":
		if r.h == nil {
			return fmt.Errorf("%s: the host is not run by this driver", st.Verb)
		}
	}
	pctx, cancel := r.patience(ctx)
	defer cancel()
	switch st.Verb {
	case "phone delegate":
		if a[0] == "cancel" {
			if r.del.code.ID == "" {
				return errors.New("the phone has created no delegate code (phone delegate create ...)")
			}
			c, err := ph.app.CancelDelegate(pctx, r.del.code.ID)
			if err != nil {
				return err
			}
			r.del.code.State = c.State
			return nil
		}
		c, ok := r.seed.Card(a[1])
		if !ok {
			return fmt.Errorf("no card %q in the seed data (%s)", a[1], r.cardIDs())
		}
		amount, _ := parseAmount(a[2])
		var expires string
		if len(a) == 5 {
			expires = a[4]
		}
		d, err := ph.app.CreateDelegate(pctx, c.PAN[len(c.PAN)-4:], int64(amount), expires)
		if err != nil {
			return err
		}
		if d.Code == "" {
			return errors.New("the app showed no code")
		}
		ph.secret = d.Code
		r.secret(d.Code)
		d.Code = ""
		r.del.code = d
		return nil
	case "expect delegate":
		if r.del.code.ID == "" {
			return errors.New("the phone has created no delegate code (phone delegate create ...)")
		}
		return r.poll(ctx, func() (bool, string) {
			ds, err := ph.app.Delegates(pctx)
			if err != nil {
				return false, err.Error()
			}
			for _, d := range ds {
				if d.ID == r.del.code.ID {
					return d.State == a[0], "delegate code " + d.ID + " is " + d.State
				}
			}
			return false, "the app does not list code " + r.del.code.ID
		})
	case "expect alert":
		want := ""
		if len(a) == 2 {
			want = a[1]
		}
		return r.poll(ctx, func() (bool, string) {
			ms, err := r.alerts(pctx)
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, m := range ms {
				if m.ID <= r.del.alertSeen {
					continue
				}
				if strings.Contains(m.Text, want) {
					r.del.alertSeen = m.ID
					return true, ""
				}
				seen = append(seen, fmt.Sprintf("%q", m.Text))
			}
			if len(seen) == 0 {
				return false, "no new alert on the phone"
			}
			return false, "new alerts: " + strings.Join(seen, "; ")
		})
	case "expect no alert":
		if err := r.settle(ctx); err != nil {
			return err
		}
		ms, err := r.alerts(pctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID > r.del.alertSeen {
				return fmt.Errorf("the phone got an alert: %q", m.Text)
			}
		}
		return nil
	case "expect camera":
		// Evidence stills, as the ATM journals them: a camera driver may
		// take stills of its own to check the device.
		want, _ := strconv.Atoi(a[0])
		return r.poll(ctx, func() (bool, string) {
			n := len(r.d.Journal.Records(func(rec journal.Record) bool { return rec.Kind == "EVIDENCE-STORED" }))
			return n == want, fmt.Sprintf("the camera took %d evidence stills", n)
		})
	case "camera sees":
		cam, ok := r.sim.Camera.(interface{ SetSubject(string) })
		if !ok {
			return errors.New("this camera simulator cannot show a person")
		}
		who := a[0]
		if who == "nobody" {
			who = ""
		}
		cam.SetSubject(who)
		return nil
	case "expect evidence":
		return r.poll(ctx, func() (bool, string) { return r.evidenceIs(ctx, a) })
	case "host drop":
		r.del.dropNext.Store(true)
		return nil
	}
	return fmt.Errorf("step not implemented")
}

// alerts lists the alerts the handset got: pushes to the app when it is
// logged in, else SMSes to its number.
func (r *run) alerts(ctx context.Context) ([]phone.Message, error) {
	ph := &r.phone
	var ms []phone.Message
	var err error
	switch {
	case ph.app != nil:
		ms, err = ph.app.Inbox(ctx)
	case ph.number != "":
		if ph.sms == nil {
			ph.sms = phone.New(r.mobileAPI, "", "")
		}
		ms, err = ph.sms.SMS(ctx, ph.number)
	default:
		return nil, errors.New("no phone in hand (phone login USER or phone use CUSTOMER-ID)")
	}
	if err != nil {
		return nil, err
	}
	var out []phone.Message
	for _, m := range ms {
		if m.Kind == "alert" {
			out = append(out, m)
		}
	}
	return out, nil
}

// evidenceIs reports whether the host stored the evidence a names for
// the last approved withdrawal (or none at all).
func (r *run) evidenceIs(ctx context.Context, a []string) (bool, string) {
	ev, err := r.h.Evidence(ctx)
	if err != nil {
		return false, err.Error()
	}
	if a[0] == "none" {
		if len(ev) > 0 {
			return false, fmt.Sprintf("the host stored %d stills", len(ev))
		}
		return true, ""
	}
	l, err := r.h.Ledger(ctx)
	if err != nil {
		return false, err.Error()
	}
	var last int64
	for _, e := range l {
		if e.RespCode == hostlink.RCApproved && e.Kind == "withdrawal" {
			last = e.ID
		}
	}
	if last == 0 {
		return false, "the host approved no withdrawal"
	}
	var kinds []string
	for _, e := range ev {
		if e.LedgerID != last {
			continue
		}
		kinds = append(kinds, e.Kind)
		if e.Kind != evidenceKinds[a[0]] {
			continue
		}
		if len(a) == 1 {
			return true, ""
		}
		switch {
		case e.FaceMatch == nil:
			return false, "the still was not compared with an enrolled face"
		case *e.FaceMatch != (a[1] == "match"):
			return false, fmt.Sprintf("face match is %v", *e.FaceMatch)
		}
		return true, ""
	}
	return false, fmt.Sprintf("the host has stills %v for the last withdrawal (ledger entry %d)", kinds, last)
}
