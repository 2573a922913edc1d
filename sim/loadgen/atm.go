package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/pinblock"
)

// Errors of a simulated ATM's withdrawal. Each wraps the cause.
var (
	// ErrKeyExchange: the host refused the key exchange, or its keys did
	// not match their check values.
	ErrKeyExchange = errors.New("loadgen: key exchange failed")
	// ErrBadToken: an approval without a dispense token that verifies;
	// the ATM dispensed nothing and reversed it.
	ErrBadToken = errors.New("loadgen: approval without a valid dispense token")
	// ErrReversal: a reversal was not acknowledged within
	// ReversalPatience.
	ErrReversal = errors.New("loadgen: reversal not acknowledged")
)

// Defaults of ATMConfig.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultReversalPatience = 30 * time.Second
)

// ATMConfig configures one simulated ATM.
type ATMConfig struct {
	Addr     string              // host address, loopback only
	Terminal Terminal            // its id and TMK
	STAN     hostlink.STANSource // numbers its requests; Fleet.STAN keeps them unique across runs
	// Timeout is the response timeout: no answer by then is an unknown
	// outcome, reversed. DefaultTimeout when zero.
	Timeout time.Duration
	// ReversalPatience bounds how long a reversal is repeated;
	// DefaultReversalPatience when zero.
	ReversalPatience time.Duration
	Log              zerolog.Logger
}

// ATM is one simulated terminal: a hostlink.Client signed on with
// working keys, and the PIN pad and dispenser that use them.
type ATM struct {
	cfg    ATMConfig
	client *hostlink.Client
	macer  *swapMAC
	cancel context.CancelFunc
	done   chan error
	cur    currency.Currency

	tpk, tdk []byte // the simulated PIN pad's PIN key, the dispenser's token key
}

// Outcome is what became of one withdrawal.
type Outcome struct {
	// Latency is the time from handing the 0200 to the link to its
	// response (or to the error).
	Latency time.Duration
	// RespCode is field 39 of the response, "" when none came.
	RespCode string
	// Dispensed: approved with a dispense token that verifies, so the
	// dispenser would have paid Amount out.
	Dispensed bool
	Amount    int64 // minor units
	// Reversed: a reversal was sent and acknowledged.
	Reversed bool
}

// Connect dials the host, waits until the link is signed on and
// exchanges keys. The ATM runs until Close or until ctx ends.
func Connect(ctx context.Context, cfg ATMConfig) (*ATM, error) {
	if err := CheckLoopback(cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ReversalPatience <= 0 {
		cfg.ReversalPatience = DefaultReversalPatience
	}
	cur, err := currency.ByAlpha(Currency)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	a := &ATM{cfg: cfg, macer: &swapMAC{}, done: make(chan error, 1), cur: cur}
	a.client = hostlink.NewClient(hostlink.Config{
		Addr: cfg.Addr, TerminalID: cfg.Terminal.ID, AcceptorID: "LOADGEN",
		Timeout: cfg.Timeout, EchoInterval: time.Hour, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		MAC: a.macer, STAN: cfg.STAN, Log: cfg.Log,
	})
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	go func() { a.done <- a.client.Run(rctx) }()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := a.waitUp(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.exchangeKeys(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close signs off and closes the connection.
func (a *ATM) Close() error {
	a.cancel()
	err := <-a.done
	pinblock.Wipe(a.tpk)
	pinblock.Wipe(a.tdk)
	return err
}

// waitUp waits until the link is signed on.
func (a *ATM) waitUp(ctx context.Context) error {
	for !a.client.Up() {
		select {
		case <-a.client.Events():
		case err := <-a.done:
			a.done <- err
			return fmt.Errorf("loadgen: %s: link stopped: %w", a.cfg.Terminal.ID, err)
		case <-ctx.Done():
			return fmt.Errorf("loadgen: %s: not signed on: %w", a.cfg.Terminal.ID, ctx.Err())
		}
	}
	return nil
}

// exchangeKeys asks for working keys (0800/101) and loads them after
// checking their check values.
func (a *ATM) exchangeKeys(ctx context.Context) error {
	kcv, err := keyexchange.TDESCheck(a.cfg.Terminal.TMK)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyExchange, err)
	}
	f48, err := keyexchange.Request{TMKCheck: kcv}.Encode()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyExchange, err)
	}
	resp, err := a.client.Send(ctx, &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: keyexchange.NetCode, Private: f48})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrKeyExchange, a.cfg.Terminal.ID, err)
	}
	if resp.RespCode != hostlink.RCApproved {
		return fmt.Errorf("%w: %s: response code %s", ErrKeyExchange, a.cfg.Terminal.ID, resp.RespCode)
	}
	r, err := keyexchange.ParseResponse(resp.Private)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrKeyExchange, a.cfg.Terminal.ID, err)
	}
	k, err := keyexchange.Unwrap(a.cfg.Terminal.TMK, r)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrKeyExchange, a.cfg.Terminal.ID, err)
	}
	s, err := mac.NewRetail(k.TAK)
	if err != nil {
		k.Wipe()
		return fmt.Errorf("%w: %s: %w", ErrKeyExchange, a.cfg.Terminal.ID, err)
	}
	a.macer.s.Store(s)
	pinblock.Wipe(k.TAK)
	a.tpk, a.tdk = k.TPK, k.TDK
	return nil
}

