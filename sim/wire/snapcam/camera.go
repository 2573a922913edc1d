package snapcam

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/sim/face"
)

// Fault codes Inject takes.
const (
	Offline  = "CAM-OFFLINE"  // same as SetMode(ModeUnavailable)
	Protocol = "CAM-PROTOCOL" // same as SetMode(ModeGarbage)
)

// Modes: how the camera answers a snapshot request.
const (
	ModeOK          = "ok"          // a still
	ModeUnavailable = "unavailable" // 503 Service Unavailable, Retry-After: 5
	ModeHang        = "hang"        // reads the request, never answers (until Clear, SetMode or the client gives up)
	ModeDrop        = "drop"        // closes the connection without an answer
	ModeGarbage     = "garbage"     // 200 image/jpeg, random bytes
	ModeTruncated   = "truncated"   // 200, the first half of a still, its length declared
	ModeCut         = "cut"         // 200, the whole still's length declared, the connection closed halfway
	ModeWrongType   = "wrongtype"   // 200 text/html, a login page
	ModeError       = "error"       // 500 Internal Server Error
	ModeHuge        = "huge"        // 200, 64 MiB of JPEG-labelled bytes, streamed
	ModeWrongSize   = "wrongsize"   // a still of half the size
)

var modes = map[string]bool{
	ModeOK: true, ModeUnavailable: true, ModeHang: true, ModeDrop: true, ModeGarbage: true, ModeTruncated: true,
	ModeCut: true, ModeWrongType: true, ModeError: true, ModeHuge: true, ModeWrongSize: true,
}

// Options configure a Camera.
type Options struct {
	// Width and Height of the stills, at least 8×8. The capture counter
	// is drawn when the still is at least 32×16.
	Width, Height int
	// Format is the stills' content type: "image/jpeg" or "image/png".
	Format string
	// Quality is the JPEG quality, 1 to 100.
	Quality int
	// Path is where the still is served; every other path is 404.
	Path string
	// Username and Password, when set, must come as HTTP basic
	// authentication; otherwise the answer is 401.
	Username, Password string
	// Log receives snapshots and control actions; the zero value
	// discards.
	Log zerolog.Logger
}

// DefaultOptions: 640×480 JPEG stills of quality 75 at /snapshot.jpg.
// New takes a zero field from here.
var DefaultOptions = Options{Width: 640, Height: 480, Format: "image/jpeg", Quality: 75, Path: "/snapshot.jpg"}

// Camera is a simulated IP camera: an http.Handler that serves a
// generated still at Options.Path. Each still is a grey test pattern — a
// gradient with a bright oval where a face would be and, along the top,
// 32 black-or-white blocks spelling the capture number (most significant
// bit first, black for 1). The face shows the person SetSubject names
// (sim/face). Use New.
type Camera struct {
	opts Options

	mu       sync.Mutex
	mode     string
	release  chan struct{} // closed when the mode changes: hung requests give up
	arrived  chan struct{} // closed and replaced when a request arrives
	captures int
	requests int
	subject  string
}

var _ http.Handler = (*Camera)(nil)

// SetSubject puts the person called name in front of the camera ("":
// nobody in particular, a blank face).
func (c *Camera) SetSubject(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subject = name
}

// New returns a camera answering with stills.
func New(opts Options) (*Camera, error) {
	def := DefaultOptions
	if opts.Width == 0 && opts.Height == 0 {
		opts.Width, opts.Height = def.Width, def.Height
	}
	if opts.Format == "" {
		opts.Format = def.Format
	}
	if opts.Quality == 0 {
		opts.Quality = def.Quality
	}
	if opts.Path == "" {
		opts.Path = def.Path
	}
	switch {
	case opts.Width < 8 || opts.Height < 8:
		return nil, fmt.Errorf("snapcam sim: %dx%d is smaller than 8x8: %w", opts.Width, opts.Height, hal.ErrInvalid)
	case opts.Format != "image/jpeg" && opts.Format != "image/png":
		return nil, fmt.Errorf("snapcam sim: format %q: %w", opts.Format, hal.ErrInvalid)
	case opts.Quality < 1 || opts.Quality > 100:
		return nil, fmt.Errorf("snapcam sim: quality %d: %w", opts.Quality, hal.ErrInvalid)
	}
	return &Camera{opts: opts, mode: ModeOK, release: make(chan struct{}), arrived: make(chan struct{})}, nil
}

// String names the simulator.
func (c *Camera) String() string { return "camera:wire-snapcam" }

