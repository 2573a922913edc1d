package webscreen_test

// Browser tests: the page in real headless Chromium, driven by clicks and
// keys as a person would, against the real flows.Machine (rig_test.go).
// They save screenshots: to docs/screens with ATMD_SCREENSHOTS=1 (the
// ones the README shows), else to $ATMD_ARTIFACTS/screens, else to
// $TMPDIR/atmd-screens. Without Chromium they skip, or fail when CI is
// set, naming the package to install.

import (
	"bytes"
	"context"
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
	step            = 10 * time.Second // bounds one browser step
	panelW, panelH  = 1640, 1240       // the whole front panel at 1:1
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
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string // JavaScript exceptions and console errors
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

// waitScreen waits until the page shows screen id.
func (p *page) waitScreen(id string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(`#screen[data-screen="` + id + `"]`)))
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

// shot saves a screenshot of the viewport as name.png.
func (p *page) shot(name string) {
	p.t.Helper()
	// Let animations settle on a stable frame.
	p.do(chromedp.Evaluate[chromedp.Void](`document.getAnimations().forEach(a => {
		try { if (a instanceof CSSTransition) a.finish(); else { a.currentTime = 0; a.pause(); } } catch (e) {} })`))
	// A fixed time in the header, so a refreshed screenshot changes only
	// when the page does.
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('clock').textContent =
		new Intl.DateTimeFormat(window.atmd.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(2026, 10, 22, 9, 41))`))
	b := run(p, chromedp.CaptureScreenshot())
	// Chromium writes PNGs fast, not small: compress the ones kept in
	// the repository again.
	if img, err := png.Decode(bytes.NewReader(b)); err == nil && os.Getenv("ATMD_SCREENSHOTS") == "1" && docShots[name] {
		var out bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err == nil && out.Len() < len(b) {
			b = out.Bytes()
		}
	}
	dir := shotDir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
}

// docShots are the screenshots docs/screens keeps (README, docs/kiosk.md).
var docShots = map[string]bool{
	"panel-welcome": true, "panel-pin": true, "panel-amount-menu": true, "panel-take-cash": true,
	"panel-main-menu-zh-TW": true, "panel-receipt-zh-TW": true, "panel-out-of-service": true,
	"kiosk-welcome": true, "kiosk-main-menu": true, "kiosk-pin": true, "kiosk-qr": true, "kiosk-reconnecting": true,
}

func shotDir(name string) string {
	if os.Getenv("ATMD_SCREENSHOTS") == "1" && docShots[name] {
		return filepath.Join("..", "..", "docs", "screens")
	}
	if d := os.Getenv("ATMD_ARTIFACTS"); d != "" {
		return filepath.Join(d, "screens")
	}
	return filepath.Join(os.TempDir(), "atmd-screens")
}

// servePanel serves the page and the front panel of a fresh rig.
func servePanel(t *testing.T) (*webscreen.Dev, *rig) {
	t.Helper()
	p := &lateRig{}
	d := start(t, webscreen.Options{Currency: "TWD", PanelPoll: 20 * time.Millisecond, Panel: p})
	r := newRig(t, d)
	p.set(r)
	return d, r
}

// lateRig lets the Dev be made before the rig that needs it.
type lateRig struct {
	webscreen.Panel
	mu sync.Mutex
}

func (l *lateRig) set(r *rig) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Panel = r
}

func TestBrowserWithdrawal(t *testing.T) {
	d, r := servePanel(t)
	p := openPage(t, d.URL(), panelW, panelH)

	p.waitScreen("welcome")
	p.wantText("#title", "Welcome")
	p.waitTrue(`document.querySelector('#card-slot').dataset.accepting === 'true'`)
	p.shot("panel-welcome")

	// Insert Alice's card from the card slot.
	p.click(`.card[data-card="alice-debit"]`)
	p.waitScreen("enter-pin")
	// Key the PIN on the virtual PIN pad.
	for _, k := range "7968" {
		p.click(`.pk[data-key="` + string(k) + `"]`)
	}
	p.waitTrue(`document.querySelectorAll('#entry-value .dot.on').length === 4`)
	if s := p.text("#content"); strings.ContainsAny(s, "0123456789") {
		t.Fatalf("the PIN screen shows digits: %q", s)
	}
	p.shot("panel-pin")
	p.click(`.pk[data-key="ENTER"]`)

	p.waitScreen("main-menu")
	p.wantText("#menu", "Cash withdrawal", "Balance inquiry", "Cancel")
	p.shot("panel-main-menu")
	// Touch the menu item on the screen.
	p.click(`#menu .item[data-id="withdrawal"]`)

	p.waitScreen("amount-menu")
	p.wantText("#menu", "NT$1,000", "NT$2,000", "NT$20,000", "Other amount")
	p.shot("panel-amount-menu")
	// Press the function key beside NT$2,000.
	if id := run(p, chromedp.AttributeValue(chromedp.CSS(`#menu .item[data-key="F2"]`), "data-id")); id.Value != "amount-2000" {
		t.Fatalf("F2 is %q, want amount-2000", id.Value)
	}
	p.click(`.fdk[data-key="F2"]`)

	p.waitScreen("receipt-choice")
	p.click(`#menu .item[data-id="no"]`)

	// Approved: the card comes back first.
	p.waitScreen("take-card-cash")
	p.waitTrue(`document.querySelector('#card-slot').dataset.card === 'presented'`)
	p.shot("panel-take-card")
	p.click("#take-card")

	p.waitScreen("take-cash")
	p.wantText("#lines", "NT$2,000")
	p.waitTrue(`document.querySelector('#tray').dataset.cash === 'true'`)
	p.wantText("#notes", "2 × NT$1,000")
	p.shot("panel-take-cash")
	p.click("#take-cash")

	p.waitScreen("goodbye")
	p.wantText("#title", "Thank you")
	p.waitTrue(`document.querySelector('#tray').dataset.cash === 'false'`)
	if got := r.cashTaken(); got != 200000 {
		t.Fatalf("customer took %d, want 200000 (NT$2,000)", got)
	}
	r.advance(flowsMessage)
	p.waitScreen("welcome")
	if err := r.err(); err != nil {
		t.Fatalf("a screen was refused: %v", err)
	}
}

