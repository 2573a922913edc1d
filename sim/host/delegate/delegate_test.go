package delegate

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndRanges(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Digits != 6 || c.MaxTries != 3 || c.MaxAmount != 20000 || c.MaxExpiry != 72*time.Hour || c.DefaultExpiry != 24*time.Hour {
		t.Fatalf("defaults %+v", c)
	}
	short := Config{MaxExpiry: time.Hour}
	if err := short.Validate(); err != nil || short.DefaultExpiry != time.Hour {
		t.Fatalf("default expiry under a short max: %+v %v", short, err)
	}
	for _, bad := range []Config{
		{Digits: 5}, {Digits: 9}, {MaxTries: 11}, {MaxAmount: -1}, {MaxExpiry: time.Second},
		{MaxExpiry: 31 * 24 * time.Hour}, {MaxExpiry: time.Hour, DefaultExpiry: 2 * time.Hour},
	} {
		err := bad.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "delegate.") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// Codes are uniform digits of the configured length.
func TestDigits(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		for _, n := range []int{6, 7, 8} {
			d, err := digits(n)
			if err != nil || len(d) != n || strings.Trim(string(d), "0123456789") != "" {
				t.Fatalf("digits(%d) = %q, %v", n, d, err)
			}
			seen[string(d)] = true
		}
	}
	if len(seen) < 590 {
		t.Fatalf("only %d different codes in 600", len(seen))
	}
	id, err := newID()
	if err != nil || len(id) != 11 || id[0] != 'D' || strings.Trim(id[1:], "0123456789ABCDEF") != "" {
		t.Fatalf("id %q %v", id, err)
	}
}
