// Package failpoint kills the process at a named point, for the fault
// injection suite (docs/fault-injection.md): with ATMD_FAILPOINT=NAME in
// the environment, the first Hit(NAME) sends SIGKILL to the process
// itself — exactly what a power cut or `kill -9` does at that moment, but
// at a precise step of a withdrawal instead of a random one.
//
// With the variable unset, Hit is a cheap no-op; it reads the
// environment once.
package failpoint

import (
	"os"
	"sync"
	"syscall"
)

var (
	once  sync.Once
	armed string
)

// Names of the points atmd has.
const (
	BeforeSend       = "before-send"       // HOST-SEND journaled, request not yet given to the link
	RequestSent      = "request-sent"      // the 0200 is on the wire, no answer yet
	ApprovalReceived = "approval-received" // TXN-REPLY (approved) journaled, nothing dispensed
	MidDispense      = "mid-dispense"      // some notes picked, not all
	CashPresented    = "cash-presented"    // shutter open, notes in the tray
	CashTaken        = "cash-taken"        // CASH-TAKEN journaled
)

// Points lists every point, in the order of a withdrawal.
var Points = []string{BeforeSend, RequestSent, ApprovalReceived, MidDispense, CashPresented, CashTaken}

// Hit kills the process if name is the armed failpoint.
func Hit(name string) {
	once.Do(func() { armed = os.Getenv("ATMD_FAILPOINT") })
	if armed == "" || armed != name {
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; never return into the code after the point
}
