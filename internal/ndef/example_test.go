package ndef_test

import (
	"fmt"

	"github.com/atmd/atmd/internal/ndef"
)

// The message a cardless-withdrawal session publishes on the NFC tag: a
// URI carrying the session, then an Android Application Record.
func ExampleMessage_Encode() {
	msg := ndef.Message{
		ndef.URIRecord("https://atm.example/s/1"),
		ndef.AARRecord("com.bank.atm"),
	}
	b, err := msg.Encode()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", b[:5])
	fmt.Println(len(b), "bytes")

	back, err := ndef.Parse(b)
	if err != nil {
		panic(err)
	}
	uri, _ := back[0].URI()
	pkg, _ := back[1].AndroidPackage()
	fmt.Println(uri, pkg)
	// Output:
	// 91 01 10 55 04
	// 50 bytes
	// https://atm.example/s/1 com.bank.atm
}
