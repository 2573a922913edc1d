package flows

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/flows/*.md from the state table")

// The state diagrams in docs/flows are generated from the state table;
// this test keeps them true. Regenerate with:
// go test ./flows -run TestFlowDoc -update
func TestFlowDoc(t *testing.T) {
	for path, want := range map[string]string{
		"../docs/flows/withdrawal.md": FlowDoc(),
		"../docs/flows/activation.md": ActivationDoc(),
		"../docs/flows/delegated.md":  DelegatedDoc(),
	} {
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is out of date with the state table; run: go test ./flows -run TestFlowDoc -update", path)
		}
	}
}
