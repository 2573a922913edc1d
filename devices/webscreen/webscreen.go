package webscreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/internal/currency"
)

// DefaultAddr is where the page is served unless Options.Addr says
// otherwise: loopback only, so nothing off the machine can see the
// screen or post a touch.
const DefaultAddr = "127.0.0.1:8080"

// BlankScreen is the ID of the screen Halt shows.
const BlankScreen = "blank"

// Fault codes from the fault catalogue.
const (
	// FaultOffline: the web server stopped with an error; the page cannot
	// be served.
	FaultOffline = "SCR-OFFLINE"
	// FaultNoViewer: Options.RequireViewer is set and no page has been
	// connected for longer than Options.ViewerGrace — the kiosk browser
	// is gone and the customer sees nothing.
	FaultNoViewer = "SCR-NO-VIEWER"
)

// Source is a display the page mirrors instead of being the display
// itself: in simulation the runner keeps showing screens on the
// simulator (which scenarios read), and the page follows it.
// *devsim.Display implements it.
type Source interface {
	// Subscribe returns the current screen, then every screen shown, and
	// a function that ends the subscription.
	Subscribe() (<-chan display.Screen, func())
	// Touch touches the menu item bound to key on the current screen,
	// blocking until the touch has been taken.
	Touch(ctx context.Context, key string) error
}

// Options configure a Dev.
type Options struct {
	// Addr is the TCP address to serve on. Default DefaultAddr. Binding
	// another interface than loopback lets other machines see the
	// screen: only do it on an ATM's internal network.
	Addr string
	// Name names the instance in String. Default "web".
	Name string
	// Panel, when set, serves the virtual front panel around the screen
	// and takes its actions (simulation only). Nil: the customer screen
	// alone, as the kiosk browser shows it.
	Panel Panel
	// Mirror, when set, makes the page follow that display's screens and
	// send touches to it (simulation). Nil: the page shows what Show
	// shows and touches arrive on Touches (hardware).
	Mirror Source
	// Phone is the address of the banking-app simulator's page, shown in
	// the panel's phone pane (an iframe). "" shows a placeholder.
	Phone string
	// Currency (ISO 4217 alpha, e.g. "TWD") formats the amount being
	// keyed on an amount screen. "" shows plain digits.
	Currency string
	// RequireViewer: Status reports FaultNoViewer while no page has been
	// connected for ViewerGrace, so the ATM goes out of service when the
	// kiosk browser dies. Off by default (nobody watches in simulation).
	RequireViewer bool
	// ViewerGrace is how long a missing page is tolerated. Default 10s.
	ViewerGrace time.Duration
	// PanelPoll is how often the panel state is read while a page is
	// open. Default 200ms.
	PanelPoll time.Duration
	// TouchWait is how long a touch waits for the ATM to take it from
	// Touches before the page is told ErrNoReader. Default 5s.
	TouchWait time.Duration
	// Log receives the driver's log lines. Zero value: no logging.
	Log zerolog.Logger
}

// DefaultOptions are the defaults New fills in for zero fields.
var DefaultOptions = Options{
	Addr:        DefaultAddr,
	Name:        "web",
	ViewerGrace: 10 * time.Second,
	PanelPoll:   200 * time.Millisecond,
	TouchWait:   5 * time.Second,
}

// Timing of the server's side of the page.
const (
	actionWait = 3 * time.Second  // bound on a panel action
	pingEvery  = 15 * time.Second // SSE comment that keeps proxies and dead-peer detection honest
	stopWait   = 2 * time.Second  // graceful shutdown of the HTTP server
)

// Dev is the customer screen served as a web page. It implements
// display.Display and display.Touch. It is safe for concurrent use.
type Dev struct {
	opts     Options
	cur      *currency.Currency
	ln       net.Listener
	url      string
	instance string
	touches  chan string
	poke     chan struct{} // asks the panel poller to read the state now
	done     chan struct{} // closed when Serve stops: ends the event streams

	mu        sync.Mutex
	seq       uint64
	menuSeq   uint64 // the first seq showing the current screen's ID and menu
	screen    display.Screen
	view      []byte // the screen event's JSON
	panel     []byte // the panel event's JSON
	changed   chan struct{}
	clients   int
	lostAt    time.Time // when the last page went away (or Serve began)
	served    bool
	stopped   bool
	failed    error
	closeOnce sync.Once
}

var (
	_ display.Display = (*Dev)(nil)
	_ display.Touch   = (*Dev)(nil)
)

