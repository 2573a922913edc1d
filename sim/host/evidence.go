package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/sim/face"
	"github.com/atmd/atmd/sim/host/notify"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/host/store"
)

// Evidence stills (DESIGN.md §2, document 004): after the cash of a
// delegated withdrawal is presented the ATM photographs the helper, and,
// when the face check is on, the cardholder at their own withdrawals.
// The still travels in parts, one 0620 advice each, MAC'd like every
// other message, with field 90 naming the withdrawal's 0200; the host
// keeps the parts until it has them all, checks size and SHA-256, and
// stores the still with the ledger entry (store.Evidence). See
// docs/hostlink.md, section 6e.

// evAdvice is a checked evidence advice.
type evAdvice struct {
	orig  original
	kind  string
	form  string
	sum   []byte
	size  int
	taken time.Time
	part  int
	parts int
	data  []byte
}

// parseEvidence checks a 0620: fields 7, 11, 41, field 90 naming a 0200,
// and field 48 with every evidence tag well formed. Errors name fields
// and tags, never values.
func parseEvidence(m *hostlink.Message) (*evAdvice, error) {
	bad := func(field string) (*evAdvice, error) { return nil, fmt.Errorf("%w: field %s", errFormat, field) }
	switch {
	case len(m.TransmitTime) != 10 || !isDigits(m.TransmitTime):
		return bad("7")
	case len(m.STAN) != 6 || !isDigits(m.STAN):
		return bad("11")
	case m.TerminalID == "":
		return bad("41")
	}
	orig, err := parseOriginal(m.Original)
	if err != nil || orig.MTI != hostlink.MTIFinRequest {
		return bad("90")
	}
	tlv, err := hostlink.ParseTLV(m.Private)
	if err != nil {
		return bad("48")
	}
	a := &evAdvice{orig: orig}
	get := func(tag string) string { v, _ := tlv.Get(tag); return v }
	switch a.kind = get(hostlink.TagEvKind); a.kind {
	case hostlink.EvidenceDelegateFace, hostlink.EvidenceOwnerFace:
	default:
		return bad("48 " + hostlink.TagEvKind)
	}
	switch a.form = get(hostlink.TagEvFormat); a.form {
	case "image/png", "image/jpeg":
	default:
		return bad("48 " + hostlink.TagEvFormat)
	}
	sum := get(hostlink.TagEvHash)
	if len(sum) != 64 || !isHex(sum) {
		return bad("48 " + hostlink.TagEvHash)
	}
	a.sum, _ = hex.DecodeString(sum)
	if a.size, err = strconv.Atoi(get(hostlink.TagEvSize)); err != nil || !isDigits(get(hostlink.TagEvSize)) ||
		a.size < 1 || a.size > hostlink.MaxEvidence {
		return bad("48 " + hostlink.TagEvSize)
	}
	if a.taken, err = time.Parse("20060102150405", get(hostlink.TagEvTaken)); err != nil {
		return bad("48 " + hostlink.TagEvTaken)
	}
	maxParts := (a.size + hostlink.EvidencePartSize - 1) / hostlink.EvidencePartSize
	i, n, ok := strings.Cut(get(hostlink.TagEvPart), "/")
	if !ok || !isDigits(i) || !isDigits(n) || len(i) > 4 || len(n) > 4 {
		return bad("48 " + hostlink.TagEvPart)
	}
	a.part, _ = strconv.Atoi(i)
	a.parts, _ = strconv.Atoi(n)
	if a.parts != maxParts || a.part < 1 || a.part > a.parts {
		return bad("48 " + hostlink.TagEvPart)
	}
	a.data, err = base64.StdEncoding.Strict().DecodeString(get(hostlink.TagEvData))
	want := hostlink.EvidencePartSize
	if a.part == a.parts {
		want = a.size - (a.parts-1)*hostlink.EvidencePartSize
	}
	if err != nil || len(a.data) != want {
		return bad("48 " + hostlink.TagEvData)
	}
	return a, nil
}

