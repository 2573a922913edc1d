package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/devices/epp"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/sim/wire"
)

// wireEdits put every device with a real driver on its wire simulator,
// in a config written by writeConfig (the card reader stays simulated in
// process: these tests do not run pcscd).
var wireEdits = []string{
	"  pinpad:\n    driver: sim\n", "  pinpad:\n    driver: epp\n    port: sim\n",
	"  dispenser:\n    driver: sim\n", "  dispenser:\n    driver: cdm\n    port: sim\n",
	"printer: {driver: sim}", "printer: {driver: escpos, port: sim}",
	"opdisplay: {driver: sim}", "opdisplay: {driver: lcd, port: sim}",
	"nfctag: {driver: sim}", "nfctag: {driver: pn532, port: sim}",
	"camera: {driver: sim}", "camera: {driver: snapcam, url: sim}",
}

// editConfig replaces, in the config file at path, each old text (pairs
// of old, new) with the new one; every old text must be there.
func editConfig(t *testing.T, path string, edits ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		out := strings.Replace(text, edits[i], edits[i+1], 1)
		if out == text {
			t.Fatalf("config has no %q", edits[i])
		}
		text = out
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// smokeRows parses the smoke table: device → its row's fields.
func smokeRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] != "DEVICE" && !strings.HasPrefix(f[0], "smoke:") {
			rows[f[0]] = f
		}
	}
	return rows
}

// withSeed gives the simulated card reader the seed's cards (the config
// has no host section to take them from).
func withSeed(t *testing.T, cfg string) {
	t.Helper()
	seed, err := filepath.Abs("../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, "cardreader: {driver: sim}", "cardreader: {driver: sim, seed: "+seed+"}")
}

func TestSmoke(t *testing.T) {
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: t.TempDir(), noHost: true})
	withSeed(t, cfg)
	out, errOut, code := runAtmd(t, time.Minute, "smoke", "--config", cfg, "--wait", "5s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	rows := smokeRows(t, out)
	for _, dev := range []string{"cardreader", "pinpad", "dispenser", "display", "printer", "opdisplay", "nfctag", "camera", "sensors"} {
		if r := rows[dev]; len(r) < 3 || r[1] != "sim" || r[2] != "ok" {
			t.Errorf("%s row %q, want sim ok", dev, r)
		}
	}
	if !strings.Contains(out, "read chip card 476173******") || !strings.Contains(out, "nothing dispensed") || !strings.Contains(out, "smoke: all 9 devices ok") {
		t.Errorf("smoke output:\n%s", out)
	}
	if regexp.MustCompile(`\d{16}`).MatchString(out + errOut) {
		t.Errorf("smoke printed a full PAN:\n%s%s", out, errOut)
	}
}

