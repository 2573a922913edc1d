package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/phone"
)

// handset is the customer's phone in a scenario: the banking app
// (sim/phone) when logged in, and the phone number its SMSes go to.
type handset struct {
	app    *phone.Phone // nil: not logged in
	user   string
	number string       // E.164
	secret string       // the code or default PIN the phone last showed
	lastQR string       // the payload it last scanned
	sms    *phone.Phone // reads the SMSes to number, each once
}

// phoneStep carries out the phone's steps: the customer's hands on the
// banking app.
func (r *run) phoneStep(ctx context.Context, st Step) error {
	if r.mobileAPI == "" {
		return errors.New("the host's mobile API is not reachable (the host config has no mobile section)")
	}
	a := st.Args
	pctx, cancel := r.patience(ctx)
	defer cancel()
	ph := &r.phone
	needApp := func() error {
		if ph.app == nil {
			return errors.New("the phone is not logged in to the banking app (phone login USER)")
		}
		return nil
	}
	switch st.Verb {
	case "phone login":
		cu, ok := r.appUser(a[0])
		if !ok {
			return fmt.Errorf("no app user %q in the seed data (%s)", a[0], r.appUsers())
		}
		app := phone.New(r.mobileAPI, cu.App.Login, string(cu.App.Password), phone.WithDevice(cu.App.DeviceID()))
		if err := app.Login(pctx); err != nil {
			return err
		}
		// What the inbox held before is not news: "phone read" waits for
		// what arrives from now on.
		if err := app.SkipPushes(pctx); err != nil {
			return err
		}
		*ph = handset{app: app, user: cu.App.Login, number: cu.Phone}
		return nil
	case "phone logout":
		if err := needApp(); err != nil {
			return err
		}
		err := ph.app.Logout(pctx)
		ph.app = nil
		return err
	case "phone use":
		cu, ok := r.customer(a[0])
		if !ok {
			return fmt.Errorf("no customer %q in the seed data", a[0])
		}
		*ph = handset{number: cu.Phone}
		return nil
	case "phone bind":
		if err := needApp(); err != nil {
			return err
		}
		_, err := ph.app.Bind(pctx, a[0], ph.number)
		return err
	case "phone activate":
		if err := needApp(); err != nil {
			return err
		}
		c, ok := r.seed.Card(a[0])
		if !ok {
			return fmt.Errorf("no card %q in the seed data (%s)", a[0], r.cardIDs())
		}
		_, err := ph.app.ActivationIntent(pctx, c.PAN[len(c.PAN)-4:])
		return err
	case "phone scan":
		if err := needApp(); err != nil {
			return err
		}
		rest := a
		payload := ""
		if len(rest) > 0 && rest[0] == "again" {
			rest = rest[1:]
			if ph.lastQR == "" {
				return errors.New("the phone has scanned nothing yet")
			}
			payload = ph.lastQR
		} else if err := r.poll(ctx, func() (bool, string) {
			s := r.sim.Display.Current()
			payload = s.QR
			return payload != "", fmt.Sprintf("no QR code on screen %s", s.ID)
		}); err != nil {
			return err
		}
		ph.lastQR = payload
		if len(rest) == 1 && rest[0] == "keep" {
			return nil // read, not submitted (yet)
		}
		_, err := ph.app.Scan(pctx, payload)
		if len(rest) == 2 {
			var ae *phone.APIError
			if !errors.As(err, &ae) {
				return fmt.Errorf("the app accepted the QR code (%v); expected it refused with %s", err, rest[1])
			}
			if ae.Code != rest[1] {
				return fmt.Errorf("the app refused the QR code with %s (%s); expected %s", ae.Code, ae.Message, rest[1])
			}
			return nil
		}
		return err
	case "phone read":
		kind := a[1]
		filter := func(m phone.Message) bool { return m.Kind == kind && phone.Secret(m.Text) != "" }
		var m phone.Message
		var err error
		if a[0] == "push" {
			if err := needApp(); err != nil {
				return err
			}
			m, err = ph.app.WaitPush(pctx, filter)
		} else {
			if ph.number == "" {
				return errors.New("no phone in hand (phone login USER or phone use CUSTOMER-ID)")
			}
			if ph.sms == nil {
				ph.sms = phone.New(r.mobileAPI, "", "")
			}
			m, err = ph.sms.WaitSMS(pctx, ph.number, filter)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(pctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no new %s %s arrived within %v", kind, viaName(a[0]), r.o.Patience)
		}
		if err != nil {
			return err
		}
		ph.secret = phone.Secret(m.Text)
		r.secret(ph.secret)
		return nil
	}
	return fmt.Errorf("step not implemented")
}

func viaName(ch string) string {
	if ch == "sms" {
		return "by SMS"
	}
	return "by push"
}

// secret reports a secret the scenario handled (a code or PIN) to
// Options.Secrets.
func (r *run) secret(s string) {
	if r.o.Secrets != nil && s != "" {
		r.o.Secrets(s)
	}
}

func (r *run) appUser(login string) (seed.Customer, bool) {
	for _, cu := range r.seed.Customers {
		if cu.App != nil && cu.App.Login == login {
			return cu, true
		}
	}
	return seed.Customer{}, false
}

func (r *run) appUsers() string {
	var ids []string
	for _, cu := range r.seed.Customers {
		if cu.App != nil {
			ids = append(ids, cu.App.Login)
		}
	}
	return "app users: " + strings.Join(ids, ", ")
}

func (r *run) customer(id string) (seed.Customer, bool) {
	for _, cu := range r.seed.Customers {
		if cu.ID == id {
			return cu, true
		}
	}
	return seed.Customer{}, false
}
