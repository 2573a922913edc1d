package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// delegateSchema holds the tables of delegated withdrawal (DESIGN.md §2,
// document 004): the delegate codes, kept only as MACs, and the evidence
// stills stored with the ledger entries they belong to. Like appSchema it
// is applied with IF NOT EXISTS by Create and by Open, so an older
// database gains the tables without a reset.
const delegateSchema = `
CREATE TABLE IF NOT EXISTS delegate_codes (
	id          TEXT PRIMARY KEY,
	card_id     TEXT NOT NULL REFERENCES cards(id),
	customer_id TEXT NOT NULL REFERENCES customers(id),
	code_mac    BLOB NOT NULL,
	cap         INTEGER NOT NULL CHECK (cap > 0),
	currency    TEXT NOT NULL,
	created     INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	state       TEXT NOT NULL,
	wrong       INTEGER NOT NULL DEFAULT 0,
	changed     INTEGER NOT NULL,
	ledger_id   INTEGER REFERENCES ledger(id),
	terminal_id TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX IF NOT EXISTS delegate_codes_card ON delegate_codes (card_id, state);
CREATE INDEX IF NOT EXISTS delegate_codes_customer ON delegate_codes (customer_id, created);
CREATE TABLE IF NOT EXISTS evidence (
	id          INTEGER PRIMARY KEY,
	ledger_id   INTEGER NOT NULL REFERENCES ledger(id),
	kind        TEXT NOT NULL,
	format      TEXT NOT NULL,
	size        INTEGER NOT NULL,
	sha256      BLOB NOT NULL,
	taken       INTEGER NOT NULL,
	received    INTEGER NOT NULL,
	terminal_id TEXT NOT NULL,
	image       BLOB NOT NULL,
	face_match  INTEGER,
	UNIQUE (ledger_id, kind)
) STRICT;
CREATE TABLE IF NOT EXISTS evidence_parts (
	terminal_id   TEXT NOT NULL,
	stan          TEXT NOT NULL,
	transmit_time TEXT NOT NULL,
	kind          TEXT NOT NULL,
	sha256        BLOB NOT NULL,
	part          INTEGER NOT NULL,
	parts         INTEGER NOT NULL,
	data          BLOB NOT NULL,
	received      INTEGER NOT NULL,
	PRIMARY KEY (terminal_id, stan, transmit_time, kind, part)
) STRICT;
`

// applyDelegateSchema creates the delegated-withdrawal tables when they
// are missing.
func applyDelegateSchema(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, delegateSchema); err != nil {
		return fmt.Errorf("store: delegate schema: %w", err)
	}
	return nil
}

// DelegateState is where a delegate code is in its life. Expiry is not a
// state: a live code past Expires is expired (DelegateCode.StateAt).
type DelegateState string

// Delegate code states.
const (
	DelegateLive      DelegateState = "live"      // created, not yet used
	DelegateUsed      DelegateState = "used"      // one withdrawal was approved with it
	DelegateCancelled DelegateState = "cancelled" // the owner cancelled it
	DelegateLocked    DelegateState = "locked"    // too many wrong codes were keyed
	DelegateExpired   DelegateState = "expired"   // live, but past its expiry (never stored)
)

// DelegateCode is a delegate code row. The code's digits are not in it:
// only MAC, their HMAC under the HSM's code key.
type DelegateCode struct {
	ID         string
	CardID     string
	CustomerID string
	MAC        []byte
	Cap        int64  // minor units
	Currency   string // ISO 4217 alpha
	Created    time.Time
	Expires    time.Time
	State      DelegateState
	Wrong      int       // wrong codes keyed against it
	Changed    time.Time // when State last changed
	LedgerID   int64     // the withdrawal that used it; 0 when none
	TerminalID string    // the terminal of that withdrawal
}

// StateAt returns the code's state at now: DelegateExpired for a live
// code past its expiry.
func (c DelegateCode) StateAt(now time.Time) DelegateState {
	if c.State == DelegateLive && !now.Before(c.Expires) {
		return DelegateExpired
	}
	return c.State
}

