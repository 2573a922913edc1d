package snapcam_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/devices/snapcam"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera/cameratest"
	simsnapcam "github.com/atmd/atmd/sim/wire/snapcam"
)

const wait = 5 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// startSim serves a simulated camera on loopback until the test ends.
func startSim(t *testing.T, o simsnapcam.Options) (*simsnapcam.Camera, string) {
	t.Helper()
	c, err := simsnapcam.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL + "/snapshot.jpg"
}

func testOptions(t *testing.T, w, h int) snapcam.Options {
	o := snapcam.DefaultOptions
	o.Width, o.Height = w, h
	o.Timeout = 2 * time.Second
	o.Poll = -1
	o.Log = zerolog.New(zerolog.NewTestWriter(t))
	return o
}

func newDev(t *testing.T, url string, o snapcam.Options) *snapcam.Dev {
	t.Helper()
	d, err := snapcam.New(url, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestConformance(t *testing.T) {
	for _, f := range []struct {
		format string
		w, h   int
	}{{"image/jpeg", 320, 240}, {"image/png", 64, 48}} {
		t.Run(f.format, func(t *testing.T) {
			cameratest.Run(t, func(t *testing.T) cameratest.Harness {
				_, url := startSim(t, simsnapcam.Options{Width: f.w, Height: f.h, Format: f.format})
				o := testOptions(t, f.w, f.h)
				o.Formats = []string{f.format}
				return cameratest.Harness{Dev: newDev(t, url, o)}
			})
		})
	}
}

// Each way the camera can answer wrongly gives a typed fault and a fault
// status with a code; the next good snapshot brings it back.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		code  string
		state hal.State
		is    error
	}{
		{simsnapcam.ModeUnavailable, snapcam.FaultOffline, hal.Offline, hal.ErrOffline},
		{simsnapcam.ModeDrop, snapcam.FaultOffline, hal.Offline, hal.ErrOffline},
		{simsnapcam.ModeHang, snapcam.FaultOffline, hal.Offline, hal.ErrTimeout},
		{simsnapcam.ModeGarbage, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
		{simsnapcam.ModeTruncated, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
		{simsnapcam.ModeCut, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
		{simsnapcam.ModeWrongType, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
		{simsnapcam.ModeError, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
		{simsnapcam.ModeHuge, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
		{simsnapcam.ModeWrongSize, snapcam.FaultProtocol, hal.HardwareError, snapcam.ErrProtocol},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			sim, url := startSim(t, simsnapcam.Options{Width: 64, Height: 48})
			o := testOptions(t, 64, 48)
			o.MaxBytes = 1 << 20
			if tc.mode == simsnapcam.ModeHang {
				o.Timeout = 300 * time.Millisecond
			}
			d := newDev(t, url, o)
			if err := sim.SetMode(tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := d.Capture(ctxFor(t))
			var f *hal.Fault
			if !errors.As(err, &f) || f.Code != tc.code || !f.Recoverable || !errors.Is(err, tc.is) {
				t.Fatalf("Capture = %v, want a recoverable %s fault wrapping %v", err, tc.code, tc.is)
			}
			if st := d.Status(); st.State != tc.state || st.Fault != tc.code {
				t.Errorf("Status = %v, want %v %s", st, tc.state, tc.code)
			}
			sim.Clear()
			if err := d.Refresh(ctxFor(t)); err != nil {
				t.Fatalf("Refresh after Clear: %v", err)
			}
			if st := d.Status(); st.State != hal.Online || st.Fault != "" {
				t.Errorf("Status after Clear = %v", st)
			}
		})
	}
}

// The camera's server goes away (connection refused) and comes back on
// the same address: the background poll notices both.
func TestCameraGoneAndBack(t *testing.T) {
	sim, err := simsnapcam.New(simsnapcam.Options{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln) }()

	o := testOptions(t, 64, 48)
	o.Poll = 20 * time.Millisecond
	d := newDev(t, "http://"+addr+"/snapshot.jpg", o)
	if st := d.Status(); st.State != hal.Online {
		t.Fatalf("Status = %v", st)
	}
	cancel()
	<-done
	if _, err := d.WaitStatus(ctxFor(t), func(st hal.Status) bool { return st.Fault == snapcam.FaultOffline }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Capture(ctxFor(t)); hal.FaultCode(err) != snapcam.FaultOffline || !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("Capture = %v, want CAM-OFFLINE", err)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go sim.Serve(ctx, ln)
	if _, err := d.WaitStatus(ctxFor(t), func(st hal.Status) bool { return st.State == hal.Online }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Capture(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
}

// A caller that gives up gets its context's error; the camera is not
// blamed.
func TestCallerCancels(t *testing.T) {
	sim, url := startSim(t, simsnapcam.Options{Width: 64, Height: 48})
	d := newDev(t, url, testOptions(t, 64, 48))
	sim.SetMode(simsnapcam.ModeHang)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := d.Capture(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || hal.FaultCode(err) != "" {
		t.Fatalf("Capture = %v, want the context's error", err)
	}
	if st := d.Status(); st.State != hal.Online {
		t.Errorf("Status = %v, want online", st)
	}
}

func TestCredentials(t *testing.T) {
	_, url := startSim(t, simsnapcam.Options{Width: 64, Height: 48, Username: "atm", Password: "s3cret"})
	d := newDev(t, url, testOptions(t, 64, 48))
	if _, err := d.Capture(ctxFor(t)); hal.FaultCode(err) != snapcam.FaultProtocol || !strings.Contains(err.Error(), "401") {
		t.Errorf("Capture without credentials = %v, want CAM-PROTOCOL 401", err)
	}
	o := testOptions(t, 64, 48)
	o.Username, o.Password = "atm", "s3cret"
	if _, err := newDev(t, url, o).Capture(ctxFor(t)); err != nil {
		t.Errorf("Capture with credentials: %v", err)
	}
	withUser := strings.Replace(url, "http://", "http://atm:s3cret@", 1)
	d = newDev(t, withUser, testOptions(t, 64, 48))
	if _, err := d.Capture(ctxFor(t)); err != nil {
		t.Errorf("Capture with credentials in the URL: %v", err)
	}
	if strings.Contains(d.String(), "s3cret") {
		t.Errorf("String %q shows the password", d.String())
	}
}

func TestBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		url string
		o   snapcam.Options
	}{
		"scheme":  {"ftp://camera/still.jpg", snapcam.DefaultOptions},
		"no host": {"http:///still.jpg", snapcam.DefaultOptions},
		"format":  {"http://camera/still.jpg", snapcam.Options{Formats: []string{"image/gif"}}},
		"size":    {"http://camera/still.jpg", snapcam.Options{Width: -1, Height: 5}},
	} {
		if _, err := snapcam.New(tc.url, tc.o); !errors.Is(err, hal.ErrInvalid) {
			t.Errorf("%s: New = %v, want hal.ErrInvalid", name, err)
		}
	}
}

// example reads the request, response header and body of the example
// exchange in docs/devices/camera.md.
func example(t *testing.T) (request, response string, body []byte) {
	t.Helper()
	f, err := os.Open("../../docs/devices/camera.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var req, resp []string
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
					t.Fatalf("body: %v", err)
				}
				body = append(body, b...)
			}
		}
	}
	if len(req) == 0 || len(resp) == 0 || len(body) == 0 {
		t.Fatal("no example in the document")
	}
	return strings.Join(req, "\r\n") + "\r\n\r\n", strings.Join(resp, "\r\n") + "\r\n\r\n", body
}

// The document's example, against the driver: a server that expects the
// document's request (with this server's address in Host) and sends the
// document's answer; the driver must take the still.
func TestDocumentExample(t *testing.T) {
	request, response, body := example(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := strings.Replace(request, "Host: 192.0.2.10", "Host: "+ln.Addr().String(), 1)
	bad := make(chan string, 8)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					var got strings.Builder
					for !strings.HasSuffix(got.String(), "\r\n\r\n") {
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						got.WriteString(l)
					}
					if got.String() != want {
						bad <- got.String()
						return
					}
					if _, err := io.WriteString(conn, response); err != nil {
						return
					}
					if _, err := conn.Write(body); err != nil {
						return
					}
				}
			}()
		}
	}()
	d := newDev(t, "http://"+ln.Addr().String()+"/snapshot.jpg", testOptions(t, 8, 8))
	img, err := d.Capture(ctxFor(t))
	select {
	case got := <-bad:
		t.Fatalf("driver sent %q\ndocument says %q", got, want)
	default:
	}
	if err != nil {
		t.Fatal(err)
	}
	if img.Format != "image/jpeg" || !bytes.Equal(img.Data, body) || img.Taken.IsZero() {
		t.Errorf("still %s of %d bytes taken %v", img.Format, len(img.Data), img.Taken)
	}
	if st := d.Status(); st.State != hal.Online {
		t.Errorf("Status = %v", st)
	}
}