// New checks opts and binds the listener, so a port in use is an error
// here and URL is exact at once. Call Serve to serve the page, or Close
// to give the port back without serving.
func New(opts Options) (*Dev, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultOptions.Addr
	}
	if opts.Name == "" {
		opts.Name = DefaultOptions.Name
	}
	if opts.ViewerGrace <= 0 {
		opts.ViewerGrace = DefaultOptions.ViewerGrace
	}
	if opts.PanelPoll <= 0 {
		opts.PanelPoll = DefaultOptions.PanelPoll
	}
	if opts.TouchWait <= 0 {
		opts.TouchWait = DefaultOptions.TouchWait
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, fmt.Errorf("webscreen: address %q: %w", opts.Addr, err)
	}
	if opts.Phone != "" && !strings.HasPrefix(opts.Phone, "http://") && !strings.HasPrefix(opts.Phone, "https://") {
		return nil, fmt.Errorf("webscreen: phone page %q is not an http(s) address", opts.Phone)
	}
	d := &Dev{
		opts:     opts,
		touches:  make(chan string),
		poke:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		instance: strconv.FormatInt(time.Now().UnixNano(), 36),
	}
	if opts.Currency != "" {
		c, err := currency.ByAlpha(opts.Currency)
		if err != nil {
			return nil, fmt.Errorf("webscreen: currency %q: %w", opts.Currency, err)
		}
		d.cur = &c
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("webscreen: listen: %w", err)
	}
	d.ln = ln
	d.url = "http://" + ln.Addr().String() + "/"
	d.lostAt = time.Now()
	return d, nil
}

// URL is the page's address, e.g. "http://127.0.0.1:8080/".
func (d *Dev) URL() string { return d.url }

// String names the display.
func (d *Dev) String() string { return "display:web:" + d.opts.Name }

// Capabilities: QR codes, touch, English and Traditional Chinese.
func (d *Dev) Capabilities() display.Capabilities {
	return display.Capabilities{QR: true, Touch: true, Langs: []string{"en", "zh-TW"}}
}

// Status is online while the page can be served; see FaultOffline and
// FaultNoViewer. Extra carries "viewers" (pages connected) and "url".
func (d *Dev) Status() hal.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := hal.Status{State: hal.Online, Extra: map[string]string{"viewers": strconv.Itoa(d.clients), "url": d.url}}
	switch {
	case d.failed != nil:
		st.State, st.Fault, st.Detail = hal.Offline, FaultOffline, "web server stopped"
	case d.opts.RequireViewer && d.clients == 0 && time.Since(d.lostAt) > d.opts.ViewerGrace:
		st.State, st.Fault, st.Detail = hal.Offline, FaultNoViewer, "no page connected"
	}
	return st
}

// Show replaces the screen on every connected page (and on pages that
// connect later). It checks s with Screen.Validate and renders its QR
// code first; a refused screen leaves the one before.
func (d *Dev) Show(ctx context.Context, s display.Screen) error {
	if err := s.Validate(); err != nil {
		return err
	}
	v, err := d.render(s)
	if err != nil {
		return fmt.Errorf("webscreen: show %s: %w", s.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("webscreen: show %s: %w", s.ID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.faultLocked("show"); err != nil {
		return err
	}
	d.setLocked(s, v)
	return nil
}

// Halt shows the blank screen (ID BlankScreen): no menu, no entry field,
// no QR code.
func (d *Dev) Halt(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("webscreen: halt: %w", err)
	}
	s := display.Screen{ID: BlankScreen}
	v, _ := d.render(s)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.faultLocked("halt"); err != nil {
		return err
	}
	d.setLocked(s, v)
	return nil
}

// Touches yields the function key ("F1".."F8") of each menu item touched
// on the page. Only keys bound on the screen shown are sent; a touch on
// a screen already replaced is refused (ErrStale) before it gets here.
// In Mirror mode touches go to the mirrored display instead.
func (d *Dev) Touches() <-chan string { return d.touches }

// Current returns the screen shown now (the zero Screen before any).
func (d *Dev) Current() display.Screen {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.screen
}

// Serve serves the page until ctx ends, then closes every page's event
// stream and the listener, and returns nil. An error from the HTTP
// server is returned (and makes Status offline). Serve may be called
// once.
func (d *Dev) Serve(ctx context.Context) error {
	d.mu.Lock()
	if d.served || d.stopped {
		d.mu.Unlock()
		return ErrServed
	}
	d.served = true
	d.lostAt = time.Now()
	d.mu.Unlock()

	srv := &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          log.New(d.opts.Log, "webscreen: ", 0),
	}
	var wg sync.WaitGroup
	bg, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	if d.opts.Mirror != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.mirror(bg) }()
	}
	if d.opts.Panel != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.pollPanel(bg) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(d.ln) }()
	d.opts.Log.Info().Str("url", d.url).Bool("panel", d.opts.Panel != nil).Msg("customer screen served")

	select {
	case <-ctx.Done():
		d.stop()
		sctx, scancel := context.WithTimeout(context.Background(), stopWait)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		d.stop()
		err = fmt.Errorf("webscreen: serve: %w", err)
		d.mu.Lock()
		d.failed = err
		d.mu.Unlock()
		d.opts.Log.Error().Err(err).Msg("customer screen server stopped")
		return err
	}
}

