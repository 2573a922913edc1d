package pn532_test

import (
	"testing"

	"github.com/atmd/atmd/devices/pn532"
	"github.com/atmd/atmd/hal/nfctag/nfctagtest"
)

// The driver passes the nfctag conformance suite over a pseudo-terminal,
// with the PN532 simulator (and its phone) on the other end.
func TestConformance(t *testing.T) {
	nfctagtest.Run(t, func(t *testing.T) nfctagtest.Harness {
		r := newRig(t, pn532.DefaultOptions)
		return nfctagtest.Harness{Dev: r.dev, Tap: r.sim.Tap}
	})
}
