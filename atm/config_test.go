package atm_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/internal/strictyaml"
)

const simConfig = "../configs/sim.yaml"

// readSim returns the text of configs/sim.yaml, the base every case edits.
func readSim(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(simConfig)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hexRun finds what looks like key material: long runs of hex digits.
var hexRun = regexp.MustCompile(`[0-9A-Fa-f]{16,}`)

// assertNoKeyMaterial fails when err's text contains any hex run of in.
func assertNoKeyMaterial(t *testing.T, in string, err error) {
	t.Helper()
	text := strings.ToLower(err.Error())
	for _, k := range hexRun.FindAllString(in, -1) {
		if strings.Contains(text, strings.ToLower(k)) {
			t.Errorf("error reveals key material %s: %q", k, err)
		}
	}
}

func TestLoadConfigSim(t *testing.T) {
	c, err := atm.LoadConfig(simConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.ATM.ID != "ATM00001" || c.ATM.Institution != "000000000001" || c.ATM.Currency != "TWD" ||
		c.ATM.MaxAmount != 20000 || len(c.ATM.FastAmounts) != 6 || c.HostLink.Addr != "127.0.0.1:5800" {
		t.Errorf("config = %+v", c.ATM)
	}
	if c.Host == nil {
		t.Fatal("sim.yaml has a host section, got none")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate on a loaded config: %v", err)
	}

	// Relative paths resolve against configs/, not the working directory.
	dir, err := filepath.Abs("../configs")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, got, want string }{
		{"state_dir", c.Path(c.ATM.StateDir), filepath.Join(dir, "../var/sim")},
		{"control_socket", c.Path(c.ATM.ControlSocket), filepath.Join(dir, "../var/sim/atmd.sock")},
		{"host.db", c.Host.DB, filepath.Join(dir, "../var/sim/host.db")},
		{"host.seed", c.Host.Seed, filepath.Join(dir, "seed.yaml")},
	} {
		if p.got != p.want {
			t.Errorf("%s = %q, want %q", p.name, p.got, p.want)
		}
	}
	if _, err := os.Stat(c.Host.Seed); err != nil {
		t.Errorf("resolved seed path: %v", err)
	}

	// The same text somewhere else resolves against that directory, and
	// absolute paths stay as written.
	other := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(readSim(t), "control_socket: ../var/sim/atmd.sock", "control_socket: /run/atmd/atmd.sock", 1)
	path := filepath.Join(other, "atmd.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = atm.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Path(c.ATM.StateDir), filepath.Join(other, "../var/sim"); got != want {
		t.Errorf("state_dir = %q, want %q", got, want)
	}
	if got, want := c.Host.Seed, filepath.Join(other, "seed.yaml"); got != want {
		t.Errorf("host.seed = %q, want %q", got, want)
	}
	if got := c.Path(c.ATM.ControlSocket); got != "/run/atmd/atmd.sock" {
		t.Errorf("absolute control_socket = %q, want it unchanged", got)
	}

	// ParseConfig alone has no directory: paths stay as written.
	pc, err := atm.ParseConfig([]byte(readSim(t)))
	if err != nil {
		t.Fatal(err)
	}
	if got := pc.Path(pc.ATM.StateDir); got != "../var/sim" {
		t.Errorf("ParseConfig state_dir = %q, want it as written", got)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	_, err := atm.LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("missing file: err = %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	text := strings.Replace(readSim(t), "max_notes: 40", "max_notes: many", 1)
	if err := os.WriteFile(bad, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = atm.LoadConfig(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "atm.max_notes") {
		t.Errorf("bad file: err = %v, want it to name the file and the key", err)
	}
}

// lineOf returns the 1-based line of the first occurrence of s in text.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not in the config", s)
	}
	return strings.Count(text[:i], "\n") + 1
}

func TestParseConfigErrors(t *testing.T) {
	base := readSim(t)
	const pinKey = "9D51835E014C8AEFA232B5F1CDAB1698" // the PIN pad's first master key component
	tests := []struct {
		name  string
		edits []string // pairs: replace the first old with new in sim.yaml
		// want are substrings of the error; "@line" in one is replaced
		// by the line of marker in the edited text.
		want   []string
		marker string
		is     error // a sentinel the error must wrap, if any
	}{
		{name: "unknown top-level key", edits: []string{"log:\n", "colour: red\nlog:\n"},
			marker: "colour: red", want: []string{"line @line: colour: field colour not found"}},
		{name: "unknown nested key", edits: []string{"  printer: {driver: sim}\n", "  printer:\n    driver: sim\n    colour: red\n"},
			marker: "    colour: red", want: []string{"line @line: devices.printer.colour: field colour not found"}},
		{name: "unknown key in a flow mapping", edits: []string{"printer: {driver: sim}", "printer: {driver: sim, colour: red}"},
			marker: "printer: {driver: sim, colour", want: []string{"line @line: devices.printer", "field colour not found"}},
		{name: "unknown key in a list item", edits: []string{"{id: 2, denomination: 500,", "{id: 2, denom: 500,"},
			marker: "{id: 2, denom:", want: []string{"line @line: devices.dispenser.cassettes[1]", "field denom not found"}},
		{name: "wrong type", edits: []string{"max_notes: 40", "max_notes: many"},
			marker: "max_notes: many", want: []string{"line @line: atm.max_notes: cannot unmarshal"}},
		{name: "wrong type duration", edits: []string{"timeout: 30s", "timeout: soon"},
			marker: "timeout: soon", want: []string{"line @line: host_link.timeout: cannot unmarshal"}},
		{name: "key material in a number field", edits: []string{"max_notes: 40", "max_notes: " + pinKey},
			marker: "max_notes: 9D51", want: []string{"line @line: atm.max_notes: cannot unmarshal"}},
		{name: "missing device", edits: []string{"  printer: {driver: sim}\n", ""},
			want: []string{"devices.printer: missing"}},
		{name: "missing pinpad", edits: []string{"  pinpad:\n    driver: sim\n    master_key:                 # terminal master key components (KCV D27A3F)\n      - " + pinKey + "   # custodian 1, KCV 027B3B\n      - F720CE5761618A98321F16A42532763E   # custodian 2, KCV F7925B\n", ""},
			want: []string{"devices.pinpad: missing"}},
		{name: "bad driver", edits: []string{"camera: {driver: sim}", "camera: {driver: usb}"},
			want: []string{`devices.camera.driver: unknown driver "usb"`}},
		{name: "empty driver", edits: []string{"cardreader: {driver: sim}", "cardreader: {}"},
			want: []string{`devices.cardreader.driver: unknown driver ""`}},
		{name: "host_link.addr without port", edits: []string{"addr: 127.0.0.1:5800", "addr: 127.0.0.1"},
			want: []string{`host_link.addr: must be host:port, got "127.0.0.1"`}},
		{name: "host_link.addr empty", edits: []string{"addr: 127.0.0.1:5800", `addr: ""`},
			want: []string{"host_link.addr: must be host:port"}},
		{name: "7-character ATM id", edits: []string{"id: ATM00001", "id: ATM0001"},
			want: []string{`atm.id: must be 8 characters, got "ATM0001"`}},
		{name: "9-character ATM id", edits: []string{"id: ATM00001", "id: ATM000001"},
			want: []string{"atm.id: must be 8 characters"}},
		{name: "fast amount above max_amount", edits: []string{"max_amount: 20000", "max_amount: 15000"},
			want: []string{"atm.fast_amounts: 20000 is not within 1..max_amount"}},
		{name: "too many fast amounts", edits: []string{"[1000, 2000, 3000, 5000, 10000, 20000]", "[100, 1000, 2000, 3000, 5000, 10000, 20000]"},
			want: []string{"atm.fast_amounts: need 1 to 6 amounts"}},
		{name: "unknown currency", edits: []string{"currency: TWD", "currency: XYZ"},
			want: []string{`atm.currency: unknown currency "XYZ"`}},
		{name: "pin format", edits: []string{"pin_format: iso0", "pin_format: iso4"},
			want: []string{"atm.pin_format: only iso0"}},
		{name: "short master key component", edits: []string{"- " + pinKey + "   # custodian 1", "- 9D51835E014C8AEF   # custodian 1"},
			want: []string{"devices.pinpad.master_key[0]: need a 16- or 24-byte component"}},
		{name: "master key component not hex", edits: []string{"- " + pinKey + "   # custodian 1", "- 9D51835E014C8AEFA232B5F1CDAB169Z   # custodian 1"},
			want: []string{"devices.pinpad.master_key: key must be a hex string"}},
		{name: "one component is not dual control", edits: []string{"      - 9D51835E014C8AEFA232B5F1CDAB1698\n      - F720CE5761618A98321F16A42532763E\n", "      - 9D51835E014C8AEFA232B5F1CDAB1698\n"},
			want: []string{"devices.dispenser.master_key: need at least two components"}},
		{name: "duplicate cassette", edits: []string{"{id: 2, denomination: 500,", "{id: 1, denomination: 500,"},
			want: []string{"devices.dispenser.cassettes[1]: need a unique positive id"}},
		{name: "host PVK short", edits: []string{"  pvk: 98FCC989C87BAF57C9D721C1EA74D3B1", "  pvk: 98FCC989C87BAF57"},
			want: []string{"host: ", "pvk must be at least"}},
		{name: "host key not hex", edits: []string{"pvk: 98FCC989C87BAF57C9D721C1EA74D3B1", "pvk: 98FCC989C87BAF57C9D721C1EA74D3BX"},
			marker: "pvk: 98FC", want: []string{"line @line: host.pvk: key must be a hex string"}},
		{name: "log level", edits: []string{"level: info", "level: loud"},
			want: []string{"log.level: must be"}},
		{name: "every problem reported", edits: []string{"id: ATM00001", "id: ATM1", "max_amount: 20000", "max_amount: 0"},
			want: []string{"atm.id: must be 8 characters", "atm.max_amount: must be positive"}},
		{name: "empty document", edits: []string{base, "# nothing here\n"}, is: strictyaml.ErrEmpty},
		{name: "two documents", edits: []string{"log:\n", "---\nlog:\n"}, is: strictyaml.ErrMultiple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			for i := 0; i+1 < len(tt.edits); i += 2 {
				out := strings.Replace(in, tt.edits[i], tt.edits[i+1], 1)
				if out == in {
					t.Fatalf("%q not in sim.yaml", tt.edits[i])
				}
				in = out
			}
			c, err := atm.ParseConfig([]byte(in))
			if err == nil {
				t.Fatalf("ParseConfig accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("ParseConfig returned a config with its error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			for _, w := range tt.want {
				if tt.marker != "" {
					w = strings.ReplaceAll(w, "@line", fmt.Sprint(lineOf(t, in, tt.marker)))
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q\nwant it to contain %q", err, w)
				}
			}
			assertNoKeyMaterial(t, base+in, err)
		})
	}
}

// TestParseConfigHexKey holds atm.HexKey to strictyaml's rules: a value
// that does not decode is an error naming its key and line, and a value
// of the wrong type is an error.
func TestParseConfigHexKey(t *testing.T) {
	base := readSim(t)
	const pinLine = "- 9D51835E014C8AEFA232B5F1CDAB1698   # custodian 1, KCV 027B3B"
	t.Run("not hex names key and line", func(t *testing.T) {
		in := strings.Replace(base, pinLine, "- 9D51835E014C8AEFA232B5F1CDAB169Z   # custodian 1", 1)
		_, err := atm.ParseConfig([]byte(in))
		if err == nil {
			t.Fatal("a key that is not hex was accepted")
		}
		assertNoKeyMaterial(t, base+in, err)
		want := fmt.Sprintf("line %d: devices.pinpad.master_key", lineOf(t, in, "- 9D51835E014C8AEFA232B5F1CDAB169Z"))
		if !strings.Contains(err.Error(), want) {
			t.Errorf("HexKey error names neither key nor line: got %q, want %q", err, want)
		}
	})
	t.Run("a list is not a key", func(t *testing.T) {
		in := strings.Replace(base, pinLine, "- [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]", 1)
		c, err := atm.ParseConfig([]byte(in))
		if err == nil {
			t.Fatalf("a YAML list of numbers is accepted as a %v", c.Devices.PinPad.MasterKey[0])
		}
		if !strings.Contains(err.Error(), "devices.pinpad.master_key") {
			t.Errorf("err = %q, want it to name devices.pinpad.master_key", err)
		}
	})
}

func TestParseConfigDefaults(t *testing.T) {
	// Drop every optional atm key and the log section: defaults fill them.
	in := readSim(t)
	for _, line := range []string{
		"  currency: TWD\n", "  max_notes: 40           # most notes in one dispense\n",
		"  max_pin_tries: 3        # wrong PINs in a session before the card is retained\n",
		"  pin_format: iso0        # ISO 9564 format 0, TDES\n",
		"  state_dir: ../var/sim   # journal, STAN counter, dispenser nonce state\n",
		"  control_socket: ../var/sim/atmd.sock\n",
		"log:\n  level: info\n  format: auto            # console on a terminal, JSON otherwise\n",
	} {
		out := strings.Replace(in, line, "", 1)
		if out == in {
			t.Fatalf("%q not in sim.yaml", line)
		}
		in = out
	}
	c, err := atm.ParseConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	a := c.ATM
	if a.Currency != "TWD" || a.MaxNotes != 40 || a.MaxPINTries != 3 || a.PINFormat != "iso0" ||
		a.StateDir != "var" || a.ControlSocket != filepath.Join("var", "atmd.sock") || c.Log.Level != "info" || c.Log.Format != "auto" {
		t.Errorf("defaults = %+v, log %+v", a, c.Log)
	}
}

func TestHexKeyHidden(t *testing.T) {
	c, err := atm.ParseConfig([]byte(readSim(t)))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Devices.PinPad.MasterKey[0]
	if len(k) != 16 {
		t.Fatalf("master key component has %d bytes, want 16", len(k))
	}
	for _, verb := range []string{"%v", "%s", "%q", "%x", "%X", "%+v"} {
		for _, v := range []any{k, c.Devices.PinPad, c.Devices.Dispenser.MasterKey, c.Host.LMK} {
			out := strings.ToLower(fmt.Sprintf(verb, v))
			if strings.Contains(out, "9d51835e") || strings.Contains(out, "f720ce57") || strings.Contains(out, "a352a169") {
				t.Errorf("%s prints key material: %s", verb, out)
			}
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(readSim(f)))
	if b, err := os.ReadFile("../configs/sim-wire.yaml"); err == nil {
		f.Add(b)
	}
	if b, err := os.ReadFile("../configs/hardware.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("devices:\n  sensors: {driver: gpio, pins: {tamper: GPIO22}, active_low: [tamper]}\n"))
	f.Add([]byte("atm: {id: ATM00001}\n"))
	f.Add([]byte("devices:\n  printer: {driver: sim, colour: red}\n"))
	f.Add([]byte("devices:\n  pinpad: {driver: sim, keys: {pin: [1, 2, 3]}}\n"))
	f.Add([]byte("host: {}\n"))
	f.Add([]byte("maint: {technicians: [{id: \"1\", pin_hash: \"pbkdf2-sha256$1000$AAAAAAAAAAA$x\", roles: [cash]}], max_tries: 0}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := atm.ParseConfig(data)
		if err != nil {
			if c != nil {
				t.Fatalf("ParseConfig returned a config with error %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config Validate rejects: %v", err)
		}
	})
}

func TestLoadConfigSimWire(t *testing.T) {
	c, err := atm.LoadConfig("../configs/sim-wire.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Devices
	for _, x := range []struct {
		name, got, want string
	}{
		{"cardreader", d.CardReader.Driver, atm.DriverPCSC},
		{"pinpad", d.PinPad.Driver + " " + d.PinPad.Port, "epp sim"},
		{"opdisplay", d.OpDisplay.Driver + " " + d.OpDisplay.Port, "lcd sim"},
		{"nfctag", d.NFCTag.Driver + " " + d.NFCTag.Port, "pn532 sim"},
		{"dispenser", d.Dispenser.Driver + " " + d.Dispenser.Port, "cdm sim"},
		{"printer", d.Printer.Driver + " " + d.Printer.Port, "escpos sim"},
		{"camera", d.Camera.Driver + " " + d.Camera.URL, "snapcam sim"},
		{"display", d.Display.Driver, atm.DriverSim},
		{"sensors", d.Sensors.Driver, atm.DriverSim},
	} {
		if x.got != x.want {
			t.Errorf("%s = %q, want %q", x.name, x.got, x.want)
		}
	}
	if d.CardReader.VPCD == "" || d.CardReader.Reader == "" {
		t.Errorf("cardreader %+v: want a reader and a vpcd address", d.CardReader)
	}
	// The drivers' defaults are filled in, so smoke can print them.
	if d.PinPad.Baud != 115200 || d.Dispenser.Baud != 115200 || d.NFCTag.Baud != 115200 ||
		d.Printer.Baud != 38400 || d.Printer.Cols != 42 || d.Printer.CodePage != "cp437" || d.Printer.Big5 == nil || !*d.Printer.Big5 ||
		d.OpDisplay.Baud != 19200 || d.OpDisplay.Rows != 4 || d.OpDisplay.Cols != 20 || d.Camera.Width != 640 || d.Camera.Height != 480 {
		t.Errorf("defaults not filled: %+v %+v %+v %+v %+v", d.PinPad.SerialConfig, *d.Printer, *d.OpDisplay, *d.Camera, d.NFCTag.SerialConfig)
	}
	if c.Path(c.ATM.StateDir) == "" || c.Host == nil {
		t.Errorf("sim-wire.yaml: state dir %q, host %v", c.ATM.StateDir, c.Host)
	}
}

func TestLoadConfigHardwareExample(t *testing.T) {
	c, err := atm.LoadConfig("../configs/hardware.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Devices
	if c.Host != nil || len(d.PinPad.MasterKey) != 0 || len(d.Dispenser.Cassettes) != 0 {
		t.Errorf("a hardware config holds a host, keys or cassettes")
	}
	for name, port := range map[string]string{
		"pinpad": d.PinPad.Port, "dispenser": d.Dispenser.Port, "nfctag": d.NFCTag.Port,
		"printer": d.Printer.Port, "opdisplay": d.OpDisplay.Port,
	} {
		if !strings.HasPrefix(port, "/dev/") {
			t.Errorf("%s port %q, want a device path", name, port)
		}
	}
	if d.CardReader.Driver != atm.DriverPCSC || d.CardReader.Reader == "" || d.CardReader.VPCD != "" {
		t.Errorf("cardreader %+v", d.CardReader)
	}
	if d.Sensors.Driver != atm.DriverGPIO || len(d.Sensors.Pins) != 4 || len(d.Sensors.Lights) != 3 {
		t.Errorf("sensors %+v", d.Sensors)
	}
}

// TestParseConfigDevices holds the per-device keys to their drivers:
// every error names the key at fault.
func TestParseConfigDevices(t *testing.T) {
	b, err := os.ReadFile("../configs/sim-wire.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := string(b)
	const pinKeys = "    master_key:                 # terminal master key components (KCV D27A3F)\n      - 9D51835E014C8AEFA232B5F1CDAB1698   # custodian 1, KCV 027B3B\n      - F720CE5761618A98321F16A42532763E   # custodian 2, KCV F7925B\n"
	tests := []struct {
		name  string
		edits []string
		want  []string // substrings of the error; none: the edit is valid
	}{
		{"option of another driver", []string{"printer: {driver: escpos, port: sim}", "printer: {driver: sim, cols: 42}"},
			[]string{"devices.printer.cols: only with driver escpos"}},
		{"port on a sim device", []string{"nfctag: {driver: pn532, port: sim}", "nfctag: {driver: sim, port: /dev/ttyS0}"},
			[]string{"devices.nfctag.port: only with driver other than sim"}},
		{"missing port", []string{"nfctag: {driver: pn532, port: sim}", "nfctag: {driver: pn532}"},
			[]string{"devices.nfctag.port: missing"}},
		{"bad baud", []string{"opdisplay: {driver: lcd, port: sim}", "opdisplay: {driver: lcd, port: sim, baud: 12345}"},
			[]string{"devices.opdisplay.baud: 12345 is not a serial line speed"}},
		{"unknown driver names the choices", []string{"printer: {driver: escpos, port: sim}", "printer: {driver: star, port: sim}"},
			[]string{`devices.printer.driver: unknown driver "star" (available: sim, escpos)`}},
		{"web display without an address", []string{"display: {driver: sim}", "display: {driver: web}"},
			[]string{"devices.display.addr: the web display needs an address"}},
		{"front panel on a real display", []string{"display: {driver: sim}", "display: {driver: web, addr: 127.0.0.1:8080, panel: true}"},
			[]string{"devices.display.panel: the virtual front panel needs driver sim and an addr"}},
		{"display address not host:port", []string{"display: {driver: sim}", "display: {driver: sim, addr: screen}"},
			[]string{`devices.display.addr: must be host:port, got "screen"`}},
		{"vpcd not host:port", []string{"vpcd: 127.0.0.1:35963", "vpcd: localhost"},
			[]string{`devices.cardreader.vpcd: must be host:port, got "localhost"`}},
		{"vpcd on a sim reader", []string{"    driver: pcsc\n", "    driver: sim\n"},
			[]string{"devices.cardreader.reader: only with driver pcsc", "devices.cardreader.vpcd: only with driver pcsc"}},
		{"bad AID", []string{"    vpcd: 127.0.0.1:35963       # simulated cards are inserted here (vpcd's port)\n", "    vpcd: 127.0.0.1:35963\n    aids: [A0000000031010, A0000Z]\n"},
			[]string{"devices.cardreader.aids[1]: an AID is 5 to 16 bytes in hex"}},
		{"cassettes on a real dispenser", []string{"    port: sim                   # the dispenser simulator", "    port: /dev/ttyUSB3   #"},
			[]string{"devices.dispenser.cassettes: only with driver sim or port sim"}},
		{"simulated dispenser without cassettes", []string{"      - {id: 1, denomination: 1000, count: 2000, low: 100}\n      - {id: 2, denomination: 500, count: 1000, low: 50}\n      - {id: 3, denomination: 100, count: 2000, low: 100}\n", "", "    cassettes:\n", ""},
			[]string{"devices.dispenser.cassettes: no cassettes"}},
		{"simulated EPP without master key", []string{pinKeys, ""},
			[]string{"devices.pinpad.master_key: need at least two components"}},
		{"real EPP keeps its own master key", []string{pinKeys, "", "    port: sim                   # the EPP simulator on a pseudo-terminal", "    port: /dev/ttyUSB0",
			"    port: sim                   # the dispenser simulator", "    port: /dev/ttyUSB1   #", "      - {id: 1, denomination: 1000, count: 2000, low: 100}\n      - {id: 2, denomination: 500, count: 1000, low: 50}\n      - {id: 3, denomination: 100, count: 2000, low: 100}\n", "", "    cassettes:\n", ""},
			nil},
		{"simulated dispenser needs the PIN pad's master key", []string{pinKeys, "", "    port: sim                   # the EPP simulator on a pseudo-terminal", "    port: /dev/ttyUSB0"},
			[]string{"devices.pinpad.master_key: a simulated dispenser starts without the master key"}},
		{"unknown code page", []string{"printer: {driver: escpos, port: sim}", "printer: {driver: escpos, port: sim, code_page: cp1251}"},
			[]string{`devices.printer.code_page: unknown code page "cp1251"`}},
		{"printer columns", []string{"printer: {driver: escpos, port: sim}", "printer: {driver: escpos, port: sim, cols: 300}"},
			[]string{"devices.printer.cols: 300, want 8 to 255"}},
		{"lcd size", []string{"opdisplay: {driver: lcd, port: sim}", "opdisplay: {driver: lcd, port: sim, rows: 0, cols: 300}"},
			[]string{"devices.opdisplay.rows/cols"}},
		{"camera URL never quoted", []string{"camera: {driver: snapcam, url: sim}", "camera: {driver: snapcam, url: 'ftp://user:s3cret@cam/x'}"},
			[]string{"devices.camera.url: must be http(s)://host/path"}},
		{"gpio unknown input", []string{"sensors: {driver: sim}", "sensors: {driver: gpio, pins: {vault-door: GPIO17, door: GPIO4}}"},
			[]string{"devices.sensors.pins.door: unknown input"}},
		{"gpio no pins", []string{"sensors: {driver: sim}", "sensors: {driver: gpio, lights: {card: GPIO5}}"},
			[]string{"devices.sensors.pins: no inputs wired"}},
		{"gpio active_low not wired", []string{"sensors: {driver: sim}", "sensors: {driver: gpio, pins: {tamper: GPIO22}, active_low: [cabinet]}"},
			[]string{`devices.sensors.active_low[0]: "cabinet" is not an input in pins`}},
		{"gpio pull", []string{"sensors: {driver: sim}", "sensors: {driver: gpio, pins: {tamper: GPIO22}, pull: sideways}"},
			[]string{`devices.sensors.pull: must be up, down or float`}},
		{"gpio unknown light", []string{"sensors: {driver: sim}", "sensors: {driver: gpio, pins: {tamper: GPIO22}, lights: {disco: GPIO5}}"},
			[]string{"devices.sensors.lights.disco: unknown light"}},
		{"pins on sim sensors", []string{"sensors: {driver: sim}", "sensors: {driver: sim, pins: {tamper: GPIO22}}"},
			[]string{"devices.sensors.pins: only with driver gpio"}},
		{"unknown serial key", []string{"nfctag: {driver: pn532, port: sim}", "nfctag: {driver: pn532, port: sim, parity: even}"},
			[]string{"devices.nfctag", "field parity not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			for i := 0; i+1 < len(tt.edits); i += 2 {
				out := strings.Replace(in, tt.edits[i], tt.edits[i+1], 1)
				if out == in {
					t.Fatalf("%q not in sim-wire.yaml", tt.edits[i])
				}
				in = out
			}
			c, err := atm.ParseConfig([]byte(in))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseConfig accepted it: %+v", c.Devices)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error quotes the camera URL's password: %v", err)
			}
			assertNoKeyMaterial(t, base+in, err)
		})
	}
}
