package health

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func TestCatalogueEntries(t *testing.T) {
	known := map[string]bool{}
	for _, d := range Devices() {
		known[d] = true
	}
	for _, e := range Entries() {
		t.Run(e.Code, func(t *testing.T) {
			if !validCode(e.Code) {
				t.Errorf("code %q is not well formed", e.Code)
			}
			if !known[e.Device] {
				t.Errorf("device %q is not one of Devices()", e.Device)
			}
			p, _, _ := strings.Cut(e.Code, "-")
			if prefixes[p] != e.Device {
				t.Errorf("prefix %s belongs to %q, entry says %q", p, prefixes[p], e.Device)
			}
			for field, text := range map[string]string{"title": e.Title, "title_zh": e.TitleZH, "cause": e.Cause, "remedy": e.Remedy} {
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s is empty", field)
				}
				if strings.ContainsAny(text, "|\n`") {
					t.Errorf("%s holds '|', '`' or a newline, which break the tables of faults.md", field)
				}
			}
			if len([]rune(e.Title)) > 40 {
				t.Errorf("title %q is longer than two lines of the operator display (40)", e.Title)
			}
			if !strings.HasSuffix(e.Cause, ".") || !strings.HasSuffix(e.Remedy, ".") {
				t.Errorf("cause and remedy should be sentences ending in '.'")
			}
			if (e.Severity == Degraded) != (e.Degrades != "") {
				t.Errorf("severity %v with degrades %q: a degraded fault names what it degrades, others nothing", e.Severity, e.Degrades)
			}
			if got, ok := Lookup(e.Code); !ok || got != e || !got.Known() {
				t.Errorf("Lookup(%s) = %+v, %v", e.Code, got, ok)
			}
			if DeviceOf(e.Code) != e.Device {
				t.Errorf("DeviceOf = %q", DeviceOf(e.Code))
			}
		})
	}
}

func TestEntriesSortedAndCopied(t *testing.T) {
	es := Entries()
	if !sort.SliceIsSorted(es, func(i, j int) bool { return es[i].Code < es[j].Code }) {
		t.Error("Entries not sorted by code")
	}
	if len(es) != len(catalogue) {
		t.Fatalf("Entries has %d, catalogue %d", len(es), len(catalogue))
	}
	es[0].Title = "changed"
	if e, _ := Lookup(es[0].Code); e.Title == "changed" {
		t.Error("Entries shares its storage with the catalogue")
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, tc := range []struct{ code, device string }{
		{"DSP-WOBBLE", Dispenser},
		{"PRN-SMOKE", Printer},
		{"XYZ-1", ""},
		{"UNKNOWN", ""},
		{"", ""},
	} {
		e, ok := Lookup(tc.code)
		if ok || e.Known() {
			t.Errorf("Lookup(%q) ok", tc.code)
		}
		if e.Code != tc.code || e.Device != tc.device || e.Title != "Unknown fault" || e.Severity != Degraded {
			t.Errorf("Lookup(%q) = %+v", tc.code, e)
		}
		if !strings.Contains(e.Cause, "unknown fault: see the device's log") || e.Remedy == "" {
			t.Errorf("Lookup(%q) cause %q remedy %q", tc.code, e.Cause, e.Remedy)
		}
	}
}

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{Info, Degraded, Vital} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Severity
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("%v: round trip %v, %v", s, got, err)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil || !strings.HasPrefix(err.Error(), "health: ") {
		t.Errorf("UnmarshalText(fatal) = %v", err)
	}
	if Severity(7).String() != "severity(7)" {
		t.Errorf("String = %q", Severity(7).String())
	}
}

func TestTitleIn(t *testing.T) {
	e, _ := Lookup("DSP-JAM")
	if e.TitleIn("zh-TW") != "鈔票卡住" || e.TitleIn("en") != "Notes jammed" || e.TitleIn("") != "Notes jammed" {
		t.Errorf("TitleIn: %q %q", e.TitleIn("zh-TW"), e.TitleIn("en"))
	}
}

// codeRE finds fault codes of the catalogue's prefixes.
var codeRE = regexp.MustCompile(`\b(?:CRD|PIN|SCR|OPD|NFC|DSP|PRN|CAM|SEN|HST)-[A-Z0-9]+(?:-[A-Z0-9]+)*\b`)

// notFaults are strings that look like codes and are not: EPP command
// names.
var notFaults = map[string]bool{"PIN-ENTRY": true}

// TestCatalogueCoversCode fails when a device, driver, simulator, config
// or document names a fault code the catalogue lacks. Test files are not
// read: they name made-up codes on purpose, to see them refused.
func TestCatalogueCoversCode(t *testing.T) {
	root := ".."
	found := map[string]string{} // code → first file naming it
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			switch name {
			case ".git", "var", "bin", "node_modules", "testdata", "health":
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(name, "_test.go"), path == filepath.Join(root, "docs", "faults.md"):
			return nil
		case strings.HasSuffix(name, ".go"), strings.HasSuffix(name, ".md"), strings.HasSuffix(name, ".scn"), strings.HasSuffix(name, ".yaml"):
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range codeRE.FindAllString(string(b), -1) {
			if _, ok := found[c]; !ok {
				found[c] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 30 {
		t.Fatalf("found only %d codes under %s: is the walk looking in the right place?", len(found), root)
	}
	t.Logf("%d codes named in the code base", len(found))
	for c, path := range found {
		if notFaults[c] {
			continue
		}
		if _, ok := Lookup(c); !ok {
			t.Errorf("%s names fault code %s, which the catalogue lacks: add it to health/catalogue.go", path, c)
		}
	}
}