// SetMode sets how the camera answers (Mode...). An unknown mode is an
// error.
func (c *Camera) SetMode(mode string) error {
	if !modes[mode] {
		return fmt.Errorf("snapcam sim: unknown mode %q: %w", mode, hal.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mode = mode
	close(c.release)
	c.release = make(chan struct{})
	c.opts.Log.Info().Str("mode", mode).Msg("mode set")
	return nil
}

// Inject puts the camera into fault code: CAM-OFFLINE (answers 503) or
// CAM-PROTOCOL (answers garbage).
func (c *Camera) Inject(code string) error {
	switch code {
	case Offline:
		return c.SetMode(ModeUnavailable)
	case Protocol:
		return c.SetMode(ModeGarbage)
	}
	return fmt.Errorf("snapcam sim: unknown fault %q: %w", code, hal.ErrInvalid)
}

// Clear makes the camera answer with stills again.
func (c *Camera) Clear() { _ = c.SetMode(ModeOK) }

// Captures returns how many stills were served whole.
func (c *Camera) Captures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.captures
}

// Requests returns how many requests for the still arrived.
func (c *Camera) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// WaitRequests waits until at least n requests for the still have
// arrived, or ctx ends.
func (c *Camera) WaitRequests(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, ch := c.requests, c.arrived
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("snapcam sim: wait for %d requests: %w", n, ctx.Err())
		}
	}
}

// ServeHTTP answers GET and HEAD on Options.Path according to the mode.
func (c *Camera) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != c.opts.Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if c.opts.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(c.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(c.opts.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="snapcam"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	c.mu.Lock()
	mode, release := c.mode, c.release
	c.requests++
	n := c.captures + 1
	close(c.arrived)
	c.arrived = make(chan struct{})
	c.mu.Unlock()

	switch mode {
	case ModeUnavailable:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "camera busy", http.StatusServiceUnavailable)
		return
	case ModeHang:
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return
	case ModeDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case ModeError:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case ModeWrongType:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html><body>Login</body></html>\n"))
		return
	case ModeGarbage:
		junk := make([]byte, 1024)
		rng := rand.New(rand.NewPCG(1, 2)) // the same garbage every time
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		c.write(w, r, "image/jpeg", junk, len(junk))
		return
	case ModeHuge:
		w.Header().Set("Content-Type", "image/jpeg")
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < 64<<20; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	}
	width, height := c.opts.Width, c.opts.Height
	if mode == ModeWrongSize {
		width, height = width/2, height/2
	}
	still, err := c.render(width, height, uint32(n))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	switch mode {
	case ModeTruncated:
		still = still[:len(still)/2]
		c.write(w, r, c.opts.Format, still, len(still))
	case ModeCut:
		c.write(w, r, c.opts.Format, still[:len(still)/2], len(still))
	default:
		if c.write(w, r, c.opts.Format, still, len(still)) {
			c.mu.Lock()
			c.captures++
			c.mu.Unlock()
			c.opts.Log.Info().Int("capture", n).Int("bytes", len(still)).Msg("still served")
		}
	}
}

// write answers 200 with body, declaring length bytes.
func (c *Camera) write(w http.ResponseWriter, r *http.Request, contentType string, body []byte, length int) bool {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(length))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true
	}
	_, err := w.Write(body)
	return err == nil && len(body) == length
}

// render draws and encodes still number n.
func (c *Camera) render(w, h int, n uint32) ([]byte, error) {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{Y: uint8(64 + 96*(x+y)/(w+h))})
		}
	}
	cx, cy, rx, ry := w/2, h/2+h/16, max(w/6, 1), max(h/4, 1)
	for y := cy - ry; y <= cy+ry; y++ {
		for x := cx - rx; x <= cx+rx; x++ {
			dx, dy := float64(x-cx)/float64(rx), float64(y-cy)/float64(ry)
			if dx*dx+dy*dy <= 1 {
				img.SetGray(x, y, color.Gray{Y: 200})
			}
		}
	}
	c.mu.Lock()
	who := c.subject
	c.mu.Unlock()
	if who != "" && w >= 32 && h >= 24 {
		face.Draw(img, who)
	}
	if w >= 32 && h >= 16 {
		bw, bh := w/32, h/16
		for bit := range 32 {
			v := uint8(255)
			if n&(1<<(31-bit)) != 0 {
				v = 0
			}
			for y := range bh {
				for x := bit * bw; x < (bit+1)*bw; x++ {
					img.SetGray(x, y, color.Gray{Y: v})
				}
			}
		}
	}
	var buf bytes.Buffer
	var err error
	if c.opts.Format == "image/png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: c.opts.Quality})
	}
	if err != nil {
		return nil, fmt.Errorf("snapcam sim: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Serve serves the camera on ln until ctx ends, then closes every
// connection and returns ctx's error (or the listener's error).
func (c *Camera) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-done
		return ctx.Err()
	case err := <-done:
		return fmt.Errorf("snapcam sim: serve: %w", err)
	}
}

// ListenAndServe listens on addr (e.g. "127.0.0.1:8081") and serves the
// camera until ctx ends.
func (c *Camera) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("snapcam sim: %w", err)
	}
	return c.Serve(ctx, ln)
}
