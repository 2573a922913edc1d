package webscreen

import (
	"encoding/base64"
	"fmt"

	"github.com/skip2/go-qrcode"

	"github.com/atmd/atmd/hal"
)

// QR code rendering. The code is drawn on the server as a PNG with
// skip2/go-qrcode: black modules on white, the standard four-module quiet
// zone, and a whole number of pixels per module so the browser shows it
// without resampling (the page draws it at its natural size with
// image-rendering: pixelated). Error correction is High (30% of the
// symbol may be lost: glare, a smudged screen) unless that makes the
// symbol denser than qrMaxModules, when it drops to Medium (15%).
const (
	qrTargetPx   = 400 // about the width the code is drawn at
	qrMinPPM     = 4   // fewest pixels per module
	qrMaxModules = 65  // modules across, quiet zone included (version 11 with border)
	qrMaxPayload = 1024
)

// qrImage is a rendered QR code as the page gets it.
type qrImage struct {
	Src     string `json:"src"`     // data:image/png;base64,...
	Px      int    `json:"px"`      // width and height in pixels
	Modules int    `json:"modules"` // modules across, quiet zone included
	Level   string `json:"level"`   // error correction: "H" or "M"
}

// renderQR draws payload. A payload too long to encode is refused with
// hal.ErrInvalid; the error never repeats the payload (it may hold a
// session nonce).
func renderQR(payload string) (*qrImage, []byte, error) {
	if payload == "" || len(payload) > qrMaxPayload {
		return nil, nil, fmt.Errorf("webscreen: QR payload of %d bytes: %w", len(payload), hal.ErrInvalid)
	}
	level, name := qrcode.High, "H"
	q, err := qrcode.New(payload, level)
	if err == nil && len(q.Bitmap()) > qrMaxModules {
		level, name = qrcode.Medium, "M"
		q, err = qrcode.New(payload, level)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webscreen: QR code of %d bytes: %w: %w", len(payload), hal.ErrInvalid, err)
	}
	modules := len(q.Bitmap())
	ppm := max(qrMinPPM, qrTargetPx/modules)
	png, err := q.PNG(-ppm)
	if err != nil {
		return nil, nil, fmt.Errorf("webscreen: QR code PNG: %w", err)
	}
	return &qrImage{
		Src:     "data:image/png;base64," + base64.StdEncoding.EncodeToString(png),
		Px:      modules * ppm,
		Modules: modules,
		Level:   name,
	}, png, nil
}
