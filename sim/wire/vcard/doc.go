// Package vcard is a virtual EMV contact card for pcscd's vpcd virtual
// reader (Debian package vsmartcard-vpcd): the far end of the PC/SC
// transport in atmd's wire-level tests (simulation level L2).
//
// # vpcd
//
// pcscd's vpcd driver listens on a TCP port per reader (35963 and 35964
// by default; see /etc/reader.conf.d/vpcd). A card is present in the
// reader while a client is connected to that port; closing the
// connection is pulling the card out. Both directions carry frames of a
// two-byte big-endian length and a payload. A one-byte payload from vpcd
// is a control byte — 00 power off, 01 power on, 02 reset (no answer),
// 04 get ATR (answered with the ATR; pcscd polls it to see whether the
// card is still there). Any longer payload is a command APDU, answered
// with one frame holding the response APDU. ReadFrame, AppendFrame and
// ParseFrame implement the framing; docs/devices/pcsc.md has a byte-level
// example, which is a test.
//
// # The card
//
// New builds a card from a Profile (ProfileFromSeed for the demo cards of
// configs/seed.yaml). Its one EMV application answers SELECT of the PSE
// (1PAY.SYS.DDF01) and of its AID with an FCI carrying a PDOL, GET
// PROCESSING OPTIONS with AIP and AFL, READ RECORD with two records (track
// 2 equivalent data and name; PAN, expiry, sequence number, CDOL1, CDOL2,
// CVM list), GENERATE AC with a cryptogram, GET DATA for the ATC and the
// PIN try counter, and GET RESPONSE in T=0 mode. Anything else gets the
// ISO 7816-4 status word a real card would give: 6A82 file not found,
// 6A83 record not found, 6A86 bad P1/P2, 6700 bad length, 6985
// conditions not satisfied, 6D00 unknown instruction, 6E00 unknown class.
//
// The cryptogram is a demo algorithm, not an EMV one: the first 8 bytes of
// HMAC-SHA256 under the card's key over the CDOL1 data, the AIP and the
// ATC (ComputeAC); the card's key is derived from an issuer master key and
// the PAN (DeriveCardKey), so a host holding the master key can check it.
//
// # Control
//
// Insert connects the card to vpcd and serves it in the background;
// Remove disconnects it; Run does both around a context, for a card
// that stays in the reader until the program ends. RemoveAfter(n) pulls the card out when its
// (n+1)-th command arrives, for "card pulled mid-read" tests. Inject puts
// the card into a fault (no application, mute, garbage, a response
// shorter than a status word, a broken vpcd frame); Clear ends it. Serve
// runs the card on any stream, for tests without pcscd.
//
// The card is an independent implementation of docs/devices/pcsc.md: it
// shares only the data encodings of internal/emv with the driver in
// devices/pcsc, never its command handling.
package vcard
