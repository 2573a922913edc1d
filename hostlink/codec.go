package hostlink

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	iso8583errors "github.com/moov-io/iso8583/errors"

	"github.com/atmd/atmd/internal/mask"
)

// UnpackError reports a message that could not be decoded. FieldID is the
// field that failed: 0 for the MTI, 1 for the bitmap, and -1 when the
// fault belongs to the message as a whole (bytes after the last field).
// Its text never contains field contents, so it is safe to log.
type UnpackError struct {
	FieldID int
	Err     error
}

// Error returns the field and the cause.
func (e *UnpackError) Error() string {
	if e.FieldID < 0 {
		return "hostlink: unpack: " + e.Err.Error()
	}
	return fmt.Sprintf("hostlink: unpack field %d: %v", e.FieldID, e.Err)
}

// Unwrap returns the underlying cause.
func (e *UnpackError) Unwrap() error { return e.Err }

// Pack encodes m with Spec. It checks the MTI and the character set of
// the numeric fields first, so a Message that packs also unpacks. Empty
// byte slices count as absent fields.
func Pack(m *Message) ([]byte, error) {
	if id, err := check(m); err != nil {
		return nil, fmt.Errorf("hostlink: pack field %d: %w", id, err)
	}
	cp := *m
	for _, b := range []*[]byte{&cp.PINBlock, &cp.ICC, &cp.MAC} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	msg := iso8583.NewMessage(Spec)
	if err := msg.Marshal(&cp); err != nil {
		return nil, fmt.Errorf("hostlink: pack %s: %w", m.MTI, err)
	}
	b, err := msg.Pack()
	if err != nil {
		return nil, fmt.Errorf("hostlink: pack %s: %w", m.MTI, err)
	}
	return b, nil
}

// Unpack decodes one message packed with Spec. Any error is an
// *UnpackError. Besides what the spec enforces, Unpack rejects fields
// outside the profile, a third bitmap, an empty secondary bitmap, bytes
// after the last field, a negative amount and non-digits in numeric
// fields.
func Unpack(b []byte) (*Message, error) {
	msg := iso8583.NewMessage(Spec)
	if err := msg.Unpack(b); err != nil {
		id := -1
		var ue *iso8583errors.UnpackError
		if errors.As(err, &ue) {
			if n, aerr := strconv.Atoi(ue.FieldID); aerr == nil {
				id, err = n, ue.Err
			}
		}
		return nil, &UnpackError{FieldID: id, Err: err}
	}
	if err := checkBitmap(msg); err != nil {
		return nil, &UnpackError{FieldID: 1, Err: err}
	}
	used, err := consumed(msg)
	if err != nil {
		return nil, &UnpackError{FieldID: -1, Err: err}
	}
	if extra := len(b) - used; extra != 0 {
		return nil, &UnpackError{FieldID: -1, Err: fmt.Errorf("%d bytes after the last field", extra)}
	}
	var m Message
	if err := msg.Unmarshal(&m); err != nil {
		return nil, &UnpackError{FieldID: -1, Err: err}
	}
	for _, s := range []*[]byte{&m.PINBlock, &m.ICC, &m.MAC} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if err := representable(msg, &m); err != nil {
		return nil, &UnpackError{FieldID: -1, Err: err}
	}
	if id, err := check(&m); err != nil {
		return nil, &UnpackError{FieldID: id, Err: err}
	}
	return &m, nil
}

// checkBitmap allows a primary bitmap and at most one secondary bitmap,
// which must announce at least one field.
// width is how many wire characters a field of Spec takes: a fixed
// number, or a length prefix plus its content (two characters per byte
// for hex-encoded binary fields).
type width struct {
	fixed  int // 0: variable
	prefix int // digits of the length prefix, variable fields
	hex    bool
}

// widths is derived from Spec once, so the byte count Unpack checks can
// never disagree with the spec it unpacked with.
var widths = func() map[int]width {
	out := map[int]width{}
	for id, f := range Spec.Fields {
		sp := f.Spec()
		w := width{hex: sp.Enc == encoding.BytesToASCIIHex}
		ins := sp.Pref.Inspect()
		switch {
		case strings.HasSuffix(ins, ".Fixed"):
			w.fixed = sp.Length
			if w.hex {
				w.fixed *= 2
			}
		default:
			w.prefix = strings.Count(ins[strings.LastIndexByte(ins, '.')+1:], "L")
		}
		out[id] = w
	}
	return out
}()

// tagged maps each field of Message to its ISO 8583 field number.
var tagged = func() map[int]int {
	out := map[int]int{}
	t := reflect.TypeOf(Message{})
	for i := 0; i < t.NumField(); i++ {
		if id, err := strconv.Atoi(t.Field(i).Tag.Get("iso8583")); err == nil {
			out[i] = id
		}
	}
	return out
}()

// representable checks that every field the bitmap announces survives in
// m: a Message cannot carry a field that is present but empty or zero
// (an all-zero amount, an empty LLVAR, a terminal id of spaces) — it
// would vanish on the way through, so the message is refused instead.
func representable(msg *iso8583.Message, m *Message) error {
	v := reflect.ValueOf(m).Elem()
	for i, id := range tagged {
		if id < 2 {
			continue
		}
		if msg.Bitmap().IsSet(id) && v.Field(i).IsZero() {
			return fmt.Errorf("field %d is present but empty", id)
		}
	}
	return nil
}

