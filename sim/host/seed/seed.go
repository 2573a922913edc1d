package seed

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/strictyaml"
)

// Errors.
var (
	// ErrDecode: the file is not a well-formed seed document.
	ErrDecode = errors.New("seed: cannot decode")
	// ErrInvalid: the seed decodes but breaks a rule of Validate.
	ErrInvalid = errors.New("seed: invalid")
)

// MaxAmount is the largest amount, in minor units, that an account
// balance or limit may reach: twelve digits, the width of ISO 8583 amount
// fields.
const MaxAmount = 999_999_999_999

// Seed is the whole demo data set.
type Seed struct {
	Customers []Customer `yaml:"customers"`
}

// Customer is one bank customer.
type Customer struct {
	ID        string    `yaml:"id"`
	Name      string    `yaml:"name"`
	BirthDate string    `yaml:"birth_date"` // YYYY-MM-DD
	Phone     string    `yaml:"phone"`      // E.164, e.g. +886912345678
	Accounts  []Account `yaml:"accounts"`
	Cards     []Card    `yaml:"cards"`
	App       *App      `yaml:"app"` // the customer's mobile-banking login; nil: not an app user
	// Face is the customer's enrolled face for the face check on their
	// own withdrawals; in the simulator, the name of the person the
	// simulated camera shows (sim/face). "": none enrolled.
	Face string `yaml:"face"`
}

// App is a customer's mobile-banking app login.
type App struct {
	Login    string   `yaml:"login"`    // login id: 3–32 of a–z, 0–9, '.', '-', '_'
	Password Password `yaml:"password"` // demo password, 8–64 characters; stored only as a hash
	Device   string   `yaml:"device"`   // id of the demo phone's app; "" means Login + "-phone"
	Bound    bool     `yaml:"bound"`    // Device is bound to every account of the customer, with the customer's phone
}

// DeviceID returns the app's device id, Login + "-phone" by default.
func (a App) DeviceID() string {
	if a.Device == "" {
		return a.Login + "-phone"
	}
	return a.Device
}

// Password is a demo password. Like PIN it always prints as "****".
type Password string

// String returns "****".
func (Password) String() string { return "****" }

// Format prints "****" for every verb.
func (p Password) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.String())) }

// Account is one account of a customer.
type Account struct {
	ID         string `yaml:"id"`
	Currency   string `yaml:"currency"`    // ISO 4217 alpha, e.g. TWD
	Balance    int64  `yaml:"balance"`     // major units
	DailyLimit int64  `yaml:"daily_limit"` // major units of cash per day
}

// Status is a card's life-cycle state.
type Status string

// Card states.
const (
	StatusActive  Status = "active"
	StatusNew     Status = "new" // issued, awaiting activation
	StatusBlocked Status = "blocked"
	StatusExpired Status = "expired"
)

// Valid reports whether s is one of the card states.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusNew, StatusBlocked, StatusExpired:
		return true
	}
	return false
}

// PIN is a demo PIN. It prints as "****" whatever the verb, so it never
// reaches a log by accident; use string(p) where the digits are needed.
type PIN string

// String returns "****".
func (PIN) String() string { return "****" }

// Format prints "****" for every verb.
func (p PIN) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(p.String())) }

// Card is one card, linked to one account of its customer.
type Card struct {
	ID      string `yaml:"id"` // short name used by scenario files, e.g. "alice-debit"
	PAN     string `yaml:"pan"`
	PANSeq  int    `yaml:"pan_seq"` // EMV PAN sequence number, 0–99
	Expiry  string `yaml:"expiry"`  // YYMM
	Name    string `yaml:"name"`    // cardholder name as embossed
	Account string `yaml:"account"` // id of one of the customer's accounts
	PIN     PIN    `yaml:"pin"`
	Status  Status `yaml:"status"`
}

// Load reads and parses a seed file.
func Load(path string) (*Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return s, nil
}

