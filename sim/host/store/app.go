package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/atmd/atmd/sim/host/seed"
)

// appSchema holds the mobile-banking tables. It is applied with IF NOT
// EXISTS by Create and by Open, so a database made before these tables
// existed gains them without a reset (and without a schema version
// bump): it simply has no app users until it is re-created from a seed
// that names them.
const appSchema = `
CREATE TABLE IF NOT EXISTS app_users (
	id           TEXT PRIMARY KEY,
	customer_id  TEXT NOT NULL UNIQUE REFERENCES customers(id),
	password     BLOB NOT NULL,
	failed       INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS app_devices (
	user_id    TEXT NOT NULL REFERENCES app_users(id),
	device_id  TEXT NOT NULL,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	phone      TEXT NOT NULL,
	bound      INTEGER NOT NULL,
	PRIMARY KEY (user_id, device_id, account_id)
) STRICT;
`

// ErrNoHasher: the seed names app users but Create was given no
// password hasher (WithPasswordHasher).
var ErrNoHasher = errors.New("store: seed has app users but no password hasher")

// PasswordHasher turns a clear password into the self-describing hash
// that is stored (see sim/host/mobile.HashPassword).
type PasswordHasher func(password []byte) ([]byte, error)

// CreateOption configures Create.
type CreateOption func(*createOptions)

type createOptions struct {
	hash PasswordHasher
}

// WithPasswordHasher sets how Create hashes the seed's app passwords.
// Without it, a seed with app users is refused (ErrNoHasher).
func WithPasswordHasher(h PasswordHasher) CreateOption {
	return func(o *createOptions) { o.hash = h }
}

