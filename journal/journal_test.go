package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := Open(path, Options{Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestAppendIsDurableAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j := open(t, path)
	if _, err := j.Append("DISPENSE-INTENT", "s1", map[string]string{"amount": "100000", "stan": "000001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append("DISPENSED", "s1", map[string]string{"notes": "1x1000"}); err != nil {
		t.Fatal(err)
	}
	// Read back from disk before Close: Append must have written through.
	recs, err := ReadFile(path)
	if err != nil || len(recs) != 2 || recs[0].Kind != "DISPENSE-INTENT" || recs[1].Seq != 2 {
		t.Fatalf("ReadFile = %v, %v", recs, err)
	}
	j.Close()
	if _, err := j.Append("X", "", nil); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	j = open(t, path)
	defer j.Close()
	r, err := j.Append("NEXT", "", nil)
	if err != nil || r.Seq != 3 {
		t.Fatalf("after reopen seq = %d, %v", r.Seq, err)
	}
	if j.Recovered != "" {
		t.Fatalf("clean file reported recovery: %s", j.Recovered)
	}
}

func TestTornTailIsCutAndReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j := open(t, path)
	j.Append("A", "", nil)
	j.Append("B", "", nil)
	j.Close()
	data, _ := os.ReadFile(path)
	// Power lost in the middle of writing a third record.
	os.WriteFile(path, append(data, []byte(`{"seq":3,"time":"2026-11-22T10:00:00Z","ki`)...), 0o600)
	j = open(t, path)
	defer j.Close()
	if j.Recovered == "" {
		t.Fatal("torn tail not reported")
	}
	recs := j.Records(nil)
	if len(recs) != 3 || recs[2].Kind != "JOURNAL-RECOVERED" || recs[2].Seq != 3 {
		t.Fatalf("records after recovery: %v", recs)
	}
}

func TestCorruptMiddleRecordIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j := open(t, path)
	j.Append("A", "", map[string]string{"amount": "100"})
	j.Append("B", "", nil)
	j.Close()
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), `"amount":"100"`, `"amount":"900"`, 1)), 0o600)
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("tampered record accepted")
	}
	after, _ := os.ReadFile(path)
	if len(after) != len(data) {
		t.Fatal("Open changed a corrupt journal")
	}
}

func TestPANsAreMasked(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j"))
	defer j.Close()
	r, _ := j.Append("CARD", "", map[string]string{"pan": "4761739001010119", "note": "card 4761739001010119 read", "amount": "000000100000"})
	if r.Fields["pan"] != "476173******0119" || !strings.Contains(r.Fields["note"], "476173******0119") {
		t.Fatalf("PAN not masked: %v", r.Fields)
	}
	if r.Fields["amount"] != "000000100000" {
		t.Fatalf("non-PAN digits changed: %v", r.Fields)
	}
}

func TestSubscribe(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j"))
	defer j.Close()
	ch, stop := j.Subscribe()
	defer stop()
	j.Append("A", "", nil)
	select {
	case r := <-ch:
		if r.Kind != "A" {
			t.Fatal(r)
		}
	case <-time.After(time.Second):
		t.Fatal("no record")
	}
}

// FuzzDecodeLine: no input crashes the decoder, and whatever it accepts
// re-encodes to a line that decodes to the same record.
func FuzzDecodeLine(f *testing.F) {
	good, _ := json.Marshal(line{Record{Seq: 1, Kind: "A", Fields: map[string]string{"k": "v"}}, 0})
	f.Add(good)
	f.Add([]byte(`{"seq":1,"time":"2026-11-22T10:00:00Z","kind":"A","crc":123}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeLine(b)
		if err != nil {
			return
		}
		enc, err := json.Marshal(line{r, sum(r)})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeLine(enc)
		if err != nil || r2.String() != r.String() {
			t.Fatalf("re-encoded record differs: %v vs %v (%v)", r, r2, err)
		}
	})
}

func TestAppendBatchIsOneContiguousWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := open(t, path)
	j.Append("A", "", nil)
	recs, err := j.AppendBatch("s1", []Entry{{Kind: "B", Fields: map[string]string{"pan": "4761739001010119"}}, {Kind: "C"}})
	if err != nil || len(recs) != 2 || recs[0].Seq != 2 || recs[1].Seq != 3 || recs[0].Fields["pan"] != "476173******0119" {
		t.Fatalf("batch = %v, %v", recs, err)
	}
	j.Close()
	all, err := ReadFile(path)
	if err != nil || len(all) != 3 || all[2].Kind != "C" || all[1].Session != "s1" {
		t.Fatalf("on disk: %v, %v", all, err)
	}
}
