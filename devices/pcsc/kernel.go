package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/internal/emv"
)

// pseName is the payment system environment's DF name.
var pseName = []byte("1PAY.SYS.DDF01")

// maxPSERecords and maxSelectNext bound loops a hostile card could make
// endless.
const (
	maxPSERecords = 16
	maxSelectNext = 8
)

// candidate is an application the card offers and the terminal supports.
type candidate struct {
	aid      []byte
	priority int // 1 (highest) – 15; 16 for "no priority"
}

// kernel is atmd's EMV contact kernel for one card session: application
// selection, GET PROCESSING OPTIONS, READ RECORD, GENERATE AC. It does
// no offline data authentication and no terminal action analysis: an
// ATM is online-only, so the first GENERATE AC always asks for an ARQC.
// It talks to the card through a transceiver only.
type kernel struct {
	t    transceiver
	term Terminal
	aids [][]byte
	now  func() time.Time
	un   func() [4]byte // unpredictable number for the PDOL

	// What the card session established, for GENERATE AC.
	protoErr error // first protocol error of application selection

	dfName []byte
	aip    []byte
	data   map[emv.Tag][]byte // every primitive object of the records
	cdol1  emv.DOL
	acs    int // GENERATE ACs issued
}

// read selects an application, initiates processing and reads the
// records named by the AFL; it returns the card data (ATR and Technology
// are the caller's). A card without a supported application gives a
// *CardError wrapping ErrNoApplication; one that breaks the protocol a
// *CardError wrapping ErrProtocol.
func (k *kernel) read(ctx context.Context) (cardreader.Card, error) {
	cands, err := k.candidates(ctx)
	if err != nil {
		return cardreader.Card{}, err
	}
	for _, c := range cands {
		card, err := k.tryApplication(ctx, c.aid)
		switch {
		case err == nil:
			return card, nil
		case errors.Is(err, errNextCandidate):
			continue
		}
		return cardreader.Card{}, err
	}
	if k.protoErr != nil {
		return cardreader.Card{}, k.protoErr
	}
	return cardreader.Card{}, &CardError{Step: "application selection", Err: fmt.Errorf("%w: %w", ErrNoApplication, errNoCandidate)}
}

// errNextCandidate: this application cannot be used; try the next.
var errNextCandidate = errors.New("pcsc: try the next application")

// candidates builds the candidate list: from the PSE directory if the
// card has one, else by selecting each of the terminal's AIDs (EMV Book
// 1, 12.3). The first protocol error seen on the way is kept in
// k.protoErr, to report if no application works out; err is a transport
// error that ends the session.
func (k *kernel) candidates(ctx context.Context) ([]candidate, error) {
	cands, err := k.fromPSE(ctx)
	if err != nil || len(cands) > 0 {
		return cands, err
	}
	for _, aid := range k.aids {
		next := false
		for i := 0; i < maxSelectNext; i++ {
			r, err := exchange(ctx, k.t, "SELECT", selectCmd(aid, next))
			if err != nil {
				if isCardError(err) {
					k.noteProto(err)
					break
				}
				return nil, err
			}
			if r.SW == swFuncNotSupp {
				return cands, nil // card blocked: no application will do
			}
			if r.SW != swOK {
				break
			}
			fci, err := parseFCI(r.Data)
			if err != nil {
				k.noteProto(dataError("SELECT", err))
				break
			}
			if bytes.HasPrefix(fci.dfName, aid) && !containsAID(cands, fci.dfName) {
				cands = append(cands, candidate{aid: fci.dfName, priority: fci.priority})
			}
			if bytes.Equal(fci.dfName, aid) {
				break // exact match: no further occurrences to look for
			}
			next = true
		}
	}
	return cands, nil
}

// noteProto keeps the first protocol error of application selection.
func (k *kernel) noteProto(err error) {
	if k.protoErr == nil {
		k.protoErr = err
	}
}

