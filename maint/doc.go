// Package maint is supervisor mode: the maintenance menu a field
// technician uses at the ATM (DESIGN.md §6), and the local maintenance
// command's side of it.
//
// It stands at the top level, beside flows rather than inside atm,
// because it is a concern of its own with its own users and rules: the
// customer journeys (flows) never see it, the terminal (atm) only hands
// it the devices and the runner and plugs it into the control socket,
// and the same menu runs on two consoles — the panel (PIN pad, customer
// screen, operator display) and `atmd maint` over the control socket.
//
// # The menu
//
// Menu is a state machine without I/O, after flows and etcd's raft: the
// caller feeds it events (Key, Tick, Ready, Done, Quit) and gets back
// effects to carry out in order (Show, Journal, Do, Supervise, End).
// Time comes only with Tick, so a test drives it with a fake clock. It
// asks for the technician's id and PIN (Auth: PBKDF2 hashes, a lockout
// after MaxTries wrong PINs in a row, shared by every console), logs the
// technician out after Config.Timeout without a key, and offers: device
// status and faults with the catalogue's cause and remedy (package
// health); device tests (card read with the PAN masked, PIN pad keys and
// check values, test dispense, test print, NFC tag, displays, sensors
// and camera); cash management (cassette and day totals, trial and
// clear, replenishment, reconciliation with the host); the journal
// (search and export); the host connection test; in or out of service;
// and loading the terminal master key under dual control.
//
// Rules the menu keeps:
//
//   - Every action is journaled with the technician's id (field tech)
//     and the console, before the device or host is asked when it moves
//     cash or keys (…-INTENT), and with its outcome after. The kinds
//     start with MAINT-; docs/maintenance.md lists them.
//   - Nothing in the menu puts cash in the customer's tray: the only op
//     that picks notes is the test dispense, which goes through the
//     dispenser's Tester (straight into the reject bin, no shutter).
//   - No clear card data and no key is ever shown or journaled: a PAN is
//     masked, a key component is echoed as '*', only check values
//     appear. Components are wiped once loaded or abandoned.
//   - The technician's PIN is keyed in the PIN pad's clear entry (it is
//     no cardholder PIN), hashed at once and compared in constant time.
//
// # Supervisor mode
//
// Supervisor carries the menus' effects out. It watches the supervisor
// switch (sensors), tells the flows what the technicians want (Terminal
// Operate: supervisor mode while the switch is on or a local technician
// is logged in; out of service on exit if chosen), and opens the panel's
// menu only once the flows report supervisor mode (Supervising): the
// customer's session, card and cash, ends first. It reads the panel's
// keys with pinpad.ReadKey (at most 16 keys per screen, as an EPP takes)
// and gives the PIN pad back before the flows take it again. Local
// sessions (Handle: open, keys, screen, close) are the same Menu with
// the keys typed on a terminal; non-interactive requests (status, faults,
// counters; journal and run with the technician's credentials) serve
// scripts.
package maint
