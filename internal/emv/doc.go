// Package emv holds the EMV data formats that both ends of a chip card
// conversation need: BER-TLV (EMV Book 3 annex B), data object lists
// (PDOL, CDOL1), the application file locator, track 2 equivalent data,
// the numeric (BCD) encodings, and the chip data that travels in ISO 8583
// field 55.
//
// It is data only. The terminal's EMV kernel (devices/pcsc) and the
// virtual card (sim/wire/vcard) both use it to encode and decode bytes,
// but each carries its own command handling: the kernel decides what to
// send and the card decides what to answer, independently, from the
// protocol document docs/devices/pcsc.md.
//
// Parsing is strict and never panics on hostile input: every parser
// returns an error wrapping ErrMalformed for bytes that do not follow
// the format — for TLV, DOL, AFL and track 2 a *ParseError saying where —
// and each has a fuzz target. Errors never quote the data they refuse:
// it may be card data.
//
// Card data: Track2 holds a PAN, so its String masks it; use Text for the
// clear ISO 7813 form that goes to the host.
package emv
