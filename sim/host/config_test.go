package host

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const configYAML = `
listen: 127.0.0.1:5801
db: /tmp/host.db
seed: configs/seed.yaml
pin_key: 0123456789ABCDEFFEDCBA9876543210
pvk: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
dispense_key: c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3
max_pin_tries: 4
institution: "00000012345"
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:5801" || c.DB != "/tmp/host.db" || c.Seed != "configs/seed.yaml" ||
		c.MaxPINTries != 4 || c.Institution != "00000012345" {
		t.Errorf("config = %+v", c)
	}
	if string(c.PINKey) != string(pinKey) || string(c.PVK) != string(pvk) || string(c.DispenseKey) != string(dispKey) {
		t.Error("keys decoded wrongly")
	}

	minimal := strings.Join([]string{"db: x.db", "pin_key: " + strings.Repeat("11", 16),
		"pvk: " + strings.Repeat("22", 16), "dispense_key: " + strings.Repeat("33", 32)}, "\n")
	c, err = ParseConfig([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.MaxPINTries != DefaultMaxPINTries {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "max_pin_tries: 4", "max_pin_tries: 4\nport: 1", "line 9: port: field port not found"},
		{"wrong type", "max_pin_tries: 4", "max_pin_tries: four", "line 8: max_pin_tries: cannot unmarshal"},
		{"key not hex", "pvk: 5a5a", "pvk: zz5a", "line 6: pvk: key must be a hex string"},
		{"key not a string", "pvk: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "pvk: [1]", "line 6: pvk: key must be a hex string"},
		{"short PIN key", "pin_key: 0123456789ABCDEFFEDCBA9876543210", "pin_key: 0123456789ABCDEF", "pin_key must be 16 or 24 bytes, is 8"},
		{"short PVK", "pvk: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "pvk: 5a5a", "pvk must be at least 16 bytes, is 2"},
		{"short dispense key", "dispense_key: c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", "dispense_key: c3c3", "dispense_key must be at least 32 bytes, is 2"},
		{"no db", "db: /tmp/host.db", `db: ""`, "db is required"},
		{"bad listen", "listen: 127.0.0.1:5801", "listen: localhost", `listen "localhost" is not host:port`},
		{"tries", "max_pin_tries: 4", "max_pin_tries: 10", "max_pin_tries 10 is out of range"},
		{"institution", `institution: "00000012345"`, `institution: "ACQ"`, `institution "ACQ" must be up to 11 digits`},
		{"institution too long", `institution: "00000012345"`, `institution: "000000123456"`, "must be up to 11 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(configYAML, tt.old, tt.new, 1)
			if in == configYAML {
				t.Fatalf("%q not in the config", tt.old)
			}
			_, err := ParseConfig([]byte(in))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(strings.ToLower(err.Error()), "5a5a5a5a") {
				t.Errorf("error reveals a key: %q", err)
			}
		})
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	c, err := ParseConfig([]byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	// The KCV of the PIN key, and *** for keys that are not TDES keys.
	if got := c.PINKey.String(); got != "KCV 08D7B4" {
		t.Errorf("PIN key prints as %q", got)
	}
	if got := c.DispenseKey.String(); got != "***" {
		t.Errorf("dispense key prints as %q", got)
	}
	text, _ := c.PVK.MarshalText()
	outputs := []string{string(text)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outputs = append(outputs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, c.PVK))
	}
	for _, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, "0123456789abcdef") || strings.Contains(low, "5a5a") || strings.Contains(low, "c3c3") ||
			strings.Contains(out, "90 90") || strings.Contains(out, "195 195") {
			t.Errorf("key material printed: %s", out)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(configYAML))
	f.Add([]byte("db: x\npin_key: 00\n"))
	f.Add([]byte("pvk: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config Validate rejects: %v", err)
		}
		if c.Listen == "" || c.MaxPINTries == 0 {
			t.Fatalf("defaults not applied: %+v", c)
		}
	})
}