// fromPSE reads the payment system directory. A directory that breaks
// the protocol is noted (k.protoErr) and gives what was read so far.
func (k *kernel) fromPSE(ctx context.Context) ([]candidate, error) {
	r, err := exchange(ctx, k.t, "SELECT PSE", selectCmd(pseName, false))
	if err != nil {
		if isCardError(err) {
			k.noteProto(err)
			return nil, nil
		}
		return nil, err
	}
	if r.SW != swOK {
		return nil, nil // no PSE: use the list of AIDs
	}
	sfiV, ok, err := emv.Find(r.Data, emv.TagSFI)
	if err != nil || !ok || len(sfiV) != 1 || sfiV[0] < 1 || sfiV[0] > 10 {
		if err == nil {
			err = fmt.Errorf("%w: directory SFI missing or out of range", emv.ErrMalformed)
		}
		k.noteProto(dataError("SELECT PSE", err))
		return nil, nil
	}
	var cands []candidate
	for rec := 1; rec <= maxPSERecords; rec++ {
		r, err := exchange(ctx, k.t, "READ RECORD (PSE)", readRecordCmd(sfiV[0], byte(rec)))
		if err != nil {
			if isCardError(err) {
				k.noteProto(err)
				break
			}
			return nil, err
		}
		if r.SW == swRecordNotFound {
			break
		}
		if r.SW != swOK {
			k.noteProto(swError("READ RECORD (PSE)", r.SW))
			break
		}
		entries, err := directoryEntries(r.Data)
		if err != nil {
			k.noteProto(dataError("READ RECORD (PSE)", err))
			break
		}
		for _, e := range entries {
			if k.supported(e.aid) && !containsAID(cands, e.aid) {
				cands = append(cands, e)
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return a.priority - b.priority })
	return cands, nil
}

// directoryEntries decodes a PSE directory record: 70 { 61 { 4F, 50, 87 } ... }.
func directoryEntries(rec []byte) ([]candidate, error) {
	tlvs, err := emv.Parse(rec)
	if err != nil {
		return nil, err
	}
	if len(tlvs) != 1 || tlvs[0].Tag != emv.TagRecord {
		return nil, fmt.Errorf("%w: record is not a 70 template", emv.ErrMalformed)
	}
	entries, err := tlvs[0].Children()
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, e := range entries {
		if e.Tag != emv.TagDirEntry {
			continue
		}
		m, err := emv.Flatten(e.Value)
		if err != nil {
			return nil, err
		}
		aid := m[emv.TagAID]
		if len(aid) < 5 || len(aid) > 16 {
			return nil, fmt.Errorf("%w: directory entry AID of %d bytes", emv.ErrMalformed, len(aid))
		}
		out = append(out, candidate{aid: aid, priority: priority(m[emv.TagPriority])})
	}
	return out, nil
}

func priority(v []byte) int {
	if len(v) != 1 || v[0]&0x0F == 0 {
		return 16
	}
	return int(v[0] & 0x0F)
}

// supported: the terminal's list holds the card's AID or a prefix of it
// (partial selection).
func (k *kernel) supported(aid []byte) bool {
	for _, t := range k.aids {
		if bytes.HasPrefix(aid, t) {
			return true
		}
	}
	return false
}

func containsAID(cands []candidate, aid []byte) bool {
	return slices.ContainsFunc(cands, func(c candidate) bool { return bytes.Equal(c.aid, aid) })
}

// fci is what the kernel uses of an application's FCI.
type fci struct {
	dfName   []byte
	pdol     emv.DOL
	priority int
}

// parseFCI decodes 6F { 84 DF name, A5 { ... 9F38 PDOL ... } }.
func parseFCI(b []byte) (fci, error) {
	tlvs, err := emv.Parse(b)
	if err != nil {
		return fci{}, err
	}
	if len(tlvs) != 1 || tlvs[0].Tag != emv.TagFCI {
		return fci{}, fmt.Errorf("%w: response is not an FCI (6F) template", emv.ErrMalformed)
	}
	m, err := emv.Flatten(tlvs[0].Value)
	if err != nil {
		return fci{}, err
	}
	var f fci
	f.dfName = m[emv.TagDFName]
	if len(f.dfName) < 5 || len(f.dfName) > 16 {
		return fci{}, fmt.Errorf("%w: DF name of %d bytes", emv.ErrMalformed, len(f.dfName))
	}
	if v, ok := m[emv.TagPDOL]; ok {
		if f.pdol, err = emv.ParseDOL(v); err != nil {
			return fci{}, err
		}
	}
	f.priority = priority(m[emv.TagPriority])
	return f, nil
}

// tryApplication selects aid and reads it. errNextCandidate means the
// application refused (blocked, or GPO conditions not satisfied) and
// selection goes on with the next candidate.
func (k *kernel) tryApplication(ctx context.Context, aid []byte) (cardreader.Card, error) {
	r, err := exchange(ctx, k.t, "SELECT", selectCmd(aid, false))
	if err != nil {
		return cardreader.Card{}, err
	}
	if r.SW != swOK {
		return cardreader.Card{}, errNextCandidate
	}
	f, err := parseFCI(r.Data)
	if err != nil {
		return cardreader.Card{}, dataError("SELECT", err)
	}
	if !bytes.HasPrefix(f.dfName, aid) {
		return cardreader.Card{}, dataError("SELECT", fmt.Errorf("%w: card answered for another application", emv.ErrMalformed))
	}

	// GET PROCESSING OPTIONS.
	pdolData := f.pdol.Build(k.pdolValues())
	gpoData := emv.Append(nil, emv.TagCommandData, pdolData)
	r, err = exchange(ctx, k.t, "GET PROCESSING OPTIONS", command(0x80, 0xA8, 0x00, 0x00, gpoData))
	if err != nil {
		return cardreader.Card{}, err
	}
	switch r.SW {
	case swOK:
	case swConditions:
		return cardreader.Card{}, errNextCandidate
	default:
		return cardreader.Card{}, swError("GET PROCESSING OPTIONS", r.SW)
	}
	aip, afl, err := parseGPO(r.Data)
	if err != nil {
		return cardreader.Card{}, dataError("GET PROCESSING OPTIONS", err)
	}

	// READ RECORD for every record the AFL names.
	data := map[emv.Tag][]byte{}
	for _, e := range afl {
		for rec := int(e.First); rec <= int(e.Last); rec++ {
			r, err := exchange(ctx, k.t, "READ RECORD", readRecordCmd(e.SFI, byte(rec)))
			if err != nil {
				return cardreader.Card{}, err
			}
			if r.SW != swOK {
				return cardreader.Card{}, swError("READ RECORD", r.SW)
			}
			if err := collectRecord(data, r.Data); err != nil {
				return cardreader.Card{}, dataError("READ RECORD", err)
			}
		}
	}
	card, err := cardData(data)
	if err != nil {
		return cardreader.Card{}, dataError("READ RECORD", err)
	}
	if k.cdol1, err = emv.ParseDOL(data[emv.TagCDOL1]); err != nil {
		return cardreader.Card{}, dataError("READ RECORD", err)
	}
	card.AID = append([]byte(nil), f.dfName...)
	k.dfName, k.aip, k.data = card.AID, aip, data
	return card, nil
}

// parseGPO decodes format 1 (80: AIP ‖ AFL) or format 2 (77 { 82, 94 }).
func parseGPO(b []byte) (aip []byte, afl []emv.AFLEntry, err error) {
	tlvs, err := emv.Parse(b)
	if err != nil {
		return nil, nil, err
	}
	if len(tlvs) != 1 {
		return nil, nil, fmt.Errorf("%w: %d objects in the response", emv.ErrMalformed, len(tlvs))
	}
	var aflBytes []byte
	switch tlvs[0].Tag {
	case emv.TagRespFormat1:
		v := tlvs[0].Value
		if len(v) < 2 {
			return nil, nil, fmt.Errorf("%w: format 1 response of %d bytes", emv.ErrMalformed, len(v))
		}
		aip, aflBytes = v[:2], v[2:]
	case emv.TagRespFormat2:
		m, err := emv.Flatten(tlvs[0].Value)
		if err != nil {
			return nil, nil, err
		}
		aip, aflBytes = m[emv.TagAIP], m[emv.TagAFL]
		if len(aip) != 2 {
			return nil, nil, fmt.Errorf("%w: AIP missing", emv.ErrMalformed)
		}
	default:
		return nil, nil, fmt.Errorf("%w: response template %s", emv.ErrMalformed, tlvs[0].Tag)
	}
	afl, err = emv.ParseAFL(aflBytes)
	return append([]byte(nil), aip...), afl, err
}

// collectRecord adds a record's objects to data. A record of SFI 1–10 is
// a 70 template; an object that was already read is an error (EMV Book
// 3, 7.5).
func collectRecord(data map[emv.Tag][]byte, rec []byte) error {
	tlvs, err := emv.Parse(rec)
	if err != nil {
		return err
	}
	if len(tlvs) != 1 || tlvs[0].Tag != emv.TagRecord {
		return fmt.Errorf("%w: record is not a 70 template", emv.ErrMalformed)
	}
	var dup emv.Tag
	err = emv.Walk(tlvs[0].Value, func(t emv.TLV) bool {
		if t.Tag.Constructed() {
			return true
		}
		if _, ok := data[t.Tag]; ok {
			dup = t.Tag
			return false
		}
		data[t.Tag] = t.Value
		return true
	})
	if err == nil && dup != 0 {
		err = fmt.Errorf("%w: %s read twice", emv.ErrMalformed, dup)
	}
	return err
}

// cardData builds the card from the records: PAN (5A, or from track 2),
// expiry (5F24), sequence number (5F34), track 2 (57) and name (5F20).
// The CDOL1 (8C) is mandatory too: without it there is no GENERATE AC.
func cardData(data map[emv.Tag][]byte) (cardreader.Card, error) {
	var c cardreader.Card
	var err error
	if v, ok := data[emv.TagPAN]; ok {
		if c.PAN, err = emv.DecodeCompressedNumeric(v); err != nil {
			return c, err
		}
		if len(c.PAN) < 12 || len(c.PAN) > 19 {
			return c, fmt.Errorf("%w: PAN of %d digits", emv.ErrMalformed, len(c.PAN))
		}
	}
	if v, ok := data[emv.TagTrack2]; ok {
		tr, err := emv.ParseTrack2(v)
		if err != nil {
			return c, err
		}
		if c.PAN == "" {
			c.PAN = tr.PAN
		} else if tr.PAN != c.PAN {
			return c, fmt.Errorf("%w: track 2 and application PAN differ", emv.ErrMalformed)
		}
		c.Track2 = tr.Text()
	}
	if c.PAN == "" {
		return c, fmt.Errorf("%w: no PAN (5A or 57)", emv.ErrMalformed)
	}
	exp, ok := data[emv.TagExpiry]
	if !ok {
		return c, fmt.Errorf("%w: no expiry date (5F24)", emv.ErrMalformed)
	}
	d, err := emv.DecodeNumeric(exp)
	if err != nil || len(d) != 6 || d[2:4] < "01" || d[2:4] > "12" {
		return c, fmt.Errorf("%w: expiry date is not YYMMDD", emv.ErrMalformed)
	}
	c.Expiry = d[:4]
	if v, ok := data[emv.TagPANSeq]; ok {
		if c.PANSeq, err = emv.DecodeNumeric(v); err != nil || len(c.PANSeq) != 2 {
			return c, fmt.Errorf("%w: PAN sequence number", emv.ErrMalformed)
		}
	}
	c.Name = printable(data[emv.TagName])
	if _, ok := data[emv.TagCDOL1]; !ok {
		return c, fmt.Errorf("%w: no CDOL1 (8C)", emv.ErrMalformed)
	}
	c.Technology = cardreader.Chip
	return c, nil
}

// printable keeps the cardholder name's printable ASCII (format ans),
// trimmed.
func printable(b []byte) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E {
			return -1
		}
		return r
	}, string(b)))
}

