package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/atmd/atmd/devices/pcsc"
	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/cardreader"
	"github.com/atmd/atmd/hal/cardreader/cardreadertest"
	"github.com/atmd/atmd/internal/emv"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/wire/vcard"
	"github.com/atmd/atmd/sim/wire/vcard/pcscdtest"
)

const wait = 10 * time.Second

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// rig is a driver on a private pcscd's vpcd reader with a virtual card
// to put in it: the customer's hand.
type rig struct {
	t   *testing.T
	env *pcscdtest.Env
	dev *pcsc.Dev

	mu   sync.Mutex
	card *vcard.Card // the card in the reader, if any
}

// testOptions are quick to notice a restarted pcscd and a mute card.
func testOptions(env *pcscdtest.Env) pcsc.Options {
	o := pcsc.DefaultOptions
	o.Reader = env.Reader
	o.Retry = 100 * time.Millisecond
	o.APDUTimeout = time.Second
	return o
}

func newRig(t *testing.T, env *pcscdtest.Env, opts pcsc.Options) *rig {
	t.Helper()
	d, err := pcsc.Open(timeout(t, wait), opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, env: env, dev: d}
	t.Cleanup(func() {
		// Leave the reader empty for the next test, and make sure this
		// driver saw it so (pcscd reports it at its next poll).
		r.mu.Lock()
		c := r.card
		r.card = nil
		r.mu.Unlock()
		if c != nil && c.Inserted() {
			_ = c.Remove()
		}
		if env.Running() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := waitSlot(ctx, d, func(s pcsc.Slot) bool { return !s.Present }); err != nil {
				t.Errorf("reader not empty at the end of the test: %v", err)
			}
		}
		d.Close()
	})
	return r
}

// waitSlot waits until cond holds for the driver's slot.
func waitSlot(ctx context.Context, d *pcsc.Dev, cond func(pcsc.Slot) bool) error {
	for {
		ch := d.Changed()
		if cond(d.Slot()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("slot %+v: %w", d.Slot(), ctx.Err())
		}
	}
}

// waitStatus waits until cond holds for the driver's status.
func waitStatus(ctx context.Context, d *pcsc.Dev, cond func(hal.Status) bool) error {
	for {
		ch := d.Changed()
		if cond(d.Status()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("status %v: %w", d.Status(), ctx.Err())
		}
	}
}

// insert waits for the slot to be enabled, then puts a card holding p
// (with the faults, if any) into the reader.
func (r *rig) insert(ctx context.Context, p vcard.Profile, faults ...string) (*vcard.Card, error) {
	if err := waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return s.Accepting }); err != nil {
		return nil, fmt.Errorf("insert: slot not enabled: %w", err)
	}
	c, err := vcard.New(p, vcard.Options{})
	if err != nil {
		return nil, err
	}
	for _, f := range faults {
		if err := c.Inject(f); err != nil {
			return nil, err
		}
	}
	if err := c.Insert(ctx, r.env.VPCD); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.card = c
	r.mu.Unlock()
	return c, nil
}

// take waits for the card to be presented, pulls it out and waits until
// the driver has seen it go.
func (r *rig) take(ctx context.Context) error {
	if err := waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return s.Card == pcsc.Presented }); err != nil {
		return fmt.Errorf("take: no card presented: %w", err)
	}
	return r.pull(ctx)
}

// pull removes the card whatever the driver thinks, and waits until the
// driver has seen it go.
func (r *rig) pull(ctx context.Context) error {
	r.mu.Lock()
	c := r.card
	r.card = nil
	r.mu.Unlock()
	if c == nil {
		return errors.New("no card in the reader")
	}
	if err := c.Remove(); err != nil {
		return err
	}
	return waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return !s.Present && s.Card == pcsc.Empty })
}

// profileOf is the virtual card holding a cardreader.Card's data.
func profileOf(c cardreader.Card) (vcard.Profile, error) {
	seq, err := strconv.Atoi(c.PANSeq)
	if err != nil {
		return vcard.Profile{}, err
	}
	tr, err := emv.ParseTrack2Text(c.Track2)
	if err != nil {
		return vcard.Profile{}, err
	}
	return vcard.Profile{PAN: c.PAN, PANSeq: seq, Expiry: c.Expiry, Name: c.Name,
		ServiceCode: tr.ServiceCode, Discretionary: &tr.Discretionary}, nil
}

