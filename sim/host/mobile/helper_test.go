package mobile

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/internal/clock"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// testIter keeps password hashing cheap in tests.
const testIter = 1000

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// syncBuf is a log sink safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	svc  *Service
	clk  *clock.Fake
	logs *syncBuf
	sd   *seed.Seed
}

// newFixture makes a service on a fresh database from testdata/seed.yaml.
func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	sd, err := seed.Load("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash := func(pw []byte) ([]byte, error) { return hashPassword(pw, testIter) }
	pvv := func(pan string, pin []byte) ([]byte, error) { return []byte("pvv-" + pan[len(pan)-4:]), nil }
	db, err := store.Create(ctx, filepath.Join(t.TempDir(), "host.db"), sd, pvv, []byte{1, 2, 3}, store.WithPasswordHasher(hash))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{clk: clock.NewFake(t0), logs: &syncBuf{}, sd: sd}
	pins := func(_ context.Context, cardID string) ([]byte, error) {
		c, _ := sd.Card(cardID)
		return []byte(string(c.PIN)), nil
	}
	f.svc, err = New(db, cfg, WithClock(f.clk), WithLogger(zerolog.New(f.logs)), WithPINSource(pins),
		WithNotifier(notify.New(notify.NewOutbox(16, f.clk))))
	if err != nil {
		t.Fatal(err)
	}
	f.svc.iter = testIter
	return f
}

// login opens a session for user on device and returns its token.
func (f *fixture) login(t testing.TB, user, password, device string) string {
	t.Helper()
	tok, _, err := f.svc.Login(context.Background(), user, []byte(password), device)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return tok
}
