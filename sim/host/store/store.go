package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/host/seed"
)

// Errors.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("store: not found")
	// ErrNoDatabase: Open found no file, or not a database made by Create.
	ErrNoDatabase = errors.New("store: no host database")
)

// schemaVersion is kept in PRAGMA user_version. Version 2 added the
// opening balances, the working keys, the tombstones and the LMK check.
const schemaVersion = 2

const schema = `
CREATE TABLE customers (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	birth_date TEXT NOT NULL,
	phone      TEXT NOT NULL
) STRICT;
CREATE TABLE accounts (
	id          TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers(id),
	currency    TEXT NOT NULL,
	balance     INTEGER NOT NULL CHECK (balance >= 0),
	daily_limit INTEGER NOT NULL CHECK (daily_limit >= 0),
	opening     INTEGER NOT NULL CHECK (opening >= 0)
) STRICT;
CREATE TABLE cards (
	id         TEXT PRIMARY KEY,
	pan        TEXT NOT NULL UNIQUE,
	pan_seq    INTEGER NOT NULL,
	expiry     TEXT NOT NULL,
	name       TEXT NOT NULL,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	status     TEXT NOT NULL,
	pvv        BLOB NOT NULL,
	pin_tries  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE terminals (
	id        TEXT PRIMARY KEY,
	signed_on INTEGER NOT NULL,
	updated   INTEGER NOT NULL
) STRICT;
CREATE TABLE ledger (
	id              INTEGER PRIMARY KEY,
	time            INTEGER NOT NULL,
	day             TEXT NOT NULL,
	terminal_id     TEXT NOT NULL,
	stan            TEXT NOT NULL,
	transmit_time   TEXT NOT NULL,
	rrn             TEXT NOT NULL DEFAULT '',
	auth_code       TEXT NOT NULL,
	card_id         TEXT REFERENCES cards(id),
	account_id      TEXT REFERENCES accounts(id),
	type            TEXT NOT NULL,
	amount          INTEGER NOT NULL,
	currency        TEXT NOT NULL,
	resp_code       TEXT NOT NULL,
	balance         INTEGER NOT NULL,
	token           BLOB,
	reversed        INTEGER NOT NULL DEFAULT 0,
	reversed_amount INTEGER NOT NULL DEFAULT 0,
	reversal_time   INTEGER,
	UNIQUE (terminal_id, stan, transmit_time)
) STRICT;
CREATE INDEX ledger_account_day ON ledger (account_id, day);
CREATE TABLE terminal_keys (
	terminal_id TEXT PRIMARY KEY,
	generation  INTEGER NOT NULL,
	tpk         BLOB NOT NULL,
	tak         BLOB NOT NULL,
	tdk         BLOB NOT NULL,
	tpk_check   BLOB NOT NULL,
	tak_check   BLOB NOT NULL,
	tdk_check   BLOB NOT NULL,
	created     INTEGER NOT NULL
) STRICT;
CREATE TABLE tombstones (
	terminal_id   TEXT NOT NULL,
	stan          TEXT NOT NULL,
	transmit_time TEXT NOT NULL,
	amount        INTEGER NOT NULL,
	reversal_stan TEXT NOT NULL,
	time          INTEGER NOT NULL,
	ledger_id     INTEGER REFERENCES ledger(id),
	PRIMARY KEY (terminal_id, stan, transmit_time)
) STRICT;
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;
`

// Store is an open host database. It is safe for concurrent use.
type Store struct {
	db *sql.DB

	// Update hands its function to the committer over ops; see Update.
	ops       chan *op
	quit      chan struct{} // closed by Close: the committer stops
	stopped   chan struct{} // closed when the committer has stopped
	closeOnce sync.Once
}

// Card is a card row.
type Card struct {
	ID        string
	PAN       string
	PANSeq    int
	Expiry    string // YYMM
	Name      string
	AccountID string
	Status    seed.Status
	PVV       []byte
	PINTries  int
}

// Account is an account row. Amounts are in minor units.
type Account struct {
	ID         string
	CustomerID string
	Currency   string // ISO 4217 alpha
	Balance    int64
	DailyLimit int64
	Opening    int64 // the balance the database was created with
}

// Terminal is what the host knows about an ATM.
type Terminal struct {
	ID       string
	SignedOn bool
	Updated  time.Time
}

// Kind is the type of a ledger entry.
type Kind string

