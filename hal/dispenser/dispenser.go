// Package dispenser is the contract for the cash dispenser.
//
// A withdrawal moves cash in three steps: Dispense picks and stacks the
// notes behind the closed shutter, Present opens the shutter, WaitTaken
// returns once the customer has taken them; Retract pulls notes that were
// left back into the retract bin. Halt closes the shutter.
//
// End-to-end protection (the XFS4IoT idea): Dispense moves no note unless
// the request carries a Token — an HMAC, under the dispense key shared
// with the host, over the ATM id, the transaction, the amount, the
// currency and a Nonce that this dispenser issued for this one
// transaction. A nonce is consumed by the first Dispense that presents it,
// valid or not, so a token can never be replayed; a box wired straight to
// the dispenser gets no cash.
//
// Device-independent checks live here, above the driver: Denominate picks
// the notes for an amount from the cassettes, CheckMix validates a mix.
package dispenser

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hal"
)

// CassetteStatus is a cash unit's fill state.
type CassetteStatus string

// Cassette states.
const (
	CassetteOK      CassetteStatus = "ok"
	CassetteLow     CassetteStatus = "low"
	CassetteEmpty   CassetteStatus = "empty"
	CassetteMissing CassetteStatus = "missing"
)

// Cassette is one cash unit and its counters.
type Cassette struct {
	ID           int            `json:"id"`           // 1-based position
	Denomination int64          `json:"denomination"` // minor units per note
	Currency     string         `json:"currency"`     // ISO 4217 alpha
	Count        int            `json:"count"`        // notes the dispenser believes are inside
	Initial      int            `json:"initial"`      // notes loaded at replenishment
	Dispensed    int            `json:"dispensed"`    // notes dispensed since replenishment
	Rejected     int            `json:"rejected"`     // notes diverted to the reject bin
	Low          int            `json:"low"`          // count at or below which the unit reports low
	Status       CassetteStatus `json:"status"`
}

// Notes is a number of notes from one cassette.
type Notes struct {
	Cassette int `json:"cassette"`
	Count    int `json:"count"`
}

// Capabilities of the dispenser.
type Capabilities struct {
	MaxNotes  int  // most notes in one dispense
	Shutter   bool // has a controlled shutter
	Retract   bool // can retract presented notes
	Cassettes int  // number of cash units
}

// DispenseRequest asks to stack notes. Mix must add up to Amount.
type DispenseRequest struct {
	ATM      string  // terminal id the token is bound to
	Txn      string  // transaction reference the token is bound to
	Amount   int64   // minor units
	Currency string  // ISO 4217 alpha
	Mix      []Notes // notes per cassette
	Nonce    []byte  // nonce issued by Nonce, bound into the token
	Token    []byte  // host-issued dispense token
}

// Result reports what was stacked. On a partial dispense the error is a
// *PartialError and Dispensed says what did move.
type Result struct {
	Dispensed []Notes
	Rejected  int // notes diverted to the reject bin while picking
}

// Amount adds up the notes in r against the cassettes.
func (r Result) Amount(cs []Cassette) int64 { return MixAmount(r.Dispensed, cs) }

// Dispenser is a cash dispenser.
type Dispenser interface {
	hal.Device
	Capabilities() Capabilities
	// Cassettes returns the cash units and their counters.
	Cassettes(ctx context.Context) ([]Cassette, error)
	// Nonce issues a fresh nonce for the next dispense; it never repeats,
	// across restarts too. Issuing a new nonce voids the previous one.
	Nonce(ctx context.Context) ([]byte, error)
	// Dispense checks the token and stacks the notes behind the shutter.
	Dispense(ctx context.Context, req DispenseRequest) (Result, error)
	// Present opens the shutter to the customer.
	Present(ctx context.Context) error
	// WaitTaken blocks until the presented notes are taken, then closes
	// the shutter.
	WaitTaken(ctx context.Context) error
	// Retract pulls presented or stacked notes into the retract bin and
	// returns how many it counted.
	Retract(ctx context.Context) (int, error)
}

// LastState says where the notes of the last dispense are.
type LastState string

// Last dispense states.
const (
	LastNone      LastState = ""          // nothing dispensed since the dispenser was new
	LastPicking   LastState = "picking"   // picking was interrupted: notes in the transport
	LastStacked   LastState = "stacked"   // notes behind the closed shutter
	LastPresented LastState = "presented" // notes in the open tray
	LastTaken     LastState = "taken"     // the customer took them
	LastRetracted LastState = "retracted" // pulled into the retract bin
)

// LastDispense is what a dispenser remembers of its last dispense, kept
// across power loss (XFS4IoT's present status). Txn is the transaction
// the dispense token was bound to.
type LastDispense struct {
	Txn   string    `json:"txn"`
	Notes []Notes   `json:"notes"`
	State LastState `json:"state"`
}