func TestConformance(t *testing.T) {
	env := pcscdtest.Start(t)
	cardreadertest.Run(t, func(t *testing.T) cardreadertest.Harness {
		r := newRig(t, env, testOptions(env))
		return cardreadertest.Harness{
			Dev: r.dev,
			Insert: func(ctx context.Context, c cardreader.Card) error {
				p, err := profileOf(c)
				if err != nil {
					return err
				}
				_, err = r.insert(ctx, p)
				return err
			},
			InsertUnreadable: func(ctx context.Context) error {
				_, err := r.insert(ctx, vcard.Profile{PAN: "4761739001010119", Expiry: "2712"}, vcard.FaultNoApp)
				return err
			},
			Take: r.take,
		}
	})
}

// accept runs Accept with a card inserted.
func (r *rig) accept(p vcard.Profile, faults ...string) (cardreader.Card, *vcard.Card, error) {
	r.t.Helper()
	ctx := timeout(r.t, wait)
	type res struct {
		c   cardreader.Card
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := r.dev.Accept(ctx)
		ch <- res{c, err}
	}()
	card, err := r.insert(ctx, p, faults...)
	if err != nil {
		r.t.Fatalf("insert: %v", err)
	}
	select {
	case x := <-ch:
		return x.c, card, x.err
	case <-ctx.Done():
		r.t.Fatal("Accept did not return")
	}
	return cardreader.Card{}, nil, nil
}

