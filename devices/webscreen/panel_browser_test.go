package webscreen_test

// The virtual front panel in headless Chromium against a running atmd
// (daemon_test.go): every journey done by clicking alone, the phone's
// steps in the phone pane's banking app.

import (
	"bytes"
	"context"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/atmd/atmd/sim/host/seed"
)

// phone finds the phone pane's iframe and waits until the banking app in
// it is up and has met the panel (the camera works).
func (p *page) phone() {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS("#phone-frame")))
	nodes := run(p, chromedp.Nodes(chromedp.CSS("#phone-frame")))
	p.frame = nodes[0]
	p.phoneWait(`body[data-ready="true"][data-panel="true"]`)
}

// phoneWait waits until an element in the phone is visible.
func (p *page) phoneWait(sel string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(sel), chromedp.FromNode(p.frame)))
}

// phoneClick clicks an element in the phone once it is enabled.
func (p *page) phoneClick(sel string) {
	p.t.Helper()
	p.do(chromedp.WaitEnabled(chromedp.CSS(sel), chromedp.FromNode(p.frame)),
		chromedp.Click(chromedp.CSS(sel), chromedp.FromNode(p.frame)))
}

func (p *page) phoneText(sel string) string {
	p.t.Helper()
	p.phoneWait(sel)
	return run(p, chromedp.TextContent(chromedp.CSS(sel), chromedp.FromNode(p.frame)))
}

// pinpad keys digits on the panel's PIN pad, then ENTER.
func (p *page) pinpad(digits string) {
	p.t.Helper()
	for _, k := range digits {
		p.click(`.pk[data-key="` + string(k) + `"]`)
	}
	p.click(`.pk[data-key="ENTER"]`)
}

// noDigits fails if the screen shows any of the secrets.
func (p *page) noSecrets(secrets ...string) {
	p.t.Helper()
	html := run(p, chromedp.OuterHTML(chromedp.CSS("#screen")))
	for _, s := range secrets {
		if s != "" && strings.Contains(html, s) {
			p.t.Fatalf("the customer screen shows a secret (%d characters)", len(s))
		}
	}
}

// crispQR fails unless the QR code on the screen is at least min
// device pixels wide, a whole number of device pixels per module, loaded
// and labelled for screen readers.
func (p *page) crispQR(min float64) {
	p.t.Helper()
	v := run(p, chromedp.Evaluate[[]float64](`(() => { const i = document.getElementById('qr'); const q = window.atmd.screen.qr;
		const w = i.getBoundingClientRect().width * window.devicePixelRatio;
		return [w, w / q.modules, i.complete && i.naturalWidth > 0 ? 1 : 0, i.alt.length]; })()`))
	if w, per := v[0], v[1]; w < min || math.Abs(per-math.Round(per)) > 0.01 || v[2] != 1 || v[3] == 0 {
		p.t.Fatalf("QR code %.1f device pixels wide, %.2f per module, loaded %v, alt %v characters: want ≥ %v, whole pixels per module, loaded, alt text",
			w, per, v[2] == 1, v[3], min)
	}
}

