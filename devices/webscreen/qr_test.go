package webscreen_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal"
)

// decodeQR reads a QR code in img with a standard decoder (ZXing's Go
// port): first finding the code in the picture as a phone's camera app
// does; then, should the finder miss it, reading it as a pure barcode
// (the image is nothing but the code and its quiet zone). gozxing's finder
// misses a few valid symbols that zbar and phones read (the fuzz corpus
// keeps one, "at00001:Zm9vY"); the pure read still checks every module.
func decodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	hints := map[gozxing.DecodeHintType]any{
		gozxing.DecodeHintType_CHARACTER_SET: "UTF-8",
		gozxing.DecodeHintType_TRY_HARDER:    true,
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		hints[gozxing.DecodeHintType_PURE_BARCODE] = true
		var err2 error
		if res, err2 = qrcode.NewQRCodeReader().Decode(bmp, hints); err2 != nil {
			return "", fmt.Errorf("%w; as a pure barcode: %w", err, err2)
		}
	}
	return res.GetText(), nil
}

func decodePNG(t testing.TB, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	s, err := decodeQR(img)
	if err != nil {
		t.Fatalf("QR decode: %v", err)
	}
	return s
}

// dataURLPNG returns the PNG inside a data:image/png;base64 URL.
func dataURLPNG(t testing.TB, u string) []byte {
	t.Helper()
	b64, ok := strings.CutPrefix(u, "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URL: %.40s", u)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQRDecodesToPayload(t *testing.T) {
	tests := []struct {
		name, payload, level string
	}{
		{"session", qrPayload, "H"},
		{"url", "https://bank.example/atm/activate?atm=ATM00001&s=S20261122T090000-0001&n=6f1c2a9e4b7d3f80", "H"},
		{"unicode", "提款 ATM00001 NT$2,000", "H"},
		{"long", "atmd:scan:v1:" + strings.Repeat("0123456789abcdef", 16), "M"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, px, modules, level, err := webscreen.RenderQR(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if got := decodePNG(t, b); got != tc.payload {
				t.Fatalf("decoded %q, want %q", got, tc.payload)
			}
			img, _ := png.Decode(bytes.NewReader(b))
			if w := img.Bounds().Dx(); w != px || px%modules != 0 || px/modules < 4 || level != tc.level {
				t.Fatalf("image %dpx (reported %d), %d modules, level %s: want whole pixels per module (≥4) and level %s", w, px, modules, level, tc.level)
			}
			// Quiet zone: the four-module border is white.
			ppm := px / modules
			for _, p := range []image.Point{{0, 0}, {4*ppm - 1, 4*ppm - 1}, {px - 1, px / 2}, {px / 2, px - 1}} {
				if r, g, b, _ := img.At(p.X, p.Y).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
					t.Fatalf("quiet zone pixel %v is not white", p)
				}
			}
		})
	}
	if _, _, _, _, err := webscreen.RenderQR(strings.Repeat("x", 3000)); !errors.Is(err, hal.ErrInvalid) {
		t.Fatalf("oversized payload: %v, want hal.ErrInvalid", err)
	}
}

// FuzzQRRoundTrip: any text payload the flows might put on a screen is
// drawn as a code that decodes to exactly that payload, or is refused
// with hal.ErrInvalid — never a panic, never a wrong code.
func FuzzQRRoundTrip(f *testing.F) {
	for _, s := range []string{qrPayload, "x", "提款", "https://bank.example/a?b=c", strings.Repeat("9", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		b, _, _, _, err := webscreen.RenderQR(payload)
		if err != nil {
			if !errors.Is(err, hal.ErrInvalid) {
				t.Fatalf("RenderQR: %v", err)
			}
			return
		}
		if !utf8.ValidString(payload) || strings.ContainsFunc(payload, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }) {
			return // ZXing guesses the charset of raw bytes; text only
		}
		if got := decodePNG(t, b); got != payload {
			t.Fatalf("decoded %q, want %q", got, payload)
		}
	})
}
