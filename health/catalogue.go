package health

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says what a fault does to the ATM's service. The order is
// meaningful: Info < Degraded < Vital.
type Severity int

// Severities.
const (
	// Info: nothing stops; the fault is shown and reported so that it is
	// dealt with at the next visit (paper low, a cassette low).
	Info Severity = iota
	// Degraded: the ATM keeps serving without what Entry.Degrades names
	// (receipts, cardless withdrawal by NFC tap, some amounts).
	Degraded
	// Vital: the ATM goes out of service until the fault clears.
	Vital
)

var severityNames = [...]string{"info", "degraded", "vital"}

// String returns the severity's name as faults.md and logs show it.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText encodes the severity by name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if n == string(b) {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("health: unknown severity %q", b)
}

// Device names as the runner, `atmd status` and the catalogue use them.
const (
	CardReader = "cardreader"
	PinPad     = "pinpad"
	Dispenser  = "dispenser"
	Display    = "display"
	Printer    = "printer"
	OpDisplay  = "opdisplay"
	NFCTag     = "nfctag"
	Camera     = "camera"
	Sensors    = "sensors"
	// HostLink is not a hal device: the runner observes the link to the
	// bank's host under this name (see CodeHostDown and the doc).
	HostLink = "hostlink"
)

// deviceOrder is the order devices are listed in: vital ones first, as
// the runner names them, then the host link.
var deviceOrder = []string{CardReader, PinPad, Dispenser, Display, Printer, OpDisplay, NFCTag, Camera, Sensors, HostLink}

// prefixes maps a code's prefix to the device that reports it.
var prefixes = map[string]string{
	"CRD": CardReader, "PIN": PinPad, "DSP": Dispenser, "SCR": Display, "PRN": Printer,
	"OPD": OpDisplay, "NFC": NFCTag, "CAM": Camera, "SEN": Sensors, "HST": HostLink,
}

// Devices returns every device the catalogue knows, in the order the
// catalogue, `atmd status` and the reports list them.
func Devices() []string { return append([]string(nil), deviceOrder...) }

// DefaultVital returns the devices a standard atmd cannot serve without
// (the runner's vital devices, and the host link). Service uses it when
// given nil.
func DefaultVital() map[string]bool {
	return map[string]bool{CardReader: true, PinPad: true, Dispenser: true, Display: true, HostLink: true}
}

// Host-link fault codes. The host link is no hal device; the runner
// observes it as device HostLink (Observe for HST-DOWN and HST-KEYS, which
// last, Note for HST-MAC, which happens to one message).
const (
	CodeHostDown = "HST-DOWN" // the link to the host is down or not signed on
	CodeHostKeys = "HST-KEYS" // the key exchange failed
	CodeHostMAC  = "HST-MAC"  // a message from the host failed its MAC check
)

// Codes the monitor derives from Status.Extra (see Observe). The first two
// are also reported by the dispenser drivers, one cassette at a time;
// the others exist only as derived codes.
const (
	CodeCassetteLow     = "DSP-CASS-LOW"        // Extra["cassette.N"] = "low"
	CodeCassetteEmpty   = "DSP-CASS-EMPTY"      // Extra["cassette.N"] = "empty"
	CodeCassetteMissing = "DSP-CASS-MISSING"    // Extra["cassette.N"] = "missing"
	CodeOutcomeUnknown  = "DSP-OUTCOME-UNKNOWN" // Extra["dispense.outcome"] = "unknown"
	CodePaperLow        = "PRN-PAPER-LOW"       // Extra["paper"] = "low"
	CodePaperOut        = "PRN-PAPER-OUT"       // Extra["paper"] = "out"
)

// Entry is one fault of the catalogue: what it is, why it happens and
// how a technician clears it.
type Entry struct {
	// Code is the stable fault code devices report ("DSP-JAM").
	Code string `json:"code"`
	// Device is the device class that reports it (one of Devices()).
	Device string `json:"device"`
	// Title names the fault in a few words, in English.
	Title string `json:"title"`
	// TitleZH names it in Traditional Chinese (zh-TW), for the operator
	// display and the maintenance menu in Chinese.
	TitleZH string `json:"title_zh"`
	// Cause lists the likely causes, most likely first.
	Cause string `json:"cause"`
	// Remedy is what the technician does, step by step.
	Remedy string `json:"remedy"`
	// Severity is what the fault does to the service.
	Severity Severity `json:"severity"`
	// Degrades names what the ATM stops offering while a Degraded fault
	// lasts; "" for Info and Vital faults.
	Degrades string `json:"degrades,omitempty"`
}

