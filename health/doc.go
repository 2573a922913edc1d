// Package health knows what can go wrong with the ATM's devices and what
// a technician does about it, and follows the devices' status to say
// which faults are active, since when, and whether the ATM can serve.
//
// It stands at the top level, beside hal rather than inside one device
// package or the runner, because every part of atmd shares it: every
// device reports its faults as catalogue codes (hal.Status.Fault), the
// runner decides in- or out-of-service from it, `atmd status` and the
// maintenance menu show its titles, causes and remedies, and the host
// link reports its active faults to the bank. It imports only hal.
//
// # The fault catalogue
//
// Every fault code a device, driver or simulator reports, plus the host
// link's, has an Entry: device, title (English and zh-TW), likely cause,
// remedy, Severity and what the ATM stops offering while it lasts
// (Lookup, Entries). Codes are PREFIX-NAME, the prefix naming the device
// (CRD card reader, PIN PIN pad, SCR customer display, OPD operator
// display, NFC NFC tag, DSP dispenser, PRN printer, CAM camera, SEN
// sensors, HST host link). An unknown code still gets a generic entry, so
// a fault is never shown without a remedy. docs/faults.md is generated
// from the catalogue (go test ./health -run TestFaultsDoc -update) and a
// test keeps the two in step; another test fails when a code appears in
// the code base that the catalogue lacks.
//
// Severities: Vital takes the ATM out of service; Degraded lets it serve
// without something (receipts, cardless by NFC tap, some amounts); Info
// restricts nothing (paper low, a cassette low).
//
// # The monitor
//
// Monitor is a core without I/O, after etcd's raft: the caller feeds it
// each device's status with the time (Observe), and it hands back what
// changed as events (Raised, Cleared) for the caller to log, journal and
// send. It keeps the active faults (Active) and a bounded history of the
// last HistorySize (History), and decides the service (Service) from the
// faults' severities, the devices' states and the vital devices. Faults
// come from Status.Fault and from the device-specific states in
// Status.Extra (cassette low, empty or missing, one fault per cassette;
// a dispense whose outcome is unknown; paper low or out). It reads no
// clock and starts no goroutine; it is safe for concurrent use.
//
// The host link is observed as the device HostLink: a status Offline with
// CodeHostDown while the link is down, HardwareError with CodeHostKeys
// while the key exchange fails, Online otherwise; a response that fails
// its MAC is a moment, not a state, and is recorded with Note and
// CodeHostMAC.
//
// # Wiring
//
// The runner owns one Monitor. At each health check it calls Observe for
// every device (the names of Devices()) and for HostLink, logs and
// journals the events, and uses Service(vital) — vital from the devices'
// Vital flags — for in- or out-of-service and the restrictions to show.
// `atmd status` and the maintenance menu list Active() and History(n)
// with each fault's Entry. The host-link status message carries
// Report(Active()) in field 48 under tag ReportTag ("DS"); the host reads
// it with ParseReport.
//
// # The status report
//
// Report's text lists device=CODE pairs, several codes of one device
// separated by commas and a unit after "@":
//
//	dispenser=DSP-CASS-EMPTY@cassette.2,DSP-JAM;printer=PRN-PAPER-LOW
//
// It is printable ASCII, at most MaxReportLen bytes; when the faults do
// not fit the most severe are kept and a final "+N" counts the others.
// The empty text means no fault.
package health