// consumed is how many bytes the unpacked message took on the wire —
// what moov-io does not report — computed from the spec's widths and the
// variable fields' contents, without packing the message again.
func consumed(msg *iso8583.Message) (int, error) {
	bm := msg.Bitmap()
	n := widths[0].fixed + widths[1].fixed*(bm.Len()/64)
	for i := 2; i <= bm.Len(); i++ {
		if bm.IsBitmapPresenceBit(i) || !bm.IsSet(i) {
			continue
		}
		w, ok := widths[i]
		if !ok {
			return 0, fmt.Errorf("field %d is not in the profile", i)
		}
		if w.fixed > 0 {
			n += w.fixed
			continue
		}
		raw, err := msg.GetBytes(i)
		if err != nil {
			return 0, err
		}
		c := len(raw)
		if w.hex {
			c *= 2
		}
		n += w.prefix + c
	}
	return n, nil
}

func checkBitmap(msg *iso8583.Message) error {
	bm := msg.Bitmap()
	switch bm.Len() {
	case 64:
		return nil
	case 128:
		for i := 66; i <= 128; i++ {
			if bm.IsSet(i) {
				return nil
			}
		}
		return errors.New("secondary bitmap announces no field")
	default:
		return errors.New("more than two bitmaps")
	}
}

// numericFields are the fields of format n: digits only.
var numericFields = []struct {
	id  int
	get func(*Message) string
}{
	{2, func(m *Message) string { return m.PAN }},
	{3, func(m *Message) string { return m.ProcCode }},
	{7, func(m *Message) string { return m.TransmitTime }},
	{11, func(m *Message) string { return m.STAN }},
	{12, func(m *Message) string { return m.LocalTime }},
	{13, func(m *Message) string { return m.LocalDate }},
	{14, func(m *Message) string { return m.Expiry }},
	{22, func(m *Message) string { return m.EntryMode }},
	{23, func(m *Message) string { return m.PANSeq }},
	{49, func(m *Message) string { return m.Currency }},
	{70, func(m *Message) string { return m.NetCode }},
	{90, func(m *Message) string { return m.Original }},
}

// check validates what the spec alone does not: the MTI, the character
// set of numeric and track 2 fields, and the sign of the amount. It
// returns the number of the first bad field. Errors never quote values.
func check(m *Message) (int, error) {
	if len(m.MTI) != 4 || !isDigits(m.MTI) {
		return 0, errors.New("MTI must be 4 digits")
	}
	for _, f := range numericFields {
		if !isDigits(f.get(m)) {
			return f.id, errors.New("non-digit in numeric field")
		}
	}
	if m.Amount < 0 {
		return 4, errors.New("negative amount")
	}
	for i := 0; i < len(m.Track2); i++ {
		// Track 2 character set: '0'-'9' and the separators ':' to '?',
		// plus 'D', the separator as written in EMV tag 57.
		if c := m.Track2[i]; (c < '0' || c > '?') && c != 'D' {
			return 35, errors.New("character outside the track 2 set")
		}
	}
	return 0, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ResponseMTI returns the MTI that answers mti: the function digit goes
// from request (0) to request response (1) or from advice (2) to advice
// response (3), and a repeat origin becomes the plain one: "0200" →
// "0210", "0420" and "0421" → "0430", "0800" → "0810". It returns "" for
// anything that is not a request or an advice.
func ResponseMTI(mti string) string {
	if len(mti) != 4 || !isDigits(mti) || (mti[2] != '0' && mti[2] != '2') {
		return ""
	}
	b := []byte(mti)
	b[2]++
	switch b[3] {
	case '1', '3', '5':
		b[3]--
	}
	return string(b)
}

// Describe returns a one-line summary of m that is safe to log: the PAN
// masked, track 2 and ICC data as lengths, the PIN block and MAC as ***,
// field 48 as its tag names and field 54 as its length.
func Describe(m *Message) string {
	var b strings.Builder
	b.WriteString(m.MTI)
	add := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + "=" + v)
		}
	}
	length := func(n int) string {
		if n == 0 {
			return ""
		}
		return "len" + strconv.Itoa(n)
	}
	secret := func(v []byte) string {
		if len(v) == 0 {
			return ""
		}
		return "***"
	}
	add("net", m.NetCode)
	add("proc", m.ProcCode)
	add("stan", m.STAN)
	add("pan", mask.PAN(m.PAN))
	if m.Amount != 0 {
		add("amount", strconv.FormatInt(m.Amount, 10))
	}
	add("cur", m.Currency)
	if m.Expiry != "" {
		add("exp", "****")
	}
	add("entry", m.EntryMode)
	add("seq", m.PANSeq)
	add("track2", length(len(m.Track2)))
	add("pin", secret(m.PINBlock))
	add("icc", length(len(m.ICC)))
	add("tid", m.TerminalID)
	add("acceptor", m.AcceptorID)
	add("rrn", m.RRN)
	add("auth", m.AuthCode)
	add("rc", m.RespCode)
	add("f48", describeTLV(m.Private))
	add("f54", length(len(m.AddAmounts)))
	add("orig", m.Original)
	add("repl", m.Replacement)
	add("mac", secret(m.MAC))
	return b.String()
}

// describeTLV lists the tags of field 48 but never their values, which
// may be nonces or dispense tokens.
func describeTLV(s string) string {
	if s == "" {
		return ""
	}
	t, err := ParseTLV(s)
	if err != nil {
		return "malformed,len" + strconv.Itoa(len(s))
	}
	tags := make([]string, len(t))
	for i, e := range t {
		tags[i] = e.Tag
	}
	return "[" + strings.Join(tags, ",") + "]"
}