// TestSmokeOverTheWireRecords runs smoke with the real drivers on their
// wire simulators and --record: every serial device's traffic is in the
// record directory, as timestamped hex lines, and carries no key.
func TestSmokeOverTheWireRecords(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir, noHost: true})
	editConfig(t, cfg, wireEdits...)
	withSeed(t, cfg)
	rec := filepath.Join(dir, "rec")
	out, errOut, code := runAtmd(t, time.Minute, "smoke", "--config", cfg, "--record", rec, "--wait", "5s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	rows := smokeRows(t, out)
	for dev, drv := range map[string]string{"pinpad": "epp", "dispenser": "cdm", "printer": "escpos", "opdisplay": "lcd", "nfctag": "pn532", "camera": "snapcam"} {
		if r := rows[dev]; len(r) < 3 || r[1] != drv || !strings.Contains(strings.Join(r, " "), " ok ") {
			t.Errorf("%s row %q, want %s ... ok", dev, r, drv)
		}
	}
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (tx|rx)( [0-9A-F]{2})+$`)
	for _, dev := range []string{"pinpad", "dispenser", "printer", "opdisplay", "nfctag"} {
		b, err := os.ReadFile(filepath.Join(rec, dev+".hex"))
		if err != nil {
			t.Errorf("%s: %v", dev, err)
			continue
		}
		var tx, rx int
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !line.MatchString(l) {
				t.Errorf("%s: bad record line %q", dev, l)
				break
			}
			if strings.Contains(l, " tx ") {
				tx++
			} else {
				rx++
			}
		}
		// The display has nothing to say; every other device answers.
		if tx == 0 || (rx == 0 && dev != "opdisplay") {
			t.Errorf("%s: %d lines sent, %d received", dev, tx, rx)
		}
		// No key goes over the line in a smoke test: not even the
		// master key components the config holds.
		if bytes.Contains(b, []byte("9D 51 83 5E")) || bytes.Contains(b, []byte("F7 20 CE 57")) {
			t.Errorf("%s: the record holds key material", dev)
		}
	}
}

func TestSmokeFails(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgOpts{addr: freeAddr(t), dir: dir, noHost: true})
	editConfig(t, cfg, "printer: {driver: sim}", "printer: {driver: escpos, port: "+filepath.Join(dir, "no-such-tty")+"}")
	withSeed(t, cfg)
	out, errOut, code := runAtmd(t, time.Minute, "smoke", "--config", cfg, "--wait", "2s")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if r := smokeRows(t, out)["printer"]; len(r) < 5 || r[1] != "escpos" || r[4] != "PRN-OFFLINE" {
		t.Errorf("printer row %q, want escpos on the missing port, PRN-OFFLINE", r)
	}
	if !strings.Contains(out, "smoke: 1 of 9 devices failed") {
		t.Errorf("stdout:\n%s", out)
	}
}

func TestSimdevUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"simdev"}, "no device kind given"},
		{[]string{"simdev", "toaster"}, `unknown device kind "toaster"`},
		{[]string{"simdev", "vcard", "--config", "../../configs/sim.yaml"}, "vcard needs --card ID"},
		{[]string{"simdev", "epp", "--bogus"}, "flag provided but not defined"},
	} {
		out, errOut, code := runAtmd(t, 10*time.Second, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

// firstLine waits for the first line p prints on stdout.
func firstLine(t *testing.T, p *proc) string {
	t.Helper()
	var line string
	eventually(t, time.Now().Add(10*time.Second), "simdev's first line", func() (bool, string) {
		s := p.stdout.String()
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line = s[:i]
			return true, ""
		}
		return !p.running(), "stdout " + s + "; stderr " + p.stderr.String()
	})
	return line
}

// TestSimdevEPP runs `atmd simdev epp` on a pseudo-terminal it makes and
// drives it with the real driver from here.
func TestSimdevEPP(t *testing.T) {
	p := start(t, "simdev", "epp")
	line := firstLine(t, p)
	m := regexp.MustCompile(`on (\S+) \(/dev/pts/\d+\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q names no pseudo-terminal", line)
	}
	dev, err := epp.NewSerial(m[1], epp.Options{Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st := dev.Status(); !st.OK() {
		t.Errorf("EPP behind simdev: %v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dev.KCV(ctx, "tmk"); !errors.Is(err, pinpad.ErrNoKey) {
		t.Errorf("KCV of a fresh EPP = %v, want ErrNoKey", err)
	}
	dev.Close()
	if code := p.stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}

// TestSimdevPort runs `atmd simdev epp --port` on a tty this test opens
// (a pseudo-terminal's slave) and plays the host on the master, byte for
// byte: docs/devices/epp.md's first GET-STATUS.
func TestSimdevPort(t *testing.T) {
	pty, err := wire.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	p := start(t, "simdev", "epp", "--port", pty.Path)
	if line := firstLine(t, p); !strings.Contains(line, pty.Path+" at 115200 baud") {
		t.Fatalf("first line %q", line)
	}
	if _, err := pty.Master.Write([]byte{0x02, 0x01, 0x00, 0x01, 0x01, 0xD1, 0x64, 0x03}); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x06, 0x02, 0x01, 0x00, 0x0A, 0x81, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x04, 0x08, 0x01, 0xE5, 0xE8, 0x03}
	got := make([]byte, 0, len(want))
	pty.Master.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for len(got) < len(want) {
		n, err := pty.Master.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read after % X: %v", got, err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("simdev answered\n% X\nwant\n% X", got, want)
	}
	pty.Master.Write([]byte{0x06})
	if code := p.stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}
