// Package pn532 drives an NXP PN532 NFC controller over its HSU (UART)
// interface as the ATM's NFC tag emitter: the PN532 emulates an NFC Forum
// Type 4 Tag whose NDEF file holds the message the flows publish. It
// implements the hal/nfctag contract. The protocol subset and an example
// exchange are in docs/devices/pn532.md; NXP's PN532 User Manual
// (UM0701-02) is the reference.
//
// # Link
//
// Frames are the PN532's: normal information frames 00 00 FF LEN LCS TFI
// PD0..PDn DCS 00 (TFI D4 host to PN532, D5 back), extended frames 00 00
// FF FF FF LENM LENL LCS TFI … DCS 00 for more than 254 bytes, ACK 00 00
// FF 00 FF 00, NACK 00 00 FF FF 00 00 and the error frame 00 00 FF 01 FF
// 7F 81 00. Every command frame must be acknowledged within
// Options.AckTimeout, or it is sent again, after the wake-up sequence
// (Options.Retries in all); a
// response with a bad checksum or cut short is answered with NACK, and
// the PN532 sends it again. Garbage between frames is skipped. Before the
// first frame after power-on, and whenever the PN532 sleeps (while
// TgInitAsTarget waits for a reader), the driver sends the HSU wake-up
// sequence 55 55 00 00 ….
//
// # Target mode
//
// A background goroutine owns the serial port. It wakes the PN532
// (SAMConfiguration, normal mode), checks GetFirmwareVersion names a
// PN532, enables ISO/IEC 14443-4 PICC emulation (SetParameters) and then
// keeps a TgInitAsTarget pending: PICC only, SENS_RES 0004, the
// configured NFCID1t, SEL_RES 20 (ISO-DEP). When a phone activates the
// target, TgGetData brings each C-APDU and TgSetData returns the R-APDU,
// until the phone releases the target (status 0x29) or stays silent
// longer than Options.SessionTimeout. Then the target is armed again.
// Every Options.Heartbeat without a phone the driver aborts the wait
// (wake-up, ACK), checks the PN532 still answers GetFirmwareVersion and
// arms it again; this is how a PN532 that lost power is noticed.
//
// # Type 4 Tag
//
// The emulated tag has the NDEF Tag Application D2760000850101 (mapping
// version 2.0), a capability container E103 (CCLEN 000F, version 20,
// MLe Options.MLe, MLc 00FF, NDEF File Control TLV 04 06 E104, maximum
// size MaxNDEF+2, read access 00, write access FF) and the NDEF file E104
// holding NLEN and the message. SELECT by name takes a snapshot of the
// published message, so each session reads one message whole even when
// Publish replaces it meanwhile; with no message the SELECT answers 6A82.
// READ BINARY honours offset and length; UPDATE BINARY is refused (6982);
// other instructions get 6D00. The published message counts as read —
// WaitRead returns — once one session has read every byte of its NDEF
// file, NLEN included.
//
// # Faults
//
// The PN532 or its line failing puts the tag in a fault reported by
// Status and returned by Publish and WaitRead as a *hal.Fault: NFC-OFFLINE
// (the port cannot be opened, fails, or hangs up), NFC-TIMEOUT (no ACK or
// no answer) or NFC-PROTOCOL (frames stay bad after NACKs, the PN532
// rejects a command, or it is not a PN532). The goroutine then closes the
// port and retries every Options.RetryInterval, and the tag is online
// again by itself once the PN532 answers. Clear and Halt work offline.
package pn532
