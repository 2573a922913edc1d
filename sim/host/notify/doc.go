// Package notify is the reference host's notifier: it sends messages to
// customers' phones over two channels, Push (to the banking app of an
// app user) and SMS (to a phone number).
//
// A Notifier records every message in its Outbox, an in-memory ring of
// the latest messages that tests, the phone simulator (through the
// mobile API) and the app's push inbox read, and then hands it to the
// Gateway of its channel, if one is set: a real deployment plugs its
// push service or SMS aggregator in behind the Gateway interface; the
// simulator needs none.
//
// Secrets: a message may carry a verification code or a card's default
// PIN — the one place a clear PIN leaves the host, because the
// cardholder's phone must show it. So the outbox is memory only (never
// the database, never a file), is bounded (old messages fall out), and
// nothing in this package logs or prints a message body: Message's
// String and Format show the channel, recipient and kind, and "***" for
// the text.
package notify
