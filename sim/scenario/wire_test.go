package scenario

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/wire/vcard/pcscdtest"
)

// TestScenariosOverTheWire runs every scenario of sim/scenarios with
// configs/sim-wire.yaml: the card is read by the PC/SC driver through a
// private pcscd from a virtual EMV card in its vpcd reader, keys, PINs
// and MACs go through the EPP driver to the EPP simulator over a
// pseudo-terminal, cash through the dispenser driver, receipts through
// the ESC/POS driver, and so on. It also searches everything the runs
// wrote for PINs in clear and unmasked PANs, as the in-process run does.
// Scenarios that end with a retained card are skipped: a plain PC/SC
// reader cannot capture cards (devices/pcsc without a Motor).
func TestScenariosOverTheWire(t *testing.T) {
	env := pcscdtest.Start(t)
	cfg, err := atm.LoadConfig("../../configs/sim-wire.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cr := *cfg.Devices.CardReader
	cr.Reader, cr.VPCD = env.Reader, env.VPCD
	cfg.Devices.CardReader = &cr
	for name, drv := range map[string]string{
		"cardreader": cfg.Devices.CardReader.Driver, "pinpad": cfg.Devices.PinPad.Driver,
		"dispenser": cfg.Devices.Dispenser.Driver, "printer": cfg.Devices.Printer.Driver,
	} {
		if drv == atm.DriverSim {
			t.Fatalf("sim-wire.yaml has the %s on the in-process simulator", name)
		}
	}

	files, _ := filepath.Glob("../scenarios/*.scn")
	if len(files) < 10 {
		t.Fatalf("only %d scenarios found", len(files))
	}
	root := t.TempDir()
	start, ran := time.Now(), 0
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".scn"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := Parse(f, data)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range sc.Steps {
				if st.Verb == "expect card" && st.Args[0] == "retained" {
					t.Skip("the card is retained: a plain PC/SC reader cannot capture cards")
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := Run(ctx, cfg, sc, Options{KeepDir: true, Dir: root}); err != nil {
				t.Fatalf("scenario failed: %v", err)
			}
			ran++
		})
	}
	t.Logf("%d scenarios over the wire in %v", ran, time.Since(start).Round(time.Millisecond))
	if ran < 10 {
		t.Fatalf("only %d scenarios ran over the wire", ran)
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
	pins = append(pins, "1111")
	err = filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, p := range pins {
			for off := 0; ; {
				idx := bytes.Index(b[off:], []byte(p))
				if idx < 0 {
					break
				}
				idx += off
				if !innocent(b, idx, len(p)) && !inHex(b, idx, len(p)) {
					t.Errorf("%s contains a PIN in clear near %q", path, context20(b, idx))
					break
				}
				off = idx + 1
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
}

// inHex reports whether a PIN-like match is part of a longer hex value
// (a key check value such as 7968CE).
func inHex(b []byte, i, n int) bool {
	hexDigit := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }
	return (i > 0 && hexDigit(b[i-1])) || (i+n < len(b) && hexDigit(b[i+n]))
}
