package loadgen

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseFleet: fleet.json is read back by a host in another process;
// whatever it holds, parsing returns a fleet or an error, never panics,
// and a fleet it returns has terminals, cards and a valid host config.
func FuzzParseFleet(f *testing.F) {
	dir := f.TempDir()
	if _, err := Generate(dir, 2, 3); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, FleetFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"pvk":"zz","terminals":[{"id":"A","tmk":"00"}],"cards":[{"id":"c"}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := parseFleet(dir, data)
		if err != nil {
			return
		}
		if len(fl.Terminals) == 0 || len(fl.Cards) == 0 || fl.Host.Validate() != nil {
			t.Fatalf("accepted a fleet that is not usable: %d terminals, %d cards", len(fl.Terminals), len(fl.Cards))
		}
	})
}
