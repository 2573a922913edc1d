package saf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/clock"
)

func advice(id, stan string) Advice {
	return Advice{ID: id, Msg: hostlink.Message{
		MTI: hostlink.MTIReversal, STAN: stan, PAN: "4761730000001019", Track2: "4761730000001019=2912201",
		Expiry: "2912", PINBlock: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Amount: 100000, ProcCode: hostlink.ProcWithdrawal,
		Original: "0200000123112209000000000000000000000000000",
	}}
}

// host records what it received and answers according to script.
type host struct {
	mu   sync.Mutex
	got  []hostlink.Message
	fail int // fail this many sends before answering
}

func (h *host) send(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, *m)
	if h.fail > 0 {
		h.fail--
		return nil, hostlink.ErrTimeout
	}
	return &hostlink.Message{MTI: hostlink.MTIReversalResponse, STAN: m.STAN, RespCode: "00"}, nil
}

func (h *host) received() []hostlink.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hostlink.Message(nil), h.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeliversInOrderRepeatingWithSameSTAN(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	var acks []string
	var mu sync.Mutex
	q, err := Open(filepath.Join(t.TempDir(), "saf"), Options{Clock: clk, OnAck: func(a Advice, _ *hostlink.Message, n int) {
		mu.Lock()
		acks = append(acks, a.ID)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	h := &host{fail: 2}
	q.Add(advice("t1", "000101"))
	q.Add(advice("t2", "000102"))
	q.Add(advice("t1", "000999")) // duplicate id: ignored
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, h.send) }()
	for i := 0; i < 2; i++ { // two failures, each followed by a backoff
		waitFor(t, "an attempt", func() bool { return len(h.received()) == i+1 && clk.Pending() == 1 })
		clk.Advance(time.Minute)
	}
	waitFor(t, "both acks", func() bool { mu.Lock(); defer mu.Unlock(); return len(acks) == 2 })
	cancel()
	<-done
	got := h.received()
	want := []string{"0420 000101", "0421 000101", "0421 000101", "0420 000102"}
	if len(got) != len(want) {
		t.Fatalf("sent %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.MTI+" "+m.STAN != want[i] {
			t.Errorf("message %d: %s %s, want %s", i, m.MTI, m.STAN, want[i])
		}
		if m.PAN != "" || m.Track2 != "" || m.PINBlock != nil || m.Expiry != "" {
			t.Errorf("message %d carries card data", i)
		}
	}
	if len(q.Pending()) != 0 {
		t.Fatal("acked advices still pending")
	}
}

func TestSurvivesRestartAndRepeatsAs0421(t *testing.T) {
	path := filepath.Join(t.TempDir(), "saf")
	q, _ := Open(path, Options{})
	if err := q.Add(advice("t1", "000201")); err != nil {
		t.Fatal(err)
	}
	q.Close()
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "4761730000001019") {
		t.Fatal("card data on disk")
	}
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := q.Pending(); len(p) != 1 || p[0].Msg.STAN != "000201" {
		t.Fatalf("pending after restart: %+v", p)
	}
	h := &host{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, h.send) }()
	waitFor(t, "delivery", func() bool { return len(q.Pending()) == 0 })
	cancel()
	<-done
	q.Close()
	if got := h.received(); len(got) != 1 || got[0].MTI != hostlink.MTIReversalRepeat {
		t.Fatalf("after a restart the advice must go as 0421: %+v", got)
	}
	// All acknowledged: the next Open starts an empty file.
	q, _ = Open(path, Options{})
	defer q.Close()
	if fi, _ := os.Stat(path); fi.Size() != 0 || len(q.Pending()) != 0 {
		t.Fatalf("file not emptied: %d bytes", fi.Size())
	}
}

func TestTornLastLineIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "saf")
	q, _ := Open(path, Options{})
	q.Add(advice("t1", "000301"))
	q.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"op":"add","advice":{"id":"t2","ms`)
	f.Close()
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if p := q.Pending(); len(p) != 1 || p[0].ID != "t1" {
		t.Fatalf("pending %+v", p)
	}
	if err := q.Add(advice("t3", "000303")); err != nil {
		t.Fatal(err)
	}
	list, err := ReadFile(path)
	if err != nil || len(list) != 2 {
		t.Fatalf("ReadFile = %+v, %v", list, err)
	}
}

func TestRejectsWhatIsNotAnAdvice(t *testing.T) {
	q, _ := Open(filepath.Join(t.TempDir(), "saf"), Options{})
	defer q.Close()
	a := advice("t1", "000401")
	a.Msg.MTI = hostlink.MTIFinRequest
	if err := q.Add(a); !errors.Is(err, ErrBadMTI) {
		t.Fatalf("0200 queued: %v", err)
	}
	a = advice("", "000401")
	if err := q.Add(a); err == nil {
		t.Fatal("advice without id queued")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"op":"add","advice":{"id":"t1","msg":{"MTI":"0420","STAN":"000001"},"queued":"2026-11-22T09:00:00Z"}}`))
	f.Add([]byte(`{"op":"ack","id":"t1","rc":"00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decode(b)
		if err != nil {
			return
		}
		if r.Op == "add" && (r.Advice == nil || r.Advice.ID == "") || r.Op == "ack" && r.ID == "" {
			t.Fatalf("accepted an incomplete record: %+v", r)
		}
	})
}

// An 0430 that says the host did not process the advice (63: a MAC under
// old keys) is not an acknowledgement; a send that never left (link down)
// does not count as an attempt, so the first real send is still 0420.
func TestRetriesUnprocessedAndCountsOnlyRealSends(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	q, err := Open(filepath.Join(t.TempDir(), "saf"), Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var mu sync.Mutex
	var got []string
	calls := 0
	send := func(ctx context.Context, m *hostlink.Message) (*hostlink.Message, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls {
		case 1:
			return nil, hostlink.ErrNotConnected // nothing sent
		case 2:
			got = append(got, m.MTI)
			return &hostlink.Message{MTI: hostlink.MTIReversalResponse, STAN: m.STAN, RespCode: hostlink.RCSecurityViolation}, nil
		default:
			got = append(got, m.MTI)
			return &hostlink.Message{MTI: hostlink.MTIReversalResponse, STAN: m.STAN, RespCode: "00"}, nil
		}
	}
	q.Add(advice("t1", "000501"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, send) }()
	for i := 0; i < 2; i++ {
		waitFor(t, "a backoff", func() bool { mu.Lock(); defer mu.Unlock(); return calls == i+1 && clk.Pending() == 1 })
		clk.Advance(time.Minute)
	}
	waitFor(t, "the acknowledgement", func() bool { return len(q.Pending()) == 0 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"0420", "0421"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("sent %v, want %v", got, want)
	}
}
