// Package webapp is the banking-app simulator as a web page: the phone
// the customer holds, shown in the phone pane of atmd's virtual front
// panel (devices/webscreen) so that every phone step of a journey can be
// done by clicking. It plays the same app as sim/phone (the Go client the
// scenarios and `atmd phone` use), against the same mobile-banking API
// (sim/host/mobile, docs/mobile-api.md).
//
// # Where it is served, and why
//
// The reference host's mobile API serves the page under /app/
// (mobile.WithApp; the host does it when mobile.simulator is on), so
// every call the page makes to /v1/... is same-origin: no CORS, no
// proxy, and the API's strict rules hold unchanged (JSON bodies, size
// limits, bearer tokens — never cookies, so another site cannot ride on
// a session). The ATM does not carry the bank's traffic: atmd's web
// server only frames the page (Options.Phone of devices/webscreen). That
// is the real split too: the app talks to the bank, never to the ATM.
//
// The page is three embedded files (assets/: HTML, CSS, one script; no
// build step, no third-party code) and demo.json, the seed's demo app
// logins and phone numbers offered as quick picks (simulation only).
// Every answer carries a Content-Security-Policy allowing only the
// page's own script, style and same-origin connections, and being framed
// only by a loopback page (frame-ancestors: the virtual front panel).
//
// # The phone
//
// A home screen with two apps: the bank's app (log in, bind the phone to
// an account, choose Card activation for a card awaiting it, scan the
// QR code on the ATM's screen, the push inbox live over the API's
// server-sent events) and Messages (the SMS a phone number received,
// through the simulator-only /v1/sim/sms, long-polled). The session
// token lives in the tab's sessionStorage and goes only into the
// Authorization header; the event stream is read with fetch, since an
// EventSource cannot send that header.
//
// Screens are a table in app.js (screens: name → render function) and
// the bank app's home lists tiles (tiles): a later journey — a delegate
// code, a cardless withdrawal opened by an NFC tap — is one more screen
// and one more tile.
//
// # Talking to the ATM's panel
//
// The camera and the NFC antenna of a simulated phone are the panel's:
// the page and the panel exchange window.postMessage messages, each an
// object {atmd: "phone"|"atm", op, ...}:
//
//   - phone → panel {atmd: "phone", op: "hello"}: the app is up; the
//     panel answers {atmd: "atm", op: "hello"}, and from then on the app
//     offers scanning.
//   - phone → panel {atmd: "phone", op: "scan", id}: the camera points
//     at the ATM's screen. The panel asks atmd (POST /api/panel/scan) and
//     answers {atmd: "atm", op: "scan", id, payload} or {..., error}.
//   - panel → phone {atmd: "atm", op: "tap", uri}: the phone touched the
//     ATM's NFC tag and read uri (the app shows it; the tap-to-withdraw
//     journey will open a screen for it).
//
// The panel posts only to the phone frame's origin and takes messages
// only from that frame; the page takes messages only from its parent.
// A payload travels from the panel's script to the phone's, never
// through the ATM screen's DOM.
package webapp
