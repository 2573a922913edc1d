// Package escpos is a wire-level simulator of an ESC/POS receipt printer
// (simulation level L2): it sits on the far end of a serial line — the
// master side of a pseudo-terminal, a real serial port, any
// io.ReadWriter — and behaves as the printer does, byte for byte, so the
// real driver (devices/escpos) runs unchanged against it. It implements
// docs/devices/escpos.md independently of the driver: neither imports the
// other.
//
// The stream. Parser splits the byte stream into text, control codes and
// commands with the lengths of the ESC/POS reference, in chunks of any
// size, skipping bulk data (images, bar codes, 2D codes) without
// buffering it; unknown commands are consumed as prefix and command byte
// and reported in Problems. Printer executes what Parser finds: text in
// the selected code table (ESC t) or, after FS &, in Big5, wrapped at
// Options.Cols columns as on paper (a Big5 character takes two); LF
// prints a line; GS V cuts; ESC @ starts a new receipt. Receipts returns
// the paper that came out as text lines.
//
// Answers. DLE EOT n gets the status byte for the printer's state (paper
// roll, cover, cutter and unrecoverable errors), at once, even while the
// printer is off-line; GS r 1 gets the paper sensor byte in order, after
// everything before it. While off-line (paper out, cover open, an
// error) the printer executes real-time commands only and drops the rest.
//
// Control. SetPaper, Inject and Clear mirror the in-process simulator
// (sim/devsim): the status faults PRN-PAPER-OUT, PRN-PAPER-LOW,
// PRN-COVER-OPEN, PRN-JAM and PRN-HARDWARE, and the line faults
// PRN-OFFLINE (silent), PRN-TIMEOUT (late answers) and PRN-PROTOCOL
// (garbage answers); JamNextCut jams the cutter mid-receipt and
// SetTruncate loses every other answer.
//
// Standalone: New(DefaultOptions) and Serve(ctx, port) on an opened
// serial port or pseudo-terminal master; Serve returns when ctx ends.
package escpos
