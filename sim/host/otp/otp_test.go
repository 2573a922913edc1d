package otp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/internal/clock"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func newBook(t *testing.T, cfg Config) (*Book, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	b, err := New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

func wrongOf(code []byte) []byte {
	w := bytes.Clone(code)
	w[0] = '0' + (w[0]-'0'+1)%10
	return w
}

func TestCodeLifecycle(t *testing.T) {
	b, clk := newBook(t, Config{MaxTries: 3})
	code, exp, err := b.IssueCode("card-1", "activation")
	if err != nil || len(code) != DefaultDigits || !exp.Equal(t0.Add(DefaultCodeTTL)) {
		t.Fatalf("%q %v %v", code, exp, err)
	}
	for _, c := range b.codes {
		if bytes.Contains(c.mac, code) {
			t.Fatal("clear code kept")
		}
	}
	tests := []struct {
		name    string
		subject string
		purpose string
		code    []byte
		want    error
		left    int
	}{
		{"other subject", "card-2", "activation", code, ErrNotFound, 0},
		{"other purpose", "card-1", "delegate", code, ErrNotFound, 0},
		{"wrong", "card-1", "activation", wrongOf(code), ErrWrongCode, 2},
		{"short", "card-1", "activation", code[:3], ErrWrongCode, 1},
		{"right", "card-1", "activation", code, nil, 0},
		{"again", "card-1", "activation", code, ErrUsed, 0},
	}
	for _, tc := range tests {
		err := b.VerifyCode(tc.subject, tc.purpose, tc.code)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		var we *WrongCodeError
		if errors.As(err, &we) && we.TriesLeft != tc.left {
			t.Fatalf("%s: %d tries left, want %d", tc.name, we.TriesLeft, tc.left)
		}
	}
	if st, _ := b.CodeState("card-1", "activation"); st != StateUsed {
		t.Fatalf("state %s", st)
	}

	// Expiry.
	code, _, _ = b.IssueCode("card-1", "activation")
	clk.Advance(DefaultCodeTTL - time.Nanosecond)
	if st, _ := b.CodeState("card-1", "activation"); st != StatePending {
		t.Fatalf("state %s", st)
	}
	clk.Advance(time.Nanosecond)
	if err := b.VerifyCode("card-1", "activation", code); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}

	// Lock: the right code fails after MaxTries wrong ones.
	code, _, _ = b.IssueCode("card-1", "activation")
	for i := 0; i < 2; i++ {
		if err := b.VerifyCode("card-1", "activation", wrongOf(code)); !errors.Is(err, ErrWrongCode) {
			t.Fatal(err)
		}
	}
	if err := b.VerifyCode("card-1", "activation", wrongOf(code)); !errors.Is(err, ErrLocked) {
		t.Fatalf("third wrong: %v", err)
	}
	if err := b.VerifyCode("card-1", "activation", code); !errors.Is(err, ErrLocked) {
		t.Fatalf("right after lock: %v", err)
	}

	// Reissue replaces.
	old, _, _ := b.IssueCode("card-1", "activation")
	fresh, _, _ := b.IssueCode("card-1", "activation")
	if !bytes.Equal(old, fresh) {
		if err := b.VerifyCode("card-1", "activation", old); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("old code after reissue: %v", err)
		}
	}
	if err := b.VerifyCode("card-1", "activation", fresh); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.IssueCode("", "x"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

func TestCodesAreDigitsAndVary(t *testing.T) {
	b, _ := newBook(t, Config{Digits: 8})
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c, _, err := b.IssueCode("s", "p")
		if err != nil || len(c) != 8 || strings.Trim(string(c), "0123456789") != "" {
			t.Fatalf("%q %v", c, err)
		}
		seen[string(c)] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
}

func TestConfigRanges(t *testing.T) {
	for _, c := range []Config{{Digits: 3}, {Digits: 10}, {MaxTries: 11}, {CodeTTL: -1}} {
		if _, err := New(c, nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
}

func TestChallengeLifecycle(t *testing.T) {
	b, clk := newBook(t, Config{})
	ch, payload, err := b.IssueChallenge("activate", "david-new", "ATM00001")
	if err != nil || ch.State != StatePending || len(ch.ID) != 16 {
		t.Fatalf("%+v %v", ch, err)
	}
	if p, err := ParsePayload(payload); err != nil || p != "activate" {
		t.Fatalf("parse own payload: %q %v", p, err)
	}
	if _, err := b.RedeemChallenge(ch.ID, "activate", "david-new", "ATM00001"); !errors.Is(err, ErrPending) {
		t.Fatalf("redeem pending: %v", err)
	}
	refuse := errors.New("not yours")
	if _, err := b.SubmitChallenge(payload, "mallory", func(Challenge) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("check: %v", err)
	}
	if got, _ := b.ChallengeStatus(ch.ID); got.State != StatePending {
		t.Fatalf("refused submit changed state: %s", got.State)
	}
	got, err := b.SubmitChallenge(payload, "david", nil)
	if err != nil || got.State != StateVerified || got.By != "david" {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := b.SubmitChallenge(payload, "david", nil); !errors.Is(err, ErrUsed) {
		t.Fatalf("second submit: %v", err)
	}
	for _, m := range [][3]string{{"delegate", "david-new", "ATM00001"}, {"activate", "alice", "ATM00001"}, {"activate", "david-new", "ATM2"}} {
		if _, err := b.RedeemChallenge(ch.ID, m[0], m[1], m[2]); !errors.Is(err, ErrMismatch) {
			t.Fatalf("%v: %v", m, err)
		}
	}
	if _, err := b.RedeemChallenge(ch.ID, "activate", "david-new", "ATM00001"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RedeemChallenge(ch.ID, "activate", "david-new", "ATM00001"); !errors.Is(err, ErrUsed) {
		t.Fatalf("second redeem: %v", err)
	}

	// Expiry, for submit and status.
	ch2, p2, _ := b.IssueChallenge("activate", "david-new", "ATM00001")
	clk.Advance(DefaultChallengeTTL)
	if got, _ := b.ChallengeStatus(ch2.ID); got.State != StateExpired {
		t.Fatalf("status %s", got.State)
	}
	if _, err := b.SubmitChallenge(p2, "david", nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("submit expired: %v", err)
	}
	// Verified but not redeemed in time.
	ch3, p3, _ := b.IssueChallenge("activate", "david-new", "ATM00001")
	if _, err := b.SubmitChallenge(p3, "david", nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultChallengeTTL)
	if _, err := b.RedeemChallenge(ch3.ID, "activate", "david-new", "ATM00001"); !errors.Is(err, ErrExpired) {
		t.Fatalf("redeem expired: %v", err)
	}
	// Sweeping forgets old entries.
	clk.Advance(2 * DefaultChallengeTTL)
	b.IssueChallenge("activate", "x", "y")
	if _, err := b.ChallengeStatus(ch.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("not swept: %v", err)
	}
}

func TestParsePayload(t *testing.T) {
	good := "atmd://activate?c=" + strings.Repeat("A", 43)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{"", false},
		{"https://activate?c=" + strings.Repeat("A", 43), false},
		{"atmd://Activate?c=" + strings.Repeat("A", 43), false},
		{"atmd://activate?c=" + strings.Repeat("A", 42), false},
		{"atmd://activate?c=" + strings.Repeat("+", 43), false},
		{"atmd://activate" + strings.Repeat("A", 43), false},
		{good + strings.Repeat("A", 300), false},
	} {
		if _, err := ParsePayload(tc.in); (err == nil) != tc.ok {
			t.Fatalf("%q: %v", tc.in, err)
		}
	}
	b, _ := newBook(t, Config{})
	if _, err := b.SubmitChallenge(good, "x", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown payload: %v", err)
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add("atmd://activate?c=" + strings.Repeat("A", 43))
	f.Add("atmd://?c=")
	f.Add("atmd://x?c=%%%")
	b, err := New(Config{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePayload(s)
		if err == nil && (!validPurpose(p) || !strings.HasPrefix(s, PayloadScheme) || len(s) > MaxPayload) {
			t.Fatalf("accepted %q", s)
		}
		if _, err := b.SubmitChallenge(s, "u", nil); err == nil {
			t.Fatalf("unknown payload %q accepted", s)
		}
	})
}
