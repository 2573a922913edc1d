package snapcam_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/sim/wire/snapcam"
)

func start(t *testing.T, o snapcam.Options) (*snapcam.Camera, string) {
	t.Helper()
	c, err := snapcam.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func get(t *testing.T, method, url string) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 9<<20)) // more than any driver takes
	return resp, b, err
}

// captureNumber reads the capture number from the strip along the top.
func captureNumber(t *testing.T, data []byte) uint32 {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	w := img.Bounds().Dx() / 32
	var n uint32
	for bit := range 32 {
		r, _, _, _ := img.At(bit*w+w/2, 2).RGBA()
		if r < 0x8000 {
			n |= 1 << (31 - bit)
		}
	}
	return n
}

func TestStills(t *testing.T) {
	c, url := start(t, snapcam.Options{Width: 320, Height: 240})
	for want := uint32(1); want <= 3; want++ {
		resp, body, err := get(t, http.MethodGet, url+"/snapshot.jpg")
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("GET: %v %v", resp, err)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || cfg.Width != 320 || cfg.Height != 240 {
			t.Fatalf("still %+v: %v", cfg, err)
		}
		if n := captureNumber(t, body); n != want {
			t.Errorf("capture number %d, want %d", n, want)
		}
	}
	if c.Captures() != 3 || c.Requests() != 3 {
		t.Errorf("Captures %d Requests %d", c.Captures(), c.Requests())
	}
	if resp, body, _ := get(t, http.MethodHead, url+"/snapshot.jpg"); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %v, %d bytes", resp.Status, len(body))
	}
	if resp, _, _ := get(t, http.MethodGet, url+"/other.jpg"); resp.StatusCode != 404 {
		t.Errorf("other path: %v", resp.Status)
	}
	if resp, _, _ := get(t, http.MethodPost, url+"/snapshot.jpg"); resp.StatusCode != 405 {
		t.Errorf("POST: %v", resp.Status)
	}
}

func TestModes(t *testing.T) {
	c, url := start(t, snapcam.Options{Width: 64, Height: 48})
	url += "/snapshot.jpg"
	check := func(mode string, ok func(*http.Response, []byte, error) bool) {
		t.Helper()
		if err := c.SetMode(mode); err != nil {
			t.Fatal(err)
		}
		resp, body, err := get(t, http.MethodGet, url)
		if !ok(resp, body, err) {
			t.Errorf("%s: %v, %d bytes, %v", mode, resp, len(body), err)
		}
	}
	decodes := func(b []byte) bool { _, _, err := image.DecodeConfig(bytes.NewReader(b)); return err == nil }
	check(snapcam.ModeUnavailable, func(r *http.Response, _ []byte, err error) bool {
		return err == nil && r.StatusCode == 503 && r.Header.Get("Retry-After") != ""
	})
	check(snapcam.ModeDrop, func(_ *http.Response, _ []byte, err error) bool { return err != nil })
	check(snapcam.ModeGarbage, func(r *http.Response, b []byte, err error) bool {
		return err == nil && r.StatusCode == 200 && len(b) == 1024 && !decodes(b)
	})
	check(snapcam.ModeTruncated, func(r *http.Response, b []byte, err error) bool {
		return err == nil && r.StatusCode == 200 && !bytes.HasSuffix(b, []byte{0xFF, 0xD9})
	})
	check(snapcam.ModeCut, func(_ *http.Response, _ []byte, err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) })
	check(snapcam.ModeWrongType, func(r *http.Response, _ []byte, err error) bool {
		return err == nil && strings.HasPrefix(r.Header.Get("Content-Type"), "text/html")
	})
	check(snapcam.ModeError, func(r *http.Response, _ []byte, err error) bool { return err == nil && r.StatusCode == 500 })
	check(snapcam.ModeHuge, func(r *http.Response, b []byte, err error) bool { return err == nil && len(b) == 9<<20 })
	check(snapcam.ModeWrongSize, func(r *http.Response, b []byte, err error) bool {
		cfg, _, e := image.DecodeConfig(bytes.NewReader(b))
		return err == nil && e == nil && cfg.Width == 32 && cfg.Height == 24
	})
	check(snapcam.ModeHang, func(_ *http.Response, _ []byte, err error) bool { return errors.Is(err, context.DeadlineExceeded) })
	if c.Captures() != 1 {
		t.Errorf("Captures = %d, want 1: only the wrong-size still was served whole", c.Captures())
	}
	if err := c.SetMode("melt"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("SetMode(melt) = %v", err)
	}
	if err := c.Inject("CAM-FOG"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(CAM-FOG) = %v", err)
	}
	c.Inject(snapcam.Offline)
	if resp, _, _ := get(t, http.MethodGet, url); resp.StatusCode != 503 {
		t.Errorf("CAM-OFFLINE: %v", resp.Status)
	}
	c.Clear()
	if resp, b, _ := get(t, http.MethodGet, url); resp.StatusCode != 200 || !decodes(b) {
		t.Errorf("after Clear: %v", resp.Status)
	}
}

