// Package phone simulates the customer's banking app on a phone, as a
// Go client of the reference host's mobile-banking API
// (sim/host/mobile, docs/mobile-api.md). Scenario verbs and the
// `atmd phone` command drive it.
//
// A Phone logs in (Login), may bind itself to an account (Bind), tells
// the bank the customer chose card activation (ActivationIntent),
// submits a scanned QR payload (Scan), lists its push inbox (Inbox),
// waits for a push (WaitPush, over server-sent events) or an SMS
// (WaitSMS, through the simulator-only SMS endpoint; an SMS reaches the
// phone whether or not its owner uses the app) and reads the latest
// code it was sent (LatestCode, LatestSMSCode).
//
// Every call takes a context and does no retry on its own. API errors
// come back as *APIError (status, code and message of the JSON error
// body) wrapping ErrAPI. The phone never logs; the caller decides what
// to print — a code or default PIN is meant to be shown, it is what a
// phone is for.
//
// The same app as a web page, for people rather than scripts, is
// sim/phone/webapp: the phone pane of atmd's virtual front panel.
package phone
