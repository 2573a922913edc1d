package webscreen_test

// Browser tests: the page in real headless Chromium, driven by clicks and
// keys as a person would — the front panel's journeys against a running
// atmd as `make run` starts it (daemon_test.go, panel_browser_test.go),
// the kiosk page against the real flows.Machine (rig_test.go). They
// save screenshots as test artifacts ($ATMD_ARTIFACTS/screens, else
// $TMPDIR/atmd-screens); -update (or ATMD_SCREENSHOTS=1) refreshes the
// ones docs/screens keeps for the README. Without Chromium they skip,
// or fail when CI is set, naming the package to install.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/atmd/atmd/devices/webscreen"
	"github.com/atmd/atmd/hal/display"
)

const (
	installChromium = "apt-get install -y chromium fonts-noto-cjk"
	step            = 20 * time.Second // bounds one browser step (generous: the machine may be busy)
	panelW, panelH  = 1640, 1320       // the whole front panel at 1:1
	kioskW, kioskH  = 1024, 768        // a typical ATM screen
)

// chromium finds the browser: $ATMD_CHROMIUM, then the usual names.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	if p := os.Getenv("ATMD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("browser test: Chromium not found; install it: %s", installChromium)
	}
	t.Skipf("browser test: Chromium not found; install it with: %s", installChromium)
	return ""
}

// page is one browser tab on the page under test.
type page struct {
	t     *testing.T
	ctx   context.Context
	frame *chromedp.Node // the phone pane's iframe, once phone() found it
	mu    sync.Mutex
	errs  []string // JavaScript exceptions and console errors
}

// openPage starts a headless Chromium with a fresh profile, w×h, and
// loads url. The browser is closed when the test ends; a JavaScript
// error on the page fails the test.
func openPage(t *testing.T, url string, w, h int64) *page {
	t.Helper()
	exe := chromium(t)
	profile, err := os.MkdirTemp("", "atmd-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(int(w), int(h)),
	)
	ctx, cancel := chromedp.NewContext(actx)
	p := &page{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		acancel()
		os.RemoveAll(profile)
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p.errs = append(p.errs, "exception: "+ev.ExceptionDetails.Text+" "+describe(ev.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var b strings.Builder
				for _, a := range ev.Args {
					fmt.Fprintf(&b, "%s ", a.Value)
				}
				p.errs = append(p.errs, "console.error: "+b.String())
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errs {
			t.Errorf("page: %s", e)
		}
	})
	p.do(chromedp.EmulateViewport(w, h), chromedp.Navigate(url))
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-conn="open"]`)))
	return p
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

// do runs actions, each bounded by step.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	for _, a := range actions {
		ctx, cancel := context.WithTimeout(p.ctx, step)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			p.t.Fatalf("browser: %v (on screen %q)", err, p.screenID())
		}
	}
}

func run[T any](p *page, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	return v
}

func (p *page) screenID() string {
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	defer cancel()
	id, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('screen').dataset.screen`))
	return id
}

// waitScreen waits until the page shows screen id, and fails if its text
// does not fit the room it has (screen.js fitText).
func (p *page) waitScreen(id string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(`#screen[data-screen="` + id + `"]`)))
	if run(p, chromedp.Evaluate[bool](`document.querySelector('#screen .text').dataset.overflow === 'true'`)) {
		p.shot("overflow-" + id)
		p.t.Fatalf("screen %s: the text does not fit the screen: %q", id, p.text("#screen .text"))
	}
}

// waitTrue waits until the JavaScript expression is true.
func (p *page) waitTrue(expr string) {
	p.t.Helper()
	p.do(chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(step)))
}