// grab photographs an element as the screen shows it: the viewport's
// pixels inside the element's box (the panel may be zoomed to fit the
// window, which a plain element screenshot does not allow for).
func (p *page) grab(sel string) []byte {
	p.t.Helper()
	r := run(p, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector(`+strconv.Quote(sel)+`).getBoundingClientRect();
		return [r.left, r.top, r.right, r.bottom].map((v) => v * window.devicePixelRatio); })()`))
	shot, err := png.Decode(bytes.NewReader(run(p, chromedp.CaptureScreenshot())))
	if err != nil {
		p.t.Fatal(err)
	}
	box := image.Rect(int(math.Floor(r[0])), int(math.Floor(r[1])), int(math.Ceil(r[2])), int(math.Ceil(r[3]))).Intersect(shot.Bounds())
	crop := image.NewRGBA(image.Rect(0, 0, box.Dx(), box.Dy()))
	draw.Draw(crop, crop.Bounds(), shot, box.Min, draw.Src)
	var out bytes.Buffer
	if err := png.Encode(&out, crop); err != nil {
		p.t.Fatal(err)
	}
	return out.Bytes()
}

// zbar decodes the QR code in a PNG with zbar's zbarimg, a standard
// reader independent of the encoder and of the Go decoder in qr_test.go.
func zbar(t *testing.T, png []byte) string {
	t.Helper()
	exe, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zbarimg not found; install it: apt-get install -y zbar-tools")
		}
		t.Skip("zbarimg not found; install it with: apt-get install -y zbar-tools")
	}
	f := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(f, png, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), step)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", f).Output()
	if err != nil {
		keep := filepath.Join(artifacts(), "unreadable-qr.png")
		if os.MkdirAll(filepath.Dir(keep), 0o755) == nil && os.WriteFile(keep, png, 0o644) == nil {
			t.Logf("kept the image zbarimg could not read: %s", keep)
		}
		t.Fatalf("zbarimg read no QR code: %v", err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func TestBrowserWithdrawal(t *testing.T) {
	a := startSimATM(t)
	p := openPage(t, a.URL(), panelW, panelH)
	p.phone()

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
	// The bank's books: NT$2,000 out of Alice's NT$25,000.
	if bal, err := a.h.Balance(timeout(t, step), "alice-twd"); err != nil || bal != 2_300_000 {
		t.Fatalf("alice-twd balance %d (%v), want 2300000 (NT$23,000)", bal, err)
	}
}

func TestBrowserKeyboardChinese(t *testing.T) {
	a := startSimATM(t)
	p := openPage(t, a.URL(), panelW, panelH)
	p.phone()

	p.waitScreen("welcome")
	// The language key on the welcome screen.
	p.click(`#menu .item[data-id="lang"]`)
	p.do(chromedp.WaitVisible(chromedp.CSS(`#screen[data-screen="welcome"][lang="zh-TW"]`)))
	p.wantText("#title", "歡迎")
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
	p.wantText("#receipt", "NT$1,500", "2033")
	rs := a.d.Sim.Printer.Receipts()
	if len(rs) == 0 {
		t.Fatal("no receipt printed")
	}
	if rc := strings.Join(rs[len(rs)-1].Lines, "\n"); !strings.Contains(rc, "NT$1,500") || strings.Contains(rc, "4761730000002033") {
		t.Fatalf("receipt:\n%s", rc)
	}
	if s := p.text("body"); strings.Contains(s, "4761730000002033") {
		t.Fatal("the page shows a full PAN")
	}
	p.shot("panel-receipt-zh-TW")
}

// TestBrowserOutOfService: the page shows the ATM out of service when a
// vital device fails and when the host is away, in service again when
// they are back, and survives atmd stopping and starting again without a
// reload.
func TestBrowserOutOfService(t *testing.T) {
	a := startSimATM(t)
	p := openPage(t, a.URL(), panelW, panelH)
	p.waitScreen("welcome")
	loadID := run(p, chromedp.Evaluate[string](`window.atmd.loadId`))

	// The technician jams the dispenser from the panel.
	p.do(chromedp.SetValue(chromedp.CSS("#fault-device"), "dispenser"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#fault-device').dispatchEvent(new Event('change'))`),
		chromedp.SetValue(chromedp.CSS("#fault-code"), "DSP-JAM"))
	p.click("#inject")
	p.waitScreen("out-of-service")
	p.wantText("#title", "Temporarily out of service")
	p.waitTrue(`document.querySelector('#tech').dataset.service === 'out-of-service'`)
	p.waitTrue(`document.querySelector('#devlist').textContent.includes('DSP-JAM')`)
	if cls := run(p, chromedp.Evaluate[bool](`document.querySelector('#screen').classList.contains('oos')`)); !cls {
		t.Fatal("out-of-service screen is not drawn as one")
	}
	p.shot("panel-out-of-service")
	p.click("#clear")
	p.waitScreen("welcome")
	p.waitTrue(`document.querySelector('#tech').dataset.service === 'in-service'`)

	// The host goes away: out of service; back when it is.
	a.stopHost()
	p.waitScreen("out-of-service")
	p.waitTrue(`document.querySelector('#tech').dataset.service === 'out-of-service'`)
	a.startHost()
	p.waitScreen("welcome")

	// atmd stops: the page says out of service and keeps trying; atmd
	// starts again on the same address: the page is back by itself.
	a.stopDaemon()
	p.waitScreen("offline")
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-conn="lost"]`)))
	p.wantText("#title", "out of service")
	p.wantText("#conn", "Reconnecting")
	a.startDaemon()
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-conn="open"]`)))
	p.waitScreen("welcome")
	p.waitTrue(`document.querySelector('#tech').dataset.service === 'in-service'`)
	if id := run(p, chromedp.Evaluate[string](`window.atmd.loadId`)); id != loadID {
		t.Fatal("the page was reloaded")
	}
}

