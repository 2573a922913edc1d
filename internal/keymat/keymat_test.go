package keymat

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const hexKey = "0123456789ABCDEFFEDCBA9876543210"

func TestKeyNeverPrintsItself(t *testing.T) {
	var k Key
	if err := k.UnmarshalText([]byte(hexKey)); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(struct{ K Key }{k})
	for _, out := range []string{k.String(), fmt.Sprintf("%v %d %x %#v %s", k, k, k, k, k), string(j)} {
		if strings.Contains(strings.ToUpper(out), "0123456789ABCDEF") || strings.Contains(out, "1 35 69") {
			t.Fatalf("key printed: %s", out)
		}
		if !strings.Contains(out, "KCV 08D7B4") {
			t.Fatalf("no check value in %q", out)
		}
	}
}

func TestUnmarshalYAML(t *testing.T) {
	var v struct{ K Key }
	if err := yaml.Unmarshal([]byte("k: "+hexKey), &v); err != nil || len(v.K) != 16 {
		t.Fatalf("%v %d", err, len(v.K))
	}
	for _, bad := range []string{"k: [1, 2, 3]", "k: XYZ", "k: {a: 1}"} {
		err := yaml.Unmarshal([]byte(bad), &v)
		if err == nil || !strings.Contains(err.Error(), "line 1") || strings.Contains(err.Error(), "XYZ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
