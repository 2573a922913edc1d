package host

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const configYAML = `
listen: 127.0.0.1:5801
db: /tmp/host.db
seed: configs/seed.yaml
pvk: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
lmk: 4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c
terminals:
  - id: ATM00001
    tmk: 0123456789ABCDEFFEDCBA9876543210
  - id: ATM00002
    tmk: 89ABCDEF0123456776543210FEDCBA98
max_pin_tries: 4
institution: "00000012345"
tls: {ca: ca.pem, cert: host.pem, key: host-key.pem}
activation_ttl: 5m
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:5801" || c.DB != "/tmp/host.db" || c.Seed != "configs/seed.yaml" ||
		c.MaxPINTries != 4 || c.Institution != "00000012345" || len(c.Terminals) != 2 ||
		c.Terminals[0].ID != terminal || c.Terminals[1].ID != terminal2 || c.ActivationTTL != 5*time.Minute {
		t.Errorf("config = %+v", c)
	}
	if c.TLS == nil || *c.TLS != (TLS{CA: "ca.pem", Cert: "host.pem", Key: "host-key.pem"}) {
		t.Errorf("tls = %+v", c.TLS)
	}
	if string(c.Terminals[0].TMK) != string(tmk) || string(c.Terminals[1].TMK) != string(tmk2) ||
		string(c.PVK) != string(pvk) || string(c.LMK) != string(lmk) {
		t.Error("keys decoded wrongly")
	}

	minimal := strings.Join([]string{"db: x.db", "pvk: " + strings.Repeat("22", 16), "lmk: " + strings.Repeat("33", 16),
		"terminals: [{id: T1, tmk: " + strings.Repeat("11", 8) + strings.Repeat("12", 8) + "}]"}, "\n")
	c, err = ParseConfig([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.MaxPINTries != DefaultMaxPINTries || c.TLS != nil || c.ActivationTTL != DefaultActivationTTL {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown key", "max_pin_tries: 4", "max_pin_tries: 4\nport: 1", "line 13: port: field port not found"},
		{"old pin_key", "max_pin_tries: 4", "max_pin_tries: 4\npin_key: 0123456789ABCDEFFEDCBA9876543210", "field pin_key not found"},
		{"wrong type", "max_pin_tries: 4", "max_pin_tries: four", "line 12: max_pin_tries: cannot unmarshal"},
		{"key not hex", "pvk: 5a5a", "pvk: zz5a", "line 5: pvk: key must be a hex string"},
		{"key not a string", "pvk: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "pvk: [1]", "line 5: pvk: key must be a hex string"},
		{"short PVK", "pvk: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "pvk: 5a5a", "pvk must be at least 16 bytes, is 2"},
		{"LMK not an AES key", "lmk: 4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c", "lmk: 4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c", "lmk must be an AES key of 16, 24 or 32 bytes, is 18"},
		{"no LMK", "lmk: 4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c", "", "lmk must be an AES key of 16, 24 or 32 bytes, is 0"},
		{"no terminals", "terminals:\n  - id: ATM00001\n    tmk: 0123456789ABCDEFFEDCBA9876543210\n  - id: ATM00002\n    tmk: 89ABCDEF0123456776543210FEDCBA98", "terminals: []", "at least one terminal"},
		{"short TMK", "tmk: 0123456789ABCDEFFEDCBA9876543210", "tmk: 0123456789ABCDEF", "terminals[0] (ATM00001): tmk must be a TDES key"},
		{"TMK halves equal", "tmk: 89ABCDEF0123456776543210FEDCBA98", "tmk: 89ABCDEF0123456789ABCDEF01234567", "terminals[1] (ATM00002): tmk must be a TDES key"},
		{"TMK not hex", "tmk: 0123456789ABCDEFFEDCBA9876543210", "tmk: 0123456789ABCDEFFEDCBA987654321G", "line 9: terminals[0].tmk: key must be a hex string"},
		{"terminal twice", "id: ATM00002", "id: ATM00001", "terminals[1]: id ATM00001 appears twice"},
		{"terminal id too long", "id: ATM00002", "id: ATM000002", `terminals[1]: id "ATM000002" must be 1 to 8`},
		{"terminal id padded", "id: ATM00002", `id: " ATM0002"`, `terminals[1]: id " ATM0002" must be 1 to 8`},
		{"no terminal id", "  - id: ATM00002\n    tmk", "  - tmk", `terminals[1]: id "" must be 1 to 8`},
		{"terminal unknown key", "id: ATM00002\n", "id: ATM00002\n    port: 1\n", "line 11: terminals[1].port: field port not found"},
		{"tls without key", "key: host-key.pem", `key: ""`, "tls needs ca, cert and key"},
		{"tls unknown key", "key: host-key.pem", "key: host-key.pem, verify: false", "field verify not found"},
		{"no db", "db: /tmp/host.db", `db: ""`, "db is required"},
		{"bad listen", "listen: 127.0.0.1:5801", "listen: localhost", `listen "localhost" is not host:port`},
		{"tries", "max_pin_tries: 4", "max_pin_tries: 10", "max_pin_tries 10 is out of range"},
		{"institution", `institution: "00000012345"`, `institution: "ACQ"`, `institution "ACQ" must be up to 11 digits`},
		{"activation ttl too long", "activation_ttl: 5m", "activation_ttl: 2h", "activation_ttl 2h0m0s is out of range 1m–1h"},
		{"activation ttl too short", "activation_ttl: 5m", "activation_ttl: 30s", "activation_ttl 30s is out of range 1m–1h"},
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
			low := strings.ToLower(err.Error())
			if strings.Contains(low, "5a5a5a5a") || strings.Contains(low, "4c4c4c4c") || strings.Contains(low, "0123456789abcdef") ||
				strings.Contains(low, "89abcdef01234567") {
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
	// The KCV of a TDES-sized key, and *** for the others.
	if got := c.Terminals[0].TMK.String(); got != "KCV 08D7B4" {
		t.Errorf("TMK prints as %q", got)
	}
	if got := c.LMK.String(); got != "***" {
		t.Errorf("LMK prints as %q", got)
	}
	text, _ := c.PVK.MarshalText()
	outputs := []string{string(text)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outputs = append(outputs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, c.PVK), fmt.Sprintf(verb, c.Terminals))
	}
	for _, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, "0123456789abcdef") || strings.Contains(low, "89abcdef01") || strings.Contains(low, "5a5a") ||
			strings.Contains(low, "4c4c") || strings.Contains(out, "90 90") || strings.Contains(out, "76 76") ||
			strings.Contains(out, "1 35 69") {
			t.Errorf("key material printed: %s", out)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(configYAML))
	f.Add([]byte("db: x\nlmk: 00\nterminals: [{id: A, tmk: 00}]\n"))
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

// TestDemoConfig checks testdata/host.yaml, the host section given for
// configs/sim.yaml: it parses, and its documented check values and
// components are right.
func TestDemoConfig(t *testing.T) {
	c, err := LoadConfig("testdata/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%X", h.hsm.LMKCheck()); got != "352A2E" {
		t.Errorf("LMK KCV %s, want 352A2E", got)
	}
	if len(c.Terminals) != 1 || c.Terminals[0].ID != "ATM00001" || c.Terminals[0].TMK.String() != "KCV D27A3F" {
		t.Fatalf("terminals = %v", c.Terminals)
	}
	c1, _ := hex.DecodeString("9D51835E014C8AEFA232B5F1CDAB1698")
	c2, _ := hex.DecodeString("F720CE5761618A98321F16A42532763E")
	xor := make([]byte, 16)
	for i := range xor {
		xor[i] = c1[i] ^ c2[i]
	}
	if !bytes.Equal(xor, c.Terminals[0].TMK) {
		t.Error("the components do not XOR to the TMK")
	}
	for _, k := range []struct {
		key  []byte
		want string
	}{{c1, "027B3B"}, {c2, "F7925B"}} {
		if got := Key(k.key).String(); got != "KCV "+k.want {
			t.Errorf("component %s, want KCV %s", got, k.want)
		}
	}
}