const delegateColumns = `id, card_id, customer_id, code_mac, cap, currency, created, expires, state, wrong, changed, ledger_id, terminal_id`

func scanDelegate(r scanner) (DelegateCode, error) {
	var c DelegateCode
	var created, expires, changed int64
	var st string
	var ledger sql.NullInt64
	if err := r.Scan(&c.ID, &c.CardID, &c.CustomerID, &c.MAC, &c.Cap, &c.Currency, &created, &expires, &st, &c.Wrong,
		&changed, &ledger, &c.TerminalID); err != nil {
		return DelegateCode{}, err
	}
	c.Created, c.Expires, c.Changed = time.Unix(0, created), time.Unix(0, expires), time.Unix(0, changed)
	c.State, c.LedgerID = DelegateState(st), ledger.Int64
	return c, nil
}

func delegates(ctx context.Context, q querier, what, where string, args ...any) ([]DelegateCode, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+delegateColumns+` FROM delegate_codes WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []DelegateCode
	for rows.Next() {
		c, err := scanDelegate(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// AddDelegateCode stores a new delegate code (state live).
func (t *Tx) AddDelegateCode(ctx context.Context, c DelegateCode) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	_, err := t.tx.ExecContext(ctx, `INSERT INTO delegate_codes (`+delegateColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, '')`,
		c.ID, c.CardID, c.CustomerID, c.MAC, c.Cap, c.Currency, c.Created.UnixNano(), c.Expires.UnixNano(),
		string(DelegateLive), c.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("store: add delegate code %s: %w", c.ID, err)
	}
	return nil
}

// DelegateCode returns the delegate code with the given id.
func (t *Tx) DelegateCode(ctx context.Context, id string) (DelegateCode, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	c, err := scanDelegate(t.tx.QueryRowContext(ctx, `SELECT `+delegateColumns+` FROM delegate_codes WHERE id = ?`, id))
	if err != nil {
		return DelegateCode{}, notFound(err, "delegate code "+id)
	}
	return c, nil
}

// DelegateCodesOfCard returns a card's delegate codes in every state,
// oldest first.
func (t *Tx) DelegateCodesOfCard(ctx context.Context, cardID string) ([]DelegateCode, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return delegates(ctx, t.tx, "delegate codes of card "+cardID, `card_id = ? ORDER BY created, id`, cardID)
}

// DelegateCodesOfCustomer returns a customer's delegate codes, newest
// first.
func (s *Store) DelegateCodesOfCustomer(ctx context.Context, customerID string) ([]DelegateCode, error) {
	return delegates(ctx, s.db, "delegate codes of customer "+customerID, `customer_id = ? ORDER BY created DESC, id`, customerID)
}

// DelegateCodes returns every delegate code, oldest first.
func (s *Store) DelegateCodes(ctx context.Context) ([]DelegateCode, error) {
	return delegates(ctx, s.db, "delegate codes", `1 ORDER BY created, id`)
}

// ErrNotLive: a delegate code changed state under the caller (used,
// cancelled or locked meanwhile).
var ErrNotLive = errors.New("store: delegate code is not live")

// setDelegate changes a live code; a code in any other state is left
// alone and the error wraps ErrNotLive (ErrNotFound when there is none).
func (t *Tx) setDelegate(ctx context.Context, id, set string, args ...any) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	res, err := t.tx.ExecContext(ctx, `UPDATE delegate_codes SET `+set+` WHERE id = ? AND state = 'live'`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("store: delegate code %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delegate code %s: %w", id, err)
	} else if n == 1 {
		return nil
	}
	if _, err := t.DelegateCode(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", ErrNotLive, id)
}