// Ledger entry kinds.
const (
	KindWithdrawal Kind = "withdrawal"
	KindBalance    Kind = "balance"
)

// Key identifies a request: a duplicate carries the same key.
type Key struct {
	TerminalID   string
	STAN         string
	TransmitTime string // MMDDhhmmss as sent in field 7
}

// Entry is a ledger row.
type Entry struct {
	ID       int64
	Time     time.Time // when the host answered
	Day      string    // business day, YYYY-MM-DD, for daily limits
	Key                // the request
	RRN      string    // retrieval reference number, set by Append
	AuthCode string    // "" unless approved
	CardID   string    // "" when the PAN is unknown
	Account  string    // account id; "" when the PAN is unknown
	Kind     Kind
	Amount   int64  // minor units
	Currency string // ISO 4217 alpha
	RespCode string // ISO 8583 field 39
	Balance  int64  // ledger balance after the request, when approved
	Token    []byte // dispense token of an approved withdrawal

	Reversed       bool      // a reversal for this entry was processed
	ReversedAmount int64     // minor units credited back by it
	ReversalTime   time.Time // when, if Reversed
}

func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

func open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("store: bad database path %q", path)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, ops: make(chan *op), quit: make(chan struct{}), stopped: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// Open opens a database made by Create.
func Open(ctx context.Context, path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDatabase, err)
	}
	s, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNoDatabase, path, err)
		}
		return nil, fmt.Errorf("%w: %s has schema version %d, want %d", ErrNoDatabase, path, v, schemaVersion)
	}
	if err := applyAppSchema(ctx, s.db); err != nil {
		s.Close()
		return nil, err
	}
	if err := applyDelegateSchema(ctx, s.db); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// PVVFunc computes a card's PIN verification value; see sim/host/hsm.
type PVVFunc func(pan string, pin []byte) ([]byte, error)

