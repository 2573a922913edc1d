package health

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/faults.md from the catalogue")

// faultsDocPath is docs/faults.md, from the package directory.
var faultsDocPath = filepath.Join("..", "docs", "faults.md")

// deviceHeadings name the device sections of faults.md.
var deviceHeadings = map[string]string{
	CardReader: "Card reader",
	PinPad:     "PIN pad (EPP)",
	Dispenser:  "Cash dispenser",
	Display:    "Customer display",
	Printer:    "Receipt printer",
	OpDisplay:  "Operator display",
	NFCTag:     "NFC tag",
	Camera:     "Camera",
	Sensors:    "Door, switch and tamper sensors",
	HostLink:   "Host link",
}

const faultsDocIntro = `# Fault catalogue

<!-- Generated from health/catalogue.go by: go test ./health -run TestFaultsDoc -update
     Do not edit by hand: the test fails when this file and the catalogue differ. -->

Every fault a device of atmd can report has a code here, with its likely causes and what
a technician does to clear it. The code is what a device puts in its status, what
` + "`atmd status`" + ` shows beside the device, and what the host receives; the same data is in
the code (package ` + "`health`" + `: ` + "`health.Lookup(code)`" + `), so the maintenance menu shows exactly
this text.

## How to read it

- **Code** — ` + "`PREFIX-NAME`" + `; the prefix names the device: ` + "`CRD`" + ` card reader, ` + "`PIN`" + ` PIN pad,
  ` + "`DSP`" + ` cash dispenser, ` + "`SCR`" + ` customer display, ` + "`PRN`" + ` receipt printer, ` + "`OPD`" + ` operator
  display, ` + "`NFC`" + ` NFC tag, ` + "`CAM`" + ` camera, ` + "`SEN`" + ` sensors, ` + "`HST`" + ` host link.
- **Cause** — the likely causes, most likely first.
- **Remedy** — what to do, in order. Work that opens the safe or touches keys is done
  under dual control, as the bank's procedures say.
- **Severity** and **Degrades** — what the fault does to the service:

| severity | what the ATM does |
|---|---|
| ` + "`vital`" + ` | goes out of service until the fault clears, and comes back by itself when it does |
| ` + "`degraded`" + ` | keeps serving without what the Degrades column names (receipts, cardless by NFC tap, some amounts) |
| ` + "`info`" + ` | keeps serving unchanged; the fault is shown so that it is dealt with at the next visit |

The card reader, PIN pad, dispenser and customer display are vital devices: while one
of them is down (offline, hardware error or user error) the ATM is out of service,
whatever the code, and so it is while the host link is down or every cassette is
empty. A bank can make more devices vital (a printer, where receipts are required);
a vital fault stays vital on any device.

## Where faults show

- **` + "`atmd status`" + `** lists every device with its state and fault code;
  ` + "`atmd maint status`" + ` and ` + "`atmd maint faults`" + ` (also ` + "`--json`" + `) add each fault's cause and
  remedy, what the ATM does without, and the history.
- **The maintenance menu** ([maintenance.md](maintenance.md)) lists the active faults
  with their title, cause and remedy, and the history of the last 500 faults (raised,
  cleared, how long they lasted).
- **The journal** has a FAULT-RAISED and a FAULT-CLEARED record for each.
- **The host** receives the active faults in the host-link status message (0800 with
  field 70 = 360, sent after every sign-on and whenever the service or the faults
  change; [hostlink.md](hostlink.md) §6d): field 48,
  tag ` + "`DS`" + `, value ` + "`device=CODE[@unit][,CODE[@unit]...][;device=...][;+N]`" + `, for example
  ` + "`dispenser=DSP-CASS-EMPTY@cassette.2,DSP-JAM;printer=PRN-PAPER-LOW`" + `. An empty value
  (` + "`DS000`" + `) means no fault; at most 512 characters, the most severe kept, and a final
  ` + "`+N`" + ` counts the faults left out.

## Faults derived from device states

Some faults are not a device's fault code but a state it reports beside it, and atmd
raises them from that state: each cassette that is low, empty or missing
(` + "`DSP-CASS-LOW`" + `, ` + "`DSP-CASS-EMPTY`" + `, ` + "`DSP-CASS-MISSING`" + `, one fault per cassette, shown as
` + "`cassette.N`" + `), a dispense whose outcome the dispenser could not yet report
(` + "`DSP-OUTCOME-UNKNOWN`" + `), and the paper roll running low or out (` + "`PRN-PAPER-LOW`" + `,
` + "`PRN-PAPER-OUT`" + `). While a dispenser is offline, what it last said about its cassettes
stands.

## A code not listed here

A code this version of atmd does not know is shown as **Unknown fault**: see the
device's log and its own service display for what it means, run the device's test from
the maintenance menu, and report the code so that it joins this catalogue. It degrades
the device's service, and a vital device that is down takes the ATM out of service as
always.
`

// faultsDoc renders docs/faults.md from the catalogue.
func faultsDoc() string {
	var b strings.Builder
	b.WriteString(faultsDocIntro)
	byDevice := map[string][]Entry{}
	for _, e := range Entries() {
		byDevice[e.Device] = append(byDevice[e.Device], e)
	}
	for _, d := range Devices() {
		es := byDevice[d]
		if len(es) == 0 {
			continue
		}
		b.WriteString("\n## " + deviceHeadings[d] + " (`" + d + "`)\n\n")
		b.WriteString("| code | title | cause | remedy | severity | degrades |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
		for _, e := range es {
			degrades := e.Degrades
			switch e.Severity {
			case Vital:
				degrades = "everything: out of service"
			case Info:
				degrades = "nothing"
			}
			b.WriteString("| `" + e.Code + "` | " + e.Title + " (" + e.TitleZH + ") | " + e.Cause + " | " +
				e.Remedy + " | " + e.Severity.String() + " | " + degrades + " |\n")
		}
	}
	return b.String()
}

// TestFaultsDoc keeps docs/faults.md equal to the catalogue; -update
// rewrites it.
func TestFaultsDoc(t *testing.T) {
	want := faultsDoc()
	if *update {
		if err := os.WriteFile(faultsDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(faultsDocPath)
	if err != nil {
		t.Fatalf("%v (go test ./health -run TestFaultsDoc -update writes it)", err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/faults.md differs from the catalogue at line %d:\n have %q\n want %q\nrun: go test ./health -run TestFaultsDoc -update", i+1, g, w)
			}
		}
	}
}

func TestFaultsDocListsEveryCode(t *testing.T) {
	doc := faultsDoc()
	for _, e := range Entries() {
		if !strings.Contains(doc, "| `"+e.Code+"` |") {
			t.Errorf("faults.md lacks %s", e.Code)
		}
		if deviceHeadings[e.Device] == "" {
			t.Errorf("no heading for device %s", e.Device)
		}
	}
}
