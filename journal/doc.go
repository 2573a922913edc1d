// Package journal is the ATM's electronic journal: the durable,
// append-only record of everything that happened to cards and cash.
//
// It stands on its own at the top level because every other part writes
// to it and it outlives them all: after a crash the journal is what the
// restart reads to decide what happened (was the dispense command sent?
// did the notes leave?), and it is what the bank's auditors and the field
// technician read afterwards.
//
// Rules:
//
//   - Append returns only after the record is on disk (written and
//     fsync'd). The flows write the intent record before the device or
//     host command it covers, so a record on disk always precedes the act.
//   - Each record is one line of JSON carrying a sequence number and a
//     CRC-32 of its content. Open verifies every line; a torn last line
//     (power lost mid-write) is cut off and reported, never silently kept.
//   - No clear PIN or code ever reaches the journal: the flows never hold
//     one. As a second line of defence, Append masks any value that looks
//     like a full PAN (12–19 digits with a valid Luhn check digit).
package journal
