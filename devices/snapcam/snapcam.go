package snapcam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/camera"
	"github.com/atmd/atmd/internal/clock"
)

// Fault catalogue codes the driver reports.
const (
	// FaultOffline: no answer — connection refused or reset, name not
	// found, timed out, or the camera said it is unavailable (502, 503,
	// 504).
	FaultOffline = "CAM-OFFLINE"
	// FaultProtocol: an answer that is no still — another status, another
	// content type, an undecodable, cut or oversized image, or one of the
	// wrong size.
	FaultProtocol = "CAM-PROTOCOL"
)

// ErrProtocol: the camera answered with something other than a still of
// the configured format and size. It is the Err of a CAM-PROTOCOL fault.
var ErrProtocol = errors.New("snapcam: protocol error")

// Options configure a Dev. Start from DefaultOptions; a zero field takes
// its default.
type Options struct {
	// Name tells instances apart in String; "" uses the URL's host and
	// path.
	Name string
	// Width and Height are the size of the camera's stills, as set in the
	// camera (or in the snapshot URL). A still of another size is a
	// CAM-PROTOCOL fault: Capabilities promise this size.
	Width, Height int
	// Formats are the content types accepted, "image/jpeg" and/or
	// "image/png".
	Formats []string
	// Username and Password, when set, are sent as HTTP basic
	// authentication (credentials in the URL work too). They never
	// appear in String or in logs.
	Username, Password string
	// Timeout bounds one snapshot, from connecting to the last byte.
	Timeout time.Duration
	// MaxBytes bounds a still's size.
	MaxBytes int64
	// Poll is how often the driver takes a snapshot in the background to
	// keep Status current; negative: never.
	Poll time.Duration
	// Client makes the requests; nil: a client of the driver's own that
	// ignores proxy settings and asks for no compression.
	Client *http.Client
	// Clock stamps the stills; nil: the wall clock.
	Clock clock.Clock
	// Log receives status changes; the zero value discards.
	Log zerolog.Logger
}

// DefaultOptions: 640×480 JPEG stills of at most 8 MiB, 5 s per
// snapshot, a background snapshot every 30 s.
var DefaultOptions = Options{
	Width:    640,
	Height:   480,
	Formats:  []string{"image/jpeg"},
	Timeout:  5 * time.Second,
	MaxBytes: 8 << 20,
	Poll:     30 * time.Second,
}

// Dev is an IP camera that serves a still image at a URL.
type Dev struct {
	opts   Options
	url    string // with credentials, never logged
	name   string
	client *http.Client

	mu      sync.Mutex
	st      hal.Status
	changed chan struct{}

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var _ camera.Camera = (*Dev)(nil)

// New returns the camera whose snapshot URL is rawURL (http or https).
// It takes one snapshot, waiting at most opts.Timeout, so that Status is
// meaningful when New returns, and then one every opts.Poll until Close.
// New fails only on bad options: a camera that does not answer is a
// status (CAM-OFFLINE).
func New(rawURL string, opts Options) (*Dev, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("snapcam: snapshot URL must be http(s)://host/path: %w", hal.ErrInvalid)
	}
	def := DefaultOptions
	if opts.Width == 0 && opts.Height == 0 {
		opts.Width, opts.Height = def.Width, def.Height
	}
	if len(opts.Formats) == 0 {
		opts.Formats = def.Formats
	}
	if opts.Timeout == 0 {
		opts.Timeout = def.Timeout
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = def.MaxBytes
	}
	if opts.Poll == 0 {
		opts.Poll = def.Poll
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	switch {
	case opts.Width <= 0 || opts.Height <= 0:
		return nil, fmt.Errorf("snapcam: size %dx%d: %w", opts.Width, opts.Height, hal.ErrInvalid)
	case opts.Timeout < 0 || opts.MaxBytes < 0:
		return nil, fmt.Errorf("snapcam: negative timeout or size limit: %w", hal.ErrInvalid)
	}
	for _, f := range opts.Formats {
		if formatName[f] == "" {
			return nil, fmt.Errorf("snapcam: format %q, want image/jpeg or image/png: %w", f, hal.ErrInvalid)
		}
	}
	opts.Formats = slices.Clone(opts.Formats)
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: opts.Timeout,
			DisableCompression:  true, // stills are compressed already
		}}
	}
	d := &Dev{
		opts:    opts,
		url:     rawURL,
		client:  client,
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		st:      hal.Status{State: hal.Offline, Detail: "not yet asked"},
	}
	d.name = opts.Name
	if d.name == "" {
		d.name = u.Host + u.Path // no credentials, no query (it may hold a token)
	}
	d.opts.Log = opts.Log.With().Str("device", d.String()).Logger()
	_ = d.Refresh(context.Background()) // bounded by Timeout; the outcome is in Status
	go d.monitor()
	return d, nil
}

// String names the camera: "camera:http:" and Options.Name or the URL's
// host and path.
func (d *Dev) String() string { return "camera:http:" + d.name }

// Capabilities declare the configured formats and size.
func (d *Dev) Capabilities() camera.Capabilities {
	return camera.Capabilities{Formats: slices.Clone(d.opts.Formats), Width: d.opts.Width, Height: d.opts.Height}
}

