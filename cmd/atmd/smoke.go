package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/ndef"
	"github.com/atmd/atmd/sim/host/seed"
)

// smokeResult is one row of the smoke table.
type smokeResult struct {
	device, driver string
	result         string // "ok", a fault catalogue code, or "FAIL"
	detail         string
}

func (r smokeResult) failed() bool { return r.result != "ok" }

// smokeTest exercises the devices of one config.
type smokeTest struct {
	cfg   *atm.Config
	set   *atm.DeviceSet
	wait  time.Duration // for a customer: a card, a key
	out   io.Writer     // prompts for the person at the machine
	seed  *seed.Seed    // cards a simulated card reader can be given
	start time.Time
}

// cmdSmoke opens every device the config names — real, simulated, or a
// real driver on its wire simulator — runs one safe exercise on each
// (never a dispense), prints a table and exits 1 when any failed, 2 for
// bad usage or a config that does not load. With --record DIR the
// traffic of every serial device is written to DIR/<device>.hex.
func cmdSmoke(args []string, stdout, stderr io.Writer) int {
	fs, path := flags("smoke")
	record := fs.String("record", "", "write each serial device's traffic (timestamped hex) into this directory")
	wait := fs.Duration("wait", 15*time.Second, "how long to wait for a card or a key press at the machine")
	verbose := fs.Bool("v", false, "log what the drivers do (on stderr)")
	if err := parse(fs, args); err != nil {
		fmt.Fprintf(stderr, "atmd smoke: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "atmd smoke: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := atm.LoadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "atmd smoke: %v\n", err)
		return 2
	}
	log := logger(cfg, stderr)
	if !*verbose {
		log = log.Level(zerolog.ErrorLevel)
	}
	lock, err := atm.LockStateDir(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "atmd smoke: %v\n", err)
		return 1
	}
	defer lock.Close()
	ctx, stop := signals()
	defer stop()

	set, err := atm.OpenDevices(ctx, cfg, atm.DeviceOptions{Log: log, Record: *record})
	if err != nil {
		fmt.Fprintf(stderr, "atmd smoke: %v\n", err)
		return 1
	}
	defer set.Close()
	st := &smokeTest{cfg: cfg, set: set, wait: *wait, out: stderr, start: time.Now()}
	if p := cfg.Devices.CardReader.Seed; p != "" {
		st.seed, _ = seed.Load(p) // without it, a simulated reader gets no card
	}
	results := st.run(ctx)

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tDRIVER\tRESULT\tDETAIL")
	failed := 0
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.device, r.driver, r.result, r.detail)
		if r.failed() {
			failed++
		}
	}
	tw.Flush()
	if *record != "" {
		fmt.Fprintf(stdout, "serial traffic recorded in %s\n", *record)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "smoke: %d of %d devices failed\n", failed, len(results))
		return 1
	}
	fmt.Fprintf(stdout, "smoke: all %d devices ok\n", len(results))
	return 0
}

// run exercises every device, vital ones first, then halts them all.
func (s *smokeTest) run(ctx context.Context) []smokeResult {
	exercises := map[string]func(context.Context) (string, error){
		"cardreader": s.cardReader, "pinpad": s.pinPad, "dispenser": s.dispenser, "display": s.display,
		"printer": s.printer, "opdisplay": s.opDisplay, "nfctag": s.nfcTag, "camera": s.camera, "sensors": s.sensors,
	}
	var out []smokeResult
	for _, nd := range s.set.Devices.Named() {
		r := smokeResult{device: nd.Name, driver: s.set.Drivers[nd.Name], result: "ok"}
		// A driver may still be greeting its device: give it a moment.
		st := waitUsable(ctx, nd.Dev, 3*time.Second)
		detail, err := exercises[nd.Name](ctx)
		switch {
		case err != nil:
			r.result, r.detail = "FAIL", err.Error()
			if code := hal.FaultCode(err); code != "" {
				r.result = code
			}
		case !nd.Dev.Status().OK():
			st = nd.Dev.Status()
			r.result, r.detail = "FAIL", st.String()
			if st.Fault != "" {
				r.result = st.Fault
			}
			if detail != "" {
				r.detail += "; " + detail
			}
		default:
			r.detail = detail
			if st.Fault != "" {
				r.detail += " (" + st.String() + ")"
			}
		}
		out = append(out, r)
	}
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, nd := range s.set.Devices.Named() {
		_ = nd.Dev.Halt(hctx) // back to the safe state; the table has said what failed
	}
	return out
}

