package pcsc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/atmd/atmd/devices/pcsc"
	"github.com/atmd/atmd/hal/cardreader"
)

// Open a reader, read a card, ask it for an ARQC and give it back.
func Example() {
	ctx := context.Background()
	opts := pcsc.DefaultOptions
	opts.Reader = "Virtual PCD" // a prefix of the reader's name
	d, err := pcsc.Open(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()

	waitCard, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	card, err := d.Accept(waitCard)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(card) // PAN masked
	f55, err := d.GenerateAC(ctx, cardreader.TxnData{
		Amount: 300000, CurrencyCode: "901", CountryCode: "158", Date: "250918", Type: 0x01,
		Unpredictable: [4]byte{0xA1, 0xB2, 0xC3, 0xD4},
	})
	if err == nil {
		fmt.Printf("field 55: %X\n", f55)
	}
	_ = d.Eject(ctx)
	_ = d.WaitTaken(ctx)
}
