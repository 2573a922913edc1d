package hostlink

// Delegated withdrawal (DESIGN.md §2, document 004): the cardholder
// creates a delegate code in the banking app; a helper inserts the card,
// keys the code on the PIN pad (a format 0 PIN block in field 52, like a
// PIN) and takes one withdrawal up to the code's cap. Two messages carry
// it, and an advice carries the evidence:
//
//   - 0100 with processing code ProcDelegateCheck: is the code right for
//     this card, and what is its cap? Nothing is spent; a wrong code
//     counts against the code's tries and alerts the owner.
//   - 0200 with processing code ProcWithdrawal and TagDelegation in field
//     48: the withdrawal itself. Field 52 is the delegate code again,
//     not a PIN. The host checks the code and the cap and marks the code
//     used in the same database transaction as the ledger entry; the
//     approval carries the ordinary dispense token and no balances.
//   - 0620 (MTIAdminAdvice) with field 90 naming the 0200: a still of the
//     helper's face, in parts (TagEvPart, TagEvData), stored by the host
//     with the ledger entry; answered by 0630.
//
// docs/hostlink.md, section 6e, has the fields, tags, reasons and rules;
// docs/flows/delegated.md the journey.
const ProcDelegateCheck = "940000"

// Administrative advice (evidence), and its response.
const (
	MTIAdminAdvice         = "0620"
	MTIAdminAdviceResponse = "0630"
)

// Field 48 tags of a delegated withdrawal.
const (
	TagDelegation = "DG" // host → ATM (check, 00): the code's id; ATM → host (0200): marks a delegated withdrawal of that code
	TagDelCap     = "DC" // host → ATM (check, 00): the cap, minor units of field 49's currency
	TagDelExpires = "DX" // host → ATM (check, 00): when the code expires, YYYYMMDDhhmmss UTC
	TagDelReason  = "DR" // host → ATM: why a check or a delegated 0200 was refused, one of the Del* reasons
	TagDelTries   = "DL" // host → ATM: wrong codes left before the code dies
)

// Reasons (TagDelReason).
const (
	DelWrong     = "wrong"     // no live code of this card matches (rc 55)
	DelLocked    = "locked"    // too many wrong codes: the code is dead (rc 75)
	DelUsed      = "used"      // the code was already used (rc 05)
	DelExpired   = "expired"   // the code is past its expiry (rc 05)
	DelCancelled = "cancelled" // the owner cancelled the code (rc 05)
	DelOverCap   = "over-cap"  // the amount is over the code's cap (rc 61)
	DelMismatch  = "mismatch"  // the code keyed is not the one DG names (rc 55)
)

// Field 48 tags of an evidence advice (0620).
const (
	TagEvKind   = "EK" // the evidence: one of the Evidence* kinds
	TagEvFormat = "EF" // MIME type of the image, e.g. image/png
	TagEvHash   = "EH" // SHA-256 of the whole image, 64 hex characters
	TagEvSize   = "ES" // size of the whole image in bytes, decimal
	TagEvTaken  = "ET" // when the camera took it, YYYYMMDDhhmmss UTC
	TagEvPart   = "EP" // this part's number and the number of parts, "i/n", 1-based
	TagEvData   = "ED" // this part's bytes, standard base64 with padding
)

// Evidence kinds (TagEvKind).
const (
	EvidenceDelegateFace = "DF" // the helper's face at a delegated withdrawal
	EvidenceOwnerFace    = "OF" // the face at the cardholder's own withdrawal (face check)
)

// EvidencePartSize is the largest number of image bytes one 0620 part
// carries: base64 of it, with the other tags, stays within field 48.
const EvidencePartSize = 600

// MaxEvidence is the largest image an evidence advice may announce.
const MaxEvidence = 1 << 20
