// Package store is the reference host's database: an SQLite file
// (modernc.org/sqlite, pure Go) holding customers, accounts, cards,
// terminals, the terminals' working keys, the ledger and the tombstones
// of reversals that arrived before their originals.
//
// Create makes a fresh database from a seed (deleting any previous file
// and its WAL); Open opens one that Create made with the same schema
// version (an older database must be re-created: atmd host --reset). The
// database runs in WAL mode with a busy timeout, synchronous=FULL and
// foreign keys on.
//
// Rules:
//
//   - Money moves only inside Update, which is atomic: a balance and the
//     ledger row that explains it are written together or not at all.
//     Update calls are serialised in the process (SQLite has one writer
//     anyway), so a read-check-write inside one cannot race another; the
//     busy timeout covers other processes. A CHECK constraint keeps
//     balances from going negative even if a caller forgets to check.
//   - Group commit: Updates that queue up while a commit is being
//     written share the next IMMEDIATE transaction, each in its own
//     savepoint (one that fails is rolled back alone), and the batch
//     costs one commit and one fsync instead of one each. Update returns
//     only after that commit, so durability is unchanged: with
//     synchronous=FULL the WAL is on disk, across a crash of the process
//     and a loss of power, before any caller acts on the change.
//   - Balances and limits are integers in minor units of the account's
//     currency. Each account keeps the balance it was created with
//     (Opening), so the ledger can be reconciled against it: opening −
//     approved withdrawals + reversed amounts = balance.
//   - No PIN is ever stored: a card holds its PIN verification value
//     (computed by the caller, see sim/host/hsm) and its wrong-PIN count.
//     A new card's value is its default PIN's until activation, when
//     ActivateCard replaces it with the chosen PIN's, makes the card
//     active and clears the count, all in one statement.
//   - No clear key is ever stored: a terminal's working keys (TPK, TAK,
//     TDK) arrive encrypted under the LMK by the HSM, with their check
//     values and a generation that counts the exchanges. Create records
//     the LMK's check value (LMKCheck) so that a host started with another
//     LMK can say so instead of failing every PIN.
//   - The ledger keeps no PAN: a row names the card by its id. Each row
//     records one financial request the host answered, keyed by terminal,
//     STAN and transmission time, with what is needed to answer a
//     duplicate of that request identically (response code, auth code,
//     RRN, balance after, dispense token), and whether and how much of it
//     was reversed.
//   - A tombstone, keyed like a ledger row, records a reversal whose
//     original the host had not seen; when the original arrives it is
//     linked to the ledger row that declined it.
//   - Mobile banking (app.go): app users with a salted password hash
//     (never a clear password), their wrong-password count and lock,
//     and device bindings (user, device, account, phone). These tables
//     are created IF NOT EXISTS by Create and Open, so an older database
//     gains them empty. One-time codes, challenges, sessions and
//     notifications are deliberately not here: they live in memory
//     (sim/host/otp, sim/host/notify, sim/host/mobile).
//   - Times are stored as integers (Unix nanoseconds) and tokens and keys
//     as blobs, so no random-looking digit string lands in the file.
//
// Every method takes a context and stops when it is cancelled.
package store
