package flows

// DelegatedDoc returns docs/flows/delegated.md: the delegated
// withdrawal's rules, its state diagram and its state table, generated
// from the code.
func DelegatedDoc() string {
	return `# Delegated withdrawal with a delegate code

<!-- Generated from flows/delegated.go by: go test ./flows -run TestFlowDoc -update. Do not edit. -->

A cardholder who cannot go to the ATM lets someone else withdraw for them without
telling them the PIN (DESIGN.md §2, document 004). In the banking app the cardholder
creates a **delegate code** for one card, with an **amount cap** and an **expiry**, and
can list and cancel their codes (docs/mobile-api.md, ` + "`atmd phone delegate`" + `). They
give the card and the code to the helper.

## The journey

1. The helper inserts the card. The PIN screen offers **Delegated withdrawal** (F5) when
   ` + "`atm.services.delegated`" + ` is on and the camera works; the PIN entry ends on that key
   without a PIN block.
2. The helper keys the **delegate code** (6 to 8 digits) in secure entry: the PIN pad
   returns a PIN block, as for a PIN; the screen shows ` + "`*`" + `.
3. The ATM asks the host whether the code is right for this card (0100, processing code
   ` + "`940000`" + `, the code in field 52; docs/hostlink.md section 6e). The host answers the
   code's id and **cap**. A wrong code says *Incorrect delegate code* with the attempts
   left and may be keyed again; the host **alerts the cardholder's phone** at once. A
   used, expired, cancelled or locked code ends the session with its reason.
4. The amount menu offers only the fast amounts up to the cap (and the cap itself), an
   other amount up to the cap, and cancel. More than the cap is refused on the spot.
5. The receipt question, then the withdrawal: a 0200 whose field 52 is the delegate code
   (not a PIN) and whose field 48 names the code (` + "`DG`" + `). The host checks the code and the
   cap and spends the code in the same database transaction as the ledger entry; the
   approval carries the ordinary **dispense token** (terminal, STAN, amount, dispenser
   nonce), and no balance.
6. Card first, then the cash. When the cash is presented the **camera takes the helper's
   face**; the still goes to the host in evidence advices (0620) and is stored with the
   ledger entry. The session ends: one withdrawal, then the card and goodbye.

## Rules

- **Only the delegated withdrawal is shown**: no balance (the host sends none, the
  receipt prints none), no main menu, no other service, no second transaction — every
  screen offers only amounts, other amount, cancel, the receipt question or "more time?".
- **The code stays in the PIN pad**, like a PIN: keyed in secure entry, sent only as a
  PIN block, never journaled or logged on either side. The host keeps only an HMAC of it.
- **One-time, expiring, attempt-limited** (host side, ` + "`host.delegate`" + `): a code works for
  one withdrawal; after ` + "`max_tries`" + ` wrong codes with the card it is dead; past its expiry
  it is dead; the owner can cancel it. This ATM also stops after ` + "`atm.max_pin_tries`" + `
  wrong codes in one session. Wrong codes never count as wrong PINs: the card is
  not retained.
- **Evidence**: the camera's still of the helper goes to the host with the transaction;
  ` + "`atm.services.face_check`" + ` also photographs cardholders at their own withdrawals, and the
  host alerts the cardholder when the face does not match the one enrolled.
- **Timeouts and faults** are handled as for any withdrawal: a host that does not
  answer the 0200 gets a reversal (0420) until acknowledged; the code stays spent if
  the host had approved it (the owner makes a new one).
- **Cancel at every step** (CANCEL or F8): the card comes back; the code is not spent.
- **Every step is journaled**: DELEGATED-START, DELEGATED-CHECK, DELEGATED-CHECK-REPLY
  (outcome, response code, code id, cap, reason, attempts left), DELEGATED-OVER-CAP,
  DELEGATED-WITHDRAWAL (code id, amount), then the withdrawal's own records and
  EVIDENCE-CAPTURE, EVIDENCE-STORED, EVIDENCE-SENT — never the code.

## States

The states after the code check are those of the card withdrawal (receipt choice,
authorizing, dispensing, card before cash, take cash, printing, goodbye), drawn in
[withdrawal.md](withdrawal.md).

` + "```mermaid\n" + Diagram(DelegatedWithdrawal) + "```\n\n" + Table(DelegatedWithdrawal)
}
