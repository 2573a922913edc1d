package hostlink

// Card activation (DESIGN.md §2, document 000) runs as a dialogue of
// 0100/0110 messages with processing code ProcActivation. Each request
// names its step under TagActStep; the host answers every step with the
// usual response code and, in field 48, what the ATM needs next. The
// dialogue, step by step with its replies, reasons and rules and a
// byte-level example of the start step, is in docs/hostlink.md (section
// 6c, "Card activation") and the journey in docs/flows/activation.md.
const ProcActivation = "930000"

// Field 48 tags of the activation dialogue.
const (
	TagActStep    = "AS" // ATM → host: the step, one of the Step* values
	TagActID      = "AI" // both ways: the host's activation id, from the start reply on
	TagActChannel = "CH" // ATM → host (send code): push or sms; host → ATM: where the code or default PIN went
	TagActMobile  = "MP" // ATM → host (identity): the mobile number keyed, digits only
	TagActBirth   = "BD" // ATM → host (identity): the birth date keyed, YYYYMMDD
	TagActPIN2    = "P2" // ATM → host (new PIN): the second entry's PIN block, hex
	TagActMode    = "AM" // host → ATM (start): the app state, one of the Mode* values
	TagActQR      = "QR" // host → ATM (start): the QR payload to show; a one-time secret, never logged
	TagActQRState = "QX" // host → ATM (QR status): one of the QR* values
	TagActTries   = "TL" // host → ATM: tries left after a wrong code, PIN or identity
	TagActReason  = "AR" // host → ATM: why a step was refused, one of the Reason* values
	TagActPhone   = "PM" // host → ATM: the last four digits of the phone a message went to
)

// Activation steps (TagActStep).
const (
	StepStart         = "ST" // card inserted, activation chosen: is the card new, is the customer in the app?
	StepQRStatus      = "QS" // has the app submitted the QR challenge?
	StepSendCode      = "SC" // send (again) a verification code on TagActChannel
	StepVerifyCode    = "VC" // field 52: the verification code, as a PIN block
	StepIdentity      = "ID" // TagActMobile + TagActBirth: the non-app customer's identity
	StepDefaultPIN    = "DP" // field 52: the default PIN sent to the phone
	StepNewPIN        = "NP" // field 52 and TagActPIN2: the new PIN, entered twice
	StepCancel        = "CX" // the customer gave up: the host forgets the activation
	ChannelPush       = "push"
	ChannelSMS        = "sms"
	ModeReady         = "R" // logged in, chose activation for this card, phone bound: show the QR
	ModeLogin         = "L" // an app user, but not logged in or activation not chosen in the app
	ModeUnbound       = "U" // logged in and chose activation, but the phone is not bound to the account
	ModeNoApp         = "N" // not a mobile banking user
	QRPending         = "P"
	QRVerified        = "V" // the app submitted it: identity checked, default PIN sent
	QRExpired         = "X"
	ReasonActive      = "active"       // the card is already active
	ReasonBlocked     = "blocked"      // the card is blocked
	ReasonCardExpired = "expired"      // the card is past its expiry
	ReasonUnknownCard = "unknown"      // no such card
	ReasonSession     = "session"      // no such activation (expired, or another card or terminal)
	ReasonOrder       = "order"        // the step does not follow from the last one
	ReasonNoApp       = "no-app"       // push asked for a customer the app cannot reach
	ReasonMismatch    = "mismatch"     // mobile number or birth date does not match
	ReasonLocked      = "locked"       // too many wrong codes or identities: try later
	ReasonCodeExpired = "code-expired" // the code or QR expired: ask for a new one
	ReasonNoCode      = "no-code"      // no live code (never sent, or already used)
	ReasonPINTries    = "pin-tries"    // too many wrong default PINs: the card is blocked
	ReasonPINMismatch = "pin-mismatch" // the two new PIN entries differ
	ReasonWeakPIN     = "weak-pin"     // the new PIN is the default PIN or too easy to guess
)