// TestSeedCards reads every demo card of configs/seed.yaml over pcscd,
// each in another variant of the card's behaviour, asks each for an
// ARQC and checks field 55.
func TestSeedCards(t *testing.T) {
	s, err := seed.Load("../../configs/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := pcscdtest.Start(t)
	r := newRig(t, env, testOptions(env))
	variants := []func(*vcard.Profile){
		func(*vcard.Profile) {},
		func(p *vcard.Profile) { p.NoPSE = true },
		func(p *vcard.Profile) { p.T0 = true },
		func(p *vcard.Profile) { p.Format2 = true },
	}
	i := 0
	for _, cu := range s.Customers {
		for _, sc := range cu.Cards {
			p := vcard.ProfileFromSeed(sc)
			variants[i%len(variants)](&p)
			i++
			t.Run(sc.ID, func(t *testing.T) {
				r.t = t
				got, card, err := r.accept(p)
				if err != nil {
					t.Fatalf("Accept: %v", err)
				}
				want := cardreader.Card{PAN: sc.PAN, PANSeq: fmt.Sprintf("%02d", sc.PANSeq), Expiry: sc.Expiry,
					Track2: card.Track2().Text(), Name: sc.Name, Technology: cardreader.Chip,
					ATR: vcard.DefaultATR, AID: vcard.AIDVisa}
				if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
					t.Errorf("Accept = %#v\nwant     %#v", got, want)
				}
				txn := cardreader.TxnData{Amount: 100000, CurrencyCode: "901", CountryCode: "158", Date: "250918", Type: 0x01,
					Unpredictable: [4]byte{1, 2, 3, 4}}
				f55, err := r.dev.GenerateAC(timeout(t, wait), txn)
				if err != nil {
					t.Fatalf("GenerateAC: %v", err)
				}
				ac, _, err := emv.Find(f55, emv.TagAC)
				want55, _ := card.LastCryptogram()
				if err != nil || !bytes.Equal(ac, want55) {
					t.Errorf("field 55 %X: 9F26 = %X (%v), the card made %X", f55, ac, err, want55)
				}
				ctx := timeout(t, wait)
				if err := r.dev.Eject(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := r.dev.GenerateAC(ctx, txn); !errors.Is(err, cardreader.ErrNoCard) {
					t.Errorf("GenerateAC after Eject = %v, want ErrNoCard", err)
				}
				if err := r.take(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestPulledMidRead(t *testing.T) {
	env := pcscdtest.Start(t)
	r := newRig(t, env, testOptions(env))
	ctx := timeout(t, wait)
	done := make(chan error, 1)
	go func() {
		_, err := r.dev.Accept(ctx)
		done <- err
	}()
	// The card answers SELECT PSE, READ RECORD and SELECT AID, and is
	// pulled out when GET PROCESSING OPTIONS arrives.
	c, err := vcard.New(vcard.Profile{PAN: "4761730000001019", Expiry: "2912", PANSeq: 1}, vcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.RemoveAfter(3)
	if err := waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return s.Accepting }); err != nil {
		t.Fatal(err)
	}
	if err := c.Insert(ctx, env.VPCD); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, cardreader.ErrCardRemoved) {
		t.Fatalf("Accept with the card pulled mid-read = %v, want ErrCardRemoved", err)
	}
	if n := len(c.Commands()); n != 4 {
		t.Errorf("card saw %d commands, want 4", n)
	}
	if err := waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return !s.Present && s.Card == pcsc.Empty }); err != nil {
		t.Fatal(err)
	}
	if st := r.dev.Status(); !st.OK() {
		t.Errorf("Status after a pulled card = %v, want OK", st)
	}
	if err := r.dev.Eject(ctx); !errors.Is(err, cardreader.ErrNoCard) {
		t.Errorf("Eject after the card was pulled before it was read = %v, want ErrNoCard", err)
	}
	// The next card reads.
	if _, _, err := r.accept(vcard.Profile{PAN: "4761730000001019", Expiry: "2912"}); err != nil {
		t.Fatalf("next card: %v", err)
	}
}

func TestPulledWhileHeld(t *testing.T) {
	env := pcscdtest.Start(t)
	r := newRig(t, env, testOptions(env))
	if _, _, err := r.accept(vcard.Profile{PAN: "4761730000001019", Expiry: "2912"}); err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t, wait)
	if err := r.pull(ctx); err != nil {
		t.Fatal(err)
	}
	txn := cardreader.TxnData{CurrencyCode: "901", CountryCode: "158", Date: "250918"}
	if _, err := r.dev.GenerateAC(ctx, txn); !errors.Is(err, cardreader.ErrCardRemoved) {
		t.Fatalf("GenerateAC after the card was pulled = %v, want ErrCardRemoved", err)
	}
	// A dip reader's customer has the card already: Eject is done, and
	// WaitTaken too.
	if err := r.dev.Eject(ctx); err != nil {
		t.Fatalf("Eject of a pulled card = %v, want nil", err)
	}
	if err := r.dev.WaitTaken(ctx); err != nil {
		t.Fatalf("WaitTaken of a pulled card = %v", err)
	}
	if err := r.dev.Eject(ctx); !errors.Is(err, cardreader.ErrNoCard) {
		t.Fatalf("second Eject = %v, want ErrNoCard", err)
	}
}

func TestCardFaults(t *testing.T) {
	env := pcscdtest.Start(t)
	alice := vcard.Profile{PAN: "4761730000001019", Expiry: "2912", PANSeq: 1}
	for _, tc := range []struct {
		fault string
		want  error
		code  string // the fault code of the error and, until the card is taken, of Status
	}{
		{vcard.FaultGarbage, cardreader.ErrUnreadable, pcsc.FaultProtocol},
		{vcard.FaultShortResponse, cardreader.ErrUnreadable, pcsc.FaultProtocol},
		{vcard.FaultNoApp, cardreader.ErrUnreadable, ""},
		{vcard.FaultBadFrame, cardreader.ErrCardRemoved, ""},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			r := newRig(t, env, testOptions(env))
			_, _, err := r.accept(alice, tc.fault)
			if !errors.Is(err, tc.want) || hal.FaultCode(err) != tc.code {
				t.Fatalf("Accept = %v, want %v with fault code %q", err, tc.want, tc.code)
			}
			st := r.dev.Status()
			if st.Fault != tc.code || st.State != hal.Online {
				t.Errorf("Status = %v, want online with fault %q", st, tc.code)
			}
			ctx := timeout(t, wait)
			if tc.want == cardreader.ErrUnreadable {
				if err := r.take(ctx); err != nil {
					t.Fatal(err)
				}
			} else if err := waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return !s.Present }); err != nil {
				t.Fatal(err)
			}
			if st := r.dev.Status(); !st.OK() {
				t.Errorf("Status once the card is gone = %v, want OK", st)
			}
			if _, _, err := r.accept(alice); err != nil {
				t.Fatalf("a good card after the fault: %v", err)
			}
		})
	}
	t.Run(vcard.FaultMute, func(t *testing.T) {
		o := testOptions(env)
		o.APDUTimeout = 500 * time.Millisecond
		r := newRig(t, env, o)
		_, _, err := r.accept(alice, vcard.FaultMute)
		if !errors.Is(err, cardreader.ErrUnreadable) || !errors.Is(err, hal.ErrTimeout) || hal.FaultCode(err) != pcsc.FaultTimeout {
			t.Fatalf("Accept of a mute card = %v, want ErrUnreadable and a %s fault", err, pcsc.FaultTimeout)
		}
		if st := r.dev.Status(); st.State != hal.HardwareError || st.Fault != pcsc.FaultTimeout {
			t.Fatalf("Status with a mute card = %v", st)
		}
		ctx := timeout(t, wait)
		if _, err := r.dev.Accept(ctx); hal.FaultCode(err) != pcsc.FaultTimeout {
			t.Fatalf("Accept while the mute card holds the reader = %v", err)
		}
		if err := r.take(ctx); err != nil {
			t.Fatal(err)
		}
		if err := waitStatus(ctx, r.dev, hal.Status.OK); err != nil {
			t.Fatalf("reader did not recover after the mute card left: %v", err)
		}
		if _, _, err := r.accept(alice); err != nil {
			t.Fatalf("a good card after the mute one: %v", err)
		}
	})
}