// Recoverer is the optional ability to report the last dispense, so that
// after a crash the ATM can tell whether a customer got the cash.
type Recoverer interface {
	LastDispense(ctx context.Context) (LastDispense, error)
}

// KeyLoader is the optional ability to load keys into the dispenser: its
// copy of the terminal master key as clear components (kek ""), XORed
// into "tmk", and the dispense key encrypted under it (TDES-ECB). It
// answers the key's check value: the TDES check value for the master
// key, and for the dispense key the first three bytes of
// HMAC-SHA256(key, 16 zero bytes).
type KeyLoader interface {
	LoadKey(ctx context.Context, name, kek string, value []byte) (kcv []byte, err error)
}

// Tester is the optional ability to pick notes straight into the reject
// bin, for a technician's test dispense from the maintenance menu. It
// needs no token and no nonce because no note can reach the customer:
// the notes go from the cassettes to the reject bin inside the safe, and
// the counters move from Count to Rejected. The Result lists the notes
// picked per cassette and Rejected counts them all. The mix is checked
// with CheckNotes.
type Tester interface {
	TestDispense(ctx context.Context, mix []Notes) (Result, error)
}

// Loader is the optional ability to replace the cassettes after a
// replenishment: for each cassette its denomination, currency, count,
// low mark and whether it is missing (Status CassetteMissing). The
// device takes the count as the initial one and starts the dispensed and
// rejected counters at zero. It refuses while notes are in the transport.
type Loader interface {
	Load(ctx context.Context, cs []Cassette) error
}

// KeyDeleter is the optional ability to erase a key (its bytes
// overwritten), so that a new master key can be loaded as components:
// a component is XORed into a key of the same name. A key that is not
// loaded is ErrNoKey.
type KeyDeleter interface {
	DeleteKey(ctx context.Context, name string) error
}

// RetractCounter is the optional ability to report how many notes the
// retract bin has received since the device was new.
type RetractCounter interface {
	RetractCount(ctx context.Context) (int, error)
}

// CheckNotes validates a mix without an amount (a test dispense): known,
// present cassettes, each once with a positive count and enough notes,
// at most maxNotes in all (0: no limit). Errors wrap hal.ErrInvalid and
// ErrCannotMake.
func CheckNotes(mix []Notes, cs []Cassette, maxNotes int) error {
	total := 0
	seen := map[int]bool{}
	for _, n := range mix {
		if n.Count <= 0 || seen[n.Cassette] {
			return fmt.Errorf("%w: %w: bad count for cassette %d", hal.ErrInvalid, ErrCannotMake, n.Cassette)
		}
		seen[n.Cassette] = true
		found := false
		for _, c := range cs {
			if c.ID != n.Cassette {
				continue
			}
			found = true
			if c.Status == CassetteMissing {
				return fmt.Errorf("%w: %w: cassette %d is missing", hal.ErrInvalid, ErrCannotMake, n.Cassette)
			}
			if n.Count > c.Count {
				return fmt.Errorf("%w: %w: cassette %d has %d notes", hal.ErrInvalid, ErrCannotMake, c.ID, c.Count)
			}
		}
		if !found {
			return fmt.Errorf("%w: %w: no cassette %d", hal.ErrInvalid, ErrCannotMake, n.Cassette)
		}
		total += n.Count
	}
	if total == 0 || (maxNotes > 0 && total > maxNotes) {
		return fmt.Errorf("%w: %w: %d notes", hal.ErrInvalid, ErrCannotMake, total)
	}
	return nil
}

// DispenseKCV is the check value of a dispense (HMAC) key.
func DispenseKCV(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(make([]byte, 16))
	return m.Sum(nil)[:3]
}

// Errors the flows branch on.
var (
	ErrBadToken     = errors.New("dispenser: dispense token missing or invalid")
	ErrCannotMake   = errors.New("dispenser: amount cannot be made from the cassettes")
	ErrNothingStack = errors.New("dispenser: no notes to present or retract")
	ErrShutter      = errors.New("dispenser: shutter fault")
	ErrNoKey        = errors.New("dispenser: key not loaded")
)

// PartialError reports a dispense that stopped part way.
type PartialError struct {
	Dispensed []Notes
	Err       error // the fault that stopped it
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("dispenser: partial dispense %v: %v", e.Dispensed, e.Err)
}

// Unwrap returns the fault.
func (e *PartialError) Unwrap() error { return e.Err }

// TokenData is what a dispense token binds.
type TokenData struct {
	ATM      string
	Txn      string
	Amount   int64
	Currency string
	Nonce    []byte
}

