// Package lcd drives the operator panel's character display — a serial
// LCD that takes the Matrix Orbital LK command set (FE prefix: FE 58
// clear, FE 47 col row to place the cursor, FE 42 backlight on, ...),
// 4×20 by default — through tarm/serial. It implements the
// hal/opdisplay contract; docs/devices/lcd.md is the byte-level
// reference, and sim/wire/lcd an independent simulator of the same
// protocol for tests.
//
// Showing text. Show refuses what does not fit (opdisplay.Fit, counted
// in characters), then clears the display and writes each non-empty
// line at column 1 of its row, in one write. ASCII is sent as itself,
// Latin-1 (Options.Charset "latin1") as its byte but þ (FE, the command
// prefix); anything else as '?': no text can become a command. Halt
// clears the display.
//
// Device gone. The display never answers, so the driver watches the
// port: a write that fails, a port that cannot be opened, or a line that
// hangs up (a goroutine keeps a read open on the port and drops what it
// reads; reads that return empty long before their timeout mean the
// line hung up, noticed at once even when nothing is being shown). Each
// makes Status offline with fault OPD-OFFLINE and Show/Halt return a
// *hal.Fault wrapping hal.ErrOffline. The lines given to Show while the
// port is gone are kept as the display's text.
//
// Recovery. While the port is gone the driver tries to reopen it by path
// every Options.Poll; once open, it sets the display up (backlight on,
// cursors off, no wrap, no scroll) and writes the current text, and
// Status is online again by itself. Every Options.Redraw it rewrites the
// text, which brings back a display that lost power behind a live
// adapter — the one failure it cannot see.
//
// A Dev is safe for concurrent use; every blocking call honours its
// context. Close stops the background work and closes the port.
package lcd
