package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/sim/phone"
)

const phoneUsage = `usage: atmd phone COMMAND [flags] [ARGS]

The customer's banking app (sim/phone) against a host's mobile API.

commands:
  login                  log in; prints the session token
  devices                list the device bindings
  bind ACCOUNT           bind this device to ACCOUNT with --phone
  intent LAST4           choose "card activation" in the app for the card ending LAST4
  scan [PAYLOAD]         submit a scanned QR payload; without one, scan the QR code
                         on the screen of the running atmd (--config)
  inbox                  list the pushes received
  wait                   wait for a new push (or with --sms, a new SMS to --phone)
  code                   print the latest verification code (push; --sms: SMS to --phone)
  delegate create        create a delegate code for a helper: --amount N (cap, major units),
                         --expires D (e.g. 2h; default the bank's), --card LAST4 (default: your
                         only active card); prints the code, shown this once
  delegate list          list your delegate codes and their states
  delegate cancel ID     cancel a live delegate code

flags:
  --api URL        mobile API (default $ATMD_MOBILE_API, then http://127.0.0.1:5801)
  --user ID        app login
  --password PW    app password (default $ATMD_PHONE_PASSWORD)
  --device ID      device id (default USER-phone)
  --phone NUMBER   E.164 phone number (bind, --sms)
  --sms            wait/code: read SMS instead of pushes
  --kind KIND      wait: only messages of this kind (code, default-pin, alert, notice)
  --timeout D      wait: give up after D (default 60s)
  --json           print JSON
  --config FILE    scan: the atmd whose screen to scan (default configs/sim.yaml)
  --amount N       delegate create: the cap, in major units (3000 is NT$3,000)
  --expires D      delegate create: how long the code lives
  --card LAST4     delegate create: the card, by its last four digits
`

func cmdPhone(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, phoneUsage)
		if len(args) == 0 {
			return usageError{errors.New("a command is required")}
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("phone "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	api := fs.String("api", envOr("ATMD_MOBILE_API", "http://127.0.0.1:5801"), "")
	user := fs.String("user", "", "")
	password := fs.String("password", os.Getenv("ATMD_PHONE_PASSWORD"), "")
	device := fs.String("device", "", "")
	number := fs.String("phone", "", "")
	sms := fs.Bool("sms", false, "")
	kind := fs.String("kind", "", "")
	timeout := fs.Duration("timeout", 60*time.Second, "")
	asJSON := fs.Bool("json", false, "")
	cfgPath := fs.String("config", defaultConfig(), "")
	amount := fs.Int64("amount", 0, "")
	expires := fs.String("expires", "", "")
	cardLast4 := fs.String("card", "", "")
	// Flags may come before, between or after the arguments.
	var pos []string
	for rest := args; ; {
		if err := parse(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	want := map[string]int{"login": 0, "devices": 0, "bind": 1, "intent": 1, "scan": 1, "inbox": 0, "wait": 0, "code": 0}
	if sub == "delegate" {
		n, err := delegateArgs(pos, *amount)
		if err != nil {
			return err
		}
		want[sub] = n
	}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Errorf("unknown command %q (see atmd phone help)", sub)}
	}
	if sub == "scan" && len(pos) == 0 {
		payload, err := screenQR(*cfgPath)
		if err != nil {
			return err
		}
		pos = []string{payload}
	}
	if len(pos) != n {
		return usageError{fmt.Errorf("%s takes %d argument(s), got %d", sub, n, len(pos))}
	}
	needsApp := !*sms || (sub != "wait" && sub != "code")
	if needsApp && (*user == "" || *password == "") {
		return usageError{errors.New("--user and --password are required")}
	}
	if (*sms || sub == "bind") && *number == "" {
		return usageError{errors.New("--phone is required")}
	}
	var opts []phone.Option
	if *device != "" {
		opts = append(opts, phone.WithDevice(*device))
	}
	p := phone.New(*api, *user, *password, opts...)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if needsApp {
		if err := p.Login(ctx); err != nil {
			return err
		}
	}
	out := func(v any, text string) error {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		_, err := fmt.Fprintln(stdout, text)
		return err
	}
	switch sub {
	case "login":
		return out(map[string]string{"token": p.Token(), "device_id": p.Device()}, p.Token())
	case "devices":
		ds, err := p.Devices(ctx)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, d := range ds {
			fmt.Fprintf(&b, "%s  %s  %s\n", d.DeviceID, d.AccountID, d.Phone)
		}
		if len(ds) == 0 {
			b.WriteString("no device bound\n")
		}
		return out(ds, strings.TrimSuffix(b.String(), "\n"))
	case "bind":
		d, err := p.Bind(ctx, pos[0], *number)
		if err != nil {
			return err
		}
		return out(d, fmt.Sprintf("bound %s to %s (%s)", d.DeviceID, d.AccountID, d.Phone))
	case "intent":
		exp, err := p.ActivationIntent(ctx, pos[0])
		if err != nil {
			return err
		}
		return out(map[string]any{"card_last4": pos[0], "expires": exp}, "card activation chosen until "+exp.Local().Format(time.TimeOnly))
	case "scan":
		r, err := p.Scan(ctx, pos[0])
		if err != nil {
			return err
		}
		return out(r, fmt.Sprintf("%s (%s)", r.Status, r.Purpose))
	case "inbox":
		ms, err := p.Inbox(ctx)
		if err != nil {
			return err
		}
		return out(ms, formatMessages(ms))
	case "code":
		var code string
		var err error
		if *sms {
			code, err = p.LatestSMSCode(ctx, *number)
		} else {
			code, err = p.LatestCode(ctx)
		}
		if err != nil {
			return err
		}
		return out(map[string]string{"code": code}, code)
	case "delegate":
		return phoneDelegate(ctx, p, pos, *amount, *expires, *cardLast4, out)
	case "wait":
		wctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		filter := func(m phone.Message) bool { return *kind == "" || m.Kind == *kind }
		var m phone.Message
		var err error
		if *sms {
			if err = p.SkipSMS(wctx, *number); err == nil {
				m, err = p.WaitSMS(wctx, *number, filter)
			}
		} else {
			if err = p.SkipPushes(wctx); err == nil {
				m, err = p.WaitPush(wctx, filter)
			}
		}
		if err != nil {
			return err
		}
		return out(m, formatMessages([]phone.Message{m}))
	}
	return nil
}

// screenQR is the phone's camera pointed at the ATM: the QR payload on
// the customer screen of the running atmd of the config, asked over its
// control socket.
func screenQR(cfgPath string) (string, error) {
	cfg, err := atm.LoadConfig(cfgPath)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := atm.Ask(ctx, cfg.Path(cfg.ATM.ControlSocket), atm.ControlRequest{Cmd: "screen"})
	if err != nil {
		return "", err
	}
	if resp.Screen == nil || resp.Screen.QR == "" {
		id := ""
		if resp.Screen != nil {
			id = resp.Screen.ID
		}
		return "", fmt.Errorf("no QR code on the ATM's screen (screen %s); choose Activate a new card first", id)
	}
	return resp.Screen.QR, nil
}

func formatMessages(ms []phone.Message) string {
	if len(ms) == 0 {
		return "no messages"
	}
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "#%d %s %s %s: %s", m.ID, m.Time.Local().Format(time.TimeOnly), m.Channel, m.Kind, m.Text)
	}
	return b.String()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
