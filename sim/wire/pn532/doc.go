// Package pn532 simulates an NXP PN532 NFC controller on its HSU (UART)
// host interface, and the phone that taps it — the far end of the serial
// line that devices/pn532 drives (simulation level L2). Import it as
// pn532sim.
//
// It implements docs/devices/pn532.md and the parts of NXP's PN532 User
// Manual (UM0701-02) that document names, independently of the driver:
// neither package imports the other.
//
// # The chip
//
// Serve powers the chip on and runs it on a byte stream — the master side
// of a wire.PTY, or a real serial port. Like a PN532C106 it starts in
// LowVbat, asleep: it ignores every byte up to the wake-up byte 0x55
// (hosts send 55 55 00 00 00 …). Awake, it recognises normal frames
// (00 00 FF LEN LCS TFI PD… DCS 00), extended frames (00 00 FF FF FF LENM
// LENL LCS TFI PD… DCS 00, LEN up to 265), ACK (00 00 FF 00 FF 00) and
// NACK (00 00 FF FF 00 00). A frame with a bad LCS, DCS or length is
// dropped without an answer, so the host times out and sends it again.
// A good command frame is acknowledged with ACK, then answered with one
// response frame, or the error frame 00 00 FF 01 FF 7F 81 00 when the
// command is unknown or its parameters are malformed. A NACK makes the
// chip send its last response frame again; an ACK aborts a pending
// TgInitAsTarget, as does any new command.
//
// Commands: Diagnose (communication line test), GetFirmwareVersion (IC
// 0x32, version 1.6 by default), GetGeneralStatus, ReadRegister,
// WriteRegister, SetParameters, SAMConfiguration, PowerDown,
// RFConfiguration, InListPassiveTarget (never finds a card), InRelease,
// and the target commands TgInitAsTarget, TgGetData, TgSetData and
// TgGetTargetStatus. TgInitAsTarget waits for a reader with the chip in
// power-down: a host must wake it (0x55) before it sends the ACK that
// aborts the wait or another command.
//
// # The phone
//
// Tap brings a phone to the antenna. When a TgInitAsTarget is pending
// with ISO-DEP enabled (PICC mode allowed, SEL_RES bit 0x20, the
// SetParameters PICC flag) the phone activates the target:
// TgInitAsTarget answers mode 0x08 (106 kbit/s, ISO/IEC 14443-4 PICC)
// and the RATS E0 80. The phone then reads the NFC Forum Type 4 Tag:
// each TgGetData hands the host the next C-APDU, each TgSetData carries
// the tag's R-APDU back. When the phone is done it releases the target —
// the next TgGetData answers status 0x29 — and Tap returns what it read.
//
// # Faults
//
// Inject takes the fault catalogue codes NFC-OFFLINE (power lost),
// NFC-TIMEOUT (hung) and NFC-PROTOCOL (every frame garbled); Clear
// removes them. Misbehave commits one-shot line faults — a bad DCS or
// LCS, a truncated frame, noise, a lost ACK, a lost command — so tests
// can check that a host recovers. Stats and WaitStats expose counters
// (commands, bad frames, NACKs, aborts, wake-ups, taps) to wait on.
package pn532
