package cardreadertest_test

import (
	"testing"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/cardreader/cardreadertest"
)

func TestFakeConformance(t *testing.T) {
	for _, caps := range []cardreader.Capabilities{
		{}, // defaults
		{Magstripe: true},
		{Chip: true, Retain: true, BinCapacity: 1},
	} {
		t.Run("", func(t *testing.T) {
			cardreadertest.Run(t, func(t *testing.T) cardreadertest.Harness {
				f := cardreadertest.NewFake(caps)
				return cardreadertest.Harness{Dev: f, Insert: f.Insert, InsertUnreadable: f.InsertUnreadable, Take: f.Take}
			})
		})
	}
}
