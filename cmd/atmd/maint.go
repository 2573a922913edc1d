package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/maint"
)

const maintUsage = `usage: atmd maint [SUBCOMMAND] [--config FILE | --socket PATH] [flags]

With no subcommand: the maintenance menu as a terminal UI (the same menu as
the ATM's panel: log in with your technician id and PIN).

  status   [--json]                      service, devices, active faults with cause and remedy
  faults   [--json] [--history N]        active faults, and the last N raised or cleared
  counters [--json]                      cassettes, retract bin, the period's totals (trial)
  journal  [--since D|TIME] [--until TIME] [--kind K,K] [--text S] [--limit N]
           [--export FILE] [--json] --tech ID
                                         search the journal, or write it to FILE (JSON lines)
  test DEVICE --tech ID                  device test: cardreader, pinpad, printer, nfctag, display, sensors
  test-dispense --cassette N --notes N --tech ID   pick notes into the reject bin
  load CASSETTES --tech ID               replenish: 1:1000x2000,2:500x1000,3:missing (major units)
  clear-totals --tech ID                 close the totals period
  reconcile --tech ID                    compare the period's totals with the host's
  echo --tech ID                         host connection test
  service in|out --tech ID               return to service, or stay out, after supervisor mode
  hash-pin [--iterations N]              hash a technician PIN for the config (reads it twice)

--tech defaults to $ATMD_TECH; the PIN comes from $ATMD_TECH_PIN, else it is
asked for (not echoed). Exit status: 0 done, 1 failed, 2 bad usage.
`

func cmdMaint(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sub := "menu"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-h" || args[0] == "--help") {
		sub, args = args[0], args[1:]
	}
	var err error
	switch sub {
	case "menu":
		err = maintMenu(args, stdin, stdout)
	case "hash-pin":
		err = maintHashPIN(args, stdin, stdout, stderr)
	case "status", "faults", "counters":
		err = maintRead(sub, args, stdout)
	case "journal":
		err = maintJournal(args, stdin, stdout, stderr)
	case "test", "test-dispense", "load", "clear-totals", "reconcile", "echo", "service":
		err = maintRun(sub, args, stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, maintUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "atmd maint: unknown subcommand %q\n\n%s", sub, maintUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "atmd maint %s: %v\n", sub, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// maintFlags are the flags every subcommand takes.
type maintFlags struct {
	fs     *flag.FlagSet
	config *string
	socket *string
	json   *bool
	tech   *string
}

func newMaintFlags(name string) maintFlags {
	fs, cfg := flags("maint " + name)
	return maintFlags{fs: fs, config: cfg,
		socket: fs.String("socket", "", "control socket (default: from the config)"),
		json:   fs.Bool("json", false, "print JSON"),
		tech:   fs.String("tech", os.Getenv("ATMD_TECH"), "technician id"),
	}
}

func (f maintFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return usageError{err}
	}
	if f.fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", f.fs.Arg(0))}
	}
	return f.resolve()
}

// resolve finds the control socket in the config unless --socket gave it.
func (f maintFlags) resolve() error {
	if *f.socket == "" {
		cfg, err := atm.LoadConfig(*f.config)
		if err != nil {
			return err
		}
		*f.socket = cfg.Path(cfg.ATM.ControlSocket)
	}
	return nil
}