// flowsMessage is how long the goodbye screen stays.
const flowsMessage = 5 * time.Second

func TestBrowserKeyboardChinese(t *testing.T) {
	d, r := servePanel(t)
	p := openPage(t, d.URL(), panelW, panelH)

	p.waitScreen("welcome")
	// The language key on the welcome screen.
	p.click(`#menu .item[data-id="lang"]`)
	p.do(chromedp.WaitVisible(chromedp.CSS(`#screen[data-screen="welcome"][lang="zh-TW"]`)))
	p.wantText("#title", "歡迎使用")
	if lang := run(p, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "zh-TW" {
		t.Fatalf("html lang = %q", lang)
	}
	p.shot("panel-welcome-zh-TW")

	p.waitTrue(`document.querySelector('#card-slot').dataset.accepting === 'true'`)
	p.click(`.card[data-card="bob-debit"]`)
	p.waitScreen("enter-pin")
	p.wantText("#title", "請輸入密碼")
	// From here on, the keyboard only: digits and Enter are the PIN pad.
	p.keys("9867")
	p.waitTrue(`document.querySelectorAll('#entry-value .dot.on').length === 4`)
	p.keys(kb.Enter)

	p.waitScreen("main-menu")
	p.wantText("#menu", "提款", "餘額查詢")
	p.shot("panel-main-menu-zh-TW")
	p.keys(kb.F1)

	p.waitScreen("amount-menu")
	p.keys(kb.F4) // other amount
	p.waitScreen("other-amount")
	p.keys("1500")
	p.waitTrue(`document.querySelector('#entry-value').textContent.includes('NT$1,500')`)
	p.shot("panel-other-amount-zh-TW")
	p.keys(kb.Enter)

	p.waitScreen("receipt-choice")
	p.keys(kb.F1) // receipt: yes
	p.waitScreen("take-card-cash")
	p.click("#take-card")
	p.waitScreen("take-cash")
	p.wantText("#lines", "NT$1,500")
	p.click("#take-cash")

	// The receipt comes out of the receipt slot.
	p.waitScreen("goodbye")
	p.waitTrue(`!document.querySelector('#receipt').hidden`)
	p.wantText("#receipt", "NT$1,500", "**** 2033")
	if rc := strings.Join(r.lastReceipt(), "\n"); !strings.Contains(rc, "NT$1,500") || strings.Contains(rc, "4761730000002033") {
		t.Fatalf("receipt:\n%s", rc)
	}
	if s := p.text("body"); strings.Contains(s, "4761730000002033") {
		t.Fatal("the page shows a full PAN")
	}
	p.shot("panel-receipt-zh-TW")
}

func TestBrowserOutOfService(t *testing.T) {
	d, r := servePanel(t)
	p := openPage(t, d.URL(), panelW, panelH)
	p.waitScreen("welcome")

	// The technician jams the dispenser from the panel.
	p.do(chromedp.SetValue(chromedp.CSS("#fault-device"), "dispenser"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#fault-device').dispatchEvent(new Event('change'))`),
		chromedp.SetValue(chromedp.CSS("#fault-code"), "DSP-JAM"))
	p.click("#inject")
	p.waitScreen("out-of-service")
	p.wantText("#title", "Temporarily out of service")
	p.waitTrue(`document.querySelector('#tech').dataset.service === 'out-of-service'`)
	p.wantText("#devlist", "DSP-JAM")
	if cls := run(p, chromedp.Evaluate[bool](`document.querySelector('#screen').classList.contains('oos')`)); !cls {
		t.Fatal("out-of-service screen is not drawn as one")
	}
	p.shot("panel-out-of-service")

	p.click("#clear")
	p.waitScreen("welcome")
	p.waitTrue(`document.querySelector('#tech').dataset.service === 'in-service'`)

	// The host goes down: out of service again, in service when it is back.
	r.hostUp(false)
	p.waitScreen("out-of-service")
	r.hostUp(true)
	p.waitScreen("welcome")
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