// Create deletes any database at path (with its WAL and shared-memory
// files) and makes a new one holding sd. Demo PINs are turned into PIN
// verification values with pvv and not stored. lmkCheck, the check value
// of the key the working keys will be stored under, is recorded for
// LMKCheck.
//
// A seed that names app users needs WithPasswordHasher; their passwords
// are stored only as the hasher's output.
func Create(ctx context.Context, path string, sd *seed.Seed, pvv PVVFunc, lmkCheck []byte, opts ...CreateOption) (*Store, error) {
	var co createOptions
	for _, o := range opts {
		o(&co)
	}
	if err := sd.Validate(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: reset: %w", err)
		}
	}
	s, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	err = s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("store: schema: %w", err)
		}
		if err := tx.seed(ctx, sd, pvv); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, appSchema); err != nil {
			return fmt.Errorf("store: app schema: %w", err)
		}
		if _, err := tx.tx.ExecContext(ctx, delegateSchema); err != nil {
			return fmt.Errorf("store: delegate schema: %w", err)
		}
		if err := tx.seedApp(ctx, sd, co, time.Now()); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('lmk_check', ?)`, lmkCheck); err != nil {
			return fmt.Errorf("store: meta: %w", err)
		}
		_, err := tx.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (t *Tx) seed(ctx context.Context, sd *seed.Seed, pvv PVVFunc) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	for _, cu := range sd.Customers {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO customers (id, name, birth_date, phone) VALUES (?, ?, ?, ?)`,
			cu.ID, cu.Name, cu.BirthDate, cu.Phone); err != nil {
			return fmt.Errorf("store: customer %s: %w", cu.ID, err)
		}
		for _, a := range cu.Accounts {
			c, err := currency.ByAlpha(a.Currency)
			if err != nil {
				return fmt.Errorf("store: account %s: %w", a.ID, err)
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO accounts (id, customer_id, currency, balance, daily_limit, opening) VALUES (?, ?, ?, ?, ?, ?)`,
				a.ID, cu.ID, a.Currency, a.Balance*c.Major(), a.DailyLimit*c.Major(), a.Balance*c.Major()); err != nil {
				return fmt.Errorf("store: account %s: %w", a.ID, err)
			}
		}
		for _, c := range cu.Cards {
			pin := []byte(c.PIN)
			v, err := pvv(c.PAN, pin)
			pinblock.Wipe(pin)
			if err != nil {
				return fmt.Errorf("store: card %s: %w", c.ID, err)
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO cards (id, pan, pan_seq, expiry, name, account_id, status, pvv) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, c.PAN, c.PANSeq, c.Expiry, c.Name, c.Account, string(c.Status), v); err != nil {
				return fmt.Errorf("store: card %s: %w", c.ID, err)
			}
		}
	}
	return nil
}

// Close stops the committer (an Update waiting to start fails with
// ErrClosed) and closes the database. It may be called more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("store: close: %w", cerr)
		}
	})
	return err
}

// ErrClosed: Update was called on a closed store.
var ErrClosed = errors.New("store: closed")

// Tx is the transaction Update hands to its function. It is valid only
// during that call.
//
// Its methods ignore the cancellation of the context they are given
// (they keep its values): an Update runs inside a transaction shared by a
// batch, and a caller that goes away (a terminal that disconnects
// mid-request) must not interrupt a statement half way — with SQLite
// that left the batch's transaction wedged and every later Update
// waiting. An Update whose caller is gone before it starts does not run.
type Tx struct {
	tx *sql.Tx
}

// maxBatch bounds how many Updates share one database transaction.
const maxBatch = 128

// op is one Update on its way through the committer.
type op struct {
	ctx   context.Context
	fn    func(*Tx) error
	state atomic.Int32 // opQueued, then opTaken by the committer or opAbandoned by the caller
	done  chan error   // buffered: the committer never waits for the caller
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// Update runs fn as one atomic unit of work: committed, durably, if fn
// returns nil, and rolled back otherwise. Updates run one at a time, in
// the order they arrive, so a read-check-write inside one cannot race
// another.
//
// Group commit: Updates that arrive while a commit is being written
// share the next database transaction. Each runs inside its own
// savepoint, so one that fails is rolled back alone; Update returns only
// after the shared transaction has committed (synchronous=FULL: the WAL
// is on disk), so a caller never acts on a change that could still be
// lost. If that commit fails, every Update of the batch fails with it.
//
// An Update whose ctx ends before it starts returns ctx's error; once
// fn has started, Update waits for its outcome.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	case <-s.quit:
		return ErrClosed
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opAbandoned) {
			return fmt.Errorf("store: %w", ctx.Err())
		}
		return <-o.done // it has started: its outcome stands
	}
}

// commitLoop runs the Updates, a batch per database transaction, until
// Close.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	var carry []*op // ops not run because their batch's transaction broke
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			case <-s.quit:
				return
			}
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		carry = s.runBatch(batch)
	}
}

// runBatch runs the ops of batch in one transaction, each in a
// savepoint (unless it is alone), and commits. It returns the ops it could not run because
// the transaction broke under them (they go into the next batch).
func (s *Store) runBatch(batch []*op) []*op {
	// The transaction belongs to no caller: one caller going away must
	// not roll back the others' work.
	bg := context.Background()
	tx, err := s.db.BeginTx(bg, nil)
	if err != nil {
		err = fmt.Errorf("store: begin: %w", err)
		for _, o := range batch {
			if o.state.CompareAndSwap(opQueued, opTaken) {
				o.done <- err
			}
		}
		return nil
	}
	t := &Tx{tx: tx}
	var ran []*op // ran and succeeded: they wait for the commit
	broken := func(i int, cause error) []*op {
		_ = tx.Rollback()
		err := fmt.Errorf("store: transaction rolled back: %w", cause)
		for _, o := range ran {
			o.done <- err
		}
		return batch[i+1:]
	}
	if len(batch) == 1 {
		// Alone in its transaction: no savepoint needed.
		o := batch[0]
		if !o.state.CompareAndSwap(opQueued, opTaken) {
			_ = tx.Rollback()
			return nil
		}
		err := o.ctx.Err()
		if err != nil {
			err = fmt.Errorf("store: %w", err)
		} else {
			err = o.fn(t)
		}
		if err != nil {
			_ = tx.Rollback()
			o.done <- err
			return nil
		}
		if err := tx.Commit(); err != nil {
			o.done <- fmt.Errorf("store: commit: %w", err)
			return nil
		}
		o.done <- nil
		return nil
	}
	for i, o := range batch {
		if !o.state.CompareAndSwap(opQueued, opTaken) {
			continue // its caller gave up before it started
		}
		if err := o.ctx.Err(); err != nil {
			o.done <- fmt.Errorf("store: %w", err)
			continue
		}
		if _, err := tx.ExecContext(bg, "SAVEPOINT op"); err != nil {
			o.state.Store(opQueued) // not started: it goes into the next batch
			return append([]*op{o}, broken(i, err)...)
		}
		ferr := o.fn(t)
		if ferr != nil {
			if _, err := tx.ExecContext(bg, "ROLLBACK TO op"); err != nil {
				o.done <- ferr
				return broken(i, err)
			}
		}
		if _, err := tx.ExecContext(bg, "RELEASE op"); err != nil {
			if ferr == nil {
				ferr = fmt.Errorf("store: transaction rolled back: %w", err)
			}
			o.done <- ferr
			return broken(i, err)
		}
		if ferr != nil {
			o.done <- ferr // rolled back alone; the batch goes on
			continue
		}
		ran = append(ran, o)
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		for _, o := range ran {
			o.done <- err
		}
		return nil
	}
	for _, o := range ran {
		o.done <- nil
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

const cardColumns = `id, pan, pan_seq, expiry, name, account_id, status, pvv, pin_tries`

func scanCard(row *sql.Row, what string) (Card, error) {
	var c Card
	var st string
	if err := row.Scan(&c.ID, &c.PAN, &c.PANSeq, &c.Expiry, &c.Name, &c.AccountID, &st, &c.PVV, &c.PINTries); err != nil {
		return Card{}, notFound(err, what)
	}
	c.Status = seed.Status(st)
	return c, nil
}

// Card returns the card with the given id.
func (s *Store) Card(ctx context.Context, id string) (Card, error) {
	return scanCard(s.db.QueryRowContext(ctx, `SELECT `+cardColumns+` FROM cards WHERE id = ?`, id), "card "+id)
}

// CardByPAN returns the card with the given PAN. The error does not
// contain the PAN.
func (t *Tx) CardByPAN(ctx context.Context, pan string) (Card, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return scanCard(t.tx.QueryRowContext(ctx, `SELECT `+cardColumns+` FROM cards WHERE pan = ?`, pan), "card by PAN")
}

// CardAndAccountByPAN returns the card with the given PAN and its
// account, read together. The error does not contain the PAN.
func (t *Tx) CardAndAccountByPAN(ctx context.Context, pan string) (Card, Account, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var c Card
	var a Account
	var st string
	err := t.tx.QueryRowContext(ctx, `SELECT c.id, c.pan, c.pan_seq, c.expiry, c.name, c.account_id, c.status, c.pvv, c.pin_tries,
		a.id, a.customer_id, a.currency, a.balance, a.daily_limit, a.opening
		FROM cards c JOIN accounts a ON a.id = c.account_id WHERE c.pan = ?`, pan).
		Scan(&c.ID, &c.PAN, &c.PANSeq, &c.Expiry, &c.Name, &c.AccountID, &st, &c.PVV, &c.PINTries,
			&a.ID, &a.CustomerID, &a.Currency, &a.Balance, &a.DailyLimit, &a.Opening)
	if err != nil {
		return Card{}, Account{}, notFound(err, "card by PAN")
	}
	c.Status = seed.Status(st)
	return c, a, nil
}

// SetCard sets a card's status and wrong-PIN count.
func (t *Tx) SetCard(ctx context.Context, id string, st seed.Status, pinTries int) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	res, err := t.tx.ExecContext(ctx, `UPDATE cards SET status = ?, pin_tries = ? WHERE id = ?`, string(st), pinTries, id)
	return affected(res, err, "card "+id)
}

// ActivateCard completes a card's activation in one statement: the new
// PIN's verification value replaces the default PIN's, the status
// becomes active and the wrong-PIN count zero. Only a card in status new
// is changed; for any other card, or none, the error wraps ErrNotFound.
func (t *Tx) ActivateCard(ctx context.Context, id string, pvv []byte) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	if len(pvv) == 0 {
		return fmt.Errorf("store: card %s: empty PIN verification value", id)
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE cards SET pvv = ?, status = ?, pin_tries = 0 WHERE id = ? AND status = ?`,
		pvv, string(seed.StatusActive), id, string(seed.StatusNew))
	return affected(res, err, "new card "+id)
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return notFound(sql.ErrNoRows, what)
	}
	return nil
}

