package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/sim/phone"
)

// delegateArgs checks the arguments of "atmd phone delegate ACTION" and
// returns how many there must be.
func delegateArgs(pos []string, amount int64) (int, error) {
	if len(pos) == 0 {
		return 0, usageError{errors.New("delegate takes create, list or cancel ID")}
	}
	switch pos[0] {
	case "create":
		if amount <= 0 {
			return 0, usageError{errors.New("delegate create needs --amount N (the cap, in major units)")}
		}
		return 1, nil
	case "list":
		return 1, nil
	case "cancel":
		return 2, nil
	}
	return 0, usageError{fmt.Errorf("unknown delegate action %q (create, list, cancel ID)", pos[0])}
}

// phoneDelegate runs "atmd phone delegate create|list|cancel".
func phoneDelegate(ctx context.Context, p *phone.Phone, pos []string, amount int64, expires, last4 string, out func(any, string) error) error {
	switch pos[0] {
	case "create":
		d, err := p.CreateDelegate(ctx, last4, amount, expires)
		if err != nil {
			return err
		}
		return out(d, fmt.Sprintf("delegate code %s for the card ending %s, up to %s, until %s (id %s)\ngive it only to your helper: it works once, and the bank will not show it again",
			d.Code, d.CardLast4, money(d.Amount, d.Currency), d.Expires.Local().Format("2006-01-02 15:04"), d.ID))
	case "list":
		ds, err := p.Delegates(ctx)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, d := range ds {
			fmt.Fprintf(&b, "%s  card %s  up to %-10s  %-9s  expires %s", d.ID, d.CardLast4, money(d.Amount, d.Currency), d.State,
				d.Expires.Local().Format("2006-01-02 15:04"))
			if d.Used != nil {
				fmt.Fprintf(&b, "  used %s at %s", d.Used.Local().Format(time.DateTime), d.Terminal)
			}
			b.WriteByte('\n')
		}
		if len(ds) == 0 {
			b.WriteString("no delegate codes\n")
		}
		return out(ds, strings.TrimSuffix(b.String(), "\n"))
	case "cancel":
		d, err := p.CancelDelegate(ctx, pos[1])
		if err != nil {
			return err
		}
		return out(d, fmt.Sprintf("delegate code %s %s", d.ID, d.State))
	}
	return nil
}

// money formats whole major units of a currency.
func money(major int64, alpha string) string {
	c, err := currency.ByAlpha(alpha)
	if err != nil {
		return fmt.Sprintf("%d %s", major, alpha)
	}
	return c.Format(major * c.Major())
}