// Status is the outcome of the last snapshot, taken by Capture or by the
// background poll. It never blocks.
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// WaitStatus blocks until Status satisfies cond, or ctx ends, and returns
// the status that did.
func (d *Dev) WaitStatus(ctx context.Context, cond func(hal.Status) bool) (hal.Status, error) {
	for {
		d.mu.Lock()
		st, ch := d.st, d.changed
		d.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("snapcam: wait for status: %w", ctx.Err())
		}
	}
}

// Capture takes a snapshot: GET on the URL, then checks that the answer
// is a still of an accepted format and of the configured size. Faults
// are *hal.Fault values (CAM-OFFLINE, CAM-PROTOCOL); a context that ends
// returns its error and leaves Status alone.
func (d *Dev) Capture(ctx context.Context) (camera.Image, error) {
	img, err := d.snapshot(ctx)
	if err != nil {
		return camera.Image{}, fmt.Errorf("snapcam: capture: %w", err)
	}
	d.opts.Log.Info().Int("bytes", len(img.Data)).Str("format", img.Format).Msg("still captured")
	return img, nil
}

// Refresh takes a snapshot now and throws it away, to update Status.
func (d *Dev) Refresh(ctx context.Context) error {
	if _, err := d.snapshot(ctx); err != nil {
		return fmt.Errorf("snapcam: refresh: %w", err)
	}
	return nil
}

// Halt has nothing to stop: a snapshot camera holds no stream open. It
// returns ctx's error if ctx has ended.
func (d *Dev) Halt(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("snapcam: halt: %w", err)
	}
	return nil
}

// Close stops the background poll. The Dev is not usable afterwards.
func (d *Dev) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
	d.client.CloseIdleConnections()
	return nil
}

// monitor takes a snapshot every Poll until Close; Close cancels one in
// flight.
func (d *Dev) monitor() {
	defer close(d.done)
	if d.opts.Poll < 0 {
		<-d.stop
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-d.stop
		cancel()
	}()
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			_, _ = d.snapshot(ctx)
		}
	}
}

// snapshot fetches and checks one still and records the outcome.
func (d *Dev) snapshot(ctx context.Context) (camera.Image, error) {
	if err := ctx.Err(); err != nil {
		return camera.Image{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, d.url, nil)
	if err != nil {
		return camera.Image{}, d.fail(&hal.Fault{Device: "camera", Code: FaultProtocol, Msg: "bad request", Err: fmt.Errorf("%w: %w", ErrProtocol, err)})
	}
	req.Header.Set("User-Agent", "atmd-snapcam/1")
	req.Header.Set("Accept", strings.Join(d.opts.Formats, ", "))
	req.Header.Set("Cache-Control", "no-cache")
	if d.opts.Username != "" {
		req.SetBasicAuth(d.opts.Username, d.opts.Password)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return camera.Image{}, ctx.Err()
		}
		return camera.Image{}, d.fail(offline(err, rctx))
	}
	defer resp.Body.Close()
	taken := d.opts.Clock.Now()
	body, err := io.ReadAll(io.LimitReader(resp.Body, d.opts.MaxBytes+1))
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return camera.Image{}, ctx.Err()
		case rctx.Err() != nil:
			return camera.Image{}, d.fail(offline(err, rctx))
		}
		return camera.Image{}, d.fail(&hal.Fault{Device: "camera", Code: FaultProtocol, Recoverable: true,
			Msg: fmt.Sprintf("still cut short after %d bytes", len(body)), Raw: head(body), Err: fmt.Errorf("%w: %w", ErrProtocol, err)})
	}
	format, f := judge(resp.StatusCode, resp.Header.Get("Content-Type"), body, d.opts)
	if f != nil {
		return camera.Image{}, d.fail(f)
	}
	d.setStatus(hal.Status{State: hal.Online})
	return camera.Image{Format: format, Data: body, Taken: taken}, nil
}

// offline is the fault for a request that got no answer.
func offline(err error, rctx context.Context) *hal.Fault {
	f := &hal.Fault{Device: "camera", Code: FaultOffline, Msg: "no answer", Recoverable: true, Err: fmt.Errorf("%w: %w", hal.ErrOffline, err)}
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		f.Msg, f.Err = "no answer in time", fmt.Errorf("%w (%w): %w", hal.ErrOffline, hal.ErrTimeout, err)
	}
	return f
}

// fail records f as the status and returns it.
func (d *Dev) fail(f *hal.Fault) error {
	state := hal.Offline
	if f.Code == FaultProtocol {
		state = hal.HardwareError
	}
	d.setStatus(hal.Status{State: state, Fault: f.Code, Detail: f.Msg})
	return f
}

// setStatus records st and wakes WaitStatus; a change is logged.
func (d *Dev) setStatus(st hal.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st.State == st.State && d.st.Fault == st.Fault && d.st.Detail == st.Detail {
		return
	}
	d.st = st
	close(d.changed)
	d.changed = make(chan struct{})
	if st.Fault != "" {
		d.opts.Log.Warn().Str("fault", st.Fault).Str("state", st.State.String()).Str("detail", st.Detail).Msg("status changed")
	} else {
		d.opts.Log.Info().Str("state", st.State.String()).Msg("status changed")
	}
}
