// Package saf is the host link's store-and-forward queue: advices (0420
// reversals) that must reach the host however long it takes.
//
// An advice is on disk (written and fsync'd) before Add returns, and stays
// until the host acknowledges it with any 0430. Run delivers advices
// oldest first, one at a time: the first attempt goes as 0420, every
// repeat as 0421 with the same STAN, so the host can recognise a repeat.
// Between attempts it waits with a doubling backoff on the injected
// clock. After a restart, Open replays the file and Run carries on where
// the last run stopped.
//
// Advices carry no card data: the PAN, track 2, PIN block and expiry are
// removed on Add. The host finds the original transaction by terminal and
// the original data elements (field 90), so a queue file on an ATM's disk
// holds nothing a thief could use.
//
// The file is a log of JSON lines: "add" (the advice), "ack" (its
// acknowledgement). A torn last line — power lost mid-write — is ignored
// and cut off, like the journal's.
package saf
