// Package hostlink is the ISO 8583 link between the ATM and the bank's
// host: the message profile, its wire encoding, the connection the ATM
// keeps open (Client) and the listener the reference host runs (Server).
// docs/hostlink.md is the message catalogue, with a byte-level example
// of every message.
//
// # Profile
//
// Message holds every field of the profile as a plain Go value; a zero
// value is an absent field. Spec, a moov-io/iso8583 MessageSpec, says how
// each field is written: ISO 8583:1987 with ASCII fields, a hex bitmap
// (16 characters, 32 when a field above 64 is present) and binary fields
// (PIN block 52, ICC data 55, MAC 128) as upper-case hex. Pack and Unpack
// convert between Message and bytes and touch nothing else; Unpack
// rejects anything outside the profile with an *UnpackError. Field 48
// carries private TLV data (TLV, ParseTLV) and field 54 balances
// (EncodeAmounts, ParseAmounts).
//
// # Card data
//
// PAN, track 2, PIN block and ICC data are card data. Never log a
// Message or its fields: log Describe(m), which masks the PAN and shows
// the rest only as lengths or "***". Errors from this package never
// quote field contents.
//
// # Framing
//
// On the TCP stream (optionally TLS) every message is preceded by its
// length as two bytes, big-endian, not counting the header: WriteFrame
// and ReadFrame. A zero or oversized length is an error after which the
// stream is out of step and is closed.
//
// # MACs
//
// With MACs on (Config.MAC on the ATM, Server.MAC on the host) every
// financial and reversal message — MTI 0200, 0210, 0420, 0421, 0430, and
// 0100/0110 when they appear (NeedsMAC) — carries a MAC in field 128.
// Network management (0800/0810) never does: keys are exchanged there.
// The MAC is computed over the packed message — MTI, bitmaps with bit
// 128 set, every field — excluding the 16 hex characters of field 128
// itself, which are always last: packed[:len(packed)-16]. PackMAC packs
// with a placeholder, signs that prefix and writes the MAC; VerifyMAC
// checks that bit 128 is set and the last 16 characters. Unpack knows
// nothing of MACs. The key never enters this package: a MACer (the PIN
// pad on the ATM, the HSM on the host) signs and verifies.
//
// The rule for what fails: the Client signs every covered request and
// rejects every covered response with a missing or bad MAC — logged,
// reported to Config.OnReject, kept from Observe and from the waiting
// request, which therefore ends with ErrTimeout (outcome unknown: the
// ATM reverses). The Server refuses every covered request with a
// missing or bad MAC, or from a terminal without a MAC key: it answers
// response code 63, MAC'd when it can, and never calls the Handler; it
// signs every covered response.
//
// # TLS
//
// Config.TLS and Server.TLS wrap the link in TLS; LoadClientTLS and
// LoadServerTLS build mutual TLS configurations (TLS 1.2 minimum, client
// certificates required and verified). The Server wraps its listener
// itself; the Client runs the handshake over whatever Config.Dial
// returns.
//
// # STAN matching
//
// Every request carries a STAN (field 11), six digits from a STANSource.
// The response echoes it, and its MTI is ResponseMTI of the request's.
// The Client matches responses to waiting requests by that pair, so many
// requests may share the connection and responses may come in any order.
// A response nobody waits for (late or duplicate) goes to the Observe
// tap and the log, and is otherwise dropped.
//
// # Outcome rules
//
// Send returns ErrNotConnected when the link is down: nothing was sent.
// ErrTimeout (no response within Config.Timeout, or the caller's context
// ended first) and ErrLinkLost (the connection failed while waiting) mean
// the request may have reached the host and been approved: the outcome is
// unknown, and for a financial request the caller must send a reversal
// (0420, repeated as 0421 until a 0430 arrives) built with OriginalData
// and, after a partial dispense, ReplacementAmounts. A response with a
// code other than 00 is a known outcome, not an error.
//
// # Link lifecycle
//
// Client.Run dials, signs on (0800/001) and only then reports the link up.
// It echoes (0800/301) when the link has been idle for EchoInterval; an
// unanswered echo or any connection failure takes the link down, and it
// reconnects with exponential backoff. All its timers run on
// Config.Clock, so tests and scenarios can drive them with a fake clock.
// When its context ends it signs off (0800/002), best effort.
package hostlink
