package face

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

func TestTemplateRoundTrip(t *testing.T) {
	for _, size := range [][2]int{{320, 240}, {640, 480}, {96, 72}} {
		for _, name := range []string{"alice", "bob", "helper", ""} {
			data, err := Encode(size[0], size[1], name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := TemplateOf(data)
			if err != nil {
				t.Fatal(err)
			}
			if !Match(got, Reference(name)) {
				t.Errorf("%dx%d %q: template %v does not match its reference %v", size[0], size[1], name, got, Reference(name))
			}
			for _, other := range []string{"alice", "bob", "helper", "", "mallory"} {
				if other != name && Match(got, Reference(other)) {
					t.Errorf("%dx%d: %q matches %q", size[0], size[1], name, other)
				}
			}
		}
	}
}

// A JPEG of the same still still matches: compression noise is tolerated.
func TestTemplateSurvivesJPEG(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 90
	}
	Draw(img, "alice")
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	got, err := TemplateOf(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !Match(got, Reference("alice")) || Match(got, Reference("bob")) {
		t.Fatalf("JPEG template %v", got)
	}
}

func TestTemplateRefusesGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("not an image"), {0x89, 'P', 'N', 'G'}} {
		if _, err := TemplateOf(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}

func FuzzTemplateOf(f *testing.F) {
	data, _ := Encode(64, 48, "alice")
	f.Add(data)
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		_, _ = TemplateOf(b)
	})
}