// click waits until the element is enabled and clicks it with the mouse.
func (p *page) click(sel string) {
	p.t.Helper()
	p.do(chromedp.WaitEnabled(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// keys types on the keyboard.
func (p *page) keys(k string) {
	p.t.Helper()
	p.do(chromedp.KeyEvent(k))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return run(p, chromedp.TextContent(chromedp.CSS(sel)))
}

// wantText fails unless the element's text contains each of want.
func (p *page) wantText(sel string, want ...string) {
	p.t.Helper()
	got := p.text(sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			p.t.Fatalf("%s shows %q, want %q in it", sel, got, w)
		}
	}
}

// shot saves a screenshot of the viewport as name.png in the test
// artifacts ($ATMD_ARTIFACTS/screens, else $TMPDIR/atmd-screens), and
// with -update (or ATMD_SCREENSHOTS=1) the ones the docs show in
// docs/screens too.
func (p *page) shot(name string) {
	p.t.Helper()
	// Let animations settle on a stable frame.
	p.do(chromedp.Evaluate[chromedp.Void](`document.getAnimations().forEach(a => {
		try { if (a instanceof CSSTransition) a.finish(); else { a.currentTime = 0; a.pause(); } } catch (e) {} })`))
	// A fixed time in the header (and on the phone), so a refreshed
	// screenshot changes only when the page does.
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('clock').textContent =
		new Intl.DateTimeFormat(window.atmd.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(2026, 10, 22, 9, 41))`))
	if p.frame == nil && run(p, chromedp.Evaluate[bool](`!!document.getElementById('phone-frame')`)) {
		p.phone()
	}
	if p.frame != nil {
		in := chromedp.FromNode(p.frame)
		p.do(chromedp.SetJavascriptAttribute(chromedp.CSS("#sb-time"), "textContent", "09:41 AM", in))
		if len(run(p, chromedp.Nodes(chromedp.CSS(".w-time"), in, chromedp.AtLeast(0)))) > 0 {
			p.do(chromedp.SetJavascriptAttribute(chromedp.CSS(".w-time"), "textContent", "09:41 AM", in),
				chromedp.SetJavascriptAttribute(chromedp.CSS(".w-date"), "textContent", "Sunday, November 22", in))
		}
	}
	b := run(p, chromedp.CaptureScreenshot())
	path := filepath.Join(artifacts(), name+".png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
	if !*update && os.Getenv("ATMD_SCREENSHOTS") != "1" || !docShots[name] {
		return
	}
	// Chromium writes PNGs fast, not small: compress the ones kept in
	// the repository again.
	if img, err := png.Decode(bytes.NewReader(b)); err == nil {
		var out bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err == nil && out.Len() < len(b) {
			b = out.Bytes()
		}
	}
	doc := filepath.Join("..", "..", "docs", "screens", name+".png")
	if err := os.WriteFile(doc, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", doc)
}

var update = flag.Bool("update", false, "refresh the screenshots in docs/screens")

// docShots are the screenshots docs/screens keeps (README, docs/kiosk.md).
var docShots = map[string]bool{
	"panel-welcome": true, "panel-pin": true, "panel-amount-menu": true, "panel-take-cash": true,
	"panel-main-menu-zh-TW": true, "panel-receipt-zh-TW": true, "panel-out-of-service": true,
	"panel-activate-qr": true, "panel-activate-default-pin": true, "panel-activate-done": true,
	"panel-activate-sms-zh-TW": true, "kiosk-welcome": true, "kiosk-main-menu": true, "kiosk-pin": true,
	"kiosk-qr": true, "kiosk-reconnecting": true,
}

// artifacts is where screenshots and other test outputs go.
func artifacts() string {
	if d := os.Getenv("ATMD_ARTIFACTS"); d != "" {
		return filepath.Join(d, "screens")
	}
	return filepath.Join(os.TempDir(), "atmd-screens")
}

func TestBrowserQR(t *testing.T) {
	d := start(t, webscreen.Options{})
	show(t, d, qrScreen)
	p := openPage(t, d.URL(), kioskW, kioskH)
	p.waitScreen("activate-scan")
	p.do(chromedp.WaitVisible(chromedp.CSS(`#qr[src^="data:image/png"]`)))

	// The image the page got decodes to exactly the session payload...
	src := run(p, chromedp.AttributeValue(chromedp.CSS("#qr"), "src"))
	if got := decodePNG(t, dataURLPNG(t, src.Value)); got != qrPayload {
		t.Fatalf("QR image decodes to %q, want %q", got, qrPayload)
	}
	// ...it is drawn unscaled, a whole number of device pixels per module...
	if ok := run(p, chromedp.Evaluate[bool](`(() => { const i = document.getElementById('qr'); const r = i.getBoundingClientRect();
		return i.complete && i.naturalWidth > 0 && r.width === i.naturalWidth && r.height === i.naturalHeight; })()`)); !ok {
		t.Fatal("the QR code is scaled on the page")
	}
	// ...and what the screen shows, photographed, decodes too.
	b := run(p, chromedp.Screenshot(chromedp.CSS("#qr-box")))
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeQR(img)
	if err != nil || got != qrPayload {
		t.Fatalf("screenshot of the QR code decodes to %q (%v), want %q", got, err, qrPayload)
	}
	// zbar, a standard reader, reads both the same.
	if got := zbar(t, dataURLPNG(t, src.Value)); got != qrPayload {
		t.Fatalf("zbarimg read %q from the page's image, want %q", got, qrPayload)
	}
	if got := zbar(t, b); got != qrPayload {
		t.Fatalf("zbarimg read %q from the screen, want %q", got, qrPayload)
	}
	p.wantText("#qr-box", "banking app")
	p.shot("kiosk-qr")

	// The menu item beside F1 is a button with its key as a shortcut.
	if k := run(p, chromedp.AttributeValue(chromedp.CSS(`#menu .item[data-id="code"]`), "aria-keyshortcuts")); k.Value != "F1" {
		t.Fatalf("aria-keyshortcuts = %q", k.Value)
	}
}

func TestBrowserKiosk(t *testing.T) {
	d := start(t, webscreen.Options{Currency: "TWD"})
	r := newRig(t, d)
	p := openPage(t, d.URL(), kioskW, kioskH)
	p.waitScreen("welcome")
	p.shot("kiosk-welcome")
	ctx := timeout(t, step)
	if err := r.Insert(ctx, "alice-debit"); err != nil {
		t.Fatal(err)
	}
	p.waitScreen("enter-pin")
	// The kiosk page takes no digits: the PIN is keyed on the PIN pad.
	p.keys("12")
	for _, k := range []string{"7", "9"} {
		if err := r.Press(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	p.waitTrue(`document.querySelectorAll('#entry-value .dot.on').length === 2`)
	p.shot("kiosk-pin")
	for _, k := range []string{"6", "8", "ENTER"} {
		if err := r.Press(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	p.waitScreen("main-menu")
	p.shot("kiosk-main-menu")
	// F-keys on a keyboard touch the menu item beside them.
	p.keys(kb.F1)
	p.waitScreen("amount-menu")
	p.shot("kiosk-amount-menu")
	// A touch on the screen.
	p.click(`#menu .item[data-id="other"]`)
	p.waitScreen("other-amount")
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll('.fdk, .pk, #cards').length`)); err != nil || n != 0 {
		t.Fatalf("the kiosk page has %d panel controls (%v)", n, err)
	}
	if err := r.err(); err != nil {
		t.Fatalf("a screen was refused: %v", err)
	}
}

func TestBrowserReconnects(t *testing.T) {
	first, err := webscreen.New(webscreen.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- first.Serve(ctx) }()
	t.Cleanup(stop)
	show(t, first, welcome)

	p := openPage(t, first.URL(), kioskW, kioskH)
	p.waitScreen("welcome")
	loadID := run(p, chromedp.Evaluate[string](`window.atmd.loadId`))

	// atmd stops: the page says it is out of service and keeps trying.
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	p.waitScreen("offline")
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-conn="lost"]`)))
	p.wantText("#title", "out of service")
	p.shot("kiosk-reconnecting")

	// atmd is back on the same address with another screen: the page
	// shows it by itself, without a reload.
	addr := strings.TrimSuffix(strings.TrimPrefix(first.URL(), "http://"), "/")
	second := start(t, webscreen.Options{Addr: addr})
	show(t, second, mainMenu)
	p.waitScreen("main-menu")
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-conn="open"]`)))
	p.wantText("#menu", "提款")
	if id := run(p, chromedp.Evaluate[string](`window.atmd.loadId`)); id != loadID {
		t.Fatal("the page was reloaded")
	}
	// Out of service on the new atmd is shown as such.
	show(t, second, display.Screen{ID: "out-of-service", Lang: "zh-TW", Tone: display.Warning, Title: "暫停服務", Lines: []string{"請使用其他自動櫃員機。"}})
	p.waitScreen("out-of-service")
	p.shot("kiosk-out-of-service-zh-TW")
}
