package devsim

import (
	"context"
	"testing"

	"github.com/atmd/atmd/sim/face"
)

// The still shows the person in front of the camera, in the pattern the
// reference host reads back (sim/face); the capture number along the
// top does not disturb it.
func TestCameraShowsSubject(t *testing.T) {
	c, err := NewCamera(DefaultCameraOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"", "alice", "helper", "alice"} {
		c.SetSubject(who)
		im, err := c.Capture(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tp, err := face.TemplateOf(im.Data)
		if err != nil {
			t.Fatal(err)
		}
		if !face.Match(tp, face.Reference(who)) {
			t.Errorf("subject %q: still does not show them", who)
		}
		if who != "alice" && face.Match(tp, face.Reference("alice")) {
			t.Errorf("subject %q: still matches alice", who)
		}
	}
}
