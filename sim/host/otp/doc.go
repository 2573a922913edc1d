// Package otp is the reference host's one-time secrets: verification
// codes (six digits, sent to the customer's phone and keyed back on the
// ATM's PIN pad) and challenges (random nonces shown by the ATM as a QR
// code and submitted by the banking app).
//
// It is a pure core: no I/O, no database and no goroutines; time comes
// from an injected clock.Clock, so tests move it by hand. The caller
// (sim/host/mobile) looks up cards and phones and hands the secrets to
// the notifier.
//
// Rules, each enforced here and tested:
//
//   - Secrets come from crypto/rand. Codes are uniform over 10^Digits.
//   - Only an HMAC-SHA256 of each secret is kept, under a key made for
//     the process by New (never configured, never stored): a memory dump
//     of the tables does not reveal a live code, and the clear code is
//     returned once, to the caller that sends it.
//   - Codes are compared in constant time (crypto/subtle).
//   - Single use: a code or challenge that verified once is spent; a
//     second try gets ErrUsed.
//   - Expiry: after TTL a secret gets ErrExpired.
//   - Attempt limit: MaxTries wrong codes in a row lock the code
//     (ErrLocked, also for the right code afterwards); the caller must
//     issue a new one. A wrong try returns a *WrongCodeError naming the
//     tries left.
//   - Issuing a new code for the same subject and purpose replaces the
//     old one, which stops working at once.
//
// The tables live in memory: a code lives for minutes and a customer
// who loses one to a host restart asks for another, which is safer than
// writing secrets, even hashed, to disk. Expired entries are swept on
// every Issue.
package otp
