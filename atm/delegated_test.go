package atm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/flows"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/journal"
)

// A delegate check is an 0100 with processing code 940000 and the code's
// PIN block in field 52; a delegated withdrawal is a 0200 with DG next
// to the nonce; the replies' field 48 comes back as data.
func TestDelegatedMapping(t *testing.T) {
	twd, _ := currency.ByAlpha("TWD")
	card := cardreader.Card{PAN: "4761730000001019", Expiry: "2912", PANSeq: "001", Technology: cardreader.Chip}
	blk := pinpad.PINBlock{Block: bytes.Repeat([]byte{0xC0}, 8)}
	m, err := request(flows.Request{ID: "S1-1", Kind: flows.DelegateCheck, Card: card, PIN: blk}, twd)
	if err != nil {
		t.Fatal(err)
	}
	if m.MTI != "0100" || m.ProcCode != "940000" || m.Currency != "901" || m.EntryMode != "051" || !bytes.Equal(m.PINBlock, blk.Block) ||
		m.Amount != 0 || m.Private != "" {
		t.Fatalf("check %s", hostlink.Describe(m))
	}
	if _, err := request(flows.Request{Kind: flows.DelegateCheck, Card: card}, twd); err == nil {
		t.Fatal("a check without a PIN block was mapped")
	}
	m, err = request(flows.Request{ID: "S1-2", Kind: flows.Withdrawal, Card: card, PIN: blk, Amount: 200000, Nonce: []byte{0xAB},
		Data: map[string]string{hostlink.TagDelegation: "D0123456789"}}, twd)
	if err != nil {
		t.Fatal(err)
	}
	if m.ProcCode != "010000" || m.Private != "NC002abDG011D0123456789" {
		t.Fatalf("delegated withdrawal %s field 48 %q", hostlink.Describe(m), m.Private)
	}

	resp := &hostlink.Message{MTI: "0110", ProcCode: hostlink.ProcDelegateCheck, RespCode: "00", Private: "DG011D0123456789DC006300000"}
	r := reply("S1-1", false, resp, nil)
	if r.Outcome != flows.Approved || r.Data[hostlink.TagDelegation] != "D0123456789" || r.Data[hostlink.TagDelCap] != "300000" || r.Err != nil {
		t.Fatalf("check reply %+v", r)
	}
	resp.Private = "DG099"
	if r := reply("S1-1", false, resp, nil); r.Err == nil || !strings.Contains(r.Err.Error(), "delegate check reply") {
		t.Fatalf("malformed field 48 taken: %+v", r)
	}
	resp = &hostlink.Message{MTI: "0210", ProcCode: hostlink.ProcWithdrawal, RespCode: "05", Private: "DR004used"}
	if r := reply("S1-2", true, resp, nil); r.Outcome != flows.Declined || r.Data[hostlink.TagDelReason] != hostlink.DelUsed {
		t.Fatalf("refusal %+v", r)
	}
}

// evHost is a host answering evidence advices with the codes queued in
// rcs (00 when empty), and keeping the parts it accepted.
type evHost struct {
	mu    sync.Mutex
	rcs   []string
	errs  int // first calls fail with a timeout
	parts map[string][]byte
	calls int
}

func (h *evHost) send(_ context.Context, m *hostlink.Message) (*hostlink.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.errs > 0 {
		h.errs--
		return nil, hostlink.ErrTimeout
	}
	rc := hostlink.RCApproved
	if len(h.rcs) > 0 {
		rc, h.rcs = h.rcs[0], h.rcs[1:]
	}
	if rc == hostlink.RCApproved {
		t, err := hostlink.ParseTLV(m.Private)
		if err != nil {
			return nil, err
		}
		p, _ := t.Get(hostlink.TagEvPart)
		d, _ := t.Get(hostlink.TagEvData)
		b, _ := base64.StdEncoding.DecodeString(d)
		h.parts[m.Original+p] = b
	}
	return &hostlink.Message{MTI: hostlink.MTIAdminAdviceResponse, STAN: m.STAN, RespCode: rc}, nil
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) NextSTAN() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return fmt.Sprintf("%06d", c.n)
}