// Close gives the port back without serving. After Serve it does
// nothing: Serve closes the listener when its context ends.
func (d *Dev) Close() error {
	d.mu.Lock()
	served := d.served
	d.stopped = true
	d.mu.Unlock()
	if served {
		return nil
	}
	d.stop()
	if err := d.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("webscreen: close: %w", err)
	}
	return nil
}

func (d *Dev) stop() { d.closeOnce.Do(func() { close(d.done) }) }

func (d *Dev) faultLocked(op string) error {
	if d.failed == nil {
		return nil
	}
	return fmt.Errorf("webscreen: %s: %w", op, &hal.Fault{
		Device: "display", Code: FaultOffline, Msg: "web server stopped", Recoverable: false, Err: hal.ErrOffline})
}

// setLocked makes s the current screen and wakes every event stream.
func (d *Dev) setLocked(s display.Screen, v view) {
	d.seq++
	// The same menu shown again (an entry field echoing, a mirror
	// repeating itself) keeps touches made on it valid.
	if s.ID != d.screen.ID || !slices.Equal(s.Menu, d.screen.Menu) {
		d.menuSeq = d.seq
	}
	v.Seq = d.seq
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: the view holds only strings and numbers
		b = []byte(`{"seq":` + strconv.FormatUint(d.seq, 10) + `,"id":"blank"}`)
	}
	d.screen, d.view = s, b
	d.notifyLocked()
	select {
	case d.poke <- struct{}{}: // the card or the cash probably moved too
	default:
	}
	d.opts.Log.Debug().Str("screen", s.ID).Uint64("seq", d.seq).Msg("screen shown")
}

func (d *Dev) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// mirror shows every screen of the mirrored display until ctx ends.
func (d *Dev) mirror(ctx context.Context) {
	ch, unsubscribe := d.opts.Mirror.Subscribe()
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case s, ok := <-ch:
			if !ok {
				return
			}
			if err := d.Show(ctx, s); err != nil {
				d.opts.Log.Warn().Err(err).Str("screen", s.ID).Msg("mirrored screen not shown")
			}
		}
	}
}

// pollPanel reads the panel state while a page is connected: every
// PanelPoll, and at once when poked (a screen change, a panel action, a
// page connecting). Panel.State is never called from Show, which the
// runner calls from its loop: a Panel that asks the runner for state
// would deadlock.
func (d *Dev) pollPanel(ctx context.Context) {
	t := time.NewTicker(d.opts.PanelPoll)
	defer t.Stop()
	for {
		// With no page connected only a poke (a page connecting) wakes
		// the loop: an idle ATM spends no CPU on a panel nobody sees.
		d.mu.Lock()
		n := d.clients
		d.mu.Unlock()
		var tick <-chan time.Time
		if n > 0 {
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-d.poke:
		}
		d.mu.Lock()
		n = d.clients
		d.mu.Unlock()
		if n > 0 {
			d.refreshPanel()
		}
	}
}

// refreshPanel reads the panel state and wakes the event streams if it
// changed.
func (d *Dev) refreshPanel() {
	st := d.opts.Panel.State()
	b, err := json.Marshal(st)
	if err != nil {
		d.opts.Log.Warn().Err(err).Msg("panel state not encodable")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if string(b) != string(d.panel) {
		d.panel = b
		d.notifyLocked()
	}
}

func (d *Dev) pokePanel() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// bound reports whether key is bound to a menu item of s.
func bound(s display.Screen, key string) bool {
	return slices.ContainsFunc(s.Menu, func(m display.MenuItem) bool { return m.Key == key })
}
