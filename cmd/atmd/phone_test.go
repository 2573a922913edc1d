package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

func phoneBank(t *testing.T) (*mobile.Service, string) {
	t.Helper()
	sd, err := seed.Load("../../sim/host/mobile/testdata/seed.yaml")
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
	svc, err := mobile.New(db, mobile.Config{Simulator: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return svc, srv.URL
}

func TestPhoneCommand(t *testing.T) {
	svc, api := phoneBank(t)
	ctx := context.Background()
	if err := svc.Codes.Send(ctx, "david-new", notify.Push, "activation"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Codes.Send(ctx, "erin-new", notify.SMS, "activation"); err != nil {
		t.Fatal(err)
	}
	david := []string{"--api", api, "--user", "david", "--password", "david-app-pass"}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := cmdPhone(args, &out, &out)
		return out.String(), err
	}
	cases := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{append([]string{"login"}, david...), "", ""},
		{append([]string{"devices"}, david...), "david-phone  david-twd  +886955000404", ""},
		{append([]string{"intent"}, append(david, "4054")...), "card activation chosen", ""},
		{append([]string{"inbox"}, david...), "push code: atmd bank: your verification code", ""},
		{append([]string{"code", "--json"}, david...), `"code": "`, ""},
		{[]string{"code", "--api", api, "--sms", "--phone", "+886988000505"}, "", ""},
		{append([]string{"bind", "--phone", "+886912000101"}, append(david, "alice-twd")...), "", "403 forbidden"},
		{append([]string{"scan"}, append(david, "atmd://activate?c=x")...), "", "400 bad_request"},
		{[]string{"inbox", "--api", api, "--user", "david", "--password", "wrong-wrong"}, "", "401 wrong_credentials"},
		{[]string{"inbox"}, "", "--user and --password are required"},
		{[]string{"teleport"}, "", "unknown command"},
		{append([]string{"bind"}, david...), "", "takes 1 argument"},
	}
	for _, c := range cases {
		out, err := run(c.args...)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("%v: err %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, c.want) {
			t.Fatalf("%v: %q %v", c.args, out, err)
		}
	}
	if _, err := run("teleport"); !errors.As(err, new(usageError)) {
		t.Fatalf("usage error expected: %v", err)
	}
	out, _ := run(append([]string{"code", "--json"}, david...)...)
	var v map[string]string
	if json.Unmarshal([]byte(out), &v) != nil || len(v["code"]) != 6 {
		t.Fatalf("json %q", out)
	}
	if ready, _, _ := svc.Activation.AppReady(ctx, "david-new"); !ready {
		t.Fatal("intent from the command line did not make the app ready")
	}
}

func TestPhoneWait(t *testing.T) {
	svc, api := phoneBank(t)
	// An old push is skipped: wait returns the new one.
	if err := svc.Notify.Alert(context.Background(), "alice-debit", notify.Push, "old alert"); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		var out bytes.Buffer
		err := cmdPhone([]string{"wait", "--api", api, "--user", "alice", "--password", "alice-app-pass", "--timeout", "20s", "--kind", "alert"}, &out, &out)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- out.String()
	}()
	// Keep sending until the waiter has one: alerts sent before it read
	// the inbox are skipped, so it may miss the first few.
	deadline := time.After(20 * time.Second)
	for {
		if err := svc.Notify.Alert(context.Background(), "alice-debit", notify.Push, "new alert"); err != nil {
			t.Fatal(err)
		}
		select {
		case out := <-done:
			if !strings.Contains(out, "new alert") {
				t.Fatalf("wait printed %q", out)
			}
			return
		case <-deadline:
			t.Fatal("wait did not return")
		case <-time.After(20 * time.Millisecond): // send another
		}
	}
}