// pdolValues are the terminal's data a PDOL may ask for when the card is
// read, before the transaction is known: no amount yet.
func (k *kernel) pdolValues() map[emv.Tag][]byte {
	un := k.un()
	v := k.term.values()
	v[emv.TagTxnDate], _ = emv.Numeric(k.now().Format("060102"), 3)
	v[emv.TagTxnTime], _ = emv.Numeric(k.now().Format("150405"), 3)
	v[emv.TagTxnType] = []byte{0x01}
	v[emv.TagAmount] = make([]byte, 6)
	v[emv.TagAmountOther] = make([]byte, 6)
	v[emv.TagUN] = un[:]
	return v
}

// generateAC issues the first GENERATE AC (asking for an ARQC) and
// returns the field 55 chip data.
func (k *kernel) generateAC(ctx context.Context, txn cardreader.TxnData) ([]byte, error) {
	if k.cdol1 == nil {
		return nil, fmt.Errorf("pcsc: generate AC: no application read: %w", hal.ErrInvalid)
	}
	if k.acs > 0 {
		return nil, fmt.Errorf("pcsc: generate AC: already issued in this card session: %w", hal.ErrInvalid)
	}
	v, err := k.txnValues(txn)
	if err != nil {
		return nil, err
	}
	k.acs++
	r, err := exchange(ctx, k.t, "GENERATE AC", command(0x80, 0xAE, 0x80, 0x00, k.cdol1.Build(v)))
	if err != nil {
		return nil, err
	}
	if r.SW != swOK {
		return nil, swError("GENERATE AC", r.SW)
	}
	res, err := parseGenerateAC(r.Data)
	if err != nil {
		return nil, dataError("GENERATE AC", err)
	}
	for t, b := range res {
		v[t] = b
	}
	v[emv.TagAIP] = k.aip
	v[emv.TagDFName] = k.dfName
	return emv.Field55(v), nil
}

