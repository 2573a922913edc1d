package devsim_test

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/sim/devsim"
)

// A scripted customer: insert a card, key a PIN, take the card back. The
// control calls wait for the device to be ready, so no sleeps are needed.
func ExamplePinPad() {
	ctx := context.Background()
	key, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")
	reader := devsim.NewCardReader(devsim.DefaultCardReaderOptions)
	pad := devsim.NewPinPad(devsim.PinPadOptions{Keys: map[string][]byte{"tpk": key}})

	go func() { // the customer
		_ = reader.Insert(ctx, cardreader.Card{PAN: "4761739001010119", Expiry: "2712", Technology: cardreader.Chip})
		_ = pad.Press(ctx, "1", "2", "3", "4", pinpad.KeyEnter)
		_ = reader.Take(ctx)
	}()

	card, _ := reader.Accept(ctx)
	fmt.Println("read", card)
	block, _ := pad.GetPIN(ctx, pinpad.PINRequest{PAN: card.PAN, MinLen: 4, MaxLen: 12, Format: pinpad.ISO0, Key: "tpk"}, nil)
	fmt.Println("PIN block of", len(block.Block), "bytes under", block.Key)
	pin, _ := pinblock.DecryptFormat0(key, block.Block, []byte(card.PAN)) // what the host's HSM does
	fmt.Println("host verifies:", string(pin) == "1234")
	_ = reader.Eject(ctx)
	_ = reader.WaitTaken(ctx)
	fmt.Println("card", reader.State())
	// Output:
	// read chip card 476173******0119 exp 2712
	// PIN block of 8 bytes under tpk
	// host verifies: true
	// card empty
}
