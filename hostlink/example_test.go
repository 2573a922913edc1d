package hostlink_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/internal/mac"
)

func ExampleDescribe() {
	m := &hostlink.Message{
		MTI: hostlink.MTIFinRequest, ProcCode: hostlink.ProcWithdrawal, STAN: "000042",
		PAN: "4761739001010119", Amount: 300000, Currency: "901",
		Track2: "4761739001010119D2812201", PINBlock: []byte{1, 2, 3, 4, 5, 6, 7, 8},
	}
	fmt.Println(hostlink.Describe(m))
	// Output: 0200 proc=010000 stan=000042 pan=476173******0119 amount=300000 cur=901 track2=len24 pin=***
}

func ExampleTLV() {
	var t hostlink.TLV
	t.Set(hostlink.TagNonce, "0A1B2C3D")
	field48, err := t.Encode()
	if err != nil {
		panic(err)
	}
	fmt.Println(field48)

	back, err := hostlink.ParseTLV(field48)
	if err != nil {
		panic(err)
	}
	nonce, _ := back.Get(hostlink.TagNonce)
	fmt.Println(nonce)
	// Output:
	// NC0080A1B2C3D
	// 0A1B2C3D
}

func ExampleParseAmounts() {
	bs, err := hostlink.ParseAmounts("2001901C000001234550" + "2002901D000000002500")
	if err != nil {
		panic(err)
	}
	for _, b := range bs {
		fmt.Println(b.AmountType, b.Currency, b.Amount)
	}
	// Output:
	// 01 901 1234550
	// 02 901 -2500
}

// A withdrawal whose outcome is unknown is reversed.
func ExampleClient() {
	c := hostlink.NewClient(hostlink.Config{Addr: "host.example:5000", TerminalID: "ATM00001"})
	ctx := context.Background()
	go c.Run(ctx)

	req := &hostlink.Message{MTI: hostlink.MTIFinRequest, ProcCode: hostlink.ProcWithdrawal /* card fields ... */}
	resp, err := c.Send(ctx, req)
	switch {
	case errors.Is(err, hostlink.ErrTimeout), errors.Is(err, hostlink.ErrLinkLost):
		rev := &hostlink.Message{
			MTI: hostlink.MTIReversal, PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
			Currency: req.Currency, Original: hostlink.OriginalData(req),
		}
		_ = rev // journal it, then send it (and repeat as 0421) until a 0430 arrives
	case err != nil:
		// not sent: show "out of service" and try later
	case resp.RespCode == hostlink.RCApproved:
		// dispense
	}
}

// A MAC'd echo of field 128: the MAC covers everything before its own 16
// characters, and VerifyMAC checks it. On an ATM the MACer is the PIN
// pad; mac.Signer holds a key in memory, as the reference host does.
func ExamplePackMAC() {
	key, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210") // the X9.19 example key
	signer, err := mac.NewRetail(key)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	m := &hostlink.Message{MTI: hostlink.MTIFinRequest, STAN: "000001", Amount: 5000}
	b, err := hostlink.PackMAC(ctx, m, signer)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n%s\n", b[:len(b)-16], b[len(b)-16:])
	fmt.Println(hostlink.VerifyMAC(ctx, b, signer))

	b[len(b)-17] = '9' // STAN 000001 → 000009
	fmt.Println(errors.Is(hostlink.VerifyMAC(ctx, b, signer), hostlink.ErrBadMAC))
	// Output:
	// 020090200000000000000000000000000001000000005000000001
	// 7DC3E791480EF7EB
	// <nil>
	// true
}

// Mutual TLS and MACs on the ATM side.
func ExampleLoadClientTLS() {
	tlsCfg, err := hostlink.LoadClientTLS("/etc/atmd/bank-ca.pem", "/etc/atmd/atm.pem", "/etc/atmd/atm.key", "host.bank.example")
	if err != nil {
		panic(err) // a configuration error: atmd does not start
	}
	var epp hostlink.MACer // the PIN pad's MAC function
	c := hostlink.NewClient(hostlink.Config{
		Addr: "host.bank.example:5000", TerminalID: "ATM00001",
		TLS: tlsCfg, MAC: epp,
		OnReject: func(m *hostlink.Message, reason error) {
			// journal "response rejected" with hostlink.Describe(m) and reason
		},
	})
	go c.Run(context.Background())
}
