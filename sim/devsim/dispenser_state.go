package devsim

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

// dispenserStateVersion is the state file format the simulator writes.
const dispenserStateVersion = 1

// dispenserState is what the dispenser simulator keeps across restarts,
// stored as JSON in DispenserOptions.StateFile.
type dispenserState struct {
	Version    int                  `json:"version"`
	Nonces     uint64               `json:"nonces"` // counter of the last nonce issued
	Cassettes  []dispenser.Cassette `json:"cassettes"`
	RetractBin int                  `json:"retract_bin"`
	// Last is the last dispense: where its notes are. A dispenser keeps
	// this in non-volatile memory so the ATM can recover after a crash.
	Last dispenser.LastDispense `json:"last"`
}

// parseDispenserState decodes a state file strictly: unknown fields,
// trailing data, another version or impossible counters are errors.
func parseDispenserState(b []byte) (dispenserState, error) {
	var st dispenserState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return dispenserState{}, fmt.Errorf("devsim: dispenser state: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return dispenserState{}, errors.New("devsim: dispenser state: trailing data")
	}
	if st.Version != dispenserStateVersion {
		return dispenserState{}, fmt.Errorf("devsim: dispenser state: version %d, want %d", st.Version, dispenserStateVersion)
	}
	if st.RetractBin < 0 {
		return dispenserState{}, fmt.Errorf("devsim: dispenser state: retract bin %d", st.RetractBin)
	}
	if err := st.validate(); err != nil {
		return dispenserState{}, err
	}
	return st, nil
}

// validate checks the cassettes: unique positive ids, positive
// denominations, three-letter currencies, no negative counter, a known
// status.
func (st dispenserState) validate() error {
	seen := map[int]bool{}
	for _, c := range st.Cassettes {
		switch {
		case c.ID <= 0 || seen[c.ID]:
			return fmt.Errorf("devsim: dispenser: cassette id %d missing or repeated: %w", c.ID, hal.ErrInvalid)
		case c.Denomination <= 0 || len(c.Currency) != 3:
			return fmt.Errorf("devsim: dispenser: cassette %d: bad denomination %d %q: %w", c.ID, c.Denomination, c.Currency, hal.ErrInvalid)
		case c.Count < 0 || c.Initial < 0 || c.Dispensed < 0 || c.Rejected < 0 || c.Low < 0:
			return fmt.Errorf("devsim: dispenser: cassette %d: negative counter: %w", c.ID, hal.ErrInvalid)
		}
		switch c.Status {
		case "", dispenser.CassetteOK, dispenser.CassetteLow, dispenser.CassetteEmpty, dispenser.CassetteMissing:
		default:
			return fmt.Errorf("devsim: dispenser: cassette %d: status %q: %w", c.ID, c.Status, hal.ErrInvalid)
		}
		seen[c.ID] = true
	}
	return nil
}

// loadDispenserState reads path; found is false when there is no path or
// no file yet.
func loadDispenserState(path string) (st dispenserState, found bool, err error) {
	if path == "" {
		return dispenserState{}, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return dispenserState{}, false, nil
	}
	if err != nil {
		return dispenserState{}, false, fmt.Errorf("devsim: dispenser state: %w", err)
	}
	st, err = parseDispenserState(b)
	if err != nil {
		return dispenserState{}, false, fmt.Errorf("%w (in %s)", err, path)
	}
	return st, true, nil
}

// save writes st to the state file, if there is one, so that after a
// crash the file holds either the old state or the new one, never a mix:
// write a temporary file beside it, fsync it, rename it over the old one,
// fsync the directory.
func (d *Dispenser) save(st dispenserState) error {
	path := d.opts.StateFile
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("devsim: dispenser state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("devsim: dispenser state: %w", err)
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
		return fmt.Errorf("devsim: dispenser state: %w", err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("devsim: dispenser state: %w", err)
	}
	defer dirf.Close()
	if err := dirf.Sync(); err != nil {
		return fmt.Errorf("devsim: dispenser state: %w", err)
	}
	return nil
}
