// Package host is the reference bank host that atmd talks to in CI and on
// a laptop: an ISO 8583 server (hostlink.Server) whose banking logic runs
// against an SQLite database on disk (sim/host/store), with keys and PIN
// verification handled the way an HSM would (sim/host/hsm), the key
// exchange of sim/host/keyexchange, and demo data from a seed file
// (sim/host/seed, configs/seed.yaml).
//
// # Lifecycle
//
// New checks the Config and builds the HSM (no I/O); Open loads the TLS
// files (when configured) and opens the database, or with WithReset
// deletes it and creates it afresh from the seed; Serve answers terminals
// on a listener until its context ends; Close releases the database and
// is safe after a partial start. Handle (a hostlink.Handler) can also be
// called directly. Balance, Ledger, CardStatus, SignedOn, TerminalKeys,
// Tombstones and Reconcile let tests, the scenario runner and the
// fault-injection suite look inside.
//
// # Mobile banking
//
// Open also builds the mobile-banking service (sim/host/mobile) on the
// database, with the notifier New made (sim/host/notify; its outbox is
// memory only and survives Close/Open) and the seed file as the source
// of new cards' default PINs, read at the moment one is sent. Mobile
// returns it (the Go API of the activation flow: Activation, Challenges,
// Codes, Notify); ServeMobile serves its HTTP API for the banking app
// (the config's optional mobile: section, e.g. listen and simulator);
// Outbox lets tests read what was sent. A seed's app users are stored
// with PBKDF2 password hashes (mobile.HashPassword).
//
// # Keys
//
// The config names every terminal with its terminal master key (TMK), as
// the bank's key custodians set it up; the ATM holds the same key, loaded
// as clear components into its PIN pad and dispenser. Working keys are
// exchanged, never configured:
//
//   - 0800 with field 70 = 101 (key exchange) and field 48 tag CT = the
//     check value of the terminal's TMK. A terminal the config does not
//     name, or a CT that is not the check value of its TMK, gets 63 and a
//     log line, and no keys. A malformed field 48 gets 30.
//   - Otherwise the HSM generates a fresh TPK (PIN, TDES 16 bytes), TAK
//     (MAC, TDES 16 bytes) and TDK (dispense token HMAC key, 32 bytes).
//     The 0810 (rc 00) carries each encrypted under the TMK (TDES-ECB)
//     with its check value: tags KP/CP, KM/CM and KD/CD (the TDK's check
//     value is the first 3 bytes of HMAC-SHA256(TDK, 16 zero bytes)); see
//     sim/host/keyexchange. Only after the 0810 has been built are the
//     stored keys replaced, in the database, each encrypted under the LMK
//     (AES-GCM, bound to terminal and role; see sim/host/hsm). If storing
//     fails the answer is 96 and the previous keys stay in force.
//   - From then on PIN blocks verify only under the terminal's current
//     TPK (one made under a previous TPK gets 63 and is not counted as a
//     wrong PIN), dispense tokens are signed with its current TDK, and
//     MACs use its current TAK. Keys survive a restart; a database made
//     under another LMK is refused at Open (ErrLMKMismatch).
//   - A terminal that has not exchanged keys gets 63 for every 0200
//     (nothing recorded), and — through the MAC check — for every 0420
//     and 0421.
//
// # MACs
//
// Serve turns on hostlink's MAC checks with MAC as the key source: every
// 0100, 0200, 0420 and 0421 must carry in field 128 the retail MAC
// (ISO 9797-1 algorithm 3, internal/mac) under its terminal's current TAK
// of the packed message before field 128. A missing or bad MAC is
// answered 63 by the server, logged, and never reaches Handle, so nothing
// is posted or changed. Every 0110, 0210 and 0430 is signed with the same
// TAK. 0800/0810 carry no MAC.
// Handle itself does not check MACs: in-process callers are trusted.
//
// # Messages
//
//   - 0100 → 0110, processing code 930000: card activation (below);
//     940000: the check of a delegate code (below); another code gets 12.
//   - 0800 → 0810: 001 sign-on and 002 sign-off record the terminal's
//     state, 301 echo answers, 101 exchanges keys (above); another code
//     gets 12.
//   - 0200 → 0210, processing code 01xxxx (cash withdrawal) or 31xxxx
//     (balance inquiry); another code gets 12. Checks, in order, each
//     with its response code: format (PAN, STAN, field 7, terminal,
//     PIN block, for withdrawals the currency and the dispenser nonce in
//     field 48 tag NC) 30; the terminal has working keys 63; a reversal
//     of this very request already arrived (tombstone, below) 12; card
//     known 14; card state: blocked by wrong PINs 75, blocked 62, expired
//     (status or date) 54, not activated (status new) 57; PIN 55, or 75
//     and the card blocked when the wrong PINs reach max_pin_tries (a
//     right PIN resets the count; a block that does not open under the
//     terminal's TPK gets 63 and is not counted); for withdrawals: the
//     account's currency and a positive whole number of major units 13,
//     balance 51, daily limit 61 (approved withdrawals of the business
//     day, less reversals, plus this one). An approval debits the account
//     and carries an auth code (field 38), field 54 with the ledger (01)
//     and available (02) balance and, for a withdrawal, the dispense
//     token (field 48 tag DT, hex) bound to terminal, STAN, amount,
//     currency and nonce, signed with the terminal's TDK.
//   - Every 0200 that passes the format and key checks is recorded in the
//     ledger with its response, keyed by terminal, STAN and transmission
//     time (field 7). A duplicate — the same key again — gets the
//     recorded response (same response code, auth code, RRN) and moves
//     no money; the same key on a different request gets 94. The
//     recorded dispense token is repeated only while the approval stands:
//     a duplicate of an approval that has since been reversed is answered
//     without it, so no cash can follow a reversal.
//   - 0420/0421 → 0430: field 90 names the original (its layout is in
//     fields.go), field 95 optionally the amount actually dispensed. The
//     host credits back the original amount less that, once: a repeat, a
//     reversal of a declined request or of a balance inquiry credits
//     nothing and is still answered 00, since a reversal must always be
//     acknowledged. Only a malformed reversal gets 30.
//
// # Card activation
//
// A 0100 with processing code 930000 (hostlink.ProcActivation) is one
// step of the activation of a new card (DESIGN.md §2, document 000;
// activation.go). Field 48 names the step (AS) and, after the start, the
// activation id (AI) the start reply gave; the dialogue, its tags and
// its reasons (AR) are in docs/hostlink.md, "Card activation". Every
// step is checked, in order: format (fields 2, 3, 7, 11, 41, field 48
// and the step's own tags, field 52 where the step carries a PIN block)
// 30, naming the field and tag in the log; the terminal has working keys
// 63; the dialogue is live, of this card and of this terminal 12
// AR=session; the card is still new (unknown 14, blocked 62, expired by
// status or date 54, active 12, each with its reason; the dialogue
// ends); the step follows from the last one 12 AR=order. A database
// failure is 96. The reply echoes the request (echo) with the response
// code and field 48.
//
//   - ST starts a dialogue (replacing any earlier one of the card) and
//     answers the activation id, a new 16-hex-character random value,
//     and the app state of the customer (mobile Activation.Check): R
//     ready, with a QR challenge (purpose "activate", bound to card and
//     terminal) whose payload goes to the ATM under QR; L, U, or N.
//   - QS redeems the QR challenge once the app has submitted it: the
//     identity is checked and the default PIN goes to the app by push.
//   - SC sends a code: by push only while the app is ready, by SMS only
//     after the identity (ID) matched. VC checks it (field 52, the code
//     as a PIN block): the identity is checked and the default PIN goes
//     where the code went.
//   - ID compares the mobile number and birth date keyed with the
//     customer's record; a match sends an SMS code. Wrong identities are
//     counted per card across dialogues; max_code_tries of them (mobile
//     config) lock the card's identity check for login_lockout.
//   - DP verifies the default PIN as a 0200 verifies a PIN: the card's
//     PVV and wrong-PIN count, max_pin_tries blocking the card.
//   - NP sets the new PIN, entered twice (field 52 and P2): the entries
//     must agree; a PIN that is the default PIN (compared by PVV), one
//     digit repeated or a straight run is refused as weak. Then, in one
//     store update, the new PVV replaces the default's, the card becomes
//     active with no wrong PINs, and the dialogue ends.
//   - CX forgets the dialogue; it is always 00.
//
// Dialogues live in memory only, like the codes and challenges of the
// mobile service, for activation_ttl (10 minutes by default) from their
// start; Open starts with none. The default PIN leaves the host only in
// the push or SMS to the customer's phone (mobile Notify.DefaultPIN),
// read from the seed at that moment.
//
// # Delegated withdrawal
//
// A cardholder creates delegate codes in the app (mobile /v1/delegates,
// on the delegate.Book Open makes; the host config's delegate section
// sets digits, max_tries, max_amount and max_expiry). The codes live in
// the database as HMACs under a key derived from the LMK (hsm.CodeMAC),
// bound to their card (delegated.go, docs/hostlink.md section 6e):
//
//   - 0100, processing code 940000, field 52 the code as a PIN block:
//     00 with the code's id (DG), cap (DC) and expiry (DX); 55 DR=wrong
//     (counted against every live code of the card; DL tries left); 75
//     DR=locked; 05 DR=used, expired or cancelled. Nothing is spent. Card
//     refusals as for a 0200.
//   - A 0200 withdrawal with field 48 DG is delegated: field 52 is the
//     code, checked as above instead of a PIN (DR=mismatch when it is not
//     the code DG names), then the cap (61 DR=over-cap), balance and
//     daily limit. The approval spends the code in the same store update
//     as its ledger entry, so of two withdrawals racing with one code
//     exactly one commits, and carries no field 54.
//   - The cardholder is told at once, by push or else SMS
//     (mobile Notify.Owner): an alert for a wrong or dead code, a notice
//     for a withdrawal made with a code. No message carries a code.
//   - 0620 → 0630: an evidence still in parts (evidence.go), field 90
//     naming the 0200, stored whole with its ledger entry (Evidence); a
//     cardholder's own still (face check) is compared with the face the
//     seed enrolls for the customer (sim/face, the simulator's rule) and a
//     mismatch alerts the cardholder.
//
// # Late and out-of-order messages
//
// A reversal whose original the host has not seen (the 0200 was delayed,
// or lost, in the network) is answered 00 and leaves a tombstone keyed
// like the original (terminal, STAN, transmission time). If the original
// arrives afterwards it is declined with 12 (invalid transaction): it is
// recorded in the ledger, with that code, so that its own duplicates get
// the same answer, but its PIN is not checked, nothing is debited and no
// token is issued; the tombstone is linked to that ledger entry. Repeats
// of the reversal find the tombstone and do nothing. Because each request
// is decided in one atomic store update, an original racing its
// reversal ends one of two ways, both balanced: approved then reversed,
// or tombstoned then declined.
//
// # Reconciliation
//
// Reconcile checks, in one snapshot, that for every account opening
// balance − Σ approved withdrawals + Σ reversed amounts = balance, that
// no reversal credited more than its approval or anything for a declined
// request, and that no original was approved after its tombstone; and
// totals per terminal and currency approved − reversed = dispensed
// according to the host, for comparison with the terminal's counters.
//
// Each request is decided in one atomic store update (store.Update: its
// own savepoint in a group-committed transaction, answered only once that
// transaction is on disk), so the balance, the wrong-PIN count, the
// ledger row and the tombstone move together, and concurrent withdrawals
// on one account cannot overdraw it: updates run one at a time.
//
// # Secrets
//
// Clear keys live in the HSM only for the length of one operation; the
// database holds working keys encrypted under the LMK, and config keys
// print their check value or "***", never their bytes (internal/keymat).
// Clear PINs exist only inside hsm.VerifyPIN, and for card activation
// and delegate codes the digits of a code or new PIN between
// hsm.OpenPINBlock and the check that wipes them; the database holds PIN verification
// values, and the ledger names cards by id, not PAN. Logs carry masked
// PANs (internal/mask), card ids, steps, response codes, reasons and key
// check values, and never PIN blocks, PINs, codes, QR payloads, keyed
// mobile numbers or birth dates, keys, nonces, MACs or tokens.
package host
