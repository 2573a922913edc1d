package atm

import (
	"testing"

	"github.com/atmd/atmd/sim/host"
	"github.com/atmd/atmd/sim/host/mobile"
)

// TestPhoneApp: the phone pane shows the banking-app page of the
// in-process host's mobile API when it serves one (simulator mode) on a
// known port.
func TestPhoneApp(t *testing.T) {
	for _, tc := range []struct {
		name string
		host *host.Config
		want string
	}{
		{"no host", nil, ""},
		{"no mobile API", &host.Config{}, ""},
		{"not a simulator", &host.Config{Mobile: &mobile.Config{Listen: "127.0.0.1:5801"}}, ""},
		{"simulator", &host.Config{Mobile: &mobile.Config{Listen: "127.0.0.1:5801", Simulator: true}}, "http://127.0.0.1:5801/app/"},
		{"any address", &host.Config{Mobile: &mobile.Config{Listen: ":5801", Simulator: true}}, "http://127.0.0.1:5801/app/"},
		{"IPv6 loopback", &host.Config{Mobile: &mobile.Config{Listen: "[::1]:5801", Simulator: true}}, "http://[::1]:5801/app/"},
		{"port chosen at start", &host.Config{Mobile: &mobile.Config{Listen: "127.0.0.1:0", Simulator: true}}, ""},
	} {
		d := &Daemon{Config: &Config{Host: tc.host}}
		if got := d.phoneApp(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