// A hung request is let go when the mode changes.
func TestClearReleasesHang(t *testing.T) {
	c, url := start(t, snapcam.Options{Width: 64, Height: 48})
	c.SetMode(snapcam.ModeHang)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(url + "/snapshot.jpg")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	c.Clear()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hung request not released")
	}
}

func TestCredentialsAndOptions(t *testing.T) {
	_, url := start(t, snapcam.Options{Width: 64, Height: 48, Username: "atm", Password: "pw"})
	if resp, _, _ := get(t, http.MethodGet, url+"/snapshot.jpg"); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("without credentials: %v", resp.Status)
	}
	u := strings.Replace(url, "http://", "http://atm:pw@", 1)
	if resp, _, _ := get(t, http.MethodGet, u+"/snapshot.jpg"); resp.StatusCode != 200 {
		t.Errorf("with credentials: %v", resp.Status)
	}
	for _, o := range []snapcam.Options{{Width: 4, Height: 4}, {Format: "image/gif"}, {Quality: 101}} {
		if _, err := snapcam.New(o); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("New(%+v) = %v", o, err)
		}
	}
}

func TestListenAndServe(t *testing.T) {
	c, _ := snapcam.New(snapcam.Options{Width: 64, Height: 48})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ListenAndServe(ctx, "127.0.0.1:0") }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ListenAndServe = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
}

// The document's example, against the simulator: the document's request
// bytes over TCP get the document's answer, byte for byte but the date.
func TestDocumentExample(t *testing.T) {
	f, err := os.Open("../../../docs/devices/camera.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var req, resp []string
	var body []byte
	block := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```") && block == "":
			block = strings.TrimPrefix(l, "```")
		case l == "```":
			block = ""
		case block == "request":
			req = append(req, l)
		case block == "response":
			resp = append(resp, l)
		case block == "body":
			for _, x := range strings.Fields(l) {
				b, err := hex.DecodeString(x)
				if err != nil {
					t.Fatal(err)
				}
				body = append(body, b...)
			}
		}
	}
	_, url := start(t, snapcam.Options{Width: 8, Height: 8})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, strings.Join(req, "\r\n")+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	var head []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
		head = append(head, strings.TrimSuffix(l, "\r\n"))
	}
	if len(head) != len(resp) {
		t.Fatalf("header %q\nwant   %q", head, resp)
	}
	for i := range head {
		if strings.HasPrefix(resp[i], "Date: ") && strings.HasPrefix(head[i], "Date: ") {
			continue
		}
		if head[i] != resp[i] {
			t.Errorf("header line %d: %q, document says %q", i+1, head[i], resp[i])
		}
	}
	got := make([]byte, len(body))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, body) {
		t.Errorf("body % X (%v)\ndocument says % X", got, err, body)
	}
}