// TitleIn returns the title in lang ("zh-TW" or "zh" for Chinese, English
// otherwise).
func (e Entry) TitleIn(lang string) string {
	if strings.HasPrefix(lang, "zh") && e.TitleZH != "" {
		return e.TitleZH
	}
	return e.Title
}

// Known reports whether the entry comes from the catalogue rather than
// standing in for an unknown code.
func (e Entry) Known() bool {
	_, ok := byCode[e.Code]
	return ok
}

// Lookup returns the catalogue entry for code. An unknown code gets a
// generic entry (Known false; device guessed from the code's prefix) and
// ok false: a fault is never without a title, a cause and a remedy.
func Lookup(code string) (Entry, bool) {
	if e, ok := byCode[code]; ok {
		return e, true
	}
	return unknownEntry(code), false
}

// Entries returns every catalogue entry, sorted by code.
func Entries() []Entry {
	out := append([]Entry(nil), catalogue...)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// DeviceOf returns the device that reports code, from its prefix ("" for
// a prefix the catalogue does not know).
func DeviceOf(code string) string {
	if e, ok := byCode[code]; ok {
		return e.Device
	}
	p, _, ok := strings.Cut(code, "-")
	if !ok {
		return ""
	}
	return prefixes[p]
}

func unknownEntry(code string) Entry {
	return Entry{
		Code:    code,
		Device:  DeviceOf(code),
		Title:   "Unknown fault",
		TitleZH: "未知故障",
		Cause: "unknown fault: see the device's log. The device reported a code this version of atmd " +
			"does not know; the detail shown with it, atmd's log and the device's own log or display say what it means.",
		Remedy: "Read the detail in atmd status and the device's own log or service display; run the device's " +
			"test from the maintenance menu; power-cycle the device if it stays in the fault, and call the " +
			"device's service quoting the code if it returns. Report the code to atmd's maintainers so that it " +
			"joins the catalogue.",
		Severity: Degraded,
	}
}

var byCode = func() map[string]Entry {
	m := make(map[string]Entry, len(catalogue))
	for _, e := range catalogue {
		if _, dup := m[e.Code]; dup {
			panic("health: duplicate catalogue code " + e.Code)
		}
		m[e.Code] = e
	}
	return m
}()

// What the ATM stops offering, shared by the entries of one device.
const (
	noReceipts = "receipts (no receipt is offered)"
	noNFC      = "cardless withdrawal by phone tap (NFC); QR and card transactions go on"
	noCamera   = "delegated withdrawals and face checks (no evidence photo can be taken)"
	noSensors  = "door and tamper alarms and the supervisor switch (use the local maintenance command)"
)

// catalogue is every fault code a device, driver or simulator of atmd
// reports, plus the host-link codes and the codes derived from Extra.
// TestCatalogueCoversCode keeps it complete.
var catalogue = []Entry{
	// Card reader (devices/pcsc, sim/devsim).
	{
		Code: "CRD-OFFLINE", Device: CardReader, Severity: Vital,
		Title: "Card reader offline", TitleZH: "讀卡機離線",
		Cause: "pcscd is not running or was restarted; the reader's USB cable is loose or unplugged; the reader " +
			"lost power; the reader name in the config matches no reader. atmd reconnects every second by itself.",
		Remedy: "Check that pcscd runs (systemctl status pcscd) and start it if not; reseat the reader's USB " +
			"cable at both ends and check its power; check that pcsc_scan lists the reader under the name the " +
			"config's reader key gives. The fault clears within a second of the reader coming back; then run the " +
			"card-read test from the maintenance menu.",
	},
	{
		Code: "CRD-JAM", Device: CardReader, Severity: Vital,
		Title: "Card jammed", TitleZH: "卡片卡住",
		Cause: "A motorised reader's capture or eject command failed: a bent, cracked or labelled card, or a " +
			"foreign object (a skimmer's shim, glue) blocks the transport; dirty rollers or sensors.",
		Remedy: "Power the reader down and take it out as its manual says; remove the card from the transport " +
			"and put it in the retained-card pouch with a note in the journal. Check the card slot for foreign " +
			"objects: if you find a shim, glue or an overlay, stop and report a skimming attempt to the bank's " +
			"security team. Clean the rollers and sensors with a cleaning card, refit the reader and run the " +
			"card-read test from the maintenance menu.",
	},
	{
		Code: "CRD-TIMEOUT", Device: CardReader, Severity: Vital,
		Title: "Card not answering", TitleZH: "卡片無回應",
		Cause: "The chip card in the reader stopped answering within the APDU timeout (5 s): a damaged chip, " +
			"dirty or worn contacts in the reader, or a card pulled part way out. The reader is held up until " +
			"the card leaves it.",
		Remedy: "Let the customer take the card back; if it stays in, eject it from the maintenance menu or take " +
			"it out by hand. If it happens with several different cards, clean the reader's contacts with a " +
			"cleaning card and run the card-read test with a known-good test card; replace the reader if it " +
			"still happens.",
	},
	{
		Code: "CRD-PROTOCOL", Device: CardReader, Severity: Info,
		Title: "Chip card unreadable", TitleZH: "晶片卡讀取錯誤",
		Cause: "The card in the reader answered with malformed data or status words EMV does not allow: a " +
			"damaged or non-EMV card, or, when it happens with many cards, dirty contacts. The reader itself " +
			"works; the code clears when the card leaves.",
		Remedy: "Nothing for a single card: the customer is told the card cannot be read and gets it back. If " +
			"it keeps happening with different cards, clean the contacts with a cleaning card, run the card-read " +
			"test with a known-good test card and check the aids list in the config.",
	},
	{
		Code: "CRD-BIN-FULL", Device: CardReader, Severity: Vital,
		Title: "Retain bin full", TitleZH: "吞卡盒已滿",
		Cause: "The card reader's retain bin holds as many cards as it can (cards kept after too many wrong " +
			"PINs or left in the slot); the ATM could not keep another card, so it takes no more cards.",
		Remedy: "Open the retain bin under dual control, take the retained cards out, count them against the " +
			"journal's CARD-RETAINED records and seal them in the retained-card pouch; reset the bin counter " +
			"from the maintenance menu and run the card-read test.",
	},

	// PIN pad (devices/epp, sim/devsim, sim/wire/epp).
	{
		Code: "PIN-OFFLINE", Device: PinPad, Severity: Vital,
		Title: "PIN pad offline", TitleZH: "密碼鍵盤離線",
		Cause: "The EPP's serial port cannot be opened or went away: USB-serial adapter unplugged, cable loose, " +
			"wrong port in the config, or no power to the EPP.",
		Remedy: "Reseat the EPP's cable and USB-serial adapter; check the port in the config (a " +
			"/dev/serial/by-id path survives re-plugging); check the EPP's power. The driver reconnects by " +
			"itself; then run the key test (beep and master-key check value) from the maintenance menu.",
	},
	{
		Code: "PIN-TIMEOUT", Device: PinPad, Severity: Vital,
		Title: "PIN pad not answering", TitleZH: "密碼鍵盤無回應",
		Cause: "The port opens but the EPP does not acknowledge or answer in time: wrong baud rate, the EPP " +
			"hung, or a broken wire (what atmd sends arrives, the answer does not).",
		Remedy: "Power-cycle the EPP; check the baud rate in the config against the EPP's (115200 by default); " +
			"check the cable for damage; run the key test from the maintenance menu.",
	},
	{
		Code: "PIN-PROTOCOL", Device: PinPad, Severity: Vital,
		Title: "PIN pad line errors", TitleZH: "密碼鍵盤通訊錯誤",
		Cause: "Frames arrive damaged or are refused again and again, or answers make no sense: electrical " +
			"noise, a bad cable or connector, wrong line settings, or another device on that port.",
		Remedy: "Check that the configured port is the EPP's and that no other program uses it; reseat or " +
			"replace the cable and route it away from power cables; check the line settings; run the key test.",
	},
	{
		Code: "PIN-TAMPER", Device: PinPad, Severity: Vital,
		Title: "PIN pad tampered, keys erased", TitleZH: "密碼鍵盤遭拆，金鑰已清除",
		Cause: "The EPP's tamper sensors tripped (casing opened or drilled, pad pulled from its mount, a probe " +
			"on its contacts) and it erased every key it held. It cannot encrypt a PIN until it is " +
			"re-initialised.",
		Remedy: "Treat it as a security incident: leave the ATM out of service, look for overlays, hidden " +
			"cameras and drilled holes around the PIN pad and fascia, photograph what you find and report to the " +
			"bank's security team. Replace the EPP or have its vendor re-initialise it, load the terminal master " +
			"key components under dual control from the maintenance menu, check each check value with the key " +
			"custodians, then let atmd sign on to receive working keys.",
	},
	{
		Code: "PIN-HARDWARE", Device: PinPad, Severity: Vital,
		Title: "PIN pad internal fault", TitleZH: "密碼鍵盤內部故障",
		Cause: "The EPP reported a hardware fault: it could not build a PIN block, because its cryptographic " +
			"module failed or a key it needs is missing or corrupt.",
		Remedy: "Run the key test from the maintenance menu: if the master key's check value is missing or " +
			"wrong, reload the key components under dual control and sign on again. Otherwise power-cycle the " +
			"EPP, and replace it if the fault returns.",
	},

	// Customer display (devices/webscreen, sim/devsim).
	{
		Code: "SCR-OFFLINE", Device: Display, Severity: Vital,
		Title: "Customer screen offline", TitleZH: "顧客螢幕離線",
		Cause: "The customer screen cannot be shown: its web server stopped with an error (most often another " +
			"program holds its address), or, simulated, the display was switched off.",
		Remedy: "Read atmd's log for the web server's error; check that nothing else listens on the display's " +
			"addr (127.0.0.1:8080 by default; ss -ltnp shows who does); restart atmd, then run the display test " +
			"from the maintenance menu.",
	},
	{
		Code: "SCR-NO-VIEWER", Device: Display, Severity: Vital,
		Title: "Customer screen dark (no browser)", TitleZH: "顧客螢幕無畫面",
		Cause: "No kiosk browser has shown the page for 10 s: the browser crashed or never started, the kiosk " +
			"service stopped, or the monitor has no power or signal.",
		Remedy: "Check the kiosk service (systemctl status atmd-kiosk) and restart it; check the monitor's power " +
			"and video cable. The fault clears as soon as the page is shown again.",
	},

	// Operator display (devices/lcd, sim/devsim, sim/wire/lcd).
	{
		Code: "OPD-OFFLINE", Device: OpDisplay, Severity: Info,
		Title: "Operator display offline", TitleZH: "操作員顯示器離線",
		Cause: "The operator panel's character display cannot be written: USB-serial adapter unplugged, wrong " +
			"port in the config, or the display lost power. Customers are not affected.",
		Remedy: "Check the display's cable, USB-serial adapter and power, and the port in the config. The " +
			"driver reopens the port every 2 s and redraws the text; meanwhile use the maintenance menu on the " +
			"customer screen or the local maintenance command.",
	},

	// NFC tag (devices/pn532, sim/devsim, sim/wire/pn532).
	{
		Code: "NFC-OFFLINE", Device: NFCTag, Severity: Degraded, Degrades: noNFC,
		Title: "NFC tag offline", TitleZH: "NFC 感應模組離線",
		Cause: "The PN532's serial port cannot be opened, failed or hung up: USB-serial adapter unplugged, " +
			"wrong port in the config, or the board lost power.",
		Remedy: "Check the USB cable and adapter, the port name in the config and the board's power; the driver " +
			"retries every second. Then run the NFC test from the maintenance menu: publish the test message and " +
			"read it with a phone.",
	},
	{
		Code: "NFC-TIMEOUT", Device: NFCTag, Severity: Degraded, Degrades: noNFC,
		Title: "NFC tag not answering", TitleZH: "NFC 感應模組無回應",
		Cause: "The PN532 does not acknowledge or answer commands: no power, its interface switches not set to " +
			"HSU (UART), a wrong baud rate (115200 by default), or the chip hung.",
		Remedy: "Check the board's power light; set its interface switches to HSU; check the baud rate in the " +
			"config; power-cycle the board; run the NFC test from the maintenance menu.",
	},
	{
		Code: "NFC-PROTOCOL", Device: NFCTag, Severity: Degraded, Degrades: noNFC,
		Title: "NFC tag line errors", TitleZH: "NFC 感應模組通訊錯誤",
		Cause: "The PN532 answers, but not as a PN532 should: frames still bad after retries, error frames, or " +
			"another chip on that port; loose TX, RX or ground wires, or interference.",
		Remedy: "Check the wiring (TX to RX, RX to TX, a common ground) and route the cable away from power " +
			"lines; check that the configured port is the NFC board's; replace the board if the fault stays; run " +
			"the NFC test.",
	},

	// Cash dispenser (devices/cdm, sim/devsim, sim/wire/cdm).
	{
		Code: "DSP-OFFLINE", Device: Dispenser, Severity: Vital,
		Title: "Dispenser offline", TitleZH: "出鈔機離線",
		Cause: "The dispenser's port is missing or gone, or the dispenser did not acknowledge three tries: " +
			"cable or USB-serial adapter unplugged, wrong port in the config, dispenser switched off or its fuse " +
			"blown.",
		Remedy: "Check the dispenser's power and fuse, its cable and adapter, and the port in the config; the " +
			"driver reconnects by itself. When it is back, let atmd settle any dispense in doubt before opening " +
			"the safe (the journal shows it), check the cassette counters in the maintenance menu and run a test " +
			"dispense.",
	},
	{
		Code: "DSP-TIMEOUT", Device: Dispenser, Severity: Vital,
		Title: "Dispenser not answering", TitleZH: "出鈔機無回應",
		Cause: "The dispenser acknowledged a command but did not answer in time, twice: its controller hung or " +
			"its mechanism stalled.",
		Remedy: "Power-cycle the dispenser (notes in the transport stay where they are and the device keeps its " +
			"record of the last dispense). When it answers, let atmd settle any dispense in doubt before opening " +
			"the safe, then run a test dispense from the maintenance menu.",
	},
	{
		Code: "DSP-PROTOCOL", Device: Dispenser, Severity: Vital,
		Title: "Dispenser line errors", TitleZH: "出鈔機通訊錯誤",
		Cause: "Frames on the line are damaged (bad CRC, truncated, garbage) or refused again and again, or " +
			"answers do not parse: electrical noise, a bad cable or connector, wrong line settings, or another " +
			"device on the port.",
		Remedy: "Check the cable and connectors and route the cable away from power cables; check the baud rate " +
			"(115200 by default) and that the configured port is the dispenser's; replace the cable if needed; " +
			"run a test dispense from the maintenance menu.",
	},
	{
		Code: "DSP-JAM", Device: Dispenser, Severity: Vital,
		Title: "Notes jammed", TitleZH: "鈔票卡住",
		Cause: "Notes jammed in the transport between the cassettes and the shutter: worn, folded, taped or " +
			"damp notes, notes loaded the wrong way or in the wrong cassette, a cassette not seated, or dirty " +
			"transport belts and sensors.",
		Remedy: "Open the safe under dual control and open the dispenser's transport; remove the jammed notes " +
			"from the pick area and the transport, count them and put them in the reject bin (record the count " +
			"in the journal); check that every cassette is seated and its notes lie flat; close, reset the " +
			"dispenser from the maintenance menu and run a test dispense.",
	},
	{
		Code: "DSP-SHUTTER", Device: Dispenser, Severity: Vital,
		Title: "Cash shutter stuck", TitleZH: "出鈔口擋板故障",
		Cause: "The cash shutter does not open or close: an object in the cash slot (a cash-trapping device, " +
			"glue, debris), or a broken shutter motor or sensor. Notes may be in the tray or behind the shutter.",
		Remedy: "Look at the cash slot from outside: if you find a cash trap or glue, stop and report it to the " +
			"bank's security team. Otherwise open the safe under dual control, check behind the shutter for " +
			"notes (count them into the journal), free the shutter and clean its sensors, reset the dispenser " +
			"and run a test dispense; replace the shutter module if it still does not move.",
	},
	{
		Code: "DSP-PICK", Device: Dispenser, Severity: Degraded,
		Degrades: "notes from the cassette that failed to pick, until the dispenser is reset",
		Title:    "Pick failure", TitleZH: "取鈔失敗",
		Cause: "The dispenser could not pick notes from a cassette part way through a dispense: notes stuck " +
			"together or damp, a double pick, a stuck pusher plate, worn pick rollers, or a cassette nearly " +
			"empty. The customer got part of the amount and atmd reversed the rest.",
		Remedy: "Open the safe under dual control, take out the cassette the journal's dispense record names, " +
			"fan and restack its notes and take out damaged ones, check the pusher plate; empty the reject bin " +
			"and record its count; refit, reset the dispenser from the maintenance menu and run a test dispense.",
	},
	{
		Code: "DSP-STORAGE", Device: Dispenser, Severity: Vital,
		Title: "Dispenser cannot save its records", TitleZH: "出鈔機記錄無法儲存",
		Cause: "The dispenser cannot write its counters, nonces or dispense records to its non-volatile memory " +
			"(memory worn out or full, controller fault). Without them it refuses to dispense, so no cash can " +
			"leave unrecorded.",
		Remedy: "Power-cycle the dispenser; if the fault returns, call the dispenser's service for a controller " +
			"or memory replacement. Afterwards reload the cassettes through the maintenance menu's " +
			"replenishment, so the counters are right, and run a test dispense.",
	},
	{
		Code: "DSP-HARDWARE", Device: Dispenser, Severity: Vital,
		Title: "Dispenser hardware fault", TitleZH: "出鈔機硬體故障",
		Cause: "The dispenser refused a command with a hardware fault it did not name: a motor, sensor or " +
			"controller fault the device does not classify.",
		Remedy: "Read the dispenser's own diagnostics (its service display or log); check for jammed notes and " +
			"unseated cassettes; power-cycle the dispenser, reset it and run a test dispense from the " +
			"maintenance menu; call the dispenser's service if the fault returns.",
	},
	{
		Code: CodeCassetteLow, Device: Dispenser, Severity: Info,
		Title: "Cassette low", TitleZH: "鈔匣存量偏低",
		Cause: "A cassette's count is at or below its low mark. The ATM still dispenses from it; it will be " +
			"empty soon.",
		Remedy: "Plan a replenishment: refill or exchange the cassette under dual control and enter the new " +
			"counts through the maintenance menu's replenishment.",
	},
	{
		Code: CodeCassetteEmpty, Device: Dispenser, Severity: Degraded,
		Degrades: "amounts that need notes from the empty cassette (the ATM goes out of service when every cassette is empty)",
		Title:    "Cassette empty", TitleZH: "鈔匣已空",
		Cause: "A cassette has no notes left. The ATM offers only the amounts the other cassettes can make.",
		Remedy: "Replenish: under dual control refill or exchange the cassette, enter the counts through the " +
			"maintenance menu's replenishment, check the counters against the cassette's contents and run a test " +
			"dispense.",
	},
	{
		Code: CodeCassetteMissing, Device: Dispenser, Severity: Degraded,
		Degrades: "amounts that need notes from the missing cassette",
		Title:    "Cassette missing", TitleZH: "鈔匣未裝妥",
		Cause: "The dispenser does not see a cassette in its slot: not inserted, not pushed fully home, or its " +
			"presence sensor is dirty or faulty.",
		Remedy: "Open the safe under dual control, push the cassette fully home until it latches (or insert " +
			"it), clean the slot's presence sensor, then check the counters in the maintenance menu and run a " +
			"test dispense.",
	},
	{
		Code: CodeOutcomeUnknown, Device: Dispenser, Severity: Vital,
		Title: "Dispense outcome unknown", TitleZH: "出鈔結果不明",
		Cause: "A dispense command went out and neither its answer nor the dispenser's record of it could be " +
			"read: the line or the dispenser failed mid-dispense. Notes may be in the transport or behind the " +
			"shutter. atmd settles it by itself as soon as the dispenser answers again.",
		Remedy: "Do not remove notes yet: first bring the dispenser's link back (power, cable, port) so that " +
			"atmd can read the device's record and send the right reversal or completion to the host. If the " +
			"dispenser cannot be brought back, count the notes in the transport, behind the shutter and in the " +
			"reject bin under dual control and record them in the journal before servicing it.",
	},

	// Receipt printer (devices/escpos, sim/devsim, sim/wire/escpos).
	{
		Code: "PRN-OFFLINE", Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Receipt printer offline", TitleZH: "收據印表機離線",
		Cause: "The printer's port cannot be opened, a write failed or the line hung up: USB-serial adapter " +
			"unplugged, wrong port in the config, or the printer switched off.",
		Remedy: "Check the printer's power switch and supply, its cable and adapter, and the port in the " +
			"config; the driver retries by itself. Then print a test receipt from the maintenance menu.",
	},
	{
		Code: "PRN-TIMEOUT", Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Receipt printer not answering", TitleZH: "收據印表機無回應",
		Cause: "The printer did not answer a status request within 1 s, or did not confirm a receipt within " +
			"10 s while on-line: wrong baud rate (38400 by default), the printer hung, or a broken wire.",
		Remedy: "Power-cycle the printer; check the baud rate in the config against the printer's own setting " +
			"(DIP switches or setup mode); check the cable; print a test receipt.",
	},
	{
		Code: "PRN-PROTOCOL", Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Receipt printer line errors", TitleZH: "收據印表機通訊錯誤",
		Cause: "The printer sends bytes no ESC/POS printer sends: wrong baud rate or line settings, another " +
			"device on the port, or noise on the line.",
		Remedy: "Check that the configured port is the printer's and that the baud rates match; reseat or " +
			"replace the cable; print a test receipt.",
	},
	{
		Code: CodePaperOut, Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Receipt paper out", TitleZH: "收據紙用完",
		Cause: "The paper roll is used up, or the new roll is not fed past the paper sensor.",
		Remedy: "Open the printer cover, load a new roll of the right width as the label in the printer shows, " +
			"feed the end past the cutter, close the cover and print a test receipt from the maintenance menu.",
	},
	{
		Code: CodePaperLow, Device: Printer, Severity: Info,
		Title: "Receipt paper low", TitleZH: "收據紙即將用完",
		Cause:  "The near-end sensor sees little paper left on the roll; the printer still prints.",
		Remedy: "Replace the roll at the next visit (bring a spare); nothing is needed now.",
	},
	{
		Code: "PRN-JAM", Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Receipt printer jam", TitleZH: "收據印表機卡紙",
		Cause: "Paper jammed at the autocutter: a receipt pulled back in, a crumpled roll end, or a worn cutter " +
			"blade.",
		Remedy: "Open the printer cover, remove the jammed paper and the scraps around the cutter (if the blade " +
			"is stuck out, turn the cutter's knob back first), cut the paper end straight, reload, close the " +
			"cover and print a test receipt.",
	},
	{
		Code: "PRN-COVER-OPEN", Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Printer cover open", TitleZH: "印表機上蓋未關",
		Cause:  "The printer's cover is open or not latched, usually after a roll change.",
		Remedy: "Close the cover firmly until it latches, then print a test receipt from the maintenance menu.",
	},
	{
		Code: "PRN-HARDWARE", Device: Printer, Severity: Degraded, Degrades: noReceipts,
		Title: "Receipt printer hardware fault", TitleZH: "收據印表機硬體故障",
		Cause: "The printer reports an error: the print head is too hot (it resumes by itself when it cools), " +
			"a mechanical error, or an unrecoverable one such as a failed head or a supply voltage fault.",
		Remedy: "Wait a few minutes for the head to cool and print a test receipt; if the fault stays, " +
			"power-cycle the printer; replace it if the fault returns.",
	},

	// Camera (devices/snapcam, sim/devsim, sim/wire/snapcam).
	{
		Code: "CAM-OFFLINE", Device: Camera, Severity: Degraded, Degrades: noCamera,
		Title: "Camera offline", TitleZH: "攝影機離線",
		Cause: "The camera's snapshot address does not answer: connection refused or reset, host not found, no " +
			"complete answer in time, or the camera says it is unavailable (502, 503, 504): no power, network " +
			"cable out, or a wrong url in the config.",
		Remedy: "Check the camera's power (PoE) and network cable; fetch the snapshot url from the ATM (curl " +
			"-o /tmp/still.jpg URL); check the url in the config; take a test still from the maintenance menu.",
	},
	{
		Code: "CAM-PROTOCOL", Device: Camera, Severity: Degraded, Degrades: noCamera,
		Title: "Camera answers wrongly", TitleZH: "攝影機回應異常",
		Cause: "The camera answers, but not with the still asked for: wrong credentials (401), wrong path (404), " +
			"a login page instead of an image, an image of another format or size, or a cut-off image.",
		Remedy: "Check the path and credentials in the url, and the configured width and height against the " +
			"camera's settings; set the camera to serve JPEG stills; take a test still from the maintenance menu.",
	},

	// Sensors (devices/gpiosensors, sim/devsim).
	{
		Code: "SEN-OFFLINE", Device: Sensors, Severity: Degraded, Degrades: noSensors,
		Title: "Sensors unreadable", TitleZH: "感測器無法讀取",
		Cause: "The GPIO lines of the door, tamper and supervisor inputs cannot be read: the I/O board or its " +
			"cable is disconnected or unpowered, or the GPIO driver is not available.",
		Remedy: "Check the I/O board's cable and power and the pin names in the config's pins; restart atmd if " +
			"the GPIO driver failed to load; then open and close the vault door and flip the supervisor switch " +
			"while watching the sensor test in the maintenance menu.",
	},
	{
		Code: "SEN-TAMPER", Device: Sensors, Severity: Vital,
		Title: "Tamper alarm", TitleZH: "防拆警報",
		Cause: "The tamper input is active: the cabinet or fascia was opened or forced, an anti-skimming sensor " +
			"detected something on the card slot, or the tamper switch or its wiring is faulty.",
		Remedy: "Treat it as a security incident: look for skimmers, overlays, hidden cameras and forced panels " +
			"on the fascia, card slot, PIN pad and cash slot; photograph and report anything you find to the " +
			"bank's security team before touching it. If there is nothing, check the tamper switch and its " +
			"wiring. The alarm clears when the input goes inactive.",
	},

	// Host link (atm runner, hostlink).
	{
		Code: CodeHostDown, Device: HostLink, Severity: Vital,
		Title: "Host link down", TitleZH: "主機連線中斷",
		Cause: "The ATM cannot reach the bank's host or is not signed on: network cable, router or VPN down, the " +
			"host unavailable or in maintenance, a firewall change, an echo left unanswered, or with TLS a " +
			"certificate expired or not trusted.",
		Remedy: "Run the host connection test from the maintenance menu; check the network link lights and " +
			"that the host's address answers (nc -vz HOST PORT); with TLS check the certificates' dates and the " +
			"CA; ask the bank's operations whether the host is up. The ATM reconnects by itself (after 1 s, " +
			"doubling up to 30 s).",
	},
	{
		Code: CodeHostKeys, Device: HostLink, Severity: Vital,
		Title: "Key exchange failed", TitleZH: "金鑰交換失敗",
		Cause: "The host refused the key exchange or its working keys did not load: the host holds another " +
			"terminal master key for this ATM (response 63), a check value did not match, or the PIN pad or " +
			"dispenser refused a key (master key missing or different, for example after a tamper).",
		Remedy: "Run the key test from the maintenance menu and compare the master key's check value in the PIN " +
			"pad and in the dispenser with the value the bank's key custodians hold; if they differ, load the " +
			"master key components again under dual control. Then run the host connection test, which signs on " +
			"and exchanges the keys again.",
	},
	{
		Code: CodeHostMAC, Device: HostLink, Severity: Info,
		Title: "Message failed its MAC check", TitleZH: "訊息押碼驗證失敗",
		Cause: "A message from the host failed its MAC check: the MAC key in the PIN pad differs from the " +
			"host's (a missed key exchange), the message was damaged, or someone altered it on the way. It was " +
			"journaled and treated as no response, and the transaction concerned was reversed.",
		Remedy: "Once: nothing beyond watching for more. If it repeats, run the host connection test (it " +
			"exchanges the keys again); if it still repeats, check the network path for a proxy or device that " +
			"alters traffic and report to the bank's security team.",
	},
}