// waitUsable waits up to d for the device to report itself usable and
// returns its status.
func waitUsable(ctx context.Context, dev hal.Device, d time.Duration) hal.Status {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st := dev.Status()
		if st.State.Usable() {
			return st
		}
		select {
		case <-ctx.Done():
			return st
		case <-tick.C:
		}
	}
}

func (s *smokeTest) prompt(format string, args ...any) {
	fmt.Fprintf(s.out, "smoke: "+format+"\n", args...)
}

// cardReader waits for a card and reads it, printing only the masked
// PAN, then gives it back. A simulated reader is given the seed's first
// card.
func (s *smokeTest) cardReader(ctx context.Context) (string, error) {
	r := s.set.Devices.CardReader
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	type read struct {
		c   cardreader.Card
		err error
	}
	done := make(chan read, 1)
	go func() {
		c, err := r.Accept(ctx)
		done <- read{c, err}
	}()
	simulated := false
	if c, ok := s.demoCard(); ok {
		err := s.set.Sim.CardReader.Insert(ctx, c)
		simulated = err == nil
		if err != nil && !errors.Is(err, atm.ErrNotSimulated) {
			cancel()
			<-done
			return "", fmt.Errorf("inserting a simulated card: %w", err)
		}
	}
	if !simulated {
		s.prompt("cardreader: insert a card within %v", s.wait)
	}
	res := <-done
	switch {
	case errors.Is(res.err, context.DeadlineExceeded) || errors.Is(res.err, context.Canceled):
		return fmt.Sprintf("no card inserted within %v; reader %s", s.wait, r.Status()), nil
	case res.err != nil:
		return "", res.err
	}
	detail := fmt.Sprintf("read %s card %s exp %s", res.c.Technology, mask.PAN(res.c.PAN), res.c.Expiry)
	if err := r.Eject(ctx); err != nil {
		return detail, fmt.Errorf("eject: %w", err)
	}
	if simulated {
		if err := s.set.Sim.CardReader.Take(ctx); err != nil {
			return detail, fmt.Errorf("taking the simulated card: %w", err)
		}
	} else {
		s.prompt("cardreader: take the card")
		if err := r.WaitTaken(ctx); err != nil && ctx.Err() == nil {
			return detail, fmt.Errorf("wait taken: %w", err)
		}
	}
	return detail + ", given back", nil
}

// demoCard is the first card of the seed, for a simulated reader.
func (s *smokeTest) demoCard() (cardreader.Card, bool) {
	if s.seed == nil {
		return cardreader.Card{}, false
	}
	for _, cu := range s.seed.Customers {
		for _, c := range cu.Cards {
			return cardreader.Card{PAN: c.PAN, PANSeq: fmt.Sprintf("%03d", c.PANSeq), Expiry: c.Expiry, Name: c.Name,
				Track2: c.PAN + "=" + c.Expiry + "2010000000000", Technology: cardreader.Chip}, true
		}
	}
	return cardreader.Card{}, false
}

// pinPad beeps (an EPP), reports the master key's check value and waits
// for one key. No PIN is ever asked for.
func (s *smokeTest) pinPad(ctx context.Context) (string, error) {
	p := s.set.Devices.PinPad
	var parts []string
	if b, ok := p.(interface {
		Beep(context.Context, epp.Tone) error
	}); ok {
		if err := b.Beep(ctx, epp.ToneAttention); err != nil && !errors.Is(err, hal.ErrUnsupported) {
			return "", fmt.Errorf("beep: %w", err)
		} else if err == nil {
			parts = append(parts, "beeped")
		}
	}
	if kc, ok := p.(pinpad.KeyChecker); ok {
		kcv, err := kc.KCV(ctx, "tmk")
		switch {
		case errors.Is(err, pinpad.ErrNoKey):
			parts = append(parts, "no master key loaded")
		case err != nil:
			return "", fmt.Errorf("key check: %w", err)
		default:
			parts = append(parts, fmt.Sprintf("master key KCV %X", kcv))
		}
	}
	kctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	keys := []pinpad.Key{pinpad.KeyEnter, pinpad.KeyCancel, pinpad.KeyClear}
	for i := 0; i < p.Capabilities().FDKs && i < 8; i++ {
		keys = append(keys, pinpad.Key(fmt.Sprintf("F%d", i+1)))
	}
	type pressed struct {
		k   pinpad.Key
		err error
	}
	done := make(chan pressed, 1)
	go func() {
		k, err := p.ReadKey(kctx, keys)
		done <- pressed{k, err}
	}()
	if err := s.pressSim(kctx, pinpad.KeyEnter); errors.Is(err, atm.ErrNotSimulated) {
		s.prompt("pinpad: press ENTER, CANCEL, CLEAR or a function key within %v", s.wait)
	} else if err != nil {
		cancel()
		<-done
		return "", fmt.Errorf("pressing a simulated key: %w", err)
	}
	res := <-done
	switch {
	case errors.Is(res.err, context.DeadlineExceeded):
		parts = append(parts, fmt.Sprintf("no key pressed within %v", s.wait))
	case res.err != nil:
		return strings.Join(parts, ", "), fmt.Errorf("key test: %w", res.err)
	default:
		parts = append(parts, "key "+string(res.k)+" read")
	}
	return strings.Join(parts, ", "), nil
}

