package snapcam

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // stills are decoded to check them
	_ "image/png"
	"mime"
	"net/http"
	"slices"

	"github.com/atmd/atmd/hal"
)

// formatName maps the content types the driver accepts to the names
// image.DecodeConfig reports.
var formatName = map[string]string{"image/jpeg": "jpeg", "image/png": "png"}

// Trailers: a JPEG ends with the EOI marker, a PNG with its IEND chunk.
// A still without one was cut short.
var (
	jpegEnd = []byte{0xFF, 0xD9}
	pngEnd  = []byte{0x00, 0x00, 0x00, 0x00, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}
)

// judge decides whether an HTTP answer is a still the options promise.
// It returns the still's content type, or the fault that says what is
// wrong with the answer.
func judge(status int, contentType string, body []byte, o Options) (string, *hal.Fault) {
	protocol := func(msg string, err error) (string, *hal.Fault) {
		e := fmt.Errorf("%w: %s", ErrProtocol, msg)
		if err != nil {
			e = fmt.Errorf("%w: %s: %w", ErrProtocol, msg, err)
		}
		return "", &hal.Fault{Device: "camera", Code: FaultProtocol, Msg: msg, Recoverable: true, Raw: head(body), Err: e}
	}
	switch status {
	case http.StatusOK:
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		msg := fmt.Sprintf("camera unavailable: HTTP %d", status)
		return "", &hal.Fault{Device: "camera", Code: FaultOffline, Msg: msg, Recoverable: true, Raw: head(body),
			Err: fmt.Errorf("%w: %s", hal.ErrOffline, msg)}
	default:
		return protocol(fmt.Sprintf("HTTP %d %s", status, http.StatusText(status)), nil)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !slices.Contains(o.Formats, mt) {
		return protocol(fmt.Sprintf("content type %q is not one of %q", contentType, o.Formats), nil)
	}
	if int64(len(body)) > o.MaxBytes {
		return protocol(fmt.Sprintf("still larger than %d bytes", o.MaxBytes), nil)
	}
	if err := checkStill(body, mt, o.Width, o.Height); err != nil {
		return protocol("not a usable still", err)
	}
	return mt, nil
}

// checkStill checks that data is a complete image of format mt (a
// content type) and size w×h, reading its header only.
func checkStill(data []byte, mt string, w, h int) error {
	cfg, name, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err != nil:
		return fmt.Errorf("undecodable (%d bytes): %w", len(data), err)
	case name != formatName[mt]:
		return fmt.Errorf("a %s image labelled %s", name, mt)
	case cfg.Width != w || cfg.Height != h:
		return fmt.Errorf("%dx%d, configured %dx%d", cfg.Width, cfg.Height, w, h)
	case name == "jpeg" && !bytes.HasSuffix(data, jpegEnd):
		return fmt.Errorf("JPEG without its end marker: cut short")
	case name == "png" && !bytes.HasSuffix(data, pngEnd):
		return fmt.Errorf("PNG without its IEND chunk: cut short")
	}
	return nil
}

// head keeps the first bytes of a bad answer for diagnostics.
func head(b []byte) []byte {
	return bytes.Clone(b[:min(len(b), 32)])
}
