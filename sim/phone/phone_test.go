package phone

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// bank starts a mobile API (simulator mode) on the mobile package's
// test seed.
func bank(t *testing.T) (*mobile.Service, string) {
	t.Helper()
	sd, err := seed.Load("../host/mobile/testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pvv := func(pan string, pin []byte) ([]byte, error) { return []byte(pan[12:]), nil }
	db, err := store.Create(context.Background(), filepath.Join(t.TempDir(), "h.db"), sd, pvv, []byte{1},
		store.WithPasswordHasher(mobile.HashPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pins := func(_ context.Context, id string) ([]byte, error) {
		c, _ := sd.Card(id)
		return []byte(string(c.PIN)), nil
	}
	svc, err := mobile.New(db, mobile.Config{Simulator: true}, mobile.WithPINSource(pins))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return svc, srv.URL
}

func TestAppActivationJourney(t *testing.T) {
	svc, api := bank(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	david := New(api, "david", "david-app-pass")
	if _, err := david.Inbox(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("before login: %v", err)
	}
	if err := New(api, "david", "nope-nope").Login(ctx); !errors.Is(err, ErrAPI) {
		t.Fatalf("wrong password: %v", err)
	}
	var ae *APIError
	if err := New(api, "david", "nope-nope").Login(ctx); !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "wrong_credentials" {
		t.Fatalf("wrong password: %v", err)
	}
	if err := david.Login(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := david.Devices(ctx)
	if err != nil || len(ds) != 1 || ds[0].DeviceID != "david-phone" {
		t.Fatalf("devices %v %v", ds, err)
	}
	if _, err := david.ActivationIntent(ctx, "4054"); err != nil {
		t.Fatal(err)
	}
	if ready, phone, err := svc.Activation.AppReady(ctx, "david-new"); !ready || phone != "+886955000404" || err != nil {
		t.Fatalf("app ready %v %q %v", ready, phone, err)
	}
	ch, payload, err := svc.Challenges.Issue(ctx, "activate", "david-new", "ATM00001")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := david.Scan(ctx, payload); err != nil || r.Challenge != ch.ID {
		t.Fatalf("scan %v %v", r, err)
	}
	if _, err := david.Scan(ctx, payload); !errors.As(err, &ae) || ae.Code != "used" {
		t.Fatalf("scan twice: %v", err)
	}
	// The push arrives while WaitPush is waiting or before; either way
	// WaitPush returns it.
	got := make(chan Message, 1)
	errc := make(chan error, 1)
	go func() {
		m, err := david.WaitPush(ctx, func(m Message) bool { return m.Kind == "default-pin" })
		if err != nil {
			errc <- err
			return
		}
		got <- m
	}()
	if err := svc.Codes.Send(ctx, "david-new", notify.Push, "activation"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Notify.DefaultPIN(ctx, "david-new", notify.Push); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if Secret(m.Text) != "6879" {
			t.Fatalf("PIN message %q", m.Text)
		}
	case err := <-errc:
		t.Fatal(err)
	}
	code, err := david.LatestCode(ctx)
	if err != nil || len(code) != 6 {
		t.Fatalf("code %q %v", code, err)
	}
	if err := svc.Codes.Verify(ctx, "david-new", "activation", []byte(code)); err != nil {
		t.Fatal(err)
	}
	if err := david.Logout(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBindAndSMS(t *testing.T) {
	svc, api := bank(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob := New(api, "bob", "bob-app-pass", WithDevice("bob-phone"))
	if err := bob.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Bind(ctx, "alice-twd", "+886912000101"); !errors.Is(err, ErrAPI) {
		t.Fatalf("bind someone else's account: %v", err)
	}
	if d, err := bob.Bind(ctx, "bob-twd", "+886922000202"); err != nil || d.AccountID != "bob-twd" {
		t.Fatalf("bind %v %v", d, err)
	}
	if _, err := bob.LatestCode(ctx); !errors.Is(err, ErrNoCode) {
		t.Fatalf("no code yet: %v", err)
	}
	// erin has no app: her phone gets SMSes.
	erin := New(api, "", "")
	got := make(chan Message, 1)
	go func() {
		m, err := erin.WaitSMS(ctx, "+886988000505", nil)
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	if err := svc.Codes.Send(ctx, "erin-new", notify.SMS, "activation"); err != nil {
		t.Fatal(err)
	}
	m := <-got
	code, err := erin.LatestSMSCode(ctx, "+886988000505")
	if err != nil || Secret(m.Text) != code {
		t.Fatalf("sms code %q %q %v", m.Text, code, err)
	}
	// The next WaitSMS waits for a newer one.
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if _, err := erin.WaitSMS(short, "+886988000505", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second wait: %v", err)
	}
}

func TestReadEvent(t *testing.T) {
	in := ": hello\n\nid: 3\nevent: push\ndata: {\"a\":1}\ndata: x\n\nretry: 5\ndata: y\r\n\r\nid: 9\n"
	br := bufio.NewReader(strings.NewReader(in))
	want := []Event{{ID: "3", Name: "push", Data: "{\"a\":1}\nx"}, {Name: "message", Data: "y"}}
	for _, w := range want {
		ev, err := ReadEvent(br)
		if err != nil || ev != w {
			t.Fatalf("%+v %v, want %+v", ev, err, w)
		}
	}
	if _, err := ReadEvent(br); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	huge := "data: " + strings.Repeat("x", maxEvent) + "\n\n"
	if _, err := ReadEvent(bufio.NewReader(strings.NewReader(huge))); !errors.Is(err, ErrProtocol) {
		t.Fatalf("huge: %v", err)
	}
}

func TestSecret(t *testing.T) {
	for in, want := range map[string]string{
		"atmd bank: your verification code for card ending 1019 is 123456. It expires in 5m0s.": "123456",
		"the default PIN of your new card ending 4054 is 6879. Key it":                          "6879",
		"nothing here": "",
		"it is x":      "",
	} {
		if got := Secret(in); got != want {
			t.Fatalf("%q: %q", in, got)
		}
	}
}

func FuzzReadEvent(f *testing.F) {
	f.Add("id: 1\nevent: push\ndata: {}\n\n")
	f.Add(": c\n\n")
	f.Add("data\n\ndata:\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		br := bufio.NewReader(strings.NewReader(s))
		for i := 0; i <= len(s); i++ {
			if _, err := ReadEvent(br); err != nil {
				return
			}
		}
		t.Fatal("more events than bytes")
	})
}