// txnValues are the terminal's data for the CDOL1 and field 55. It
// checks the transaction data first: nothing is sent for bad input.
func (k *kernel) txnValues(txn cardreader.TxnData) (map[emv.Tag][]byte, error) {
	bad := func(what string) error {
		return fmt.Errorf("pcsc: generate AC: %s: %w", what, hal.ErrInvalid)
	}
	amount, err := emv.NumericInt(txn.Amount, 6)
	if err != nil {
		return nil, bad("amount out of range")
	}
	cur, err := emv.Numeric(txn.CurrencyCode, 2)
	if err != nil || len(txn.CurrencyCode) != 3 {
		return nil, bad("currency code is not 3 digits")
	}
	ctry, err := emv.Numeric(txn.CountryCode, 2)
	if err != nil || len(txn.CountryCode) != 3 {
		return nil, bad("country code is not 3 digits")
	}
	date, err := time.Parse("060102", txn.Date)
	if err != nil {
		return nil, bad("date is not YYMMDD")
	}
	v := k.term.values()
	v[emv.TagAmount] = amount
	v[emv.TagAmountOther] = make([]byte, 6)
	v[emv.TagCurrency] = cur
	v[emv.TagCountry] = ctry
	v[emv.TagTxnDate], _ = emv.Numeric(txn.Date, 3)
	v[emv.TagTxnType] = []byte{txn.Type}
	v[emv.TagUN] = append([]byte(nil), txn.Unpredictable[:]...)
	v[emv.TagTVR] = k.tvr(date)
	v[emv.TagCVMResults] = cvmResults(k.data[emv.TagCVMList])
	v[emv.TagARC] = []byte{0, 0}
	return v, nil
}