// ask sends one maintenance request to the daemon.
func (f maintFlags) ask(ctx context.Context, r maint.Request) (*maint.Response, error) {
	resp, err := atm.Ask(ctx, *f.socket, atm.ControlRequest{Cmd: "maint", Maint: &r})
	if resp != nil && resp.Maint != nil {
		return resp.Maint, err
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return nil, err
}

// pin returns the technician's PIN: $ATMD_TECH_PIN, else asked on the
// terminal without echo, else a line of stdin.
func pin(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if p := os.Getenv("ATMD_TECH_PIN"); p != "" {
		return p, nil
	}
	if f, ok := stdin.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		fmt.Fprint(stderr, prompt)
		restore := echoOff(int(f.Fd()))
		defer restore()
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no PIN given: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ---- reading ----

func maintRead(sub string, args []string, stdout io.Writer) error {
	f := newMaintFlags(sub)
	history := f.fs.Int("history", 0, "faults: how many past faults too")
	if err := f.parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := f.ask(ctx, maint.Request{Op: sub, History: *history})
	if err != nil {
		return err
	}
	switch sub {
	case "status":
		if *f.json {
			return printJSON(stdout, resp.Status)
		}
		printStatus(stdout, resp.Status)
	case "faults":
		if *f.json {
			return printJSON(stdout, struct {
				Active  any `json:"active"`
				History any `json:"history,omitempty"`
			}{resp.Status.Faults, resp.History})
		}
		printFaults(stdout, resp.Status)
		if len(resp.History) > 0 {
			fmt.Fprintln(stdout, "history (newest first)")
			for _, h := range resp.History {
				until := "active"
				if !h.Active() {
					until = "cleared " + h.Until.Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(stdout, "  %s  %-20s %-10s raised %s, %s\n", h.Code, h.Entry.Title, h.Device, h.Since.Format("2006-01-02 15:04:05"), until)
			}
		}
	case "counters":
		if *f.json {
			return printJSON(stdout, resp.Counters)
		}
		printCounters(stdout, resp.Counters)
	}
	return nil
}

func printStatus(w io.Writer, s *maint.Status) {
	fmt.Fprintf(w, "atm         %s\nservice     %s", s.ATM, s.Service)
	if s.Reason != "" {
		fmt.Fprintf(w, " (%s)", s.Reason)
	}
	fmt.Fprintf(w, "\nstate       %s\nhost        %s\nswitch      %v\n", s.State, s.Host, onOff(s.Switch))
	if s.OutOfService {
		fmt.Fprintln(w, "on exit     stays out of service (set by a technician)")
	}
	for _, ss := range s.Sessions {
		fmt.Fprintf(w, "technician  %s on the %s console since %s\n", ss.Tech, ss.Console, ss.Since.Format("15:04:05"))
	}
	if len(s.Degraded) > 0 {
		fmt.Fprintf(w, "without     %s\n", strings.Join(s.Degraded, "; "))
	}
	names := make([]string, 0, len(s.Devices))
	for n := range s.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "devices")
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, s.Devices[n])
	}
	printFaults(w, s)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func printFaults(w io.Writer, s *maint.Status) {
	if len(s.Faults) == 0 {
		fmt.Fprintln(w, "faults      none")
		return
	}
	fmt.Fprintln(w, "faults")
	for _, f := range s.Faults {
		where := f.Device
		if f.Unit != "" {
			where += " " + f.Unit
		}
		fmt.Fprintf(w, "  %s  %s: %s [%s] since %s\n", f.Code, where, f.Entry.Title, f.Entry.Severity, f.Since.Format("2006-01-02 15:04:05"))
		fmt.Fprintf(w, "      cause:  %s\n      remedy: %s\n", f.Entry.Cause, f.Entry.Remedy)
	}
}

func printCounters(w io.Writer, c *maint.Counters) {
	cur, err := currency.ByAlpha(c.Currency)
	money := func(v int64) string {
		if err != nil {
			return strconv.FormatInt(v, 10)
		}
		return cur.Format(v)
	}
	fmt.Fprintln(w, "cassette  denomination  loaded  dispensed  rejected  remaining  status   journal")
	for _, k := range c.Cassettes {
		fmt.Fprintf(w, "%-8d  %-12s  %6d  %9d  %8d  %9d  %-7s  %d dispensed, %d rejected\n", k.ID, money(k.Denomination),
			k.Initial, k.Dispensed, k.Rejected, k.Count, k.Status, k.JournalDispensed, k.JournalRejected)
	}
	bin := "unknown"
	if c.RetractBin >= 0 {
		bin = strconv.Itoa(c.RetractBin)
	}
	fmt.Fprintf(w, "retract bin  %s notes in all, %d since the replenishment\n", bin, c.RetractedSinceLoad)
	t := c.Period
	fmt.Fprintf(w, "period since %s: %d withdrawals, %s paid out (%s dispensed, %d reversals, %d retracts, %d in doubt), %d test dispenses (%d notes)\n",
		t.Since.Format("2006-01-02 15:04:05"), t.Withdrawals, money(t.Amount), money(t.Dispensed), t.Reversals, t.Retracts, t.InDoubt, t.TestDispenses, t.TestNotes)
	if c.Balanced {
		fmt.Fprintln(w, "balanced     yes: the counters agree with the journal")
		return
	}
	fmt.Fprintln(w, "balanced     NO")
	for _, p := range c.Problems {
		fmt.Fprintln(w, "  "+p)
	}
}

// ---- with credentials ----

func maintJournal(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newMaintFlags("journal")
	since := f.fs.String("since", "", "records since a duration ago (2h) or a time (RFC 3339)")
	until := f.fs.String("until", "", "records before a time (RFC 3339)")
	kinds := f.fs.String("kind", "", "kinds, comma-separated; a trailing * matches a prefix (MAINT-*)")
	text := f.fs.String("text", "", "records whose text holds this")
	limit := f.fs.Int("limit", 0, "the most recent N")
	export := f.fs.String("export", "", "write the records to this file (JSON lines) instead")
	if err := f.parse(args); err != nil {
		return err
	}
	var flt maint.Filter
	var err error
	if *since != "" {
		if flt.Since, err = parseWhen(*since); err != nil {
			return usageError{err}
		}
	}
	if *until != "" {
		if flt.Until, err = time.Parse(time.RFC3339, *until); err != nil {
			return usageError{err}
		}
	}
	if *kinds != "" {
		flt.Kinds = strings.Split(*kinds, ",")
	}
	flt.Text, flt.Limit = *text, *limit
	p, err := pin(stdin, stderr, "PIN for technician "+*f.tech+": ")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := maint.Request{Op: "journal", Tech: *f.tech, PIN: p, Filter: &flt}
	if *export != "" {
		r.Export = *export
	}
	resp, err := f.ask(ctx, r)
	if err != nil {
		return err
	}
	if *export != "" {
		b, err := maint.ExportRecords(resp.Records)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*export, b, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d records to %s\n", len(resp.Records), *export)
		return nil
	}
	if *f.json {
		return printJSON(stdout, resp.Records)
	}
	for _, rec := range resp.Records {
		fmt.Fprintln(stdout, rec.String())
	}
	return nil
}

// parseWhen reads "2h" (that long ago) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (2h) or an RFC 3339 time", s)
	}
	return t, nil
}

