package mac_test

import (
	"encoding/hex"
	"fmt"

	"github.com/atmd/atmd/internal/mac"
)

// The ANSI X9.19 example: K1‖K2 and "Now is the time for all ".
func ExampleRetailMAC() {
	key, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")
	m, err := mac.RetailMAC(key, []byte("Now is the time for all "))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%X\n", m)
	// Output: A1C72E74EA3FA9B6
}

// RFC 4493, example 2.
func ExampleCMAC() {
	key, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	msg, _ := hex.DecodeString("6bc1bee22e409f96e93d7e117393172a")
	t, err := mac.CMAC(key, msg)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", t)
	// Output: 070a16b46b4d4144f79bdd9dd04a287c
}