// tvr is the terminal verification results: offline data authentication
// not performed (this kernel does none), expired or not yet effective
// application (processing restrictions), and online PIN entered (an ATM
// always asks for the PIN before it goes online).
func (k *kernel) tvr(date time.Time) []byte {
	tvr := []byte{0x80, 0x00, 0x04, 0x00, 0x00}
	ymd := date.Format("060102")
	if exp, err := emv.DecodeNumeric(k.data[emv.TagExpiry]); err == nil && len(exp) == 6 && ymd > exp {
		tvr[1] |= 0x40
	}
	if eff, err := emv.DecodeNumeric(k.data[emv.TagEffective]); err == nil && len(eff) == 6 && ymd < eff {
		tvr[1] |= 0x20
	}
	return tvr
}

// cvmResults reports enciphered PIN verified online, with the method
// and condition codes of the card's CVM list rule for it when there is
// one (result "unknown", as for every online PIN).
func cvmResults(list []byte) []byte {
	if len(list) >= 10 && len(list)%2 == 0 {
		for i := 8; i < len(list); i += 2 {
			if list[i]&0x3F == 0x02 {
				return []byte{list[i], list[i+1], 0x00}
			}
		}
	}
	return []byte{0x02, 0x00, 0x00}
}

// parseGenerateAC decodes format 1 (80: CID ‖ ATC ‖ AC ‖ IAD) or format
// 2 (77 { 9F27, 9F36, 9F26, 9F10 }) into the tags of field 55.
func parseGenerateAC(b []byte) (map[emv.Tag][]byte, error) {
	tlvs, err := emv.Parse(b)
	if err != nil {
		return nil, err
	}
	if len(tlvs) != 1 {
		return nil, fmt.Errorf("%w: %d objects in the response", emv.ErrMalformed, len(tlvs))
	}
	out := map[emv.Tag][]byte{}
	switch tlvs[0].Tag {
	case emv.TagRespFormat1:
		v := tlvs[0].Value
		if len(v) < 11 || len(v) > 11+32 {
			return nil, fmt.Errorf("%w: format 1 response of %d bytes", emv.ErrMalformed, len(v))
		}
		out[emv.TagCID], out[emv.TagATC], out[emv.TagAC] = v[:1], v[1:3], v[3:11]
		if len(v) > 11 {
			out[emv.TagIAD] = v[11:]
		}
	case emv.TagRespFormat2:
		m, err := emv.Flatten(tlvs[0].Value)
		if err != nil {
			return nil, err
		}
		for _, t := range []struct {
			tag emv.Tag
			n   int
		}{{emv.TagCID, 1}, {emv.TagATC, 2}, {emv.TagAC, 8}} {
			if len(m[t.tag]) != t.n {
				return nil, fmt.Errorf("%w: %s missing or of the wrong length", emv.ErrMalformed, t.tag)
			}
			out[t.tag] = m[t.tag]
		}
		if iad, ok := m[emv.TagIAD]; ok && len(iad) <= 32 {
			out[emv.TagIAD] = iad
		}
	default:
		return nil, fmt.Errorf("%w: response template %s", emv.ErrMalformed, tlvs[0].Tag)
	}
	if cid := out[emv.TagCID][0] & 0xC0; cid == 0xC0 {
		return nil, fmt.Errorf("%w: cryptogram information data %02X", emv.ErrMalformed, out[emv.TagCID][0])
	}
	return out, nil
}

func selectCmd(name []byte, next bool) []byte {
	p2 := byte(0x00)
	if next {
		p2 = 0x02
	}
	return command(0x00, 0xA4, 0x04, p2, name)
}

func readRecordCmd(sfi, rec byte) []byte {
	return command(0x00, 0xB2, rec, sfi<<3|4, nil)
}

func isCardError(err error) bool {
	var ce *CardError
	return errors.As(err, &ce)
}
