package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkCodec/pack/0200_balance/hostlink-2    	   24036	      9848 ns/op	    6088 B/op	     145 allocs/op
BenchmarkCodec/pack/0200_balance/hostlink-2    	   24036	      9000 ns/op	    6088 B/op	     145 allocs/op
BenchmarkCodec/pack/0200_balance/hostlink-2    	   24036	      9500 ns/op	    6088 B/op	     145 allocs/op
BenchmarkRoundTrip/plain/serial-2         	   13976	     83865 ns/op	     11924 rt/s	   22004 B/op	     635 allocs/op
--- SKIP: BenchmarkAPDU
    apdu_bench_test.go:29: no pcscd/vpcd
PASS
`
	res := parseBench(out)
	b := res["BenchmarkCodec/pack/0200_balance/hostlink"]
	if b.ns() != 9000 || b.Metrics["allocs/op"] != 145 || b.N != 24036 {
		t.Errorf("codec: %+v (want the fastest of three)", b)
	}
	if rt := res["BenchmarkRoundTrip/plain/serial"]; rt.Metrics["rt/s"] != 11924 || rt.ns() != 83865 {
		t.Errorf("round trip: %+v", rt)
	}
	if !res["BenchmarkAPDU"].Skipped {
		t.Errorf("skip not seen: %+v", res["BenchmarkAPDU"])
	}
	if trimProcs("BenchmarkX/a-b-12") != "BenchmarkX/a-b" || trimProcs("BenchmarkX/a-b") != "BenchmarkX/a-b" {
		t.Error("trimProcs")
	}
}

func TestSetYAML(t *testing.T) {
	src := "# comment\natm:\n  id: ATM00001 # terminal\n  timeouts:\n    message: 5s\nhost:\n  db: x.db\nlog:\n  level: debug\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	for p, v := range map[string]string{"atm.timeouts.message": "100ms", "atm.state_dir": "/tmp/s", "devices.cardreader.seed": "/s.yaml"} {
		if err := setYAML(&doc, p, v); err != nil {
			t.Fatal(err)
		}
	}
	deleteYAML(&doc, "host")
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ATM struct {
			ID       string `yaml:"id"`
			StateDir string `yaml:"state_dir"`
			Timeouts struct {
				Message time.Duration `yaml:"message"`
			} `yaml:"timeouts"`
		} `yaml:"atm"`
		Host    map[string]any `yaml:"host"`
		Devices struct {
			CardReader struct {
				Seed string `yaml:"seed"`
			} `yaml:"cardreader"`
		} `yaml:"devices"`
		Log struct {
			Level string `yaml:"level"`
		} `yaml:"log"`
	}
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.ATM.ID != "ATM00001" || got.ATM.StateDir != "/tmp/s" || got.ATM.Timeouts.Message != 100*time.Millisecond ||
		got.Host != nil || got.Devices.CardReader.Seed != "/s.yaml" || got.Log.Level != "debug" {
		t.Errorf("edited config:\n%s", out)
	}
	if err := setYAML(&doc, "atm.id.x", "1"); err == nil {
		t.Error("set below a scalar succeeded")
	}
}

func TestGeomeanAndTargets(t *testing.T) {
	if g := geomean([]float64{1, 4}); math.Abs(g-2) > 1e-9 {
		t.Errorf("geomean = %v", g)
	}
	r := &report{Codec: parseBench(`
BenchmarkCodec/pack/a/hostlink-2 1 110 ns/op
BenchmarkCodec/pack/a/moov-2 1 100 ns/op
BenchmarkCodec/unpack/a/hostlink-2 1 200 ns/op
BenchmarkCodec/unpack/a/moov-2 1 100 ns/op
`), Fleet: &fleetSection{}, Footprint: &footprint{}}
	ts := r.targets()
	if !ts[0].Known || !ts[0].Pass || !ts[1].Known || ts[1].Pass {
		t.Errorf("codec targets: %+v %+v", ts[0], ts[1])
	}
	md := r.markdown("plot.svg")
	for _, want := range []string{"| Codec | pack", "**pass**", "**FAIL**", "not measured", "## Where the time went"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestPlotSVG(t *testing.T) {
	s := plotSVG("t", panel{Title: "a", X: []float64{1, 10, 100}, Series: []series{{Name: "s", Color: "#000", Y: []float64{1, 2, math.NaN()}}}},
		panel{Title: "b", X: []float64{1, 10}, YLog: true, Series: []series{{Name: "p99", Color: "#f00", Y: []float64{0.5, 50}}}})
	if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(s, "</svg>\n") || strings.Count(s, "<polyline") != 2 || strings.Contains(s, "NaN") {
		t.Errorf("svg:\n%s", s)
	}
}

func TestProcStats(t *testing.T) {
	cpu, err := procCPU(os.Getpid())
	if err != nil || cpu < 0 {
		t.Errorf("procCPU = %v, %v", cpu, err)
	}
	rss, hwm, err := procMem(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("procMem = %d, %d, %v", rss, hwm, err)
	}
}

// FuzzParseBench: whatever go test prints, parsing never panics and
// keeps only named results.
func FuzzParseBench(f *testing.F) {
	f.Add("BenchmarkCodec/pack/a/hostlink-2 100 9848 ns/op 6088 B/op 145 allocs/op\n")
	f.Add("--- SKIP: BenchmarkAPDU\nBenchmarkX-2\nBenchmarkY 1 x ns/op\nBenchmarkZ-8 7 1.5 ns/op 3\n")
	f.Fuzz(func(t *testing.T, out string) {
		for name, b := range parseBench(out) {
			if name == "" || name != b.Name {
				t.Fatalf("result %q named %q", name, b.Name)
			}
		}
	})
}