func maintRun(action string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newMaintFlags(action)
	cassette := f.fs.Int("cassette", 0, "test-dispense: the cassette")
	notes := f.fs.Int("notes", 1, "test-dispense: how many notes (1 to 10)")
	// Flags may come before and after the positional argument.
	var pos []string
	for rest := args; ; {
		if err := f.fs.Parse(rest); err != nil {
			return usageError{err}
		}
		if rest = f.fs.Args(); len(rest) == 0 {
			break
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	if err := f.resolve(); err != nil {
		return err
	}
	a := map[string]string{}
	need := 0
	switch action {
	case "test":
		need = 1
		if len(pos) == 1 {
			a["device"] = pos[0]
		}
	case "test-dispense":
		a["cassette"], a["notes"] = strconv.Itoa(*cassette), strconv.Itoa(*notes)
	case "load":
		need = 1
		if len(pos) == 1 {
			a["cassettes"] = pos[0]
		}
	case "service":
		need = 1
		if len(pos) == 1 {
			switch pos[0] {
			case "in":
				a["out"] = "false"
			case "out":
				a["out"] = "true"
			default:
				return usageError{errors.New("service in|out")}
			}
		}
	}
	if len(pos) != need {
		return usageError{fmt.Errorf("%s takes %d argument(s)", action, need)}
	}
	if *f.tech == "" {
		return usageError{errors.New("--tech ID (or $ATMD_TECH) is needed")}
	}
	p, err := pin(stdin, stderr, "PIN for technician "+*f.tech+": ")
	if err != nil {
		return err
	}
	// A device action may wait for the customer's session to end.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	resp, err := f.ask(ctx, maint.Request{Op: "run", Tech: *f.tech, PIN: p, Action: action, Args: a})
	if *f.json && resp != nil {
		out := struct {
			OK     bool              `json:"ok"`
			Error  string            `json:"error,omitempty"`
			Lines  []string          `json:"lines,omitempty"`
			Fields map[string]string `json:"fields,omitempty"`
		}{OK: err == nil, Lines: resp.Lines, Fields: resp.Fields}
		if err != nil {
			out.Error = err.Error()
		}
		if perr := printJSON(stdout, out); perr != nil {
			return perr
		}
		return err
	}
	if resp != nil {
		for _, l := range resp.Lines {
			fmt.Fprintln(stdout, l)
		}
	}
	return err
}

func maintHashPIN(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("maint hash-pin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iter := fs.Int("iterations", maint.DefaultIterations, "PBKDF2 iterations")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	r := bufio.NewReader(stdin)
	read := func(prompt string) (string, error) {
		if f, ok := stdin.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			fmt.Fprint(stderr, prompt)
			defer echoOff(int(f.Fd()))()
		}
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("no PIN given")
		}
		return strings.TrimSpace(line), nil
	}
	p1, err := read("technician PIN (4 to 12 digits): ")
	if err != nil {
		return err
	}
	p2, err := read("again: ")
	if err != nil {
		return err
	}
	if p1 != p2 {
		return errors.New("the two PINs differ")
	}
	h, err := maint.HashPIN(p1, *iter)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// ---- the terminal UI ----

// maintMenu runs the maintenance menu on the terminal: the daemon's menu
// over the control socket, one screen at a time. Keys are typed as
// lines: a choice's number, or a value then Enter.
func maintMenu(args []string, stdin io.Reader, stdout io.Writer) error {
	f := newMaintFlags("menu")
	if err := f.parse(args); err != nil {
		return err
	}
	tty := false
	fd := -1
	if fi, ok := stdin.(*os.File); ok && isatty.IsTerminal(fi.Fd()) {
		tty, fd = true, int(fi.Fd())
	}
	ask := func(r maint.Request) (*maint.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		return f.ask(ctx, r)
	}
	resp, err := ask(maint.Request{Op: "open"})
	if err != nil {
		return err
	}
	session := resp.Session
	// Ctrl-C or the terminal closing logs the technician out.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			ask(maint.Request{Op: "close", Session: session})
			os.Exit(130)
		}
	}()
	in := bufio.NewReader(stdin)
	for {
		// Wait out busy screens (they take no key) and the wait for the
		// customer's session to end (Ctrl-C abandons it).
		for (len(resp.Keys) == 0 || resp.Screen.ID == "maint-waiting") && !resp.Ended {
			draw(stdout, resp, tty)
			if resp, err = ask(maint.Request{Op: "screen", Session: session, After: resp.Version}); err != nil {
				return err
			}
		}
		if resp.Ended {
			fmt.Fprintln(stdout, "\nSession ended.")
			return nil
		}
		draw(stdout, resp, tty)
		secret := resp.Screen.Input != nil && resp.Screen.Input.Kind == display.Secret
		var restore func()
		if secret && tty {
			restore = echoOff(fd)
		}
		fmt.Fprint(stdout, "> ")
		line, rerr := in.ReadString('\n')
		if restore != nil {
			restore()
		}
		if rerr != nil && line == "" {
			ask(maint.Request{Op: "close", Session: session})
			fmt.Fprintln(stdout, "\nSession closed.")
			return nil
		}
		keys := lineKeys(strings.TrimRight(line, "\r\n"), resp.Screen, resp.Keys)
		if len(keys) == 0 {
			continue
		}
		if resp, err = ask(maint.Request{Op: "keys", Session: session, Keys: keys}); err != nil {
			return err
		}
	}
}

