package scenario

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/sim/host/seed"
)

func loadConfig(t *testing.T) *atm.Config {
	t.Helper()
	cfg, err := atm.LoadConfig("../../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestScenariosLeaveNoSecrets runs every scenario in sim/scenarios, keeps
// everything each run wrote (journal, logs, host database and WAL, device
// state), and then searches all of it for the seed's PINs, every other
// secret the runs keyed or the phone read (new PINs, wrong PINs,
// verification codes) in clear and, in logs and journals, for unmasked
// PANs.
func TestScenariosLeaveNoSecrets(t *testing.T) {
	cfg := loadConfig(t)
	files, _ := filepath.Glob("../scenarios/*.scn")
	if len(files) < 10 {
		t.Fatalf("only %d scenarios found", len(files))
	}
	root := t.TempDir()
	var mu sync.Mutex
	secrets := map[string]bool{}
	opts := Options{KeepDir: true, Dir: root, Secrets: func(s string) {
		mu.Lock()
		secrets[s] = true
		mu.Unlock()
	}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := Parse(f, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := Run(context.Background(), cfg, sc, opts); err != nil {
			t.Errorf("scenario failed: %v", err)
		}
	}
	sd, err := seed.Load(cfg.Host.Seed)
	if err != nil {
		t.Fatal(err)
	}
	var pins, pans []string
	for _, c := range sd.Customers {
		for _, card := range c.Cards {
			pins = append(pins, string(card.PIN))
			pans = append(pans, card.PAN)
		}
	}
	// Everything keyed into secure entry (wrong PINs, new PINs, codes)
	// and every code or PIN the phone read.
	if len(secrets) < 20 {
		t.Fatalf("only %d secrets reported by the runs: the check would prove little", len(secrets))
	}
	for s := range secrets {
		if len(s) >= 4 { // shorter: a PIN abandoned half-way, too short to search for
			pins = append(pins, s)
		}
	}
	// Personal data keyed for the activation's identity check, in the
	// form keyed (the seed and the host database hold other forms).
	pins = append(pins, "0966000606", "0966000999", "19900517", "19900518")
	scanned := 0
	err = filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for _, p := range pins {
			if idx := bytes.Index(b, []byte(p)); idx >= 0 && !innocent(b, idx, len(p)) {
				t.Errorf("%s contains the secret %q in clear near %q", path, p, context20(b, idx))
			}
		}
		if strings.HasSuffix(path, ".log") || strings.HasSuffix(path, ".jsonl") {
			for _, p := range pans {
				if bytes.Contains(b, []byte(p)) {
					t.Errorf("%s contains the unmasked PAN %s", path, p[:6]+"...")
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 3*len(files) {
		t.Fatalf("scanned only %d files for %d scenarios", scanned, len(files))
	}
}

// innocent reports whether a PIN-like match is part of a longer number
// (a timestamp or an amount) rather than a PIN on its own.
func innocent(b []byte, i, n int) bool {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	return (i > 0 && digit(b[i-1])) || (i+n < len(b) && digit(b[i+n]))
}

func context20(b []byte, i int) string {
	lo, hi := max(0, i-20), min(len(b), i+24)
	return string(bytes.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '.'
		}
		return r
	}, b[lo:hi]))
}