// Parse decodes a seed document strictly and validates it.
func Parse(data []byte) (*Seed, error) {
	var s Seed
	if err := strictyaml.Decode(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Card returns the card with the given id.
func (s *Seed) Card(id string) (Card, bool) {
	for _, cu := range s.Customers {
		for _, c := range cu.Cards {
			if c.ID == id {
				return c, true
			}
		}
	}
	return Card{}, false
}

// Validate checks every rule listed in the package documentation and
// reports all violations, each wrapping ErrInvalid.
func (s *Seed) Validate() error {
	var errs []error
	bad := func(where, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, where, fmt.Sprintf(format, args...)))
	}
	if len(s.Customers) == 0 {
		bad("customers", "none defined")
	}
	ids := map[string]string{} // every id → where it was first seen
	unique := func(where, kind, id string) {
		if id == "" {
			bad(where, "%s id is empty", kind)
			return
		}
		if prev, ok := ids[kind+" "+id]; ok {
			bad(where, "%s id %q already used at %s", kind, id, prev)
			return
		}
		ids[kind+" "+id] = where
	}
	pans := map[string]string{}
	for i, cu := range s.Customers {
		where := fmt.Sprintf("customers[%d]", i)
		unique(where, "customer", cu.ID)
		if strings.TrimSpace(cu.Name) == "" {
			bad(where, "name is empty")
		}
		if _, err := time.Parse(time.DateOnly, cu.BirthDate); err != nil {
			bad(where, "birth_date %q is not YYYY-MM-DD", cu.BirthDate)
		}
		if !isE164(cu.Phone) {
			bad(where, "phone %q is not E.164 (+ and 8–15 digits)", cu.Phone)
		}
		if a := cu.App; a != nil {
			unique(where+".app", "app login", a.Login)
			if !ValidLogin(a.Login) {
				bad(where+".app", "login %q must be 3–32 of a–z, 0–9, '.', '-', '_'", a.Login)
			}
			if n := len([]rune(string(a.Password))); n < 8 || n > 64 {
				bad(where+".app", "password must be 8–64 characters")
			}
			if a.Device != "" && !ValidLogin(a.Device) {
				bad(where+".app", "device %q must be 3–32 of a–z, 0–9, '.', '-', '_'", a.Device)
			}
		}
		if cu.Face != "" && !ValidLogin(cu.Face) {
			bad(where, "face %q must be 3–32 of a–z, 0–9, '.', '-', '_'", cu.Face)
		}
		own := map[string]bool{}
		for j, a := range cu.Accounts {
			where := fmt.Sprintf("customers[%d].accounts[%d]", i, j)
			unique(where, "account", a.ID)
			own[a.ID] = true
			c, err := currency.ByAlpha(a.Currency)
			if err != nil {
				bad(where, "currency %q is not known", a.Currency)
				continue
			}
			for _, f := range []struct {
				name string
				v    int64
			}{{"balance", a.Balance}, {"daily_limit", a.DailyLimit}} {
				if f.v < 0 || f.v > MaxAmount/c.Major() {
					bad(where, "%s %d is out of range 0–%d", f.name, f.v, MaxAmount/c.Major())
				}
			}
		}
		for j, c := range cu.Cards {
			where := fmt.Sprintf("customers[%d].cards[%d]", i, j)
			unique(where, "card", c.ID)
			switch {
			case !digits(c.PAN, 12, 19):
				bad(where, "PAN must be 12–19 digits")
			case !Luhn(c.PAN):
				bad(where, "PAN check digit is wrong")
			case pans[c.PAN] != "":
				bad(where, "PAN already used at %s", pans[c.PAN])
			default:
				pans[c.PAN] = where
			}
			if c.PANSeq < 0 || c.PANSeq > 99 {
				bad(where, "pan_seq %d is out of range 0–99", c.PANSeq)
			}
			if !validExpiry(c.Expiry) {
				bad(where, "expiry %q is not YYMM", c.Expiry)
			}
			if strings.TrimSpace(c.Name) == "" {
				bad(where, "name is empty")
			}
			if !own[c.Account] {
				bad(where, "account %q is not an account of customer %q", c.Account, cu.ID)
			}
			if !digits(string(c.PIN), 4, 12) {
				bad(where, "PIN must be 4–12 digits")
			}
			if !c.Status.Valid() {
				bad(where, "status %q is not one of active, new, blocked, expired", c.Status)
			}
		}
	}
	return errors.Join(errs...)
}

// Luhn reports whether the last digit of number is its Luhn check digit.
// number must be all digits.
func Luhn(number string) bool {
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(number) > 0 && sum%10 == 0
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidLogin reports whether s is a valid app login or device id: 3–32
// characters of a–z, 0–9, '.', '-' and '_'.
func ValidLogin(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// IsE164 reports whether s is an E.164 phone number: '+' and 8–15
// digits, not starting with 0.
func IsE164(s string) bool { return isE164(s) }

func isE164(s string) bool {
	rest, ok := strings.CutPrefix(s, "+")
	return ok && digits(rest, 8, 15) && rest[0] != '0'
}

func validExpiry(s string) bool {
	if !digits(s, 4, 4) {
		return false
	}
	m := (s[2]-'0')*10 + s[3] - '0'
	return m >= 1 && m <= 12
}
