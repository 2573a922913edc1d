package snapcam

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"testing"

	"github.com/atmd/atmd/hal"
)

func still(t testing.TB, format string, w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJudge(t *testing.T) {
	o := DefaultOptions
	o.Width, o.Height, o.Formats = 16, 8, []string{"image/jpeg", "image/png"}
	j, p := still(t, "jpeg", 16, 8), still(t, "png", 16, 8)
	for _, tc := range []struct {
		name   string
		status int
		ct     string
		body   []byte
		code   string
	}{
		{"jpeg", 200, "image/jpeg", j, ""},
		{"png with parameters", 200, "image/png; charset=binary", p, ""},
		{"unavailable", 503, "text/plain", []byte("busy"), FaultOffline},
		{"gateway", 504, "", nil, FaultOffline},
		{"not found", 404, "text/plain", nil, FaultProtocol},
		{"unauthorised", 401, "text/plain", nil, FaultProtocol},
		{"login page", 200, "text/html", []byte("<html>"), FaultProtocol},
		{"no content type", 200, "", j, FaultProtocol},
		{"png labelled jpeg", 200, "image/jpeg", p, FaultProtocol},
		{"wrong size", 200, "image/jpeg", still(t, "jpeg", 8, 8), FaultProtocol},
		{"jpeg cut", 200, "image/jpeg", j[:len(j)-5], FaultProtocol},
		{"png cut", 200, "image/png", p[:len(p)-3], FaultProtocol},
		{"garbage", 200, "image/jpeg", []byte("\xff\xd8garbage"), FaultProtocol},
		{"too big", 200, "image/jpeg", append(bytes.Repeat([]byte{0}, 9<<20), j...), FaultProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt, f := judge(tc.status, tc.ct, tc.body, o)
			if tc.code == "" {
				if f != nil {
					t.Fatalf("fault %v", f)
				}
				if mt != "image/jpeg" && mt != "image/png" {
					t.Errorf("format %q", mt)
				}
				return
			}
			if f == nil || f.Code != tc.code || !f.Recoverable || len(f.Raw) > 32 {
				t.Fatalf("fault %+v, want %s", f, tc.code)
			}
			want := ErrProtocol
			if tc.code == FaultOffline {
				want = hal.ErrOffline
			}
			if !errors.Is(f, want) {
				t.Errorf("fault %v does not wrap %v", f, want)
			}
		})
	}
}

// FuzzResponse: any bytes a camera might send are read as an HTTP answer
// and judged without panicking; whatever passes is a still of the
// configured size.
func FuzzResponse(f *testing.F) {
	j := still(f, "jpeg", 8, 8)
	f.Add(append([]byte("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 0\r\n\r\n"), j...))
	f.Add([]byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"))
	f.Add(append([]byte("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n\r\n"), j[:40]...))
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		o := DefaultOptions
		o.Width, o.Height, o.Formats, o.MaxBytes = 8, 8, []string{"image/jpeg", "image/png"}, 1<<20
		mt, fault := judge(resp.StatusCode, resp.Header.Get("Content-Type"), body, o)
		if fault != nil {
			if fault.Code != FaultOffline && fault.Code != FaultProtocol {
				t.Fatalf("fault code %q", fault.Code)
			}
			return
		}
		cfg, name, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || cfg.Width != 8 || cfg.Height != 8 || formatName[mt] != name {
			t.Fatalf("accepted %s %dx%d (%v) as %s", name, cfg.Width, cfg.Height, err, mt)
		}
	})
}
