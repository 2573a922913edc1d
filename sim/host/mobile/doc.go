// Package mobile is the reference host's mobile-banking service: the
// bank side of the phone-based flows of issue 5 (card activation with
// the default PIN delivered to the phone; DESIGN.md §2, document 000).
//
// It has two faces:
//
//   - An HTTP/JSON API for the customer's banking app (Handler, Serve;
//     every endpoint with an example in docs/mobile-api.md): login with
//     a bearer token, device binding, the app's "activate my card"
//     choice, submitting a scanned QR payload, the push inbox (list and
//     server-sent events), delegate codes for delegated withdrawal
//     (create, list, cancel; with WithDelegates, delegate.go) and, only
//     when Config.Simulator is set, the SMS outbox for the phone
//     simulator.
//   - A Go API for the ATM-side flows, called by the host while it
//     answers the ATM: Activation.AppReady / Check ("is the cardholder
//     in the app, did they choose activation, is the phone bound?"),
//     Challenges.Issue / Status / Redeem (the QR challenge), Codes.Send /
//     Verify (verification codes by push or SMS) and Notify.DefaultPIN
//     (the new card's default PIN to the phone).
//
// # Security rules
//
//   - Passwords are stored only as salted PBKDF2-HMAC-SHA256 hashes
//     (HashPassword; crypto/pbkdf2), compared in constant time; an
//     unknown user costs the same work as a wrong password and gets the
//     same answer. MaxLoginTries wrong passwords in a row lock the login
//     for LoginLockout (429 with Retry-After).
//   - Bearer tokens are 256 random bits; the service keeps only their
//     SHA-256, in memory, and they expire after SessionTTL.
//   - Codes and challenges (sim/host/otp) are random, kept as HMACs,
//     single use, expire (CodeTTL, ChallengeTTL) and lock after
//     MaxCodeTries wrong tries. Wrong QR payloads count per user too:
//     after MaxCodeTries the session is ended (429) and the user must
//     log in again.
//   - The default PIN leaves the host only in the text of one message
//     to the cardholder's phone (Notify.DefaultPIN). It is read from the
//     PINSource at that moment, never stored, and nothing here logs a
//     password, token, code, payload or message text.
//   - Every request body is at most MaxBody (8 KiB, else 413), must be
//     application/json (else 415) and is decoded strictly: an unknown
//     field, a wrong type, trailing data or a field breaking its rule is
//     a 400 naming the field. Every error is a JSON ErrorBody.
//
// Sessions, activation intents, codes and challenges live in memory:
// they last minutes, and a restart simply asks the customer to log in
// again. App users and device bindings are in the host database
// (sim/host/store); notifications in the notifier's in-memory outbox
// (sim/host/notify).
package mobile