const accountColumns = `id, customer_id, currency, balance, daily_limit, opening`

func scanAccount(r scanner) (Account, error) {
	var a Account
	err := r.Scan(&a.ID, &a.CustomerID, &a.Currency, &a.Balance, &a.DailyLimit, &a.Opening)
	return a, err
}

func account(ctx context.Context, q querier, id string) (Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	if err != nil {
		return Account{}, notFound(err, "account "+id)
	}
	return a, nil
}

// Accounts returns every account, ordered by id.
func (t *Tx) Accounts(ctx context.Context) ([]Account, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	rows, err := t.tx.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("store: accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	return out, nil
}

// Account returns the account with the given id.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	return account(ctx, s.db, id)
}

// Account returns the account with the given id.
func (t *Tx) Account(ctx context.Context, id string) (Account, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return account(ctx, t.tx, id)
}

// AddBalance adds delta (negative to debit) to an account's balance and
// returns the new balance. A debit below zero fails.
func (t *Tx) AddBalance(ctx context.Context, accountID string, delta int64) (int64, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var b int64
	err := t.tx.QueryRowContext(ctx, `UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance`, delta, accountID).Scan(&b)
	if err != nil {
		return 0, notFound(err, "account "+accountID)
	}
	return b, nil
}

// Withdrawn returns the cash taken from an account on day: approved
// withdrawals less what reversals credited back.
func (t *Tx) Withdrawn(ctx context.Context, accountID, day string) (int64, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var n int64
	err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount - reversed_amount), 0) FROM ledger
		WHERE account_id = ? AND day = ? AND type = ? AND resp_code = '00'`, accountID, day, string(KindWithdrawal)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: withdrawn today: %w", err)
	}
	return n, nil
}

const entryColumns = `id, time, day, terminal_id, stan, transmit_time, rrn, auth_code, card_id, account_id,
	type, amount, currency, resp_code, balance, token, reversed, reversed_amount, reversal_time`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(r scanner) (Entry, error) {
	var e Entry
	var t int64
	var card, acct sql.NullString
	var kind string
	var rev sql.NullInt64
	err := r.Scan(&e.ID, &t, &e.Day, &e.TerminalID, &e.STAN, &e.TransmitTime, &e.RRN, &e.AuthCode, &card, &acct,
		&kind, &e.Amount, &e.Currency, &e.RespCode, &e.Balance, &e.Token, &e.Reversed, &e.ReversedAmount, &rev)
	if err != nil {
		return Entry{}, err
	}
	e.Time = time.Unix(0, t)
	e.CardID, e.Account, e.Kind = card.String, acct.String, Kind(kind)
	if rev.Valid {
		e.ReversalTime = time.Unix(0, rev.Int64)
	}
	return e, nil
}

// Find returns the ledger entry of the request with key k. It looks the
// key up first and reads the whole row only when there is one: most
// requests are new.
func (t *Tx) Find(ctx context.Context, k Key) (Entry, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	what := func() string { return fmt.Sprintf("ledger entry %s/%s/%s", k.TerminalID, k.STAN, k.TransmitTime) }
	var id int64
	if err := t.tx.QueryRowContext(ctx, `SELECT id FROM ledger WHERE terminal_id = ? AND stan = ? AND transmit_time = ?`,
		k.TerminalID, k.STAN, k.TransmitTime).Scan(&id); err != nil {
		return Entry{}, notFound(err, what())
	}
	e, err := scanEntry(t.tx.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM ledger WHERE id = ?`, id))
	if err != nil {
		return Entry{}, notFound(err, what())
	}
	return e, nil
}

