package host

import (
	"testing"

	"github.com/atmd/atmd/hostlink"
)

// FuzzParseEvidence feeds arbitrary field 90 and field 48 text to the
// evidence advice checks: they never panic, and an accepted part is
// consistent with the still it announces.
func FuzzParseEvidence(f *testing.F) {
	orig := "020000000103140130000000000000100000000000"
	f.Add(orig, "EK002DFEF009image/pngEH0640000000000000000000000000000000000000000000000000000000000000000ES0014ET01420260314013000EP0031/1ED008AAECAw==")
	f.Add(orig, "EK002OFEF010image/jpegES0011EP0031/1")
	f.Add("042000000103140130000000000000100000000000", "")
	f.Fuzz(func(t *testing.T, f90, f48 string) {
		m := &hostlink.Message{MTI: hostlink.MTIAdminAdvice, TransmitTime: "0314013000", STAN: "000002",
			TerminalID: terminal, Original: f90, Private: f48}
		a, err := parseEvidence(m)
		if err != nil {
			if a != nil {
				t.Fatal("an advice and an error")
			}
			return
		}
		if a.orig.MTI != hostlink.MTIFinRequest || len(a.sum) != 32 || a.size < 1 || a.size > hostlink.MaxEvidence ||
			a.part < 1 || a.part > a.parts || len(a.data) == 0 || len(a.data) > hostlink.EvidencePartSize ||
			(a.parts-1)*hostlink.EvidencePartSize >= a.size {
			t.Fatalf("accepted an inconsistent part: %+v", a)
		}
		if a.kind != hostlink.EvidenceDelegateFace && a.kind != hostlink.EvidenceOwnerFace {
			t.Fatalf("kind %q", a.kind)
		}
	})
}
