package flows

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/flows/withdrawal.md from the state table")

// The state diagram in docs/flows is generated from the state table; this
// test keeps it true. Regenerate with: go test ./flows -run TestFlowDoc -update
func TestFlowDoc(t *testing.T) {
	const path = "../docs/flows/withdrawal.md"
	want := FlowDoc()
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
		t.Fatalf("%s is out of date with the state table; run: go test ./flows -run TestFlowDoc -update", path)
	}
}