// Withdraw sends one cash withdrawal of amount (minor units, a whole
// number of major units) for card c and settles it as an ATM would. The
// error is nil when a response came and, for an approval, its dispense
// token verified; a decline is Outcome.RespCode, not an error. After an
// unknown outcome or a bad token the withdrawal is reversed before
// Withdraw returns (Outcome.Reversed), and the error says why.
func (a *ATM) Withdraw(ctx context.Context, c Card, amount int64) (Outcome, error) {
	out := Outcome{Amount: amount}
	if err := a.waitUp(ctx); err != nil {
		return out, err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return out, fmt.Errorf("loadgen: nonce: %w", err)
	}
	pin := []byte(c.PIN)
	block, err := pinblock.EncryptFormat0(a.tpk, pin, []byte(c.PAN))
	pinblock.Wipe(pin)
	if err != nil {
		return out, fmt.Errorf("loadgen: card %s: PIN block: %w", c.ID, err)
	}
	f48, err := hostlink.TLV{{Tag: hostlink.TagNonce, Value: hex.EncodeToString(nonce)}}.Encode()
	if err != nil {
		return out, fmt.Errorf("loadgen: %w", err)
	}
	req := &hostlink.Message{
		MTI: hostlink.MTIFinRequest, PAN: c.PAN, ProcCode: hostlink.ProcWithdrawal, Amount: amount,
		Expiry: c.Expiry, EntryMode: "021", Track2: c.PAN + "=" + c.Expiry + "2010000000000",
		Currency: a.cur.Numeric, PINBlock: block, Private: f48,
	}
	start := time.Now()
	resp, err := a.client.Send(ctx, req)
	out.Latency = time.Since(start)
	switch {
	case errors.Is(err, hostlink.ErrTimeout), errors.Is(err, hostlink.ErrLinkLost):
		// The host may have approved: reverse, as the ATM must.
		rerr := a.reverse(req, hostlink.ReasonTimeout)
		out.Reversed = rerr == nil
		return out, errors.Join(fmt.Errorf("loadgen: %s stan %s: %w", a.cfg.Terminal.ID, req.STAN, err), rerr)
	case err != nil:
		return out, fmt.Errorf("loadgen: %s: %w", a.cfg.Terminal.ID, err)
	}
	out.RespCode = resp.RespCode
	if resp.RespCode != hostlink.RCApproved {
		return out, nil
	}
	if !a.tokenValid(req, resp, nonce) {
		rerr := a.reverse(req, hostlink.ReasonMisdispense)
		out.Reversed = rerr == nil
		return out, errors.Join(fmt.Errorf("%w: %s stan %s", ErrBadToken, a.cfg.Terminal.ID, req.STAN), rerr)
	}
	out.Dispensed = true
	return out, nil
}

// tokenValid checks the dispense token of an approval as the dispenser
// would.
func (a *ATM) tokenValid(req, resp *hostlink.Message, nonce []byte) bool {
	t, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		return false
	}
	v, ok := t.Get(hostlink.TagToken)
	if !ok {
		return false
	}
	tok, err := hex.DecodeString(v)
	if err != nil {
		return false
	}
	return dispenser.VerifyToken(a.tdk, dispenser.TokenData{
		ATM: a.cfg.Terminal.ID, Txn: req.STAN, Amount: req.Amount, Currency: a.cur.Alpha, Nonce: nonce,
	}, tok)
}

// reverse sends a reversal advice for orig (which was sent, so its STAN
// and transmission time are set) and repeats it as 0421, same STAN, until
// any 0430 arrives or ReversalPatience runs out.
func (a *ATM) reverse(orig *hostlink.Message, reason string) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ReversalPatience)
	defer cancel()
	f48, err := hostlink.TLV{{Tag: hostlink.TagReason, Value: reason}}.Encode()
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	rev := &hostlink.Message{
		MTI: hostlink.MTIReversal, ProcCode: orig.ProcCode, Amount: orig.Amount, Currency: orig.Currency,
		Private: f48, Original: hostlink.OriginalData(orig),
	}
	for {
		_, err := a.client.Send(ctx, rev)
		if err == nil {
			return nil // any 0430 acknowledges
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s original stan %s: %w", ErrReversal, a.cfg.Terminal.ID, orig.STAN, err)
		}
		if errors.Is(err, hostlink.ErrNotConnected) {
			if err := a.waitUp(ctx); err != nil {
				return fmt.Errorf("%w: %w", ErrReversal, err)
			}
		}
		rev.MTI, rev.TransmitTime = hostlink.MTIReversalRepeat, ""
	}
}

// swapMAC signs and verifies with the TAK once the keys are exchanged.
type swapMAC struct{ s atomic.Pointer[mac.Signer] }

var errNoMACKey = errors.New("loadgen: no MAC key yet")

// Sign returns the retail MAC of data under the TAK.
func (m *swapMAC) Sign(ctx context.Context, data []byte) ([]byte, error) {
	s := m.s.Load()
	if s == nil {
		return nil, errNoMACKey
	}
	return s.Sign(ctx, data)
}

// Verify checks sum against data under the TAK.
func (m *swapMAC) Verify(ctx context.Context, data, sum []byte) error {
	s := m.s.Load()
	if s == nil {
		return errNoMACKey
	}
	return s.Verify(ctx, data, sum)
}