func draw(w io.Writer, r *maint.Response, tty bool) {
	if tty {
		fmt.Fprint(w, "\x1b[H\x1b[2J")
	} else {
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, maint.Render(*r.Screen, r.Keys))
}

// lineKeys turns a typed line into the menu's keys: on a menu, a number
// 1-8 (or F1-F8) picks that item; in an entry field the digits are keyed
// then ENTER (hex digits A-F stand for F1-F6 in a key component); "esc",
// "cancel" or "q" is CANCEL; "clear" and "back" (backspace) edit.
func lineKeys(line string, s *display.Screen, active []pinpad.Key) []string {
	w := strings.TrimSpace(line)
	switch strings.ToLower(w) {
	case "esc", "\x1b", "cancel", "q":
		return []string{string(pinpad.KeyCancel)}
	case "clear":
		return []string{string(pinpad.KeyClear)}
	case "back", "backspace":
		return []string{string(pinpad.KeyBackspace)}
	}
	hex := false
	for _, k := range active {
		if k == pinpad.F1 {
			hex = s.Input != nil
		}
	}
	switch {
	case hex:
		var out []string
		for _, c := range strings.ToUpper(w) {
			switch {
			case c >= '0' && c <= '9':
				out = append(out, string(c))
			case c >= 'A' && c <= 'F':
				out = append(out, "F"+string('1'+c-'A'))
			}
		}
		return out
	case s.Input != nil:
		var out []string
		for _, c := range w {
			if c >= '0' && c <= '9' {
				out = append(out, string(c))
			}
		}
		return append(out, string(pinpad.KeyEnter))
	case s.ID == "maint-key-test":
		var out []string
		for _, t := range strings.Fields(strings.ToUpper(w)) {
			if pinpad.Key(t).Valid() {
				out = append(out, t)
				continue
			}
			for _, c := range t {
				if c >= '0' && c <= '9' {
					out = append(out, string(c))
				}
			}
		}
		if len(out) == 0 {
			out = []string{string(pinpad.KeyEnter)}
		}
		return out
	}
	up := strings.ToUpper(w)
	if len(up) == 1 && up[0] >= '1' && up[0] <= '8' {
		up = "F" + up
	}
	if pinpad.Key(up).IsFDK() {
		return []string{up}
	}
	return nil
}