// Append adds e to the ledger and returns it with its ID and RRN set. The
// RRN is the Julian date of e.Time (YDDD) and the entry's ID modulo 10^8,
// eight digits.
func (t *Tx) Append(ctx context.Context, e Entry) (Entry, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO ledger (time, day, terminal_id, stan, transmit_time, auth_code,
		card_id, account_id, type, amount, currency, resp_code, balance, token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Day, e.TerminalID, e.STAN, e.TransmitTime, e.AuthCode, null(e.CardID), null(e.Account),
		string(e.Kind), e.Amount, e.Currency, e.RespCode, e.Balance, e.Token)
	if err != nil {
		return Entry{}, fmt.Errorf("store: append ledger entry: %w", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return Entry{}, fmt.Errorf("store: append ledger entry: %w", err)
	}
	e.RRN = fmt.Sprintf("%d%03d%08d", e.Time.Year()%10, e.Time.YearDay(), e.ID%100_000_000)
	if _, err := t.tx.ExecContext(ctx, `UPDATE ledger SET rrn = ? WHERE id = ?`, e.RRN, e.ID); err != nil {
		return Entry{}, fmt.Errorf("store: append ledger entry: %w", err)
	}
	return e, nil
}

// MarkReversed records that the entry with the given id was reversed at
// time at, crediting amount back.
func (t *Tx) MarkReversed(ctx context.Context, id, amount int64, at time.Time) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	res, err := t.tx.ExecContext(ctx, `UPDATE ledger SET reversed = 1, reversed_amount = ?, reversal_time = ? WHERE id = ?`,
		amount, at.UnixNano(), id)
	return affected(res, err, fmt.Sprintf("ledger entry %d", id))
}

