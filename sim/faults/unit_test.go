package faults

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/store"
	"github.com/atmd/atmd/sim/netfault"
)

func testParams() atmParams {
	return atmParams{
		StateDir: "/tmp/x/state", Socket: "/tmp/x/state/atmd.sock", HostAddr: "127.0.0.1:4242", Seed: "/abs/seed.yaml",
		Timeout: 2 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Echo: 30 * time.Second,
		Message: time.Second, PickDelay: 5 * time.Millisecond, FastAmount: 300, Denomination: 100, Notes: 500,
	}
}

func TestDeriveConfig(t *testing.T) {
	base, err := os.ReadFile("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := deriveConfig(base, testParams())
	if err != nil {
		t.Fatal(err)
	}
	c, err := atm.ParseConfig(out)
	if err != nil {
		t.Fatalf("derived config: %v\n%s", err, out)
	}
	if c.Host != nil {
		t.Error("the host section is still there")
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"state_dir", c.ATM.StateDir, "/tmp/x/state"},
		{"control_socket", c.ATM.ControlSocket, "/tmp/x/state/atmd.sock"},
		{"fast_amounts", len(c.ATM.FastAmounts), 1},
		{"fast amount", c.ATM.FastAmounts[0], int64(300)},
		{"message", c.ATM.Timeouts.Message, time.Second},
		{"addr", c.HostLink.Addr, "127.0.0.1:4242"},
		{"timeout", c.HostLink.Timeout, 2 * time.Second},
		{"echo", c.HostLink.EchoInterval, 30 * time.Second},
		{"min_backoff", c.HostLink.MinBackoff, 100 * time.Millisecond},
		{"max_backoff", c.HostLink.MaxBackoff, time.Second},
		{"tls", c.HostLink.TLS == nil, true},
		{"seed", c.Devices.CardReader.Seed, "/abs/seed.yaml"},
		{"pick_delay", c.Devices.Dispenser.PickDelay, 5 * time.Millisecond},
		{"cassettes", len(c.Devices.Dispenser.Cassettes), 1},
		{"denomination", c.Devices.Dispenser.Cassettes[0].Denomination, int64(100)},
		{"count", c.Devices.Dispenser.Cassettes[0].Count, 500},
		{"format", c.Log.Format, "json"},
		// Untouched keys keep their values.
		{"atm id", c.ATM.ID, "ATM00001"},
		{"master key components", len(c.Devices.PinPad.MasterKey), 2},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	// Comments of the base survive (a node edit, not a rewrite).
	if !bytes.Contains(out, []byte("terminal id, ISO 8583 field 41")) {
		t.Error("the base's comments were lost")
	}
}

func TestDeriveConfigFromMinimalBase(t *testing.T) {
	// Sections the base lacks are created.
	base := []byte(`atm: {id: ATM00001, institution: "1", max_amount: 20000, fast_amounts: [1000]}
devices:
  cardreader: {driver: sim}
  pinpad: {driver: sim, master_key: [9D51835E014C8AEFA232B5F1CDAB1698, F720CE5761618A98321F16A42532763E]}
  display: {driver: sim}
  opdisplay: {driver: sim}
  nfctag: {driver: sim}
  dispenser: {driver: sim, master_key: [9D51835E014C8AEFA232B5F1CDAB1698, F720CE5761618A98321F16A42532763E], cassettes: [{id: 7, denomination: 500, count: 1}]}
  printer: {driver: sim}
  camera: {driver: sim}
  sensors: {driver: sim}
`)
	out, err := deriveConfig(base, testParams())
	if err != nil {
		t.Fatal(err)
	}
	c, err := atm.ParseConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.HostLink.Addr != "127.0.0.1:4242" || c.ATM.Timeouts.Message != time.Second || c.Devices.Dispenser.Cassettes[0].ID != 1 {
		t.Errorf("derived %+v %+v", c.HostLink, c.Devices.Dispenser.Cassettes)
	}
}

func TestDeriveConfigRejects(t *testing.T) {
	for name, base := range map[string]string{
		"not yaml":        "atm: [",
		"not a mapping":   "- 1\n- 2\n",
		"atm is a list":   "atm: [1]\n",
		"does not load":   "atm: {id: X}\n", // the derived config fails validation
		"empty document":  "",
		"host_link value": "host_link: 5\n",
	} {
		if _, err := deriveConfig([]byte(base), testParams()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseDispState(t *testing.T) {
	s, err := parseDispState([]byte(`{"version":1,"nonces":42,"cassettes":[{"id":1,"denomination":10000,"currency":"TWD","count":90,"initial":100,"dispensed":10}],
		"retract_bin":3,"last":{"txn":"000012","notes":[{"cassette":1,"count":3}],"state":"retracted"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Nonces != 42 || s.dispensed() != 10 || s.notesOut() != 7 || s.Last.State != dispenser.LastRetracted {
		t.Errorf("parsed %+v", s)
	}
	if d, err := s.denomination(); err != nil || d != 10000 {
		t.Errorf("denomination %d, %v", d, err)
	}
	for name, b := range map[string]string{
		"not json":           "{",
		"negative bin":       `{"retract_bin":-1}`,
		"negative dispensed": `{"cassettes":[{"id":1,"denomination":1,"dispensed":-1}]}`,
		"zero denomination":  `{"cassettes":[{"id":1,"denomination":0}]}`,
	} {
		if _, err := parseDispState([]byte(b)); !errors.Is(err, errDispState) {
			t.Errorf("%s: %v, want errDispState", name, err)
		}
	}
	two := dispState{Cassettes: []dispenser.Cassette{{ID: 1, Denomination: 100}, {ID: 2, Denomination: 500}}}
	if _, err := two.denomination(); err == nil {
		t.Error("two denominations accepted")
	}
}

func FuzzParseDispState(f *testing.F) {
	f.Add([]byte(`{"nonces":1,"cassettes":[{"id":1,"denomination":100,"dispensed":3}],"retract_bin":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseDispState(b)
		if err != nil {
			return
		}
		if s.RetractBin < 0 || s.dispensed() < 0 {
			t.Fatalf("accepted impossible counters: %+v", s)
		}
	})
}

func TestHostLogCountsReversals(t *testing.T) {
	var sink bytes.Buffer
	l := newHostLog(&sink)
	lines := `{"level":"info","ledger_id":7,"credited":30000,"message":"withdrawal reversed"}
{"level":"info","ledger_id":7,"message":"reversal already processed"}
{"level":"info","ledger_id":9,"credited":30000,"message":"withdrawal reversed"}
{"level":"info","message":"withdrawal reversed"}
not json but says withdrawal reversed
{"level":"info","ledger_id":9,"message":"withdrawal reversed"}
`
	// Written in odd pieces: lines are put together again.
	for len(lines) > 0 {
		n := min(7, len(lines))
		if _, err := l.Write([]byte(lines[:n])); err != nil {
			t.Fatal(err)
		}
		lines = lines[n:]
	}
	got := l.counts()
	if len(got) != 2 || got[7] != 1 || got[9] != 2 {
		t.Errorf("counts %v, want 7:1 9:2", got)
	}
	if !strings.Contains(sink.String(), "reversal already processed") {
		t.Error("log not copied")
	}
}

func FuzzParseReversalLine(f *testing.F) {
	f.Add([]byte(`{"ledger_id":7,"message":"withdrawal reversed"}`))
	f.Add([]byte(`{"message":"withdrawal reversed","ledger_id":"x"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if _, ok := parseReversalLine(line); ok && !bytes.Contains(line, []byte(reversalLogMsg)) {
			t.Fatalf("%q counted as a reversal", line)
		}
	})
}

func TestWireTap(t *testing.T) {
	w := newWireTap()
	pack := func(m *hostlink.Message) []byte {
		t.Helper()
		b, err := hostlink.Pack(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	nc := func(n string) string {
		var tl hostlink.TLV
		tl.Set(hostlink.TagNonce, n)
		s, err := tl.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	req := func(stan, nonce string) []byte {
		return pack(&hostlink.Message{MTI: hostlink.MTIFinRequest, ProcCode: hostlink.ProcWithdrawal, Amount: 30000, STAN: stan,
			TransmitTime: "1122090000", TerminalID: "ATM00001", Currency: "901", Private: nc(nonce)})
	}
	rev := func(mti, stan string) []byte {
		return pack(&hostlink.Message{MTI: mti, ProcCode: hostlink.ProcWithdrawal, Amount: 30000, STAN: "000099", TransmitTime: "1122090001",
			TerminalID: "ATM00001", Currency: "901", Original: hostlink.OriginalData(&hostlink.Message{MTI: "0200", STAN: stan, TransmitTime: "1122090000"})})
	}
	w.observe(netfault.ToHost, req("000001", "00000000000000010102030405060708"))
	w.observe(netfault.ToHost, req("000002", "00000000000000020102030405060708"))
	w.observe(netfault.ToHost, req("000003", "00000000000000020102030405060708")) // a repeat
	w.observe(netfault.ToHost, rev(hostlink.MTIReversal, "000001"))
	w.observe(netfault.ToHost, rev(hostlink.MTIReversalRepeat, "000001"))
	w.observe(netfault.ToATM, req("000004", "ff")) // the host's direction is not tapped
	w.observe(netfault.ToHost, []byte("0200garbage"))
	f := w.figures()
	if f.Requests != 3 || len(f.Nonces) != 2 || f.Advices != 2 || f.Repeats != 1 || f.Originals != 1 || f.Unreadable != 1 {
		t.Errorf("figures %+v", f)
	}
	c := checkNonces(checkInput{Wire: f, Nonces: []nonceSample{{counter: 3, grow: true}}})
	if c.OK {
		t.Error("a nonce sent twice passed check (d)")
	}
}

// A clean history: one withdrawal completed, one in doubt after a crash
// and reversed, one declined.
func cleanInput() checkInput {
	twd, _ := currency.ByAlpha("TWD")
	rec := func(kind string, fields ...string) journal.Record {
		r := journal.Record{Kind: kind, Fields: map[string]string{}}
		for i := 0; i+1 < len(fields); i += 2 {
			r.Fields[fields[i]] = fields[i+1]
		}
		return r
	}
	recs := []journal.Record{
		rec("STARTUP"),
		rec("TXN-REQUEST", "txn", "A-1", "kind", "withdrawal"),
		rec("HOST-SEND", "txn", "A-1", "stan", "000001", "time", "1122090000"),
		rec("TXN-REPLY", "txn", "A-1", "outcome", "approved", "stan", "000001"),
		rec("DISPENSE-INTENT", "txn", "A-1", "stan", "000001"),
		rec("CASH-TAKEN", "txn", "A-1"),
		rec("TXN-REQUEST", "txn", "B-1", "kind", "withdrawal"),
		rec("HOST-SEND", "txn", "B-1", "stan", "000002", "time", "1122090001"),
		rec("TXN-REPLY", "txn", "B-1", "outcome", "approved", "stan", "000002"),
		rec("STARTUP"),
		rec("RECOVERED", "txn", "B-1", "action", "reverse-not-dispensed", "reason", "cancelled"),
		rec("REVERSAL-ACKED", "txn", "B-1", "rc", "00"),
		rec("TXN-REQUEST", "txn", "C-1", "kind", "withdrawal"),
		rec("HOST-SEND", "txn", "C-1", "stan", "000004", "time", "1122090002"),
		rec("TXN-REPLY", "txn", "C-1", "outcome", "insufficient-funds", "rc", "51"),
		rec("SHUTDOWN"),
	}
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
	}
	entry := func(id int64, stan, tm string, reversed bool) host.LedgerEntry {
		e := host.LedgerEntry{ID: id, Key: store.Key{TerminalID: "ATM00001", STAN: stan, TransmitTime: tm},
			Kind: store.KindWithdrawal, Amount: 30000, Currency: "TWD", RespCode: hostlink.RCApproved}
		if reversed {
			e.Reversed, e.ReversedAmount = true, 30000
		}
		return e
	}
	ledger := []host.LedgerEntry{entry(1, "000001", "1122090000", false), entry(2, "000002", "1122090001", true)}
	declined := entry(3, "000004", "1122090002", false)
	declined.RespCode = "51"
	ledger = append(ledger, declined)
	return checkInput{
		ATM: "ATM00001", Cur: twd, Records: recs,
		Disp:      dispState{Nonces: 3, Cassettes: []dispenser.Cassette{{ID: 1, Denomination: 10000, Dispensed: 3}}},
		Host:      host.Report{Terminals: []host.TerminalReport{{Terminal: "ATM00001", Currency: "TWD", Approved: 60000, ApprovedCount: 2, Reversed: 30000, ReversedCount: 1, Dispensed: 30000}}},
		Ledger:    ledger,
		Reversals: map[int64]int{2: 1},
		Wire: wireFigures{Requests: 3, Nonces: map[string]int{
			"00000000000000010000000000000000": 1, "00000000000000020000000000000000": 1, "00000000000000030000000000000000": 1}},
		Nonces: []nonceSample{{counter: 1, grow: true}, {counter: 2, grow: true}, {counter: 2}, {counter: 3, grow: true}},
		Starts: 2, Stops: 1,
	}
}

func TestChecksPassCleanHistory(t *testing.T) {
	for _, c := range runChecks(cleanInput()) {
		if !c.OK {
			t.Errorf("%s: %v (%s)", c.Name, c.Problems, c.Detail)
		}
	}
}

// Each breach of a promise fails its check.
func TestChecksCatchBreaches(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check int // index in runChecks' result
		spoil func(in *checkInput)
	}{
		{"a note more reached a customer", 0, func(in *checkInput) { in.Disp.Cassettes[0].Dispensed++ }},
		{"the host's ledger does not balance", 0, func(in *checkInput) { in.Host.Problems = []string{"account x: off by one"} }},
		{"dispensed twice", 0, func(in *checkInput) {
			in.Records = append(in.Records, journal.Record{Seq: 17, Kind: "DISPENSE-INTENT", Fields: map[string]string{"txn": "A-1", "stan": "000001"}})
		}},
		{"a bad CRC", 1, func(in *checkInput) { in.JournErr = journal.ErrCorrupt }},
		{"a gap in the sequence", 1, func(in *checkInput) { in.Records[5].Seq = 60 }},
		{"a start not journaled", 1, func(in *checkInput) { in.Starts = 3 }},
		{"the record before a kill lost", 1, func(in *checkInput) { in.KillRecordProblems = []string{"x #1: lost"} }},
		{"a transaction id used twice", 1, func(in *checkInput) {
			in.Records[6].Fields["txn"] = "A-1"
		}},
		{"an approved withdrawal never closed", 1, func(in *checkInput) {
			in.Records[11].Kind = "NOTHING" // REVERSAL-ACKED of B-1 lost
		}},
		{"an in-doubt withdrawal left open", 2, func(in *checkInput) { in.Records[11].Kind = "NOTHING" }},
		{"reversal acknowledged but not applied", 2, func(in *checkInput) { in.Ledger[1].Reversed = false }},
		{"reversal acknowledged by a refusal", 2, func(in *checkInput) { in.Records[11].Fields["rc"] = "63" }},
		{"cash taken but reversed at the host", 2, func(in *checkInput) { in.Ledger[0].Reversed = true }},
		{"reversed twice at the host", 2, func(in *checkInput) { in.Reversals[2] = 2 }},
		{"an approval the ATM never sent", 2, func(in *checkInput) { in.Ledger[0].STAN = "000077" }},
		{"declined at the ATM, approved at the host", 2, func(in *checkInput) { in.Ledger[2].RespCode = hostlink.RCApproved }},
		{"the nonce counter went back", 3, func(in *checkInput) { in.Nonces[2].counter = 1 }},
		{"the nonce counter stood still over a withdrawal", 3, func(in *checkInput) { in.Nonces[3].counter = 2 }},
		{"a nonce counter reused", 3, func(in *checkInput) {
			in.Wire.Nonces = map[string]int{"0000000000000001aaaaaaaaaaaaaaaa": 1, "0000000000000001bbbbbbbbbbbbbbbb": 1}
		}},
		{"a request without a nonce", 3, func(in *checkInput) { in.Wire.Nonces[""] = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := cleanInput()
			tc.spoil(&in)
			cs := runChecks(in)
			if cs[tc.check].OK {
				t.Errorf("%s passed: %s", cs[tc.check].Name, cs[tc.check].Detail)
			}
		})
	}
}

func TestReportWrite(t *testing.T) {
	twd, _ := currency.ByAlpha("TWD")
	r := &Report{cur: twd, Amount: 30000, Duration: time.Second,
		Points:   []PointReport{{Point: "before-send", Iterations: 2, Kills: 2, Recovery: map[string]int{"reverse-no-reply": 2}, Reversals: 2}},
		Net:      []NetReport{{Mode: netfault.Slow, Withdrawals: 1, Proxy: netfault.Stats{Conns: 1, Delayed: 1}}},
		Checks:   []Check{{Name: "(a) x", OK: true, Detail: "fine"}, {Name: "(b) y", Detail: "bad", Problems: []string{"broken"}}},
		Failures: []string{"slow #1: something"},
	}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"before-send", "reverse-no-reply 2", "NT$300", "1 delayed", "FAIL (b) y: bad", "- broken", "slow #1: something", "\nFAIL\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if r.OK() {
		t.Error("OK with a failed check")
	}
}