// pressSim presses k on a simulated PIN pad once the key entry runs.
func (s *smokeTest) pressSim(ctx context.Context, k pinpad.Key) error {
	return s.set.Sim.PinPad.Press(ctx, k)
}

// dispenser reads the status and the cassettes: it never dispenses.
func (s *smokeTest) dispenser(ctx context.Context) (string, error) {
	d := s.set.Devices.Dispenser
	cs, err := d.Cassettes(ctx)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, c := range cs {
		den := fmt.Sprintf("%s %d", c.Currency, c.Denomination)
		if cur, err := currency.ByAlpha(c.Currency); err == nil {
			den = cur.Format(c.Denomination)
		}
		parts = append(parts, fmt.Sprintf("%d: %s x %d %s", c.ID, den, c.Count, c.Status))
	}
	return fmt.Sprintf("%d cassettes (%s); nothing dispensed", len(cs), strings.Join(parts, ", ")), nil
}

func (s *smokeTest) display(context.Context) (string, error) {
	return "status " + s.set.Devices.Display.Status().String(), nil
}

// printer prints a short test receipt.
func (s *smokeTest) printer(ctx context.Context) (string, error) {
	lines := []string{"ATMD SMOKE TEST", "ATM " + s.cfg.ATM.ID, s.start.Format("2006-01-02 15:04:05"), "測試列印"}
	if err := s.set.Devices.Printer.Print(ctx, printer.Receipt{Lines: lines, Cut: true}); err != nil {
		return "", err
	}
	return fmt.Sprintf("printed a %d-line test receipt", len(lines)), nil
}

// opDisplay shows a test pattern.
func (s *smokeTest) opDisplay(ctx context.Context) (string, error) {
	o := s.set.Devices.OpDisplay
	caps := o.Capabilities()
	rows, cols := max(caps.Rows, 1), max(caps.Cols, 1)
	lines := []string{"ATMD SMOKE TEST"}
	for i := 1; i < rows; i++ {
		lines = append(lines, strings.Repeat(string(rune('0'+i%10)), cols))
	}
	for i := range lines {
		if len(lines[i]) > cols {
			lines[i] = lines[i][:cols]
		}
	}
	if err := o.Show(ctx, lines); err != nil {
		return "", err
	}
	return fmt.Sprintf("test pattern on %dx%d", rows, cols), nil
}

// nfcTag publishes a test message and clears it again.
func (s *smokeTest) nfcTag(ctx context.Context) (string, error) {
	msg, err := ndef.Message{ndef.URIRecord("https://atmd.example/smoke")}.Encode()
	if err != nil {
		return "", err
	}
	t := s.set.Devices.NFCTag
	if err := t.Publish(ctx, msg); err != nil {
		return "", err
	}
	if err := t.Clear(ctx); err != nil {
		return "", fmt.Errorf("clear: %w", err)
	}
	return fmt.Sprintf("published and cleared a %d-byte NDEF message", len(msg)), nil
}

// camera takes one still.
func (s *smokeTest) camera(ctx context.Context) (string, error) {
	img, err := s.set.Devices.Camera.Capture(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("one %s still, %d bytes", img.Format, len(img.Data)), nil
}

// sensors reads every input.
func (s *smokeTest) sensors(ctx context.Context) (string, error) {
	rd, err := s.set.Devices.Sensors.Read(ctx)
	if err != nil {
		return "", err
	}
	var parts []string
	for in, on := range rd {
		v := "off"
		if on {
			v = "on"
		}
		parts = append(parts, string(in)+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, " "), nil
}