// TestBrowserActivation: David activates his new card by clicking alone
// — the card into the slot, the banking app in the phone pane (log in,
// choose Card activation), Activate a new card (F4), the phone scans the
// QR code on the screen, the default PIN arrives in the app's inbox and
// is keyed on the PIN pad, then a new PIN twice. The QR code on the page
// decodes with zbar to exactly the session's payload, which never
// reaches the screen's page as text.
func TestBrowserActivation(t *testing.T) {
	a := startSimATM(t)
	p := openPage(t, a.URL(), panelW, panelH)
	p.phone()
	p.waitScreen("welcome")
	p.waitTrue(`document.querySelector('#card-slot').dataset.accepting === 'true'`)

	// A new card carries no PIN: the default PIN comes to the phone.
	if note := p.text(`.card[data-card="david-new"]`); strings.Contains(note, "PIN") {
		t.Fatalf("the new card shows %q", note)
	}
	p.click(`.card[data-card="david-new"]`)
	p.waitScreen("enter-pin")
	p.wantText(`#menu .item[data-key="F4"]`, "Activate a new card")

	// On the phone: open the bank's app, log in, choose Card activation.
	p.phoneClick("#open-bank")
	p.phoneClick(`.pick[data-user="david"]`)
	p.phoneClick("#tile-activate")
	p.phoneClick(`.cardbox[data-last4="4054"] button.primary`)
	p.phoneWait("#scan-qr")

	// At the ATM: Activate a new card, on the key beside it.
	p.click(`.fdk[data-key="F4"]`)
	p.waitScreen("activate-qr")
	p.do(chromedp.WaitVisible(chromedp.CSS(`#qr[src^="data:image/png"]`)))
	payload := a.screen().QR
	if !strings.HasPrefix(payload, "atmd://activate?c=") {
		t.Fatalf("the activation screen's QR payload is %d characters, not a challenge", len(payload))
	}
	// The QR code as the screen shows it, and the image the page got,
	// read by zbar: exactly the session's payload.
	if got := zbar(t, p.grab("#qr-box")); got != payload {
		t.Fatalf("zbarimg read %q from the screen, want the session's payload", got)
	}
	src := run(p, chromedp.AttributeValue(chromedp.CSS("#qr"), "src"))
	if got := zbar(t, dataURLPNG(t, src.Value)); got != payload {
		t.Fatalf("zbarimg read %q from the page's image, want the session's payload", got)
	}
	// Big, crisp, labelled: shown at its natural size, with alt text.
	p.crispQR(300)
	p.noSecrets(payload, strings.TrimPrefix(payload, "atmd://activate?c="))
	p.shot("panel-activate-qr")
	// In a laptop's window the panel is zoomed out to fit; the code stays
	// crisp (whole device pixels per module) and readable.
	p.do(chromedp.EmulateViewport(1366, 768))
	p.waitTrue(`document.querySelector('.atm').style.zoom === '0.6'`)
	p.crispQR(120)
	if got := zbar(t, p.grab("#qr-box")); got != payload {
		t.Fatalf("zbarimg read %q from the zoomed-out screen, want the session's payload", got)
	}
	p.do(chromedp.EmulateViewport(panelW, panelH))
	p.waitTrue(`document.querySelector('.atm').style.zoom === '1'`)

	// The phone scans the code on the screen; the ATM asks the host
	// every 2 s and moves on when the app has submitted it.
	p.phoneClick("#scan-qr")
	p.phoneClick("#scan-now")
	p.phoneWait(`#scan-done[data-purpose="activate"]`)
	p.waitScreen("activate-default-pin")
	p.wantText("#lines", "banking app")

	// The default PIN arrives in the app's inbox, live.
	p.phoneClick("#open-inbox")
	pin := p.phoneText(`.message[data-kind="default-pin"] .secret`)
	if !regexp.MustCompile(`^[0-9]{4,12}$`).MatchString(pin) {
		t.Fatalf("the phone shows %q as the default PIN", pin)
	}
	p.wantText("#entry-label", "PIN")
	p.shot("panel-activate-default-pin")
	p.pinpad(pin)

	// A new PIN, twice.
	p.waitScreen("activate-new-pin")
	p.pinpad("7896")
	p.waitScreen("activate-new-pin-again")
	p.pinpad("7896")
	p.waitScreen("activate-done")
	p.wantText("#title", "Your card is active")
	p.noSecrets(pin, "7896")
	p.shot("panel-activate-done")
	if st, err := a.h.CardStatus(timeout(t, step), "david-new"); err != nil || st != seed.StatusActive {
		t.Fatalf("david-new is %q (%v), want active", st, err)
	}

	// Finish: the card comes back.
	p.click(`#menu .item[data-id="finish"]`)
	p.waitScreen("take-card")
	p.click("#take-card")
	p.waitScreen("goodbye")
}