// seedApp adds the seed's app users and their pre-bound devices.
func (t *Tx) seedApp(ctx context.Context, sd *seed.Seed, o createOptions, at time.Time) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	for _, cu := range sd.Customers {
		a := cu.App
		if a == nil {
			continue
		}
		if o.hash == nil {
			return ErrNoHasher
		}
		pw := []byte(string(a.Password))
		h, err := o.hash(pw)
		clear(pw)
		if err != nil {
			return fmt.Errorf("store: app user %s: %w", a.Login, err)
		}
		if err := t.AddAppUser(ctx, AppUser{ID: a.Login, CustomerID: cu.ID, Password: h}); err != nil {
			return err
		}
		if !a.Bound {
			continue
		}
		for _, acc := range cu.Accounts {
			if err := t.BindDevice(ctx, Device{UserID: a.Login, DeviceID: a.DeviceID(), AccountID: acc.ID,
				Phone: cu.Phone, Bound: at}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Customer is a customer row.
type Customer struct {
	ID        string
	Name      string
	BirthDate string // YYYY-MM-DD
	Phone     string // E.164
}

// Customer returns the customer with the given id.
func (s *Store) Customer(ctx context.Context, id string) (Customer, error) {
	var c Customer
	err := s.db.QueryRowContext(ctx, `SELECT id, name, birth_date, phone FROM customers WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.BirthDate, &c.Phone)
	if err != nil {
		return Customer{}, notFound(err, "customer "+id)
	}
	return c, nil
}

// AppUser is a mobile-banking login. Password is the stored hash, never
// a clear password.
type AppUser struct {
	ID          string
	CustomerID  string
	Password    []byte    // self-describing hash (see PasswordHasher)
	Failed      int       // wrong passwords in a row
	LockedUntil time.Time // zero when not locked
}

// AddAppUser adds an app user.
func (t *Tx) AddAppUser(ctx context.Context, u AppUser) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var locked int64
	if !u.LockedUntil.IsZero() {
		locked = u.LockedUntil.UnixNano()
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO app_users (id, customer_id, password, failed, locked_until) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.CustomerID, u.Password, u.Failed, locked); err != nil {
		return fmt.Errorf("store: app user %s: %w", u.ID, err)
	}
	return nil
}

const appUserColumns = `id, customer_id, password, failed, locked_until`

func scanAppUser(r scanner, what string) (AppUser, error) {
	var u AppUser
	var locked int64
	if err := r.Scan(&u.ID, &u.CustomerID, &u.Password, &u.Failed, &locked); err != nil {
		return AppUser{}, notFound(err, what)
	}
	if locked != 0 {
		u.LockedUntil = time.Unix(0, locked)
	}
	return u, nil
}

// AppUser returns the app user with the given login id.
func (s *Store) AppUser(ctx context.Context, id string) (AppUser, error) {
	return scanAppUser(s.db.QueryRowContext(ctx, `SELECT `+appUserColumns+` FROM app_users WHERE id = ?`, id), "app user "+id)
}

// AppUser returns the app user with the given login id.
func (t *Tx) AppUser(ctx context.Context, id string) (AppUser, error) {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	return scanAppUser(t.tx.QueryRowContext(ctx, `SELECT `+appUserColumns+` FROM app_users WHERE id = ?`, id), "app user "+id)
}

// AppUserOfCustomer returns the app user of a customer.
func (s *Store) AppUserOfCustomer(ctx context.Context, customerID string) (AppUser, error) {
	return scanAppUser(s.db.QueryRowContext(ctx, `SELECT `+appUserColumns+` FROM app_users WHERE customer_id = ?`, customerID),
		"app user of customer "+customerID)
}

// SetAppUserFailures records an app user's wrong-password count and
// lock.
func (t *Tx) SetAppUserFailures(ctx context.Context, id string, failed int, lockedUntil time.Time) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	var locked int64
	if !lockedUntil.IsZero() {
		locked = lockedUntil.UnixNano()
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE app_users SET failed = ?, locked_until = ? WHERE id = ?`, failed, locked, id)
	return affected(res, err, "app user "+id)
}

// Device is a binding of an app user's device to one of the user's
// accounts, with the phone number it was bound with.
type Device struct {
	UserID    string
	DeviceID  string
	AccountID string
	Phone     string // E.164
	Bound     time.Time
}

// BindDevice records a binding, replacing the phone and time of an
// existing one.
func (t *Tx) BindDevice(ctx context.Context, d Device) error {
	ctx = context.WithoutCancel(ctx) // see Tx: a started operation runs to its end
	_, err := t.tx.ExecContext(ctx, `INSERT INTO app_devices (user_id, device_id, account_id, phone, bound) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, device_id, account_id) DO UPDATE SET phone = excluded.phone, bound = excluded.bound`,
		d.UserID, d.DeviceID, d.AccountID, d.Phone, d.Bound.UnixNano())
	if err != nil {
		return fmt.Errorf("store: bind device of %s: %w", d.UserID, err)
	}
	return nil
}

// Devices returns an app user's bindings, ordered by device and account.
func (s *Store) Devices(ctx context.Context, userID string) ([]Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, device_id, account_id, phone, bound FROM app_devices
		WHERE user_id = ? ORDER BY device_id, account_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: devices of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		var ns int64
		if err := rows.Scan(&d.UserID, &d.DeviceID, &d.AccountID, &d.Phone, &ns); err != nil {
			return nil, fmt.Errorf("store: devices of %s: %w", userID, err)
		}
		d.Bound = time.Unix(0, ns)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: devices of %s: %w", userID, err)
	}
	return out, nil
}

// Device returns the binding of an app user's device to an account.
func (s *Store) Device(ctx context.Context, userID, deviceID, accountID string) (Device, error) {
	var d Device
	var ns int64
	err := s.db.QueryRowContext(ctx, `SELECT user_id, device_id, account_id, phone, bound FROM app_devices
		WHERE user_id = ? AND device_id = ? AND account_id = ?`, userID, deviceID, accountID).
		Scan(&d.UserID, &d.DeviceID, &d.AccountID, &d.Phone, &ns)
	if err != nil {
		return Device{}, notFound(err, fmt.Sprintf("device %s of %s on account %s", deviceID, userID, accountID))
	}
	d.Bound = time.Unix(0, ns)
	return d, nil
}

// applyAppSchema creates the app tables when they are missing.
func applyAppSchema(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, appSchema); err != nil {
		return fmt.Errorf("store: app schema: %w", err)
	}
	return nil
}

// CardsOfCustomer returns the cards on a customer's accounts, ordered by
// id.
func (s *Store) CardsOfCustomer(ctx context.Context, customerID string) ([]Card, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.pan, c.pan_seq, c.expiry, c.name, c.account_id, c.status, c.pvv, c.pin_tries
		FROM cards c JOIN accounts a ON a.id = c.account_id WHERE a.customer_id = ? ORDER BY c.id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("store: cards of %s: %w", customerID, err)
	}
	defer rows.Close()
	var out []Card
	for rows.Next() {
		var c Card
		var st string
		if err := rows.Scan(&c.ID, &c.PAN, &c.PANSeq, &c.Expiry, &c.Name, &c.AccountID, &st, &c.PVV, &c.PINTries); err != nil {
			return nil, fmt.Errorf("store: cards of %s: %w", customerID, err)
		}
		c.Status = seed.Status(st)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: cards of %s: %w", customerID, err)
	}
	return out, nil
}