// evidence answers a 0620 evidence advice with a 0630: 00 when the part
// is kept (or the still was already stored), 12 when field 90 names no
// approved withdrawal of this terminal (or, for a helper's face, not a
// delegated one), 30 for a malformed advice or a still whose parts do
// not add up to its size and SHA-256, 96 when the database fails. Like
// a reversal, an advice is acknowledged whatever it says.
func (h *Host) evidence(ctx context.Context, log zerolog.Logger, m *hostlink.Message) *hostlink.Message {
	resp := echo(m, hostlink.MTIAdminAdviceResponse)
	resp.Original = m.Original
	a, err := parseEvidence(m)
	if err != nil {
		log.Warn().Err(err).Msg("evidence advice refused")
		resp.RespCode = hostlink.RCFormatError
		return resp
	}
	log = log.With().Str("orig_stan", a.orig.STAN).Str("orig_time", a.orig.TransmitTime).Str("kind", a.kind).
		Str("part", fmt.Sprintf("%d/%d", a.part, a.parts)).Logger()
	key := store.Key{TerminalID: m.TerminalID, STAN: a.orig.STAN, TransmitTime: a.orig.TransmitTime}
	now := h.clock.Now()
	var (
		rc, why    string
		stored     *store.Evidence
		mismatched store.Card
	)
	err = h.update(ctx, func(tx *store.Tx) error {
		e, err := tx.Find(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rc, why = hostlink.RCInvalidTxn, "no such withdrawal"
			return nil
		case err != nil:
			return err
		case e.Kind != store.KindWithdrawal || e.RespCode != hostlink.RCApproved:
			rc, why = hostlink.RCInvalidTxn, "not an approved withdrawal"
			return nil
		}
		if a.kind == hostlink.EvidenceDelegateFace {
			if _, err := tx.DelegateCodeOfLedger(ctx, e.ID); errors.Is(err, store.ErrNotFound) {
				rc, why = hostlink.RCInvalidTxn, "not a delegated withdrawal"
				return nil
			} else if err != nil {
				return err
			}
		}
		if have, err := tx.HasEvidence(ctx, e.ID, a.kind); err != nil {
			return err
		} else if have {
			rc, why = hostlink.RCApproved, "still already stored"
			return nil
		}
		if err := tx.AddEvidencePart(ctx, store.EvidencePart{Key: key, Kind: a.kind, SHA256: a.sum, Part: a.part,
			Parts: a.parts, Data: a.data, Received: now}); err != nil {
			return err
		}
		parts, err := tx.EvidenceParts(ctx, key, a.kind)
		if err != nil {
			return err
		}
		rc, why = hostlink.RCApproved, "part kept"
		if len(parts) < a.parts {
			return nil
		}
		var img []byte
		for _, p := range parts {
			if p.Parts != a.parts || !bytes.Equal(p.SHA256, a.sum) {
				rc, why = hostlink.RCFormatError, "parts of different stills"
				return tx.DeleteEvidenceParts(ctx, key, a.kind)
			}
			img = append(img, p.Data...)
		}
		if sum := sha256.Sum256(img); len(img) != a.size || !bytes.Equal(sum[:], a.sum) {
			rc, why = hostlink.RCFormatError, "the parts do not make the still announced (size or SHA-256)"
			return tx.DeleteEvidenceParts(ctx, key, a.kind)
		}
		ev := store.Evidence{LedgerID: e.ID, Kind: a.kind, Format: a.form, Size: a.size, SHA256: a.sum, Taken: a.taken,
			Received: now, TerminalID: m.TerminalID, Image: img}
		if a.kind == hostlink.EvidenceOwnerFace {
			match, card, err := h.faceCheck(ctx, tx, e, img)
			if err != nil {
				return err
			}
			ev.FaceMatch = match
			if match != nil && !*match {
				mismatched = card
			}
		}
		if _, err := tx.AddEvidence(ctx, ev); err != nil {
			return err
		}
		stored = &ev
		why = "still stored with the ledger entry"
		return tx.DeleteEvidenceParts(ctx, key, a.kind)
	})
	if err != nil {
		log.Error().Err(err).Msg("evidence advice failed")
		resp.RespCode = hostlink.RCSystemError
		return resp
	}
	resp.RespCode = rc
	ev := log.Info()
	if stored != nil {
		ev = ev.Int64("ledger_id", stored.LedgerID).Int("bytes", stored.Size).Str("sha256", hex.EncodeToString(stored.SHA256))
		if stored.FaceMatch != nil {
			ev = ev.Bool("face_match", *stored.FaceMatch)
		}
	}
	ev.Str("rc", rc).Msg("evidence: " + why)
	if mismatched.ID != "" {
		h.faceAlert(ctx, log, mismatched, m.TerminalID)
	}
	return resp
}

// faceCheck compares the face in an owner's still with the face
// enrolled for the card's customer (seed key face, read from the seed
// file now, like a default PIN): nil when none is enrolled or the still
// shows no usable face, else whether they match. The comparison is the
// simulator's (sim/face), not face recognition.
func (h *Host) faceCheck(ctx context.Context, tx *store.Tx, e store.Entry, img []byte) (*bool, store.Card, error) {
	if h.cfg.Seed == "" || e.CardID == "" {
		return nil, store.Card{}, nil
	}
	acct, err := tx.Account(ctx, e.Account)
	if err != nil {
		return nil, store.Card{}, err
	}
	sd, err := seed.Load(h.cfg.Seed)
	if err != nil {
		return nil, store.Card{}, fmt.Errorf("host: %w", err)
	}
	var enrolled string
	for _, cu := range sd.Customers {
		if cu.ID == acct.CustomerID {
			enrolled = cu.Face
		}
	}
	if enrolled == "" {
		return nil, store.Card{}, nil
	}
	t, err := face.TemplateOf(img)
	if err != nil {
		return nil, store.Card{}, nil
	}
	card, err := tx.CardByID(ctx, e.CardID)
	if err != nil {
		return nil, store.Card{}, err
	}
	m := face.Match(t, face.Reference(enrolled))
	return &m, card, nil
}

// faceAlert tells the cardholder that the face at a withdrawal with
// their card did not match theirs.
func (h *Host) faceAlert(ctx context.Context, log zerolog.Logger, card store.Card, terminal string) {
	ms, err := h.Mobile()
	if err != nil {
		return
	}
	text := fmt.Sprintf("atmd bank: a withdrawal with your card ending %s at ATM %s at %s was made by someone whose face does not match yours. If it was not you, call the bank.",
		last4(card.PAN), terminal, h.clock.Now().Format("15:04"))
	ch, err := ms.Notify.Owner(ctx, card.ID, notify.KindAlert, text)
	if err != nil {
		log.Error().Err(err).Str("card", card.ID).Msg("could not alert the cardholder about a face mismatch")
		return
	}
	log.Warn().Str("card", card.ID).Str("channel", string(ch)).Msg("face check: mismatch; cardholder alerted")
}

// Evidence returns every evidence still stored, oldest first.
func (h *Host) Evidence(ctx context.Context) ([]store.Evidence, error) {
	db, err := h.store()
	if err != nil {
		return nil, err
	}
	ev, err := db.Evidence(ctx)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return ev, nil
}
