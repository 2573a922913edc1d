// Package delegate is the reference host's book of delegate codes: the
// bank side of delegated withdrawal (DESIGN.md §2, document 004).
//
// A cardholder, in the banking app, creates a delegate code for one of
// their cards with an amount cap and an expiry (Create), can list their
// codes (List) and cancel a live one (Cancel). A helper keys the code at
// an ATM with the card; the host checks it (Check) and spends it on one
// withdrawal (Use), inside the store transaction that writes the ledger
// entry, so of two withdrawals racing with one code exactly one commits.
//
// Rules, each enforced here and tested:
//
//   - A code is Digits (6–8) random digits, uniform, from crypto/rand.
//     Its clear digits exist once, in Create's result, for the app to
//     show; the database keeps only MAC(code id, card, digits) under the
//     HSM's code key (hsm.CodeMAC). Checking a keyed code MACs its digits
//     for each code of the card and compares in constant time.
//   - A code is bound to one card: keyed with another card it matches
//     nothing.
//   - Single use: Use succeeds once (store.ErrNotLive afterwards), also
//     across terminals racing.
//   - Expiry: at most MaxExpiry after creation; past it the code is dead.
//   - Attempt limit: a wrong code counts against every live code of the
//     card; a code with MaxTries wrong codes is locked for good, also
//     against the right code afterwards. Keying a dead code (used,
//     cancelled, expired, locked) is refused with its reason and is not
//     a wrong try.
//   - Cap: at most MaxAmount (the bank's limit), in the card's account
//     currency, a whole number of major units.
//
// Nothing here logs or stores a code's digits; logs name codes by id and
// cards by id.
package delegate