// Ledger returns every ledger entry, oldest first.
func (s *Store) Ledger(ctx context.Context) ([]Entry, error) {
	return ledger(ctx, s.db)
}

// Ledger returns every ledger entry, oldest first.
func (t *Tx) Ledger(ctx context.Context) ([]Entry, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return ledger(ctx, t.tx)
}

func ledger(ctx context.Context, q querier) ([]Entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+entryColumns+` FROM ledger ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: ledger: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("store: ledger: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ledger: %w", err)
	}
	return out, nil
}

// SetTerminal records a terminal's sign-on state.
func (t *Tx) SetTerminal(ctx context.Context, id string, signedOn bool, at time.Time) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	_, err := t.tx.ExecContext(ctx, `INSERT INTO terminals (id, signed_on, updated) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET signed_on = excluded.signed_on, updated = excluded.updated`, id, signedOn, at.UnixNano())
	if err != nil {
		return fmt.Errorf("store: terminal %s: %w", id, err)
	}
	return nil
}

// Terminal returns what the host knows about a terminal.
func (s *Store) Terminal(ctx context.Context, id string) (Terminal, error) {
	var t Terminal
	var ns int64
	err := s.db.QueryRowContext(ctx, `SELECT id, signed_on, updated FROM terminals WHERE id = ?`, id).Scan(&t.ID, &t.SignedOn, &ns)
	if err != nil {
		return Terminal{}, notFound(err, "terminal "+id)
	}
	t.Updated = time.Unix(0, ns)
	return t, nil
}

// LMKCheck returns the check value recorded by Create: that of the key
// the database's working keys are stored under.
func (s *Store) LMKCheck(ctx context.Context) ([]byte, error) {
	var v []byte
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'lmk_check'`).Scan(&v); err != nil {
		return nil, notFound(err, "LMK check value")
	}
	return v, nil
}

// TerminalKeys are a terminal's current working keys as stored: each
// encrypted under the LMK by the HSM (the store never sees a clear key),
// with the check values the terminal was given.
type TerminalKeys struct {
	TerminalID    string
	Generation    int64 // 1 for the first exchange, one more for each after
	TPK, TAK, TDK []byte
	TPKCheck      []byte
	TAKCheck      []byte
	TDKCheck      []byte
	Created       time.Time
}

const keyColumns = `terminal_id, generation, tpk, tak, tdk, tpk_check, tak_check, tdk_check, created`

func terminalKeys(ctx context.Context, q querier, id string) (TerminalKeys, error) {
	var k TerminalKeys
	var ns int64
	err := q.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM terminal_keys WHERE terminal_id = ?`, id).
		Scan(&k.TerminalID, &k.Generation, &k.TPK, &k.TAK, &k.TDK, &k.TPKCheck, &k.TAKCheck, &k.TDKCheck, &ns)
	if err != nil {
		return TerminalKeys{}, notFound(err, "working keys of terminal "+id)
	}
	k.Created = time.Unix(0, ns)
	return k, nil
}

// TerminalKeys returns a terminal's current working keys, ErrNotFound if
// it has none.
func (s *Store) TerminalKeys(ctx context.Context, id string) (TerminalKeys, error) {
	return terminalKeys(ctx, s.db, id)
}

// TerminalKeys returns a terminal's current working keys, ErrNotFound if
// it has none.
func (t *Tx) TerminalKeys(ctx context.Context, id string) (TerminalKeys, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return terminalKeys(ctx, t.tx, id)
}

// SetTerminalKeys replaces a terminal's working keys with k (its
// Generation is ignored) and returns the new generation.
func (t *Tx) SetTerminalKeys(ctx context.Context, k TerminalKeys) (int64, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var gen int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO terminal_keys (`+keyColumns+`) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (terminal_id) DO UPDATE SET generation = generation + 1, tpk = excluded.tpk, tak = excluded.tak,
		tdk = excluded.tdk, tpk_check = excluded.tpk_check, tak_check = excluded.tak_check, tdk_check = excluded.tdk_check,
		created = excluded.created
		RETURNING generation`,
		k.TerminalID, k.TPK, k.TAK, k.TDK, k.TPKCheck, k.TAKCheck, k.TDKCheck, k.Created.UnixNano()).Scan(&gen)
	if err != nil {
		return 0, fmt.Errorf("store: working keys of terminal %s: %w", k.TerminalID, err)
	}
	return gen, nil
}

