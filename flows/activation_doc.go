package flows

// ActivationDoc returns docs/flows/activation.md: the card activation
// journey's rules, its state diagram and its state table, generated
// from the code.
func ActivationDoc() string {
	return `# Card activation with the default PIN delivered to the phone

<!-- Generated from flows/activation.go by: go test ./flows -run TestFlowDoc -update. Do not edit. -->

A new debit card is activated at the ATM without a paper PIN mailer (DESIGN.md §2,
document 000). The ATM offers **Activate a new card** (F4) on the PIN screen when
` + "`atm.services.activation`" + ` is on; the PIN entry ends on that key without a PIN block. Every
step is an 0100 to the host with processing code 930000 and the step in field 48
(docs/hostlink.md, "Card activation"); the host's mobile-banking side is in
docs/mobile-api.md.

## The paths

1. **Start** (` + "`ST`" + `): the host checks the card — unknown, blocked or expired cards get
   *This card cannot be used*, an already active card *This card is already active*;
   the card comes back. For a new card it reports the customer's banking app:
   - **ready** (logged in, chose *Card activation* for this card in the app, phone bound
     to the card's account): the ATM shows a **QR code** holding a one-time host
     challenge. The app scans it and submits it to the host; the ATM asks the host every
     2 s (` + "`QS`" + `) until the app has done so, or the challenge expired (*Show a new code*).
   - **not logged in / activation not chosen** or **phone not bound**: the ATM says so and
     offers *Try again* (after fixing it in the app) or *Not a mobile banking user*.
   - **no app**: straight to the non-app path.
2. **Fallback** on the QR screen: *Enter verification code* (` + "`SC`" + ` push) — the host
   pushes a 6-digit code to the app; the customer keys it (` + "`VC`" + `).
3. **Non-app path**: *Not a mobile banking user* → mobile number (keyed as 09xxxxxxxx)
   → birth date (YYYYMMDD) (` + "`ID`" + `). Both must match the account; the ATM does not say
   which did not. The host then sends a code by **SMS** to the phone on file; the customer
   keys it (` + "`VC`" + `). *Send a new code* asks for another (` + "`SC`" + `).
4. After the identity check the host sends the card's **default PIN** to the phone (push
   for app users, SMS otherwise). The customer keys it (` + "`DP`" + `), then a **new PIN twice**
   (` + "`NP`" + `: both PIN blocks in one request; the host compares them). The card is active;
   *Other services* goes to the PIN screen, where the new PIN works at once.

## Rules

- **Secrets stay in the PIN pad.** Codes, the default PIN and the new PIN are keyed in
  secure entry: the PIN pad returns only encrypted ISO 9564 blocks (field 52, and
  ` + "`P2`" + ` for the new PIN's second entry); the screen shows ` + "`*`" + `. The host decrypts them in
  its HSM, compares and forgets them. The default PIN leaves the host only in the one
  message to the cardholder's phone; it is never stored (the host keeps a PIN
  verification value).
- **One-time, short-lived, hashed, locked.** Codes and QR challenges are single use,
  expire (host ` + "`mobile.code_ttl`" + `, ` + "`mobile.challenge_ttl`" + `), are kept only as HMACs and lock
  after ` + "`mobile.max_code_tries`" + ` wrong tries (*Too many wrong attempts*); a replayed QR
  payload is refused by the host (409 ` + "`used`" + `). Wrong identities lock the card's non-app
  path for ` + "`mobile.login_lockout`" + `. Wrong default PINs count like wrong PINs: after
  ` + "`host.max_pin_tries`" + ` the card is blocked and retained.
- **Weak new PINs are refused**: the default PIN, one repeated digit, or a straight run
  such as 1234 or 9876.
- **Personal data is not kept.** The mobile number and birth date go to the host in
  field 48 and are neither journaled nor logged on either side.
- **Every step is journaled**: ACTIVATION-START, ACTIVATION-REQUEST (step),
  ACTIVATION-REPLY (step, response code, reason, app mode, QR state, channel, tries left —
  never a payload, number, date or code), ACTIVATION-DONE, CANCELLED.
- **Cancel at every step** (CANCEL on the PIN pad or F8): the host is told to forget the
  activation (` + "`CX`" + `) and the card comes back. Inactivity asks *Do you need more time?* as
  everywhere else.

## States

` + "```mermaid\n" + Diagram(CardActivation) + "```\n\n" + Table(CardActivation)
}
