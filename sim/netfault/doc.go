// Package netfault is a fault-injecting TCP proxy for the host link, for
// the fault-injection suite (`atmd faults`, docs/fault-injection.md).
//
// The proxy sits between an ATM and its host on loopback. It understands
// the link's framing — a 2-byte big-endian length header before every
// message (docs/hostlink.md §1) — and reads only what it must: the MTI,
// the first 4 bytes of each message. It never changes a byte of a
// message; it only decides when, how often and whether a message is
// passed on, which is what a broken network or a sick host does:
//
//   - Pass: forward everything (a tap: Observe sees every frame).
//   - Drop: right after forwarding a 0200 to the host, close the ATM's
//     connection — the link fails in the middle of a transaction. The
//     host's connection stays open until the host has answered (the
//     answer is swallowed), so the host completes the transaction: it
//     has approved, the ATM never hears of it and must reverse it.
//   - Slow: hold every 0210 for Delay, longer than the ATM's response
//     timeout, then deliver it. The late approval must not lead to cash:
//     the ATM has reversed the request by then and drops the response.
//   - Duplicate: deliver every host message twice.
//   - Reorder: hold a host message until the next one arrives and send
//     that one first (or, when none comes within MaxHold, send the held
//     one alone), so responses reach the ATM out of order.
//
// ATM-to-host traffic is never delayed, duplicated or reordered: every
// fault is one the host side (or the network towards it) can cause.
//
// A Proxy serves any number of connections, one host connection per ATM
// connection. Serve runs until its context ends; held and delayed frames
// are then dropped with their connections. Settle waits until no frame is
// held, so a test can tell that every late response has been delivered.
package netfault
