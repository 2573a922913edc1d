package atm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// stanBlock is how many STANs are reserved with one write to disk.
const stanBlock = 100

// fileSTAN issues STANs so that a restart never reuses a recent one (the
// host matches duplicates by terminal, STAN and time). It does not write
// every number: it reserves a block of stanBlock and keeps only the end
// of the block on disk; after a crash it starts after the reserved block,
// skipping at most stanBlock numbers.
type fileSTAN struct {
	mu       sync.Mutex
	path     string
	last     uint64 // numbers issued, ever (the STAN is derived from it)
	reserved uint64 // issued numbers up to this are covered by the file
}

func openSTAN(path string) (*fileSTAN, error) {
	s := &fileSTAN{path: path}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("atm: STAN file: %w", err)
	default:
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("atm: STAN file %s: bad content %q", path, b)
		}
		s.last, s.reserved = n, n
	}
	return s, nil
}

// NextSTAN returns the next STAN: six digits, 000001 to 999999, wrapping.
// When the reserved block is used up it first reserves the next one on
// disk. A failed write still returns a fresh number: the link must not
// stop for it, and the in-memory counter stays unique for this run.
func (s *fileSTAN) NextSTAN() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last++
	if s.last > s.reserved {
		s.reserved = s.last + stanBlock - 1
		s.save()
	}
	return fmt.Sprintf("%06d", (s.last-1)%999999+1)
}

func (s *fileSTAN) save() {
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, werr := f.WriteString(strconv.FormatUint(s.reserved, 10) + "\n")
	serr := f.Sync()
	f.Close()
	if werr != nil || serr != nil {
		return
	}
	if os.Rename(tmp, s.path) == nil {
		if d, err := os.Open(filepath.Dir(s.path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
}