// The evidence queue keeps a still on disk until the host has every
// part: a timeout or a 96 repeats after a backoff, a restart resumes, a
// refusal ends it; each is journaled.
func TestEvidenceQueue(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "journal.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	clk := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	open := func() *EvidenceQueue {
		q, err := OpenEvidence(filepath.Join(dir, "evidence"), EvidenceOptions{Clock: clk, MinBackoff: time.Second, MaxBackoff: 4 * time.Second, Journal: j})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	img := bytes.Repeat([]byte("still"), 300) // 1500 bytes: 3 parts
	e := &evidence{ID: "S1-2-DF", Txn: "S1-2", Kind: hostlink.EvidenceDelegateFace, MTI: "0200", STAN: "000042", Time: "1122090000",
		Format: "image/png", Taken: clk.Now(), Image: img}
	q := open()
	if err := q.Add(e); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(e); err != nil || q.Pending() != 1 {
		t.Fatalf("second Add of the same still: %v, %d pending", err, q.Pending())
	}
	// A restart before delivery: the still is still there.
	q = open()
	if q.Pending() != 1 || !bytes.Equal(q.head().Image, img) {
		t.Fatal("still lost across a restart")
	}
	h := &evHost{errs: 1, rcs: []string{"00", "96"}, parts: map[string][]byte{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, h.send, &counter{}) }()
	deadline := time.Now().Add(5 * time.Second)
	for q.Pending() > 0 && time.Now().Before(deadline) {
		clk.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 0 {
		t.Fatal("still not delivered")
	}
	var got []byte
	orig := hostlink.OriginalData(&hostlink.Message{MTI: "0200", STAN: "000042", TransmitTime: "1122090000"})
	for _, p := range []string{"1/3", "2/3", "3/3"} {
		got = append(got, h.parts[orig+p]...)
	}
	if !bytes.Equal(got, img) {
		t.Fatalf("host got %d bytes", len(got))
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "evidence", "*")); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	sent := j.Records(func(r journal.Record) bool { return r.Kind == "EVIDENCE-SENT" })
	s := sha256.Sum256(img)
	if len(sent) != 1 || sent[0].Fields["sha256"] != hex.EncodeToString(s[:]) || sent[0].Fields["parts"] != "3" {
		t.Fatalf("journal %v", sent)
	}

	// A refusal ends the still.
	q = open()
	e2 := *e
	e2.ID, e2.Txn = "S1-3-DF", "S1-3"
	if err := q.Add(&e2); err != nil {
		t.Fatal(err)
	}
	h = &evHost{rcs: []string{"12"}, parts: map[string][]byte{}}
	rc, err := q.deliver(context.Background(), q.head(), h.send, &counter{})
	if err != nil || rc != "12" {
		t.Fatalf("deliver: %s %v", rc, err)
	}
	// A damaged file is set aside, not fatal.
	if err := os.WriteFile(filepath.Join(dir, "evidence", "x.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	q = open()
	if q.Pending() != 1 || len(j.Records(func(r journal.Record) bool { return r.Kind == "EVIDENCE-DAMAGED" })) != 1 {
		t.Fatalf("%d pending after a damaged file", q.Pending())
	}
	if err := q.Add(&evidence{ID: "empty"}); err == nil || !errors.Is(err, ErrEvidence) {
		t.Fatalf("empty still: %v", err)
	}
}

// FuzzDelegatedReply feeds arbitrary answers (response code and field
// 48) to a delegate check and then to a delegated withdrawal, through the
// ATM's reply mapping into the flows: nothing panics, no undeclared
// transition is taken, and the amount menu never offers more than the
// ATM's largest withdrawal.
func FuzzDelegatedReply(f *testing.F) {
	f.Add("00", "DG011D0123456789DC006300000DX01420261122110000")
	f.Add("00", "DG011D0123456789DC019999999999999999999")
	f.Add("55", "DR005wrongDL0012")
	f.Add("75", "DR006locked")
	f.Add("05", "DR004used")
	f.Add("61", "DR008over-cap")
	f.Add("00", "DC003abc")
	f.Add("00", "DG9")
	f.Fuzz(func(t *testing.T, rc, f48 string) {
		twd, _ := currency.ByAlpha("TWD")
		cfg := flows.Config{ATM: "ATM00001", Currency: twd, FastAmounts: []int64{100000, 200000, 300000}, MaxAmount: 2000000,
			MaxNotes: 40, MaxPINTries: 3, PINFormat: pinpad.ISO0, PINKey: "pin", Timeouts: flows.DefaultTimeouts, Delegated: true}
		now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
		m, err := flows.New(cfg, now)
		if err != nil {
			t.Fatal(err)
		}
		var last []flows.Effect
		step := func(ev flows.Event) {
			last = m.Step(ev)
			if len(m.Violations) > 0 {
				t.Fatalf("undeclared transitions %v", m.Violations)
			}
		}
		sent := func() (flows.Request, bool) {
			for _, e := range last {
				if s, ok := e.(flows.SendHost); ok {
					return s.Req, true
				}
			}
			return flows.Request{}, false
		}
		step(flows.Health{HostUp: true, PrinterOK: true, CameraOK: true, Cassettes: []dispenser.Cassette{
			{ID: 1, Denomination: 100000, Currency: "TWD", Count: 100, Status: dispenser.CassetteOK}}})
		step(flows.CardInserted{Card: cardreader.Card{PAN: "4761730000001019", Technology: cardreader.Chip}})
		step(flows.KeyPressed{Key: pinpad.F5})
		step(flows.PINEntered{Block: pinpad.PINBlock{Block: make([]byte, 8)}})
		req, ok := sent()
		if !ok {
			t.Fatal("no check sent")
		}
		step(flows.HostReply{Reply: reply(req.ID, false, &hostlink.Message{MTI: "0110", ProcCode: hostlink.ProcDelegateCheck, RespCode: rc, Private: f48}, nil)})
		if m.State() != flows.DelAmount {
			return
		}
		for _, e := range last {
			if s, ok := e.(flows.Show); ok {
				for _, it := range s.Screen.Menu {
					if it.Label != "" && strings.HasPrefix(it.ID, "amount-") && len(it.ID) > len("amount-20000") {
						t.Fatalf("menu offers %s", it.ID)
					}
				}
			}
		}
		step(flows.KeyPressed{Key: pinpad.F1})
		if m.State() == flows.ReceiptChoice {
			step(flows.KeyPressed{Key: pinpad.F2})
		}
		if m.State() != flows.Authorizing {
			return
		}
		step(flows.NonceReady{Nonce: []byte{1}})
		if req, ok = sent(); !ok {
			t.Fatal("no withdrawal sent")
		}
		step(flows.HostReply{Reply: reply(req.ID, true, &hostlink.Message{MTI: "0210", ProcCode: hostlink.ProcWithdrawal, RespCode: rc, Private: f48}, nil)})
		switch m.State() {
		case flows.MainMenu, flows.ShowBalance, flows.Refused, flows.PINEntry:
			t.Fatalf("a delegated withdrawal went to %s", m.State())
		}
	})
}
