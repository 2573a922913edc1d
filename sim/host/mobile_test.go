package host

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/sim/host/mobile"
	"github.com/atmd/atmd/sim/host/notify"
)

// TestMobileWiring checks that Open builds the mobile service from a
// seed with app users, that DefaultPIN reads the seed and that
// ServeMobile serves the API and stops with its context.
func TestMobileWiring(t *testing.T) {
	cfg := testConfig(t)
	cfg.Seed = appSeed(t) // david (new card) has a bound app login
	cfg.Mobile = &mobile.Config{Simulator: true}
	logs := &syncBuffer{}
	h, err := New(cfg, WithReset(), WithLogger(zerolog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Mobile(); err == nil {
		t.Fatal("Mobile before Open")
	}
	ctx := context.Background()
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ms, err := h.Mobile()
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Notify.DefaultPIN(ctx, "david-new", notify.Push); err != nil {
		t.Fatal(err)
	}
	m, ok := h.Outbox().Last(notify.Filter{To: "david"})
	if !ok || !strings.Contains(m.Text, " is 6879.") {
		t.Fatalf("default PIN push %v", m)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.ServeMobile(sctx, ln) }()
	r, err := http.Post("http://"+ln.Addr().String()+"/v1/login", "application/json",
		strings.NewReader(`{"user":"david","password":"david-app-pass","device_id":"david-phone"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeMobile did not stop")
	}
	if scanned := string(scannableLog(logs.Bytes())); strings.Contains(scanned, "6879") || strings.Contains(scanned, "david-app-pass") {
		t.Fatal("secret in the host log")
	}
	// The database holds no clear password.
	h.Close()
	db, _ := os.ReadFile(cfg.DB)
	wal, _ := os.ReadFile(cfg.DB + "-wal")
	if strings.Contains(string(db)+string(wal), "david-app-pass") {
		t.Fatal("clear password in the database")
	}
}

func TestMobileConfig(t *testing.T) {
	base := "listen: 127.0.0.1:5800\ndb: x.db\npvk: 98FCC989C87BAF57C9D721C1EA74D3B1\n" +
		"lmk: A352A1694346FAA926B9DED0B9E74E1717A5836364413E0B656CF44C2B208B8E\n" +
		"terminals:\n  - {id: ATM00001, tmk: 6A714D09602D0077902DA355E89960A6}\n"
	c, err := ParseConfig([]byte(base + "mobile:\n  listen: 127.0.0.1:5801\n  simulator: true\n  code_ttl: 2m\n"))
	if err != nil || c.Mobile == nil || !c.Mobile.Simulator || c.Mobile.CodeTTL != 2*time.Minute || c.Mobile.SessionTTL == 0 {
		t.Fatalf("%+v %v", c.Mobile, err)
	}
	for _, bad := range []string{"mobile:\n  listen: nowhere\n", "mobile:\n  code_ttl: 2h\n", "mobile:\n  sms: true\n"} {
		if _, err := ParseConfig([]byte(base + bad)); err == nil || !strings.Contains(err.Error(), "mobile") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
