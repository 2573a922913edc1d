// Package face is the simulator's stand-in for face recognition: a
// deterministic way for the simulated camera to show a person and for
// the reference host to tell whether a still shows the person enrolled
// for a card. It is not face recognition and must not be mistaken for
// it; a real deployment sends the stills to a real matcher.
//
// The model: a person is a name. The simulated camera draws a face as an
// ellipse in the middle of the still (sim/devsim); inside it, Draw paints
// a Grid×Grid pattern of grey cells derived from the SHA-256 of the
// name, the person's "features". TemplateOf reads the cells back from any
// still of that layout (PNG or JPEG, any size), and Match compares two
// templates by their mean absolute difference, which tolerates
// compression noise. An empty name draws a blank face, which matches no
// one. The host's enrolled reference for a customer is Reference(name)
// of the name in the seed (customer key face).
package face

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // decode JPEG stills
	"image/png"
	"math"
)

// Grid is the number of cells across (and down) a face's pattern.
const Grid = 4

// Template is a face's pattern: Grid×Grid grey levels, row by row.
type Template [Grid * Grid]uint8

// blank is the grey of a face without a pattern (the simulated camera's
// default face).
const blank = 200

// Reference returns the template of the person called name: what Draw
// paints for them.
func Reference(name string) Template {
	var t Template
	if name == "" {
		for i := range t {
			t[i] = blank
		}
		return t
	}
	h := sha256.Sum256([]byte("atmd-sim-face-v1\x00" + name))
	for i := range t {
		// Levels 40..220 in steps of 20: far apart, so noise cannot turn
		// one into another.
		t[i] = uint8(40 + 20*(int(h[i])%10))
	}
	return t
}

// Box returns the rectangle that holds the pattern in a still of size w×h:
// the square inside the face ellipse the simulated camera draws (centre
// (w/2, h/2+h/16), radii w/6 and h/4).
func Box(w, h int) image.Rectangle {
	cx, cy, rx, ry := w/2, h/2+h/16, w/6, h/4
	// The largest centred square inside the ellipse has half-side
	// rx*ry/sqrt(rx²+ry²); take a little less.
	half := int(float64(rx*ry) / math.Sqrt(float64(rx*rx+ry*ry)) * 0.9)
	return image.Rect(cx-half, cy-half, cx+half, cy+half)
}

// Draw paints the pattern of name into img, a still of the simulated
// camera's layout.
func Draw(img draw.Image, name string) {
	b := img.Bounds()
	box := Box(b.Dx(), b.Dy()).Add(b.Min)
	t := Reference(name)
	cw, ch := box.Dx()/Grid, box.Dy()/Grid
	for i, v := range t {
		r := image.Rect(box.Min.X+(i%Grid)*cw, box.Min.Y+(i/Grid)*ch, box.Min.X+(i%Grid+1)*cw, box.Min.Y+(i/Grid+1)*ch)
		draw.Draw(img, r, &image.Uniform{C: color.Gray{Y: v}}, image.Point{}, draw.Src)
	}
}

// ErrImage: the still cannot be decoded, or is too small to hold a face.
var ErrImage = errors.New("face: not a usable still")

// MaxSide is the largest width or height TemplateOf decodes: a header
// claiming more is refused before any pixel is allocated.
const MaxSide = 4096

// TemplateOf reads the face pattern of a still (PNG or JPEG): the mean
// grey of the middle half of each cell.
func TemplateOf(data []byte) (Template, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Template{}, fmt.Errorf("%w: %w", ErrImage, err)
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return Template{}, fmt.Errorf("%w: %dx%d is larger than %dx%d", ErrImage, cfg.Width, cfg.Height, MaxSide, MaxSide)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Template{}, fmt.Errorf("%w: %w", ErrImage, err)
	}
	b := img.Bounds()
	if b.Dx() < 32 || b.Dy() < 24 {
		return Template{}, fmt.Errorf("%w: %dx%d", ErrImage, b.Dx(), b.Dy())
	}
	box := Box(b.Dx(), b.Dy()).Add(b.Min)
	cw, ch := box.Dx()/Grid, box.Dy()/Grid
	if cw < 2 || ch < 2 {
		return Template{}, fmt.Errorf("%w: %dx%d is too small", ErrImage, b.Dx(), b.Dy())
	}
	var t Template
	for i := range t {
		x0, y0 := box.Min.X+(i%Grid)*cw, box.Min.Y+(i/Grid)*ch
		var sum, n int
		for y := y0 + ch/4; y < y0+ch-ch/4; y++ {
			for x := x0 + cw/4; x < x0+cw-cw/4; x++ {
				g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
				sum += int(g.Y)
				n++
			}
		}
		t[i] = uint8(sum / max(n, 1))
	}
	return t, nil
}

// Threshold is the largest mean absolute difference of two templates of
// the same person.
const Threshold = 6

// Match reports whether two templates are of the same person.
func Match(a, b Template) bool {
	var d int
	for i := range a {
		x := int(a[i]) - int(b[i])
		if x < 0 {
			x = -x
		}
		d += x
	}
	return d <= Threshold*len(a)
}

// Encode renders a still of size w×h showing name's face, as the
// simulated camera would without its capture number: for tests.
func Encode(w, h int, name string) ([]byte, error) {
	img := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{C: color.Gray{Y: 100}}, image.Point{}, draw.Src)
	Draw(img, name)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("face: %w", err)
	}
	return buf.Bytes(), nil
}
