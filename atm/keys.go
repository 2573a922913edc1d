package atm

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/hal/pinpad"
	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/mac"
	"github.com/atmd/atmd/internal/pinblock"
	"github.com/atmd/atmd/journal"
)

// Key names in the PIN pad and the dispenser.
const (
	keyTMK      = "tmk"      // terminal master key, loaded as components
	keyPIN      = "pin"      // TPK: PIN blocks
	keyMAC      = "mac"      // TAK: message authentication
	keyDispense = "dispense" // TDK: dispense tokens (in the dispenser)
)

// ErrKeys: the keys could not be loaded or exchanged.
var ErrKeys = errors.New("atm: keys")

// keyManager loads the terminal master key and exchanges working keys
// with the host. Keys go straight into the devices that use them — the
// PIN and MAC keys into the PIN pad, the dispense key into the
// dispenser — always encrypted under the master key; atmd itself never
// holds a working key in clear.
type keyManager struct {
	pad  pinpad.PinPad
	disp dispenser.Dispenser
	link Link
	j    *journal.Journal
	log  zerolog.Logger
}

// loadMaster loads the master key components into the PIN pad and the
// dispenser (dual control: each component comes from a different
// custodian) and checks the result against the components' combined
// check value.
func (k *keyManager) loadMaster(ctx context.Context, comps [][]byte) error {
	if len(comps) < 2 {
		return fmt.Errorf("%w: the master key needs at least two components", ErrKeys)
	}
	tmk := make([]byte, len(comps[0]))
	defer pinblock.Wipe(tmk)
	for _, c := range comps {
		if len(c) != len(tmk) {
			return fmt.Errorf("%w: master key components differ in length", ErrKeys)
		}
		for i := range tmk {
			tmk[i] ^= c[i]
		}
	}
	want, err := pinblock.KCV(tmk)
	if err != nil {
		return fmt.Errorf("%w: master key: %w", ErrKeys, err)
	}
	pl, ok := k.pad.(pinpad.KeyLoader)
	if !ok {
		return fmt.Errorf("%w: the PIN pad cannot load keys", ErrKeys)
	}
	dl, ok := k.disp.(dispenser.KeyLoader)
	if !ok {
		return fmt.Errorf("%w: the dispenser cannot load keys", ErrKeys)
	}
	for _, dev := range []struct {
		name string
		load func(context.Context, string, string, []byte) ([]byte, error)
	}{{"pinpad", pl.LoadKey}, {"dispenser", dl.LoadKey}} {
		var kcv []byte
		for i, c := range comps {
			if kcv, err = dev.load(ctx, keyTMK, "", c); err != nil {
				return fmt.Errorf("%w: %s: master key component %d: %w", ErrKeys, dev.name, i+1, err)
			}
		}
		if !bytes.Equal(kcv, want) {
			return fmt.Errorf("%w: %s: master key check value %X, components give %X", ErrKeys, dev.name, kcv, want)
		}
		k.j.Append("KEY-LOADED", "", map[string]string{"device": dev.name, "key": keyTMK, "kcv": fmt.Sprintf("%X", kcv), "components": fmt.Sprint(len(comps))})
	}
	return nil
}

// exchange asks the host for fresh working keys (0800, network code 101)
// and loads them, checking every check value.
func (k *keyManager) exchange(ctx context.Context) error {
	kc, ok := k.pad.(pinpad.KeyChecker)
	if !ok {
		return fmt.Errorf("%w: the PIN pad cannot report key check values", ErrKeys)
	}
	tmkCheck, err := kc.KCV(ctx, keyTMK)
	if err != nil {
		return fmt.Errorf("%w: no master key in the PIN pad: %w", ErrKeys, err)
	}
	f48, err := keyexchange.Request{TMKCheck: tmkCheck}.Encode()
	if err != nil {
		return err
	}
	resp, err := k.link.Send(ctx, &hostlink.Message{MTI: hostlink.MTINetRequest, NetCode: keyexchange.NetCode, Private: f48})
	if err != nil {
		return fmt.Errorf("%w: exchange: %w", ErrKeys, err)
	}
	if resp.RespCode != hostlink.RCApproved {
		return fmt.Errorf("%w: the host refused the key exchange (rc %s)", ErrKeys, resp.RespCode)
	}
	r, err := keyexchange.ParseResponse(resp.Private)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeys, err)
	}
	pl := k.pad.(pinpad.KeyLoader) // checked by loadMaster at start
	dl, ok := k.disp.(dispenser.KeyLoader)
	if !ok {
		return fmt.Errorf("%w: the dispenser cannot load keys", ErrKeys)
	}
	fields := map[string]string{}
	for _, w := range []struct {
		name  string
		load  func(context.Context, string, string, []byte) ([]byte, error)
		value []byte
		check []byte
	}{
		{keyPIN, pl.LoadKey, r.TPK, r.TPKCheck},
		{keyMAC, pl.LoadKey, r.TAK, r.TAKCheck},
		{keyDispense, dl.LoadKey, r.TDK, r.TDKCheck},
	} {
		kcv, err := w.load(ctx, w.name, keyTMK, w.value)
		if err != nil {
			return fmt.Errorf("%w: loading the %s key: %w", ErrKeys, w.name, err)
		}
		if !bytes.Equal(kcv, w.check) {
			return fmt.Errorf("%w: %s key check value %X, the host says %X", ErrKeys, w.name, kcv, w.check)
		}
		fields[w.name+"_kcv"] = fmt.Sprintf("%X", kcv)
	}
	k.j.Append("KEYS-EXCHANGED", "", fields)
	k.log.Info().Interface("kcv", fields).Msg("working keys exchanged")
	return nil
}

// padMAC signs and checks host messages with the PIN pad's MAC key.
type padMAC struct {
	pp  pinpad.MACer
	key string
}

func (p padMAC) Sign(ctx context.Context, data []byte) ([]byte, error) {
	return p.pp.MAC(ctx, p.key, data)
}

func (p padMAC) Verify(ctx context.Context, data, m []byte) error {
	want, err := p.pp.MAC(ctx, p.key, data)
	if err != nil {
		return err
	}
	if !mac.Equal(want, m) {
		return hostlink.ErrBadMAC
	}
	return nil
}
