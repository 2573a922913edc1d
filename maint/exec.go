package maint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/admin"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/internal/ndef"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/journal"
)

// Errors of the ops.
var (
	ErrUnsupported = errors.New("maint: the device cannot do that")
	ErrNoExport    = errors.New("maint: no export drive configured (maint.export_dir)")
	ErrMismatch    = errors.New("maint: the totals do not match the host's")
	ErrKeyCheck    = errors.New("maint: a device's check value differs from the components'")
)

// masterKey is the name of the terminal master key in the PIN pad and
// the dispenser.
const masterKey = "tmk"

// exec carries out an op. It never panics on a device's behalf: every
// failure is a Result.Err, and nothing it returns holds clear card data
// or key material.
func (s *Supervisor) exec(ctx context.Context, op Op) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error().Interface("panic", p).Str("op", Name(op)).Msg("maintenance action failed")
			r = Result{Err: fmt.Errorf("maint: %s failed: internal error", Name(op))}
		}
	}()
	switch o := op.(type) {
	case OpStatus:
		st := s.Status()
		return Result{Status: &st}
	case OpTest:
		return s.test(ctx, o.Device)
	case OpTestDispense:
		return s.testDispense(ctx, o.Mix)
	case OpCounters:
		c, err := s.counters(ctx)
		return Result{Counters: c, Err: err}
	case OpLoad:
		return s.load(ctx, o.Cassettes)
	case OpClearTotals:
		t := ComputeTotals(s.o.Journal.Records(nil))
		return Result{Fields: totalsFields(t), Lines: []string{
			"Closed the period since " + t.Since.Format("2006-01-02 15:04:05") + ".",
			fmt.Sprintf("Withdrawals paid out: %d, %s.", t.Withdrawals, s.o.Currency.Format(t.Amount)),
			"A new period starts now.",
		}}
	case OpReconcile:
		return s.reconcile(ctx)
	case OpJournal:
		return Result{Records: o.Filter.Apply(s.o.Journal.Records(nil))}
	case OpExport:
		return s.export(o)
	case OpEcho:
		return s.echo(ctx)
	case OpService:
		return s.service(ctx, o.OutOfService)
	case OpLoadKey:
		return s.loadKey(ctx, o.Components)
	}
	return Result{Err: fmt.Errorf("maint: unknown action %T", op)}
}

func (s *Supervisor) timeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// ---- device tests ----

func (s *Supervisor) test(ctx context.Context, device string) Result {
	d := s.o.Devices
	switch device {
	case DeviceCard:
		ctx, cancel := s.timeout(ctx, s.o.TestWait)
		defer cancel()
		c, err := d.CardReader.Accept(ctx)
		for tries := 0; errors.Is(err, hal.ErrBusy) && tries < 20; tries++ {
			// The flows' own wait for a card is still letting go of the
			// reader; it does within moments.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
			c, err = d.CardReader.Accept(ctx)
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return Result{Err: fmt.Errorf("no card inserted within %v", s.o.TestWait)}
			}
			return Result{Err: err}
		}
		lines := []string{"Card read: PAN " + mask.PAN(c.PAN) + ", " + string(c.Technology) + ", expiry " + c.Expiry}
		ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer ecancel()
		if err := d.CardReader.Eject(ectx); err != nil {
			return Result{Err: fmt.Errorf("card read, but not given back: %w", err), Lines: lines}
		}
		fields := map[string]string{"pan": mask.PAN(c.PAN), "card": string(c.Technology)}
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.TestWait)
		defer tcancel()
		if err := d.CardReader.WaitTaken(tctx); err != nil {
			// A card nobody takes is kept, as for a customer.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer rcancel()
			if rerr := d.CardReader.Retain(rctx); rerr != nil {
				return Result{Err: fmt.Errorf("card not taken, and not retained: %w", rerr), Lines: lines, Fields: fields}
			}
			fields["retained"] = "yes"
			return Result{Lines: append(lines, "The card was not taken: it was retained."), Fields: fields}
		}
		return Result{Lines: append(lines, "The card was given back and taken."), Fields: fields}
	case DeviceKeys:
		ctx, cancel := s.timeout(ctx, 5*time.Second)
		defer cancel()
		lines := []string{"PIN pad: " + d.PinPad.Status().String()}
		kc, ok := d.PinPad.(pinpad.KeyChecker)
		if !ok {
			return Result{Lines: append(lines, "The PIN pad reports no check values.")}
		}
		fields := map[string]string{}
		for _, name := range []string{masterKey, "pin", "mac"} {
			kcv, err := kc.KCV(ctx, name)
			switch {
			case errors.Is(err, pinpad.ErrNoKey):
				lines = append(lines, fmt.Sprintf("Key %s: not loaded", name))
			case err != nil:
				return Result{Err: err, Lines: lines}
			default:
				lines = append(lines, fmt.Sprintf("Key %s: check value %X", name, kcv))
				fields[name+"_kcv"] = fmt.Sprintf("%X", kcv)
			}
		}
		return Result{Lines: lines, Fields: fields}
	case DevicePrint:
		ctx, cancel := s.timeout(ctx, 15*time.Second)
		defer cancel()
		lines := []string{"ATMD TEST PRINT", "ATM " + s.o.ATM, s.o.Clock.Now().Format("2006-01-02 15:04:05"), "測試列印 0123456789"}
		if err := d.Printer.Print(ctx, printer.Receipt{Lines: lines, Cut: true}); err != nil {
			return Result{Err: err}
		}
		return Result{Lines: []string{fmt.Sprintf("Printed a %d-line test receipt: check it in the receipt slot.", len(lines))}}
	case DeviceNFC:
		return s.testNFC(ctx)
	case DeviceDisplay:
		return s.testDisplays(ctx)
	case DeviceSensors, DeviceCamera:
		return s.testSensors(ctx)
	}
	return Result{Err: fmt.Errorf("maint: no test for %q", device)}
}

