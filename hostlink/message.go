package hostlink

// Message is every field of the atmd ISO 8583:1987 profile, as plain Go
// values. A zero value means the field is absent. The profile (which
// fields each message carries, and how each is encoded) is documented in
// docs/hostlink.md; the encoding spec is Spec in spec.go.
//
// PAN, Track2 and PINBlock are card data: never log a Message directly,
// use Describe, which masks them.
type Message struct {
	MTI          string `iso8583:"0"`
	PAN          string `iso8583:"2"`   // n..19 LLVAR
	ProcCode     string `iso8583:"3"`   // n6: 01xxxx cash, 31xxxx balance, ...
	Amount       int64  `iso8583:"4"`   // n12, minor units
	TransmitTime string `iso8583:"7"`   // n10 MMDDhhmmss, UTC
	STAN         string `iso8583:"11"`  // n6 system trace audit number
	LocalTime    string `iso8583:"12"`  // n6 hhmmss
	LocalDate    string `iso8583:"13"`  // n4 MMDD
	Expiry       string `iso8583:"14"`  // n4 YYMM
	EntryMode    string `iso8583:"22"`  // n3: 051 chip+PIN, 021 stripe+PIN, 010 cardless
	PANSeq       string `iso8583:"23"`  // n3
	Track2       string `iso8583:"35"`  // z..37 LLVAR
	RRN          string `iso8583:"37"`  // an12 retrieval reference number
	AuthCode     string `iso8583:"38"`  // an6 authorisation id response
	RespCode     string `iso8583:"39"`  // an2
	TerminalID   string `iso8583:"41"`  // ans8
	AcceptorID   string `iso8583:"42"`  // ans15 card acceptor (institution) id
	Private      string `iso8583:"48"`  // ans..999 LLLVAR: private TLV, see tlv.go
	Currency     string `iso8583:"49"`  // n3 ISO 4217 numeric
	PINBlock     []byte `iso8583:"52"`  // b64: 8-byte ISO 9564 format 0 block
	AddAmounts   string `iso8583:"54"`  // an..120 LLLVAR: balances
	ICC          []byte `iso8583:"55"`  // ans..999 LLLVAR, as hex: EMV chip data (BER-TLV), at most 255 bytes
	NetCode      string `iso8583:"70"`  // n3 network management code
	Original     string `iso8583:"90"`  // n42 original data elements
	Replacement  string `iso8583:"95"`  // an42 replacement amounts
	MAC          []byte `iso8583:"128"` // b64 message authentication code
}

// Message type indicators used by the profile.
const (
	MTIAuthRequest      = "0100"
	MTIAuthResponse     = "0110"
	MTIFinRequest       = "0200"
	MTIFinResponse      = "0210"
	MTIReversal         = "0420"
	MTIReversalRepeat   = "0421"
	MTIReversalResponse = "0430"
	MTINetRequest       = "0800"
	MTINetResponse      = "0810"
)

// Processing codes (field 3). The last four digits are from/to account
// types: 00 default.
const (
	ProcWithdrawal = "010000"
	ProcBalance    = "310000"
	ProcPINChange  = "920000"
)

// Network management codes (field 70).
const (
	NetSignOn  = "001"
	NetSignOff = "002"
	NetEcho    = "301"
)

// Response codes (field 39) used by the reference host and understood by
// the flows.
const (
	RCApproved          = "00"
	RCDoNotHonour       = "05"
	RCInvalidTxn        = "12"
	RCInvalidAmount     = "13"
	RCNoSuchCard        = "14"
	RCFormatError       = "30"
	RCInsufficientFunds = "51"
	RCExpiredCard       = "54"
	RCWrongPIN          = "55"
	RCNotPermitted      = "57"
	RCExceedsLimit      = "61"
	RCRestrictedCard    = "62"
	RCSecurityViolation = "63"
	RCPINTriesExceeded  = "75"
	RCIssuerDown        = "91"
	RCDuplicate         = "94"
	RCSystemError       = "96"
)
