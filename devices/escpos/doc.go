// Package escpos drives a receipt printer that speaks Epson's ESC/POS
// over a serial line (RS-232 or USB-serial, through tarm/serial). It
// implements the hal/printer contract; docs/devices/escpos.md is the
// byte-level reference, and sim/wire/escpos is an independent simulator
// of the same protocol for tests.
//
// Printing. Print checks the printer's real-time status first (DLE EOT
// 1–4): a printer out of paper, with its cover open, a jammed cutter or
// an error gets nothing, and the call returns the fault (paper out wraps
// printer.ErrPaperOut). Otherwise it sends the receipt — ESC @, the code
// table, the text wrapped at Options.Cols columns, the cut (GS V 66 n)
// or a feed — followed by GS r 1, which the printer answers only once it
// has processed everything before it: Print returns when the receipt is
// through. While it waits it asks DLE EOT 1 whenever the line is quiet,
// so a cutter jam mid-receipt is reported at once.
//
// Text. ASCII goes as itself, other characters through the configured
// code table (CP437 by default), and on a Traditional Chinese model
// (Options.Big5) Chinese text through the printer's two-byte mode
// (FS &), in Big5. A Big5 character is two columns wide; the driver
// wraps by columns, which for single-width text is exactly Cols
// characters a line. A character none of these can print comes out as
// '?' (logged).
//
// Status and faults. Status is what the printer said last; it never
// blocks. A goroutine asks the printer every Options.Poll, and at once
// when the port vanishes, so the status follows the paper roll, the
// cover and the printer's errors — and comes back to online by itself
// after a fault clears or an unplugged adapter is plugged back in (the
// port is reopened by path, so a /dev/serial/by-id link works). Refresh
// asks at once. Every failure is a *hal.Fault with a code from the
// fault catalogue: PRN-OFFLINE (port gone; wraps hal.ErrOffline),
// PRN-TIMEOUT (no or incomplete answer; hal.ErrTimeout), PRN-PROTOCOL
// (bytes that break the status format; ErrProtocol), PRN-PAPER-OUT,
// PRN-COVER-OPEN, PRN-JAM and PRN-HARDWARE. A roll near its end leaves
// the printer online with Extra["paper"] = "low" (PRN-PAPER-LOW is only
// a log code: the printer is usable).
//
// Concurrency. A Dev is safe for concurrent use; one exchange with the
// printer runs at a time and every blocking call honours its context.
// Close stops the background poll and closes the port.
package escpos
