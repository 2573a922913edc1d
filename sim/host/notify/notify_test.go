package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/internal/clock"
)

type gw struct {
	got []Message
	err error
}

func (g *gw) Deliver(_ context.Context, m Message) error { g.got = append(g.got, m); return g.err }

func TestSendRecordsAndDelivers(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sms := &gw{}
	n := New(NewOutbox(3, clk), WithGateway(SMS, sms))
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		ch := Push
		if i%2 == 1 {
			ch = SMS
		}
		m, err := n.Send(ctx, Message{Channel: ch, To: fmt.Sprint("u", i), Kind: KindCode, Text: fmt.Sprint("code 12345", i)})
		if err != nil || m.ID != int64(i+1) || !m.Time.Equal(clk.Now()) {
			t.Fatalf("%v %v", m, err)
		}
	}
	if len(sms.got) != 2 {
		t.Fatalf("gateway got %d", len(sms.got))
	}
	all := n.Outbox().Messages(Filter{})
	if len(all) != 3 || all[0].ID != 2 {
		t.Fatalf("ring kept %v", all)
	}
	if got := n.Outbox().Messages(Filter{Channel: SMS, After: 2}); len(got) != 1 || got[0].ID != 4 {
		t.Fatalf("filter %v", got)
	}
	if m, ok := n.Outbox().Last(Filter{Channel: Push}); !ok || m.ID != 3 {
		t.Fatalf("last %v", m)
	}
	for _, bad := range []Message{{Channel: "fax", To: "x", Text: "t"}, {Channel: SMS, Text: "t"}, {Channel: SMS, To: "x"}} {
		if _, err := n.Send(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%v: %v", bad, err)
		}
	}
	sms.err = errors.New("down")
	if m, err := n.Send(ctx, Message{Channel: SMS, To: "x", Text: "t"}); !errors.Is(err, ErrGateway) || m.ID == 0 {
		t.Fatalf("gateway failure: %v", err)
	}
}

func TestMessageNeverPrintsText(t *testing.T) {
	m := Message{ID: 7, Channel: SMS, To: "+886", Kind: KindDefaultPIN, Text: "PIN 6879"}
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%s", m), m.String()} {
		if strings.Contains(s, "6879") {
			t.Fatalf("text printed: %s", s)
		}
	}
}

func TestWait(t *testing.T) {
	o := NewOutbox(0, nil)
	n := New(o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Message, 1)
	go func() {
		m, err := o.Wait(ctx, Filter{To: "bob"})
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	n.Send(ctx, Message{Channel: Push, To: "alice", Text: "a"})
	n.Send(ctx, Message{Channel: Push, To: "bob", Text: "b"})
	if m := <-got; m.To != "bob" || m.ID != 2 {
		t.Fatalf("waited for %v", m)
	}
	short, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := o.Wait(short, Filter{To: "carol"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if o.LastID() != 2 {
		t.Fatal(o.LastID())
	}
}
