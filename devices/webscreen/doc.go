// Package webscreen is the customer screen as a local web page: a
// display.Display driver that serves the screen over HTTP to a browser —
// Chromium in kiosk mode on the ATM (docs/kiosk.md), any browser in
// simulation — and takes touches on menu items back. With a Panel it also
// serves the virtual front panel around the screen (function keys, card
// slot with the demo cards, PIN pad, cash tray, receipt slot, NFC tap
// target, phone pane, technician panel), so a person can use the
// simulated ATM by clicking.
//
// It lives under devices/ because it is a driver like any other: it
// turns hal/display's Screen into bytes for a device (a browser) and
// reports that device's status.
//
// # Page and protocol
//
// Everything the browser loads is embedded in the binary (assets/: one
// HTML page, its CSS and two scripts; no build step, no third-party
// code). The page keeps one server-sent-events stream open on /events:
//
//   - "hello" first: the server instance (it changes when atmd
//     restarts), whether the panel is on, the demo cards and the fault
//     codes the panel offers;
//   - "screen" with the current screen at once, then on every Show: the
//     Screen's fields, its sequence number, the entry field's text ready
//     to show, and the QR code as a PNG data URL in place of its payload;
//   - "panel" with PanelState whenever it changes (polled every
//     Options.PanelPoll while a page is connected).
//
// The stream ends when Serve stops. The page then shows an out-of-service
// screen after 1.5 s and reconnects with backoff (0.5 s doubling to 5 s);
// the first event of the new stream is the current screen, so the page
// survives an atmd restart without a reload. The page posts JSON back:
// /api/touch {"key":"F1","seq":N} for a touch on a menu item, and
// /api/panel/{action} for the panel's buttons (insert, take-card, press,
// take-cash, tap, scan, inject, clear, supervisor).
//
// # Rules
//
// A touch is taken only for a key bound to a menu item of the screen
// shown, and only when seq names that screen (ErrNotBound, ErrStale): a
// touch meant for a screen already replaced never reaches the flows.
// Without the panel the page takes no digits at all — on an ATM the PIN
// is keyed only on the encrypting PIN pad — and a Secret entry field
// travels as a count of digits, drawn as dots.
//
// Security: the server binds loopback by default (DefaultAddr). It
// answers only requests whose Host is loopback or its own address (no DNS
// rebinding), takes POSTs only as application/json from its own origin
// (no cross-site posts from another page in the kiosk browser), and sends
// a Content-Security-Policy that allows only its own scripts. The panel
// is served only when Options.Panel is set. Screens carry no card data
// beyond what the flows already mask; the QR payload appears only inside
// the image (and in the answer to the panel's scan action, for the phone
// pane); log lines never carry a key pressed on the panel nor a payload.
//
// QR codes are drawn on the server with skip2/go-qrcode: error correction
// High (Medium when that would be denser than 65 modules), the standard
// quiet zone, a whole number of pixels per module. The page sizes the
// image to a whole number of device pixels per module, as large as its
// natural size and the room allow, so it stays crisp when the panel is
// zoomed to fit a window or the display has another pixel ratio. A long
// text beside a QR code or a menu is shrunk in steps until it fits its
// room (title, lines and entry field, never under 28 px for the lines);
// the text's data-overflow attribute says if it still does not, and the
// browser tests fail on it.
//
// # Modes
//
// Hardware: the Dev is the ATM's display; the runner calls Show and
// reads Touches. Simulation: the simulator (devsim.Display) stays the
// display the runner and the scenarios use, and Options.Mirror makes the
// page follow it and send touches to it. Options.Panel adds the front
// panel; Options.Phone puts the banking-app simulator's page in the
// phone pane. The page's scripts share window.atmd: on('screen'|'panel'|
// 'hello'|'conn', fn), post(path, body), press(key), touch(key),
// setZoom(z), and phone.send(msg) to the phone pane.
//
// # The phone pane
//
// The phone is a page of its own, the banking-app simulator
// (sim/phone/webapp), served by the bank — the reference host's mobile
// API, under /app/ — and framed here from that origin: it talks to the
// bank's API same-origin, and this server never carries the bank's
// traffic. The daemon (atm) points Options.Phone at the in-process
// host's page unless the config names one. The phone's camera and NFC
// antenna are the panel's, through window.postMessage between the two
// pages (the messages are listed in sim/phone/webapp's doc):
//
//   - scan: the phone asks for the QR code on the screen; the panel
//     posts the "scan" action, which answers the payload of the screen
//     shown now — the one place a payload leaves this server, and only
//     with the panel (simulation) — and hands it to the phone frame's
//     origin only. The screen's page never holds it as text.
//   - tap: what the phone read from the NFC tag goes to the phone too.
//
// The panel takes messages only from the phone frame and its origin.
package webscreen