func TestPcscdStopped(t *testing.T) {
	env := pcscdtest.Start(t)
	r := newRig(t, env, testOptions(env))
	if _, _, err := r.accept(vcard.Profile{PAN: "4761730000001019", Expiry: "2912"}); err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t, wait)
	env.Stop()
	if err := waitStatus(ctx, r.dev, func(st hal.Status) bool { return st.State == hal.Offline }); err != nil {
		t.Fatal(err)
	}
	if st := r.dev.Status(); st.Fault != pcsc.FaultOffline {
		t.Fatalf("Status with pcscd stopped = %v", st)
	}
	_, err := r.dev.Accept(ctx)
	var f *hal.Fault
	if !errors.As(err, &f) || f.Code != pcsc.FaultOffline || !f.Recoverable || !errors.Is(err, hal.ErrOffline) {
		t.Fatalf("Accept with pcscd stopped = %v, want a recoverable %s fault", err, pcsc.FaultOffline)
	}
	txn := cardreader.TxnData{CurrencyCode: "901", CountryCode: "158", Date: "250918"}
	if _, err := r.dev.GenerateAC(ctx, txn); err == nil {
		t.Fatal("GenerateAC with pcscd stopped succeeded")
	}
	// The card's vpcd link died with pcscd: the card is out.
	r.mu.Lock()
	c := r.card
	r.card = nil
	r.mu.Unlock()
	if c != nil {
		_ = c.Remove()
	}
	env.Restart()
	if err := waitStatus(ctx, r.dev, hal.Status.OK); err != nil {
		t.Fatalf("driver did not recover after pcscd restarted: %v", err)
	}
	if err := waitSlot(ctx, r.dev, func(s pcsc.Slot) bool { return s.Card == pcsc.Empty }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.accept(vcard.Profile{PAN: "4761730000001019", Expiry: "2912"}); err != nil {
		t.Fatalf("Accept after pcscd came back: %v", err)
	}
}

func TestReaderMissing(t *testing.T) {
	env := pcscdtest.Start(t)
	o := testOptions(env)
	o.Reader = "No Such Reader"
	d, err := pcsc.Open(timeout(t, wait), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st := d.Status(); st.State != hal.Offline || st.Fault != pcsc.FaultOffline {
		t.Fatalf("Status without the reader = %v", st)
	}
	if _, err := d.Accept(timeout(t, wait)); hal.FaultCode(err) != pcsc.FaultOffline {
		t.Fatalf("Accept without the reader = %v", err)
	}
	if d.String() != "cardreader:pcsc:No Such Reader" {
		t.Errorf("String = %q", d.String())
	}
	// A prefix finds the reader.
	o.Reader = "Virtual PCD"
	d2, err := pcsc.Open(timeout(t, wait), o)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if st := d2.Status(); !st.OK() || d2.String() != "cardreader:pcsc:"+env.Reader {
		t.Fatalf("Open by prefix: %v %q", st, d2.String())
	}
}

// TestMotorOverVPCD: vpcd has no escape commands, so a capture through
// SCardControl fails — the failure path of a motorised reader: a
// CRD-JAM fault, the card still held, and the reader back once the card
// is out.
func TestMotorOverVPCD(t *testing.T) {
	env := pcscdtest.Start(t)
	o := testOptions(env)
	o.Motor = &pcsc.Motor{ControlCode: scard.CtlCode(3500), Retain: []byte{0x52}, BinCapacity: 5}
	r := newRig(t, env, o)
	if c := r.dev.Capabilities(); !c.Retain || c.BinCapacity != 5 {
		t.Fatalf("Capabilities = %+v", c)
	}
	if _, _, err := r.accept(vcard.Profile{PAN: "4761730000001019", Expiry: "2912"}); err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t, wait)
	err := r.dev.Retain(ctx)
	if hal.FaultCode(err) != pcsc.FaultJam {
		t.Fatalf("Retain through vpcd = %v, want a %s fault", err, pcsc.FaultJam)
	}
	if st := r.dev.Status(); st.State != hal.HardwareError || st.Fault != pcsc.FaultJam {
		t.Fatalf("Status after a failed capture = %v", st)
	}
	if s := r.dev.Slot(); s.Card != pcsc.Inside {
		t.Fatalf("card %s after a failed capture, want inside", s.Card)
	}
	if err := r.dev.Eject(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.take(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.dev.Status(); !st.OK() {
		t.Fatalf("Status once the card is out = %v", st)
	}
}
