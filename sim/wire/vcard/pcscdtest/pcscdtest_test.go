package pcscdtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/sim/wire/vcard"
	"github.com/atmd/atmd/sim/wire/vcard/pcscdtest"
)

func TestEnv(t *testing.T) {
	e := pcscdtest.Start(t)
	if len(e.Slots) != 2 || e.Reader != "Virtual PCD 00 00" || !strings.HasPrefix(e.VPCD, "127.0.0.1:") {
		t.Fatalf("Env = %+v", e)
	}
	if env := e.Environ(); len(env) != 1 || env[0] != "PCSCLITE_CSOCK_NAME="+e.Socket {
		t.Fatalf("Environ = %q", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := vcard.New(vcard.Profile{PAN: "4761730000001019", Expiry: "2912"}, vcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A card in the second slot: pcscd sees it come and go.
	if err := c.Insert(ctx, e.Slots[1].VPCD); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitCard(ctx, e.Slots[1], true); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitCard(ctx, e.Slots[1], false); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	if e.Running() {
		t.Fatal("Running after Stop")
	}
	e.Stop() // twice is fine
	e.Restart()
	if !e.Running() || !strings.Contains(e.Log(), "daemon ready") {
		t.Fatal("not running after Restart")
	}
	if err := e.WaitCard(ctx, e.Slot, false); err != nil {
		t.Fatal(err)
	}
}