// UseDelegateCode spends a live code on the withdrawal of ledger entry
// ledgerID at terminal. It succeeds once: a code that is no longer live
// gets ErrNotLive, so two withdrawals racing with one code cannot both
// commit.
func (t *Tx) UseDelegateCode(ctx context.Context, id string, ledgerID int64, terminal string, at time.Time) error {
	return t.setDelegate(ctx, id, `state = 'used', ledger_id = ?, terminal_id = ?, changed = ?`, ledgerID, terminal, at.UnixNano())
}

// CancelDelegateCode cancels a live code (ErrNotLive otherwise).
func (t *Tx) CancelDelegateCode(ctx context.Context, id string, at time.Time) error {
	return t.setDelegate(ctx, id, `state = 'cancelled', changed = ?`, at.UnixNano())
}

// DelegateWrong counts a wrong code keyed against a live code; locked
// makes it dead (ErrNotLive when it is no longer live).
func (t *Tx) DelegateWrong(ctx context.Context, id string, wrong int, locked bool, at time.Time) error {
	if locked {
		return t.setDelegate(ctx, id, `wrong = ?, state = 'locked', changed = ?`, wrong, at.UnixNano())
	}
	return t.setDelegate(ctx, id, `wrong = ?`, wrong)
}

// Evidence is an evidence still stored with a ledger entry.
type Evidence struct {
	ID         int64
	LedgerID   int64
	Kind       string // hostlink.Evidence*
	Format     string // MIME type
	Size       int
	SHA256     []byte
	Taken      time.Time // by the camera's clock
	Received   time.Time // by the host's
	TerminalID string
	Image      []byte
	// FaceMatch is nil when the face was not compared with an enrolled
	// one, else whether it matched.
	FaceMatch *bool
}

const evidenceColumns = `id, ledger_id, kind, format, size, sha256, taken, received, terminal_id, image, face_match`

func scanEvidence(r scanner) (Evidence, error) {
	var e Evidence
	var taken, received int64
	var match sql.NullInt64
	if err := r.Scan(&e.ID, &e.LedgerID, &e.Kind, &e.Format, &e.Size, &e.SHA256, &taken, &received, &e.TerminalID,
		&e.Image, &match); err != nil {
		return Evidence{}, err
	}
	e.Taken, e.Received = time.Unix(0, taken), time.Unix(0, received)
	if match.Valid {
		m := match.Int64 == 1
		e.FaceMatch = &m
	}
	return e, nil
}

// AddEvidence stores an evidence still. A second still of the same kind
// for the same ledger entry is not stored; added reports whether this
// one was.
func (t *Tx) AddEvidence(ctx context.Context, e Evidence) (added bool, err error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var match any
	if e.FaceMatch != nil {
		match = 0
		if *e.FaceMatch {
			match = 1
		}
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO evidence (ledger_id, kind, format, size, sha256, taken, received, terminal_id, image, face_match)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ledger_id, kind) DO NOTHING`,
		e.LedgerID, e.Kind, e.Format, e.Size, e.SHA256, e.Taken.UnixNano(), e.Received.UnixNano(), e.TerminalID, e.Image, match)
	if err != nil {
		return false, fmt.Errorf("store: add evidence for ledger entry %d: %w", e.LedgerID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: add evidence for ledger entry %d: %w", e.LedgerID, err)
	}
	return n == 1, nil
}

// Evidence returns every evidence still, oldest first.
func (s *Store) Evidence(ctx context.Context) ([]Evidence, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+evidenceColumns+` FROM evidence ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: evidence: %w", err)
	}
	defer rows.Close()
	var out []Evidence
	for rows.Next() {
		e, err := scanEvidence(rows)
		if err != nil {
			return nil, fmt.Errorf("store: evidence: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: evidence: %w", err)
	}
	return out, nil
}

// EvidencePart is one part of an evidence still on its way in, keyed by
// the request it belongs to (the original 0200's key) and its kind.
type EvidencePart struct {
	Key             // the original request
	Kind     string // hostlink.Evidence*
	SHA256   []byte // of the whole still, as announced
	Part     int    // 1-based
	Parts    int    // how many
	Data     []byte // this part's bytes
	Received time.Time
}

