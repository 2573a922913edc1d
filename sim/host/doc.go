// Package host is the reference bank host that atmd talks to in CI and on
// a laptop: an ISO 8583 server (hostlink.Server) whose banking logic runs
// against an SQLite database on disk (sim/host/store), with PIN
// verification done the way an HSM would (sim/host/hsm) and demo data
// from a seed file (sim/host/seed, configs/seed.yaml).
//
// # Lifecycle
//
// New checks the Config and builds the HSM (no I/O); Open opens the
// database, or with WithReset deletes it and creates it afresh from the
// seed; Serve answers terminals on a listener until its context ends;
// Close releases the database and is safe after a partial start. Handle
// (a hostlink.Handler) can also be called directly. Balance, Ledger,
// CardStatus and SignedOn let tests and the scenario runner look inside.
//
// # Messages
//
//   - 0800 → 0810: 001 sign-on and 002 sign-off record the terminal's
//     state, 301 echo answers; another code gets 12.
//   - 0200 → 0210, processing code 01xxxx (cash withdrawal) or 31xxxx
//     (balance inquiry); another code gets 12. Checks, in order, each
//     with its response code: format (PAN, STAN, field 7, terminal,
//     PIN block, for withdrawals the currency and the dispenser nonce in
//     field 48 tag NC) 30; card known 14; card state: blocked by wrong
//     PINs 75, blocked 62, expired (status or date) 54, not activated
//     (status new) 57; PIN 55, or 75 and the card blocked when the wrong
//     PINs reach max_pin_tries (a right PIN resets the count; a block that
//     does not open under the PIN key gets 63 and is not counted);
//     for withdrawals: the account's currency and a positive whole number
//     of major units 13, balance 51, daily limit 61 (approved
//     withdrawals of the business day, less reversals, plus this one).
//     An approval debits the account and carries an auth code (field
//     38), field 54 with the ledger (01) and available (02) balance and,
//     for a withdrawal, the dispense token (field 48 tag DT, hex) bound
//     to terminal, STAN, amount, currency and nonce.
//   - Every 0200 that passes the format checks is recorded in the ledger
//     with its response, keyed by terminal, STAN and transmission time
//     (field 7). A duplicate — the same key again — gets the recorded
//     response (same auth code, RRN and token) and moves no money; the
//     same key on a different request gets 94.
//   - 0420/0421 → 0430: field 90 names the original (its layout is in
//     fields.go), field 95 optionally the amount actually dispensed. The
//     host credits back the original amount less that, once: a repeat,
//     a reversal of a declined or unknown request, or of a balance
//     inquiry credits nothing and is still answered 00, since a reversal
//     must always be acknowledged. Only a malformed reversal gets 30.
//
// Each request is decided in one database transaction, so the balance,
// the wrong-PIN count and the ledger row move together, and concurrent
// withdrawals on one account cannot overdraw it.
//
// # Secrets
//
// Keys live in the HSM; Key values print their check value, never their
// bytes. Clear PINs exist only inside hsm.VerifyPIN; the database holds
// PIN verification values, and the ledger names cards by id, not PAN.
// Logs carry masked PANs (internal/mask) and never PIN blocks, nonces or
// tokens.
package host
