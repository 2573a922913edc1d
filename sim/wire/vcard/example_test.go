package vcard_test

import (
	"context"
	"fmt"
	"net"

	"github.com/atmd/atmd/sim/wire/vcard"
)

// The card answers vpcd's frames on any stream: here a pipe, playing
// vpcd asking for the ATR and selecting the payment system environment.
func ExampleCard_Serve() {
	c, err := vcard.New(vcard.Profile{PAN: "4761730000001019", PANSeq: 1, Expiry: "2912", Name: "LIN YA TING"}, vcard.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	card, vpcd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Serve(ctx, card) }()

	for _, p := range [][]byte{
		{vcard.CtrlGetATR},
		{0x00, 0xA4, 0x04, 0x00, 0x0E, '1', 'P', 'A', 'Y', '.', 'S', 'Y', 'S', '.', 'D', 'D', 'F', '0', '1', 0x00},
	} {
		frame, _ := vcard.AppendFrame(nil, p)
		vpcd.Write(frame)
		answer, _ := vcard.ReadFrame(vpcd)
		fmt.Printf("% X\n", answer)
	}
	// Output:
	// 3B 65 00 00 41 54 4D 44 31
	// 6F 1C 84 0E 31 50 41 59 2E 53 59 53 2E 44 44 46 30 31 A5 0A 88 01 01 5F 2D 04 7A 68 65 6E 90 00
}
