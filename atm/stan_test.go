package atm

import (
	"path/filepath"
	"testing"
)

// STANs never repeat across a restart (or a crash: the file only holds
// the end of the reserved block), wrap from 999999 to 000001, and cost
// one disk write per block, not per number.
func TestSTANNeverRepeatsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stan")
	seen := map[string]bool{}
	for run := 0; run < 3; run++ {
		s, err := openSTAN(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 150; i++ {
			v := s.NextSTAN()
			if seen[v] {
				t.Fatalf("run %d: STAN %s repeated", run, v)
			}
			seen[v] = true
		}
	}
	s := &fileSTAN{path: path, last: 999998, reserved: 999998}
	if a, b := s.NextSTAN(), s.NextSTAN(); a != "999999" || b != "000001" {
		t.Fatalf("wrap: %s then %s", a, b)
	}
}
