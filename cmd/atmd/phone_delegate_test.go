package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/host/delegate"
	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// delegateBank serves the mobile API with a book of delegate codes.
func delegateBank(t *testing.T) string {
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
	mac := func(parts ...[]byte) []byte {
		m := hmac.New(sha256.New, []byte("test"))
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	book, err := delegate.New(db, delegate.Config{}, mac, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mobile.New(db, mobile.Config{}, mobile.WithDelegates(book))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPhoneDelegateCommands(t *testing.T) {
	api := delegateBank(t)
	alice := []string{"--api", api, "--user", "alice", "--password", "alice-app-pass"}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := cmdPhone(args, &out, &out)
		return out.String(), err
	}
	out, err := run(append([]string{"delegate", "create", "--amount", "3000", "--expires", "2h"}, alice...)...)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`delegate code (\d{6}) for the card ending 1019, up to NT\$3,000, until .* \(id (D[0-9A-F]{10})\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed %q", out)
	}
	code, id := m[1], m[2]
	out, err = run(append([]string{"delegate", "list"}, alice...)...)
	if err != nil || !strings.Contains(out, id+"  card 1019  up to NT$3,000") || !strings.Contains(out, "live") || strings.Contains(out, code) {
		t.Fatalf("list: %q %v", out, err)
	}
	// Flags after the arguments work too.
	out, err = run(append([]string{"delegate", "cancel", id}, alice...)...)
	if err != nil || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %q %v", out, err)
	}
	if _, err = run(append([]string{"delegate", "cancel", id}, alice...)...); err == nil || !strings.Contains(err.Error(), "409 not_live") {
		t.Fatalf("second cancel: %v", err)
	}
	out, err = run(append([]string{"delegate", "list", "--json"}, alice...)...)
	if err != nil || !strings.Contains(out, `"state": "cancelled"`) {
		t.Fatalf("list --json: %q %v", out, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"delegate"}, "create, list or cancel"},
		{[]string{"delegate", "create"}, "--amount"},
		{[]string{"delegate", "revoke"}, "unknown delegate action"},
		{[]string{"delegate", "cancel"}, "takes 2 argument"},
		{[]string{"delegate", "create", "--amount", "999999"}, "400 bad_request"},
	} {
		if _, err := run(append(c.args, alice...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
