package cdm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/dispenser"
)

// stateVersion is the state file format this package writes.
const stateVersion = 1

// state is what the simulated device keeps across restarts, as JSON in
// Options.StateFile: its non-volatile memory.
type state struct {
	Version    int                  `json:"version"`
	Nonces     uint64               `json:"nonces"` // counter of the last nonce issued
	Cassettes  []dispenser.Cassette `json:"cassettes"`
	RetractBin int                  `json:"retract_bin"`
	Last       *record              `json:"last_dispense,omitempty"`
	LastTest   *record              `json:"last_test_dispense,omitempty"`
}

// record is what LAST-DISPENSE reports: the last DISPENSE (or
// TEST-DISPENSE) that picked notes, its outcome, and where its notes are.
type record struct {
	Cmd    byte                `json:"cmd"`
	Seq    byte                `json:"seq"`
	CRC    uint16              `json:"crc"`
	State  dispenser.LastState `json:"state"`
	Txn    string              `json:"txn,omitempty"`
	Nonce  []byte              `json:"nonce,omitempty"`
	Status byte                `json:"status"`
	Reason string              `json:"reason,omitempty"`
	Notes  []dispenser.Notes   `json:"notes,omitempty"`
}

// stateRejected: the notes of a TEST-DISPENSE are in the reject bin.
const stateRejected dispenser.LastState = "rejected"

// stateCodes are the STATE bytes of LAST-DISPENSE.
var stateCodes = map[dispenser.LastState]byte{
	dispenser.LastNone: 0, dispenser.LastPicking: 1, dispenser.LastStacked: 2, dispenser.LastPresented: 3,
	dispenser.LastTaken: 4, dispenser.LastRetracted: 5, stateRejected: 6,
}

// parseState decodes a state file strictly: unknown fields, trailing
// data, another version or impossible counters are errors.
func parseState(b []byte) (state, error) {
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return state{}, fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return state{}, errors.New("sim/wire/cdm: state: trailing data")
	}
	if st.Version != stateVersion {
		return state{}, fmt.Errorf("sim/wire/cdm: state: version %d, want %d", st.Version, stateVersion)
	}
	if st.RetractBin < 0 {
		return state{}, fmt.Errorf("sim/wire/cdm: state: retract bin %d", st.RetractBin)
	}
	for _, l := range []*record{st.Last, st.LastTest} {
		if l == nil {
			continue
		}
		if _, ok := stateCodes[l.State]; !ok || len(l.Txn) > 255 || len(l.Nonce) > 255 || len(l.Reason) > 255 || len(l.Notes) > 255 {
			return state{}, errors.New("sim/wire/cdm: state: dispense record out of range")
		}
		total := 0
		for _, n := range l.Notes {
			if n.Cassette < 0 || n.Cassette > 0xFFFF || n.Count < 0 || n.Count > 0xFFFF {
				return state{}, errors.New("sim/wire/cdm: state: dispense record out of range")
			}
			total += n.Count
		}
		if total > 0xFFFF {
			return state{}, errors.New("sim/wire/cdm: state: dispense record out of range")
		}
	}
	if err := validCassettes(st.Cassettes); err != nil {
		return state{}, err
	}
	return st, nil
}

// validCassettes checks what a cassette list must be for the device to
// load it and to report it on the wire: unique ids 1..65535, positive
// denominations below 2^32, three-letter currencies, counters 0..2^32-1,
// a known status.
func validCassettes(cs []dispenser.Cassette) error {
	if len(cs) > 255 {
		return fmt.Errorf("sim/wire/cdm: %d cassettes: %w", len(cs), hal.ErrInvalid)
	}
	seen := map[int]bool{}
	const most = 1<<32 - 1
	for _, c := range cs {
		switch {
		case c.ID <= 0 || c.ID > 0xFFFF || seen[c.ID]:
			return fmt.Errorf("sim/wire/cdm: cassette id %d out of range or repeated: %w", c.ID, hal.ErrInvalid)
		case c.Denomination <= 0 || c.Denomination > most || len(c.Currency) != 3:
			return fmt.Errorf("sim/wire/cdm: cassette %d: bad denomination %d %q: %w", c.ID, c.Denomination, c.Currency, hal.ErrInvalid)
		case c.Count < 0 || c.Initial < 0 || c.Dispensed < 0 || c.Rejected < 0 || c.Low < 0 ||
			c.Count > most || c.Initial > most || c.Dispensed > most || c.Rejected > most || c.Low > most:
			return fmt.Errorf("sim/wire/cdm: cassette %d: counter out of range: %w", c.ID, hal.ErrInvalid)
		}
		switch c.Status {
		case "", dispenser.CassetteOK, dispenser.CassetteLow, dispenser.CassetteEmpty, dispenser.CassetteMissing:
		default:
			return fmt.Errorf("sim/wire/cdm: cassette %d: status %q: %w", c.ID, c.Status, hal.ErrInvalid)
		}
		seen[c.ID] = true
	}
	return nil
}

// loadState reads path; found is false when there is no path or no file
// yet.
func loadState(path string) (st state, found bool, err error) {
	if path == "" {
		return state{}, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	st, err = parseState(b)
	if err != nil {
		return state{}, false, fmt.Errorf("%w (in %s)", err, path)
	}
	return st, true, nil
}

// saveState writes st to path so that after a crash the file holds the
// old state or the new one, never a mix: a temporary file beside it,
// fsync, rename over the old one, fsync of the directory. An empty path
// keeps nothing.
func saveState(path string, st state) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sim/wire/cdm: state: %w", err)
	}
	return nil
}
