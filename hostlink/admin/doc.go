// Package admin holds the two administrative messages an ATM sends its
// host besides sign-on, key exchange and echo: the status report (what
// the ATM serves and which faults are active) and the totals for
// reconciliation. Both are 0800/0810 network management messages whose
// data travel in field 48. The package has no I/O and no state, so the
// ATM (package atm, the maintenance menu) and the reference host
// (sim/host) share one implementation of the document below.
//
// Network management messages are not MAC'd (docs/hostlink.md §10): a
// status report or a totals comparison is information for the bank's
// operations, never an authorisation.
//
// # Status report (field 70 = 360)
//
// The ATM sends it after every sign-on and whenever its service or its
// active faults change. Field 48:
//
//	SV  service: "I" in service, "O" out of service, "S" supervisor mode
//	DS  active faults, health.Report's text (empty: no fault)
//
// The host answers 00 (30 for a malformed field 48) and keeps the last
// report of each terminal.
//
// # Totals (field 70 = 370)
//
// Sent from the maintenance menu's reconciliation (and by `atmd maint
// reconcile`): what the ATM handed out since the start of its totals
// period. Field 49 is the currency; field 48:
//
//	TP  period start, UTC, YYYYMMDDhhmmss
//	TN  withdrawals that handed out cash in the period (decimal)
//	TA  cash handed out to customers, minor units (decimal): notes
//	    dispensed for approved withdrawals, less what was retracted
//	    and reversed
//
// The host answers with its own count and amount for the terminal and
// currency, approved withdrawals answered since TP less what reversals
// credited back:
//
//	HN  withdrawals approved (decimal)
//	HA  approved less reversed, minor units (decimal)
//
// and response code 00 when TA equals HA, 95 (reconcile error) when it
// does not. A reversal still on its way (in the ATM's store-and-forward
// queue) makes the host count more than the ATM until it arrives.
package admin
