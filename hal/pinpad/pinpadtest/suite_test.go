package pinpadtest_test

import (
	"testing"

	"github.com/atmd/atmd/hal/pinpad/pinpadtest"
)

func TestFakeConformance(t *testing.T) {
	pinpadtest.Run(t, func(t *testing.T) pinpadtest.Harness {
		f := pinpadtest.NewFake()
		return pinpadtest.Harness{Dev: f, Press: f.Press, Keys: pinpadtest.FakeKeys()}
	})
}