// TestBrowserActivationChinese: the activation screens in Traditional
// Chinese. David's app is not ready when he chooses activation, so the
// ATM tells him what to do; he does it on the phone and tries again, and
// gets the QR code — then cancels. Frank has no banking app: he keys his
// mobile number and birth date, and the codes come by SMS, read in the
// phone's Messages app.
func TestBrowserActivationChinese(t *testing.T) {
	a := startSimATM(t)
	p := openPage(t, a.URL(), panelW, panelH)
	p.phone()
	chinese := func() {
		p.waitScreen("welcome")
		p.click(`#menu .item[data-id="lang"]`)
		p.do(chromedp.WaitVisible(chromedp.CSS(`#screen[data-screen="welcome"][lang="zh-TW"]`)))
		p.waitTrue(`document.querySelector('#card-slot').dataset.accepting === 'true'`)
	}
	chinese()
	p.click(`.card[data-card="david-new"]`)
	p.waitScreen("enter-pin")
	p.wantText(`#menu .item[data-key="F4"]`, "新卡開卡")
	p.click(`.fdk[data-key="F4"]`)
	p.waitScreen("activate-app-login")
	p.wantText("#title", "行動銀行")
	p.wantText("#menu", "重試")

	p.phoneClick("#open-bank")
	p.phoneClick(`.pick[data-user="david"]`)
	p.phoneClick("#tile-activate")
	p.phoneClick(`.cardbox[data-last4="4054"] button.primary`)
	p.phoneWait("#scan-qr")
	p.click(`#menu .item[data-id="retry"]`)
	p.waitScreen("activate-qr")
	p.wantText("#qr-caption", "行動銀行")
	p.crispQR(300)
	p.shot("panel-activate-qr-zh-TW")
	p.click(`#menu .item[data-id="cancel"]`)
	p.waitTrue(`document.querySelector('#card-slot').dataset.card === 'presented'`)
	p.click("#take-card")

	chinese()
	p.click(`.card[data-card="frank-new"]`)
	p.waitScreen("enter-pin")
	p.wantText(`#menu .item[data-key="F4"]`, "新卡開卡")
	p.click(`.fdk[data-key="F4"]`)

	p.waitScreen("activate-mobile")
	p.wantText("#title", "卡片開卡")
	p.pinpad("0966000606")
	p.waitScreen("activate-birth")
	p.pinpad("19900517")

	// The code comes by SMS: the phone's Messages app, Frank's number.
	p.waitScreen("activate-code")
	p.phoneClick("#home-button")
	p.phoneClick("#open-sms")
	p.phoneClick(`.pick[data-phone="+886966000606"]`)
	code := p.phoneText(`#sms-list .message[data-kind="code"] .secret`)
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Fatalf("the phone shows %q as the code", code)
	}
	p.shot("panel-activate-sms-zh-TW")
	p.pinpad(code)

	p.waitScreen("activate-default-pin")
	pin := p.phoneText(`#sms-list .message[data-kind="default-pin"] .secret`)
	p.pinpad(pin)
	p.waitScreen("activate-new-pin")
	p.pinpad("6798")
	p.waitScreen("activate-new-pin-again")
	p.pinpad("6798")
	p.waitScreen("activate-done")
	p.wantText("#title", "開卡完成")
	p.noSecrets(code, pin, "6798")
	if st, err := a.h.CardStatus(timeout(t, step), "frank-new"); err != nil || st != seed.StatusActive {
		t.Fatalf("frank-new is %q (%v), want active", st, err)
	}
}

// TestBrowserPhoneBinding: Bob's phone is not bound to his account, so
// the app says the ATM cannot use its QR code. He binds it in the app
// (his number is the one the bank has on file), chooses activation, and
// the ATM shows him the QR code.
func TestBrowserPhoneBinding(t *testing.T) {
	a := startSimATM(t)
	p := openPage(t, a.URL(), panelW, panelH)
	p.phone()
	p.waitScreen("welcome")

	p.phoneClick("#open-bank")
	p.phoneClick(`.pick[data-user="bob"]`)
	p.phoneClick("#tile-activate")
	p.phoneWait(`.cardbox[data-last4="2058"] .warn`)
	p.phoneClick(`.cardbox[data-last4="2058"] .warn button`)
	p.phoneWait(`#bind-phone`)
	if v := run(p, chromedp.Value(chromedp.CSS("#bind-phone"), chromedp.FromNode(p.frame))); v != "+886922000202" {
		t.Fatalf("the bind form offers %q as Bob's number", v)
	}
	p.phoneClick("#bind-submit")
	p.phoneWait(`#msg[data-ok="true"]`)
	if s := p.phoneText(".bindings"); !strings.Contains(s, "bob-twd") {
		t.Fatalf("bindings: %q", s)
	}
	p.phoneClick(".appbar .back")
	p.phoneWait(`.cardbox[data-last4="2058"] button.primary`)
	if n := len(run(p, chromedp.Nodes(chromedp.CSS(`.cardbox[data-last4="2058"] .warn`), chromedp.FromNode(p.frame), chromedp.AtLeast(0)))); n != 0 {
		t.Fatal("the app still says the phone is not bound")
	}
	p.phoneClick(`.cardbox[data-last4="2058"] button.primary`)
	p.phoneWait("#scan-qr")

	p.click(`.card[data-card="bob-new"]`)
	p.waitScreen("enter-pin")
	p.click(`.fdk[data-key="F4"]`)
	p.waitScreen("activate-qr")
}