// Tombstone records a reversal that arrived for a request the host had
// not seen: if that request arrives later, it is declined, never posted.
type Tombstone struct {
	Key                    // the original request, from field 90 of the reversal
	Amount       int64     // field 4 of the reversal: the original amount
	ReversalSTAN string    // STAN of the reversal that left it
	Time         time.Time // when the reversal arrived
	LedgerID     int64     // ledger entry of the late original, 0 until it arrives
}

// AddTombstone records ts unless a tombstone with its key exists; it
// reports whether it added one.
func (t *Tx) AddTombstone(ctx context.Context, ts Tombstone) (bool, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	res, err := t.tx.ExecContext(ctx, `INSERT INTO tombstones (terminal_id, stan, transmit_time, amount, reversal_stan, time)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		ts.TerminalID, ts.STAN, ts.TransmitTime, ts.Amount, ts.ReversalSTAN, ts.Time.UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: tombstone: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: tombstone: %w", err)
	}
	return n == 1, nil
}

const tombstoneColumns = `terminal_id, stan, transmit_time, amount, reversal_stan, time, ledger_id`

func scanTombstone(r scanner) (Tombstone, error) {
	var ts Tombstone
	var ns int64
	var id sql.NullInt64
	if err := r.Scan(&ts.TerminalID, &ts.STAN, &ts.TransmitTime, &ts.Amount, &ts.ReversalSTAN, &ns, &id); err != nil {
		return Tombstone{}, err
	}
	ts.Time, ts.LedgerID = time.Unix(0, ns), id.Int64
	return ts, nil
}

// Tombstone returns the tombstone of the request with key k.
func (t *Tx) Tombstone(ctx context.Context, k Key) (Tombstone, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	ts, err := scanTombstone(t.tx.QueryRowContext(ctx, `SELECT `+tombstoneColumns+` FROM tombstones
		WHERE terminal_id = ? AND stan = ? AND transmit_time = ?`, k.TerminalID, k.STAN, k.TransmitTime))
	if err != nil {
		return Tombstone{}, notFound(err, fmt.Sprintf("tombstone %s/%s/%s", k.TerminalID, k.STAN, k.TransmitTime))
	}
	return ts, nil
}

// SetTombstoneEntry links the tombstone of key k to the ledger entry
// that recorded the late original.
func (t *Tx) SetTombstoneEntry(ctx context.Context, k Key, ledgerID int64) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	res, err := t.tx.ExecContext(ctx, `UPDATE tombstones SET ledger_id = ? WHERE terminal_id = ? AND stan = ? AND transmit_time = ?`,
		ledgerID, k.TerminalID, k.STAN, k.TransmitTime)
	return affected(res, err, fmt.Sprintf("tombstone %s/%s/%s", k.TerminalID, k.STAN, k.TransmitTime))
}

// Tombstones returns every tombstone, oldest first.
func (s *Store) Tombstones(ctx context.Context) ([]Tombstone, error) {
	return tombstones(ctx, s.db)
}

// Tombstones returns every tombstone, oldest first.
func (t *Tx) Tombstones(ctx context.Context) ([]Tombstone, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return tombstones(ctx, t.tx)
}

func tombstones(ctx context.Context, q querier) ([]Tombstone, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+tombstoneColumns+` FROM tombstones ORDER BY time, rowid`)
	if err != nil {
		return nil, fmt.Errorf("store: tombstones: %w", err)
	}
	defer rows.Close()
	var out []Tombstone
	for rows.Next() {
		ts, err := scanTombstone(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tombstones: %w", err)
		}
		out = append(out, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tombstones: %w", err)
	}
	return out, nil
}