// AddEvidencePart keeps a part; a part already kept is replaced (a
// repeated advice).
func (t *Tx) AddEvidencePart(ctx context.Context, p EvidencePart) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	_, err := t.tx.ExecContext(ctx, `INSERT INTO evidence_parts (terminal_id, stan, transmit_time, kind, sha256, part, parts, data, received)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (terminal_id, stan, transmit_time, kind, part)
		DO UPDATE SET sha256 = excluded.sha256, parts = excluded.parts, data = excluded.data, received = excluded.received`,
		p.TerminalID, p.STAN, p.TransmitTime, p.Kind, p.SHA256, p.Part, p.Parts, p.Data, p.Received.UnixNano())
	if err != nil {
		return fmt.Errorf("store: evidence part %d/%d: %w", p.Part, p.Parts, err)
	}
	return nil
}

// EvidenceParts returns the parts kept for a request and kind, in order.
func (t *Tx) EvidenceParts(ctx context.Context, k Key, kind string) ([]EvidencePart, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	rows, err := t.tx.QueryContext(ctx, `SELECT sha256, part, parts, data, received FROM evidence_parts
		WHERE terminal_id = ? AND stan = ? AND transmit_time = ? AND kind = ? ORDER BY part`, k.TerminalID, k.STAN, k.TransmitTime, kind)
	if err != nil {
		return nil, fmt.Errorf("store: evidence parts: %w", err)
	}
	defer rows.Close()
	var out []EvidencePart
	for rows.Next() {
		p := EvidencePart{Key: k, Kind: kind}
		var ns int64
		if err := rows.Scan(&p.SHA256, &p.Part, &p.Parts, &p.Data, &ns); err != nil {
			return nil, fmt.Errorf("store: evidence parts: %w", err)
		}
		p.Received = time.Unix(0, ns)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: evidence parts: %w", err)
	}
	return out, nil
}

// DeleteEvidenceParts forgets the parts of a request and kind.
func (t *Tx) DeleteEvidenceParts(ctx context.Context, k Key, kind string) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM evidence_parts WHERE terminal_id = ? AND stan = ? AND transmit_time = ? AND kind = ?`,
		k.TerminalID, k.STAN, k.TransmitTime, kind); err != nil {
		return fmt.Errorf("store: evidence parts: %w", err)
	}
	return nil
}

// HasEvidence reports whether a still of kind is stored for a ledger
// entry.
func (t *Tx) HasEvidence(ctx context.Context, ledgerID int64, kind string) (bool, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM evidence WHERE ledger_id = ? AND kind = ?`, ledgerID, kind).Scan(&n); err != nil {
		return false, fmt.Errorf("store: evidence of ledger entry %d: %w", ledgerID, err)
	}
	return n > 0, nil
}

// Customer returns the customer with the given id.
func (t *Tx) Customer(ctx context.Context, id string) (Customer, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var c Customer
	err := t.tx.QueryRowContext(ctx, `SELECT id, name, birth_date, phone FROM customers WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.BirthDate, &c.Phone)
	if err != nil {
		return Customer{}, notFound(err, "customer "+id)
	}
	return c, nil
}

// DelegateCodeOfLedger returns the delegate code a withdrawal (ledger
// entry) used; ErrNotFound when it used none.
func (t *Tx) DelegateCodeOfLedger(ctx context.Context, ledgerID int64) (DelegateCode, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	c, err := scanDelegate(t.tx.QueryRowContext(ctx, `SELECT `+delegateColumns+` FROM delegate_codes WHERE ledger_id = ?`, ledgerID))
	if err != nil {
		return DelegateCode{}, notFound(err, fmt.Sprintf("delegate code of ledger entry %d", ledgerID))
	}
	return c, nil
}

// CardByID returns the card with the given id.
func (t *Tx) CardByID(ctx context.Context, id string) (Card, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return scanCard(t.tx.QueryRowContext(ctx, `SELECT `+cardColumns+` FROM cards WHERE id = ?`, id), "card "+id)
}