// Bytes is the canonical, unambiguous encoding the HMAC is computed over:
// a version label, then each field with a 2-byte length prefix.
func (d TokenData) Bytes() []byte {
	out := []byte("atmd-dispense-v1")
	add := func(b []byte) {
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	add([]byte(d.ATM))
	add([]byte(d.Txn))
	add(binary.BigEndian.AppendUint64(nil, uint64(d.Amount)))
	add([]byte(d.Currency))
	add(d.Nonce)
	return out
}

// SignToken computes the token for d under key (HMAC-SHA256).
func SignToken(key []byte, d TokenData) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(d.Bytes())
	return m.Sum(nil)
}

// VerifyToken checks tok in constant time.
func VerifyToken(key []byte, d TokenData, tok []byte) bool {
	return len(key) > 0 && hmac.Equal(SignToken(key, d), tok)
}

// MixAmount adds up a mix against the cassettes' denominations. Unknown
// cassettes count as zero.
func MixAmount(mix []Notes, cs []Cassette) int64 {
	var total int64
	for _, n := range mix {
		for _, c := range cs {
			if c.ID == n.Cassette {
				total += int64(n.Count) * c.Denomination
			}
		}
	}
	return total
}

// CheckMix validates a request's mix against the cassettes: known
// cassettes, positive counts, enough notes, at most maxNotes, one
// currency, and the sum equal to amount.
func CheckMix(req DispenseRequest, cs []Cassette, maxNotes int) error {
	total := 0
	seen := map[int]bool{}
	for _, n := range req.Mix {
		if n.Count <= 0 || seen[n.Cassette] {
			return fmt.Errorf("%w: %w: bad count for cassette %d", hal.ErrInvalid, ErrCannotMake, n.Cassette)
		}
		seen[n.Cassette] = true
		var c *Cassette
		for i := range cs {
			if cs[i].ID == n.Cassette {
				c = &cs[i]
			}
		}
		if c == nil || c.Status == CassetteMissing {
			return fmt.Errorf("%w: %w: no cassette %d", hal.ErrInvalid, ErrCannotMake, n.Cassette)
		}
		if c.Currency != req.Currency {
			return fmt.Errorf("%w: %w: cassette %d holds %s", hal.ErrInvalid, ErrCannotMake, c.ID, c.Currency)
		}
		if n.Count > c.Count {
			return fmt.Errorf("%w: %w: cassette %d has %d notes", hal.ErrInvalid, ErrCannotMake, c.ID, c.Count)
		}
		total += n.Count
	}
	if total == 0 || (maxNotes > 0 && total > maxNotes) {
		return fmt.Errorf("%w: %w: %d notes", hal.ErrInvalid, ErrCannotMake, total)
	}
	if got := MixAmount(req.Mix, cs); got != req.Amount {
		return fmt.Errorf("%w: %w: mix makes %d, request says %d", hal.ErrInvalid, ErrCannotMake, got, req.Amount)
	}
	return nil
}

// Denominate picks notes for amount from the usable cassettes of
// currency, with at most maxNotes notes. Among the mixes that work it
// prefers the fewest notes, then the larger denominations. It returns
// ErrCannotMake when no mix exists.
func Denominate(amount int64, currency string, cs []Cassette, maxNotes int) ([]Notes, error) {
	var units []Cassette
	for _, c := range cs {
		if c.Currency == currency && c.Count > 0 && c.Denomination > 0 &&
			c.Status != CassetteMissing && c.Status != CassetteEmpty {
			units = append(units, c)
		}
	}
	// Largest denomination first, so the first best mix found uses them.
	for i := 1; i < len(units); i++ {
		for j := i; j > 0 && units[j].Denomination > units[j-1].Denomination; j-- {
			units[j], units[j-1] = units[j-1], units[j]
		}
	}
	if amount <= 0 {
		return nil, ErrCannotMake
	}
	best := []Notes(nil)
	bestN := maxNotes + 1
	if maxNotes <= 0 {
		bestN = 1 << 30
	}
	cur := make([]int, len(units))
	var search func(i int, left int64, used int)
	search = func(i int, left int64, used int) {
		if used >= bestN {
			return
		}
		if left == 0 {
			bestN = used
			best = best[:0:0]
			for k, n := range cur {
				if n > 0 {
					best = append(best, Notes{Cassette: units[k].ID, Count: n})
				}
			}
			return
		}
		if i == len(units) {
			return
		}
		u := units[i]
		most := int(left / u.Denomination)
		if most > u.Count {
			most = u.Count
		}
		if most > bestN-used {
			most = bestN - used
		}
		for n := most; n >= 0; n-- {
			cur[i] = n
			search(i+1, left-int64(n)*u.Denomination, used+n)
		}
		cur[i] = 0
	}
	search(0, amount, 0)
	if best == nil {
		return nil, ErrCannotMake
	}
	return best, nil
}