func (s *Supervisor) testNFC(ctx context.Context) Result {
	t := s.o.Devices.NFCTag
	msg, err := ndef.Message{ndef.URIRecord("https://atmd.example/test?atm=" + s.o.ATM)}.Encode()
	if err != nil {
		return Result{Err: err}
	}
	pctx, cancel := s.timeout(ctx, 5*time.Second)
	defer cancel()
	if err := t.Publish(pctx, msg); err != nil {
		return Result{Err: err}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		t.Clear(cctx)
	}()
	lines := []string{fmt.Sprintf("Published a %d-byte test message.", len(msg))}
	wctx, wcancel := s.timeout(ctx, s.o.TestWait)
	defer wcancel()
	if err := t.WaitRead(wctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Result{Lines: append(lines, fmt.Sprintf("No phone read it within %v; the tag answers its controller.", s.o.TestWait)),
				Fields: map[string]string{"read": "no"}}
		}
		return Result{Err: err, Lines: lines}
	}
	return Result{Lines: append(lines, "A phone read it."), Fields: map[string]string{"read": "yes"}}
}

func (s *Supervisor) testDisplays(ctx context.Context) Result {
	d := s.o.Devices
	ctx, cancel := s.timeout(ctx, 5*time.Second)
	defer cancel()
	var lines []string
	sc := display.Screen{ID: "maint-display-test", Lang: "en", Tone: display.Info, Title: "Display test",
		Lines: []string{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", "0123456789 NT$1,000", "顯示測試 自動櫃員機"}}
	if err := d.Display.Show(ctx, sc); err != nil {
		return Result{Err: fmt.Errorf("customer screen: %w", err)}
	}
	lines = append(lines, "Customer screen: test pattern shown ("+d.Display.Status().String()+").")
	if od := d.OpDisplay; od != nil {
		c := od.Capabilities()
		var pat []string
		for i := 0; i < c.Rows; i++ {
			pat = append(pat, cut(strings.Repeat(strconv.Itoa((i+1)%10), c.Cols), c.Cols))
		}
		if len(pat) > 0 {
			pat[0] = cut("DISPLAY TEST "+strings.Repeat("#", c.Cols), c.Cols)
		}
		if err := od.Show(ctx, pat); err != nil {
			return Result{Err: fmt.Errorf("operator display: %w", err), Lines: lines}
		}
		lines = append(lines, fmt.Sprintf("Operator display: %dx%d test pattern shown.", c.Rows, c.Cols))
	}
	return Result{Lines: lines}
}

func (s *Supervisor) testSensors(ctx context.Context) Result {
	d := s.o.Devices
	ctx, cancel := s.timeout(ctx, 10*time.Second)
	defer cancel()
	rd, err := d.Sensors.Read(ctx)
	if err != nil {
		return Result{Err: fmt.Errorf("sensors: %w", err)}
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
	lines := []string{"Sensors: " + strings.Join(parts, " ")}
	fields := map[string]string{"sensors": strings.Join(parts, " ")}
	if cam := d.Camera; cam != nil {
		img, err := cam.Capture(ctx)
		if err != nil {
			lines = append(lines, "Camera: "+err.Error())
		} else {
			lines = append(lines, fmt.Sprintf("Camera: one %s still, %d bytes (not kept).", img.Format, len(img.Data)))
		}
	}
	return Result{Lines: lines, Fields: fields}
}

// testDispense picks notes into the reject bin: the dispenser's Tester
// never opens the shutter, so nothing in the menu puts cash in the tray.
func (s *Supervisor) testDispense(ctx context.Context, mix []dispenser.Notes) Result {
	t, ok := s.o.Devices.Dispenser.(dispenser.Tester)
	if !ok {
		return Result{Err: fmt.Errorf("%w: test dispense", ErrUnsupported)}
	}
	ctx, cancel := s.timeout(ctx, 30*time.Second)
	defer cancel()
	res, err := t.TestDispense(ctx, mix)
	fields := map[string]string{"picked": mixText(res.Dispensed), "rejected": strconv.Itoa(res.Rejected)}
	if err != nil {
		return Result{Err: err, Fields: fields}
	}
	return Result{Fields: fields, Lines: []string{
		fmt.Sprintf("Picked %s (cassette x notes); %d note(s) went into the reject bin.", mixText(res.Dispensed), res.Rejected),
		"Nothing was presented.",
	}}
}

// ---- cash ----

func (s *Supervisor) counters(ctx context.Context) (*Counters, error) {
	ctx, cancel := s.timeout(ctx, 10*time.Second)
	defer cancel()
	dsp := s.o.Devices.Dispenser
	cs, err := dsp.Cassettes(ctx)
	if err != nil {
		return nil, err
	}
	bin := -1
	if rc, ok := dsp.(dispenser.RetractCounter); ok {
		if n, err := rc.RetractCount(ctx); err == nil {
			bin = n
		}
	}
	c := ComputeCounters(s.o.Currency.Alpha, cs, bin, s.o.Journal.Records(nil))
	return &c, nil
}

func (s *Supervisor) load(ctx context.Context, cs []dispenser.Cassette) Result {
	l, ok := s.o.Devices.Dispenser.(dispenser.Loader)
	if !ok {
		return Result{Err: fmt.Errorf("%w: load cassettes", ErrUnsupported)}
	}
	load := make([]dispenser.Cassette, len(cs))
	for i, c := range cs {
		load[i] = dispenser.Cassette{ID: c.ID, Denomination: c.Denomination, Currency: s.o.Currency.Alpha, Count: c.Count, Low: c.Low}
		if c.Status == dispenser.CassetteMissing {
			load[i].Status, load[i].Count = dispenser.CassetteMissing, 0
		}
	}
	ctx, cancel := s.timeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Load(ctx, load); err != nil {
		return Result{Err: err}
	}
	fields := map[string]string{}
	lines := []string{"The cassettes are loaded; their counters start again:"}
	var total int64
	for _, c := range load {
		if c.Status == dispenser.CassetteMissing {
			lines = append(lines, fmt.Sprintf("Cassette %d: removed", c.ID))
			continue
		}
		total += int64(c.Count) * c.Denomination
		lines = append(lines, fmt.Sprintf("Cassette %d: %d x %s", c.ID, c.Count, s.o.Currency.Format(c.Denomination)))
	}
	lines = append(lines, "Cash loaded: "+s.o.Currency.Format(total))
	fields["total"] = strconv.FormatInt(total, 10)
	if rc, ok := s.o.Devices.Dispenser.(dispenser.RetractCounter); ok {
		if n, err := rc.RetractCount(ctx); err == nil {
			fields["retract_bin"] = strconv.Itoa(n)
		}
	}
	return Result{Lines: lines, Fields: fields}
}

func totalsFields(t Totals) map[string]string {
	return map[string]string{
		"since": t.Since.UTC().Format(time.RFC3339), "withdrawals": strconv.Itoa(t.Withdrawals),
		"amount": strconv.FormatInt(t.Amount, 10), "dispensed": strconv.FormatInt(t.Dispensed, 10),
		"reversals": strconv.Itoa(t.Reversals), "retracts": strconv.Itoa(t.Retracts),
		"test_dispenses": strconv.Itoa(t.TestDispenses),
	}
}

// reconcile sends the period's totals to the host (0800/370) and
// compares them with the host's.
func (s *Supervisor) reconcile(ctx context.Context) Result {
	t := ComputeTotals(s.o.Journal.Records(nil))
	f48, err := admin.Totals{Since: t.Since.Truncate(time.Second), Count: t.Withdrawals, Amount: t.Amount}.Encode()
	if err != nil {
		return Result{Err: err}
	}
	ctx, cancel := s.timeout(ctx, 40*time.Second)
	defer cancel()
	resp, err := s.o.Link.Send(ctx, &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: admin.NetTotals,
		Currency: s.o.Currency.Numeric, Private: f48})
	if err != nil {
		return Result{Err: fmt.Errorf("host: %w", err)}
	}
	if resp.RespCode != hostlink.RCApproved && resp.RespCode != admin.RCReconcileFail {
		return Result{Err: fmt.Errorf("the host refused the totals (rc %s)", resp.RespCode)}
	}
	h, err := admin.ParseHost(resp.Private)
	if err != nil {
		return Result{Err: err}
	}
	cur := s.o.Currency
	lines := []string{
		"Period since " + t.Since.Format("2006-01-02 15:04:05"),
		fmt.Sprintf("ATM:  %d withdrawal(s), %s paid out", t.Withdrawals, cur.Format(t.Amount)),
		fmt.Sprintf("Host: %d withdrawal(s), %s approved less reversed", h.Count, cur.Format(h.Amount)),
	}
	fields := map[string]string{"atm_count": strconv.Itoa(t.Withdrawals), "atm_amount": strconv.FormatInt(t.Amount, 10),
		"host_count": strconv.Itoa(h.Count), "host_amount": strconv.FormatInt(h.Amount, 10), "rc": resp.RespCode}
	if resp.RespCode == hostlink.RCApproved && h.Amount == t.Amount {
		return Result{Lines: append(lines, "The totals match."), Fields: fields}
	}
	st := s.o.Terminal.Status()
	if st.SAFPending > 0 {
		lines = append(lines, fmt.Sprintf("%d reversal(s) are still on their way to the host; reconcile again once they are acknowledged.", st.SAFPending))
	}
	if t.InDoubt > 0 {
		lines = append(lines, fmt.Sprintf("%d transaction(s) in doubt: see the journal (RETRACT-MISMATCH, RECOVERED).", t.InDoubt))
	}
	return Result{Err: ErrMismatch, Lines: lines, Fields: fields}
}

// ---- journal ----

// ExportRecords writes recs to w as JSON lines, one record per line.
func ExportRecords(recs []journal.Record) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

func (s *Supervisor) export(o OpExport) Result {
	path := o.Path
	if path == "" {
		if s.o.ExportDir == "" {
			return Result{Err: ErrNoExport}
		}
		if err := os.MkdirAll(s.o.ExportDir, 0o700); err != nil {
			return Result{Err: fmt.Errorf("maint: export: %w", err)}
		}
		path = filepath.Join(s.o.ExportDir, fmt.Sprintf("journal-%s-%s.jsonl", s.o.ATM, s.o.Clock.Now().UTC().Format("20060102T150405Z")))
	}
	recs := o.Filter.Apply(s.o.Journal.Records(nil))
	b, err := ExportRecords(recs)
	if err == nil {
		err = writeFileSync(path, b)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("maint: export: %w", err)}
	}
	return Result{Lines: []string{fmt.Sprintf("Wrote %d records to %s.", len(recs), path)},
		Fields: map[string]string{"path": path, "records": strconv.Itoa(len(recs))}}
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---- host and service ----

func (s *Supervisor) echo(ctx context.Context) Result {
	if !s.o.Link.Up() {
		return Result{Err: hostlink.ErrNotConnected, Lines: []string{"The ATM reconnects by itself; check the network and the host."}}
	}
	ctx, cancel := s.timeout(ctx, 40*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := s.o.Link.Send(ctx, &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: hostlink.NetEcho})
	rtt := time.Since(start).Round(time.Millisecond)
	if err != nil {
		return Result{Err: err}
	}
	fields := map[string]string{"rc": resp.RespCode, "rtt": rtt.String()}
	if resp.RespCode != hostlink.RCApproved {
		return Result{Err: fmt.Errorf("the host answered the echo with rc %s", resp.RespCode), Fields: fields}
	}
	return Result{Lines: []string{fmt.Sprintf("The host answered the echo (0800/301) in %v, response code 00.", rtt)}, Fields: fields}
}

func (s *Supervisor) service(ctx context.Context, out bool) Result {
	if err := saveOutOfService(s.o.StateFile, out); err != nil {
		return Result{Err: err}
	}
	if err := s.post(ctx, func() {
		s.outOfSvc = out
		s.mu.Lock()
		s.oos = out
		s.mu.Unlock()
		s.updateOperator()
	}); err != nil {
		return Result{Err: err}
	}
	st := s.Status()
	return Result{Status: &st}
}

// loadKey loads the master key from its components into the PIN pad and
// the dispenser. Each device first erases the key it holds when it can
// (a component is XORed into a key of the same name), then takes every
// component; the check value it answers must be the components'. The
// components are wiped whatever happens.
func (s *Supervisor) loadKey(ctx context.Context, comps [][]byte) Result {
	defer func() {
		for _, c := range comps {
			pinblock.Wipe(c)
		}
	}()
	if len(comps) < 2 {
		return Result{Err: errors.New("maint: a master key needs two components (dual control)")}
	}
	key := make([]byte, len(comps[0]))
	defer pinblock.Wipe(key)
	for _, c := range comps {
		if len(c) != len(key) {
			return Result{Err: errors.New("maint: components of different lengths")}
		}
		for i := range key {
			key[i] ^= c[i]
		}
	}
	want, err := pinblock.KCV(key)
	if err != nil {
		return Result{Err: err}
	}
	ctx, cancel := s.timeout(ctx, 20*time.Second)
	defer cancel()
	type loader interface {
		LoadKey(ctx context.Context, name, kek string, value []byte) ([]byte, error)
	}
	type deleter interface {
		DeleteKey(ctx context.Context, name string) error
	}
	lines := []string{fmt.Sprintf("Master key check value from the components: %X", want)}
	fields := map[string]string{"kcv": fmt.Sprintf("%X", want)}
	for _, dev := range []struct {
		name string
		dev  hal.Device
	}{{"pinpad", s.o.Devices.PinPad}, {"dispenser", s.o.Devices.Dispenser}} {
		l, ok := dev.dev.(loader)
		if !ok {
			return Result{Err: fmt.Errorf("%w: the %s cannot load keys", ErrUnsupported, dev.name), Lines: lines}
		}
		if d, ok := dev.dev.(deleter); ok {
			if err := d.DeleteKey(ctx, masterKey); err != nil && !errors.Is(err, pinpad.ErrNoKey) && !errors.Is(err, dispenser.ErrNoKey) {
				return Result{Err: fmt.Errorf("%s: erasing the old master key: %w", dev.name, err), Lines: lines}
			}
		}
		var kcv []byte
		for i, c := range comps {
			if kcv, err = l.LoadKey(ctx, masterKey, "", c); err != nil {
				return Result{Err: fmt.Errorf("%s: component %d: %w", dev.name, i+1, err), Lines: lines}
			}
		}
		if !bytes.Equal(kcv, want) {
			return Result{Err: fmt.Errorf("%w: %s answers %X", ErrKeyCheck, dev.name, kcv), Lines: lines}
		}
		lines = append(lines, fmt.Sprintf("%s: loaded, check value %X", dev.name, kcv))
		fields[dev.name+"_kcv"] = fmt.Sprintf("%X", kcv)
	}
	if err := s.o.Terminal.Rekey(ctx); err != nil {
		lines = append(lines, "The working keys will be exchanged at the next sign-on: "+err.Error())
	} else {
		lines = append(lines, "The working keys are being exchanged with the host under the new master key.")
	}
	return Result{Lines: lines, Fields: fields}
}
