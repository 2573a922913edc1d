// Package lcd is a wire-level simulator (simulation level L2) of a
// serial character display that takes the Matrix Orbital LK command set:
// it sits on the far end of a serial line — the master side of a
// pseudo-terminal, a real serial port, any io.ReadWriter — and keeps the
// Rows × Cols grid of characters and the cursor that the bytes it
// receives produce, so the real driver (devices/lcd) runs unchanged
// against it. It implements docs/devices/lcd.md independently of the
// driver: neither imports the other.
//
// Parser splits the stream into text and FE commands with the parameter
// counts of the LK manuals, in chunks of any size. Display executes
// them: text at the cursor, with line wrap and auto scroll as set (both
// on at power-on), clear, home, set cursor (1-based, off-screen refused),
// backlight and cursor settings; settings that do not change the text
// (contrast, custom characters, keypad, GPO) are consumed; unknown
// commands, read-back commands (not simulated: no answer) and bytes that
// are no character are reported in Problems.
//
// Lines returns the grid, Text the grid without trailing blanks;
// Received, WaitReceived and WaitText let a test wait until the display
// has processed what a driver sent. Inject("OPD-OFFLINE") takes the
// display's power away and Clear brings it back blank, as the in-process
// simulator's control verbs do.
//
// Standalone: New(DefaultOptions) and Serve(ctx, port); the display
// sends nothing.
package lcd
