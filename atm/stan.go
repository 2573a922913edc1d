package atm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// fileSTAN issues STANs and keeps the last one on disk, so a restart
// never reuses a recent STAN (the host matches duplicates by STAN).
type fileSTAN struct {
	mu   sync.Mutex
	path string
	last int
}

func openSTAN(path string) (*fileSTAN, error) {
	s := &fileSTAN{path: path}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("atm: STAN file: %w", err)
	default:
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n < 0 || n > 999999 {
			return nil, fmt.Errorf("atm: STAN file %s: bad content %q", path, b)
		}
		s.last = n
	}
	return s, nil
}

// NextSTAN returns the next STAN after writing it to disk. A failed write
// still returns a fresh number: the link must not stop for it, and the
// in-memory counter stays unique for this run.
func (s *fileSTAN) NextSTAN() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = s.last%999999 + 1
	v := fmt.Sprintf("%06d", s.last)
	tmp := s.path + ".tmp"
	if f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
		_, werr := f.WriteString(v + "\n")
		serr := f.Sync()
		f.Close()
		if werr == nil && serr == nil {
			os.Rename(tmp, s.path)
			if d, err := os.Open(filepath.Dir(s.path)); err == nil {
				d.Sync()
				d.Close()
			}
		}
	}
	return v
}
