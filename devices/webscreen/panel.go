package webscreen

import (
	"context"

	"github.com/atmd/atmd/hal"
)

// Panel is what the virtual front panel does to the simulated machine:
// exactly the actions its buttons offer and the state it draws. The daemon
// implements it over the simulators' control surfaces (atm.SimDevices);
// Options.Panel nil means no panel is served.
//
// Every method that acts takes the request's context, bounded by the
// server (a few seconds): a Press that no PIN pad entry takes, an Insert
// into a closed slot, end with the context's error rather than hang the
// page. Errors are shown to the person at the panel, so they carry no
// card data (the project's rule for every error).
type Panel interface {
	// Cards lists the demo cards that can be inserted.
	Cards() []CardInfo
	// Insert inserts the card with CardInfo.ID id into the card slot.
	Insert(ctx context.Context, id string) error
	// TakeCard takes the card the reader presents at the slot.
	TakeCard(ctx context.Context) error
	// Press presses one PIN pad key: "0".."9", "ENTER", "CANCEL",
	// "CLEAR", "BACKSPACE" or a function display key "F1".."F8".
	Press(ctx context.Context, key string) error
	// TakeCash takes the notes presented in the cash tray.
	TakeCash(ctx context.Context) error
	// Tap touches a phone to the NFC tag and returns what the phone read,
	// as text (the NDEF record's URI), for the phone pane.
	Tap(ctx context.Context) (string, error)
	// State returns what the panel draws. It is called often (polled
	// while a page is open) and must not block.
	State() PanelState
	// Faults lists, per device, the fault codes that can be injected.
	Faults() []FaultSet
	// Inject puts device into fault code.
	Inject(ctx context.Context, device, code string) error
	// Clear removes the faults injected into device.
	Clear(ctx context.Context, device string) error
	// Supervisor turns the supervisor (maintenance) switch on or off.
	Supervisor(ctx context.Context, on bool) error
}

// CardInfo is a demo card the panel offers to insert. Nothing in it may
// be real card data: Label shows a masked PAN.
type CardInfo struct {
	ID     string `json:"id"`               // seed card id, e.g. "alice-debit"
	Label  string `json:"label"`            // masked, e.g. "Debit •••• 1019"
	Holder string `json:"holder,omitempty"` // name embossed on the card
	// Note is a demo hint shown under the card, e.g. "PIN 7968" or
	// "expired" — the seed's published demo data, simulation only.
	Note string `json:"note,omitempty"`
}

// PanelState is what the virtual front panel shows about the machine.
type PanelState struct {
	// Service is the ATM's service state: "in-service", "out-of-service",
	// "supervisor", ...
	Service string `json:"service"`
	// Supervisor is the position of the supervisor switch.
	Supervisor bool `json:"supervisor"`
	// Card is where the card is: "empty", "inside" or "presented".
	Card string `json:"card"`
	// Accepting: the ATM waits for a card (the slot's light blinks).
	// Cards can be inserted whenever Card is "empty"; an Insert the
	// reader does not take ends with its context.
	Accepting bool `json:"accepting,omitempty"`
	// Entry is the PIN pad entry in progress ("" none, "pin", "pin:F4,F5"
	// for a PIN entry that those function keys end too, "data",
	// "keys:F1,F2,..."), so the panel can light the keys that work.
	Entry string `json:"entry,omitempty"`
	// Cash is what lies in the cash tray now.
	Cash []NoteCount `json:"cash,omitempty"`
	// Receipts counts the receipts printed so far; Receipt is the last
	// one's text.
	Receipts int      `json:"receipts"`
	Receipt  []string `json:"receipt,omitempty"`
	// Devices are the devices' statuses, in display order.
	Devices []DeviceState `json:"devices,omitempty"`
}

// NoteCount is a stack of notes of one kind in the cash tray.
type NoteCount struct {
	Label string `json:"label"` // the denomination, formatted: "NT$1,000"
	Count int    `json:"count"`
}

// DeviceState is one device's status on the technician panel.
type DeviceState struct {
	Name   string     `json:"name"`
	Status hal.Status `json:"status"`
}

// FaultSet is the fault codes a device can be given.
type FaultSet struct {
	Device string   `json:"device"`
	Codes  []string `json:"codes"`
}
