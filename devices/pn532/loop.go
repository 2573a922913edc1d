package pn532

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PN532 commands the driver sends (UM0701-02 chapter 7).
const (
	cmdGetFirmwareVersion = 0x02
	cmdSetParameters      = 0x12
	cmdSAMConfiguration   = 0x14
	cmdTgGetData          = 0x86
	cmdTgInitAsTarget     = 0x8C
	cmdTgSetData          = 0x8E
)

// cmdName names a command for logs and fault messages.
func cmdName(code byte) string {
	switch code {
	case cmdGetFirmwareVersion:
		return "GetFirmwareVersion"
	case cmdSetParameters:
		return "SetParameters"
	case cmdSAMConfiguration:
		return "SAMConfiguration"
	case cmdTgGetData:
		return "TgGetData"
	case cmdTgInitAsTarget:
		return "TgInitAsTarget"
	case cmdTgSetData:
		return "TgSetData"
	}
	return fmt.Sprintf("command %02X", code)
}

// Parameters of the initialisation commands.
var (
	// SAMConfiguration: normal mode (no SAM), timeout 0x14 × 50 ms, use
	// the IRQ pin. It also takes a PN532C106 out of LowVbat.
	samNormal = []byte{0x01, 0x14, 0x01}
	// SetParameters: fAutomaticATR_RES and fISO14443-4_PICC (the PN532
	// answers RATS and runs the ISO-DEP block protocol itself).
	parameters = []byte{0x24}
)

// Target status byte (TgGetData, TgSetData): bits 0-5 the error code,
// bit 6 MI (more information: the data continues in the next frame).
const (
	statusMask = 0x3F
	statusMI   = 0x40
)

// maxCAPDU bounds a C-APDU chained over several TgGetData.
const maxCAPDU = 1024

// run owns the serial line: it opens the port, initialises the PN532,
// keeps it in target mode and serves readers, and after any fault
// closes the port and starts again after RetryInterval.
func (d *Dev) run(ctx context.Context) {
	defer close(d.done)
	first := true
	for {
		err := d.connect(ctx, func() {
			if first {
				first = false
				close(d.firstTry)
			}
		})
		if ctx.Err() != nil {
			if first {
				close(d.firstTry)
			}
			return
		}
		d.setFault(asFault(err))
		if first {
			first = false
			close(d.firstTry)
		}
		t := time.NewTimer(d.opts.RetryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// connect runs one connection: open, initialise, serve until a fault.
// online is called once the PN532 answered.
func (d *Dev) connect(ctx context.Context, online func()) error {
	port, err := d.open()
	if err != nil {
		return offline("cannot open "+d.port, err)
	}
	defer port.Close()
	if f, ok := port.(interface{ Flush() error }); ok {
		_ = f.Flush() // drop what the line held before
	}
	l := newLink(port, &d.opts, d.log)
	defer func() {
		// Leave the PN532 idle: abort a pending TgInitAsTarget.
		if ctx.Err() != nil {
			_ = l.abort(context.Background())
		}
	}()
	fw, err := d.initialise(ctx, l)
	if err != nil {
		return err
	}
	d.setOnline(fw)
	online()
	return d.serve(ctx, l)
}

// initialise wakes the PN532, configures it and checks it is one.
func (d *Dev) initialise(ctx context.Context, l *link) (string, error) {
	if _, err := l.command(ctx, cmdSAMConfiguration, samNormal, d.opts.ResponseTimeout); err != nil {
		return "", err
	}
	fw, err := d.firmware(ctx, l)
	if err != nil {
		return "", err
	}
	if _, err := l.command(ctx, cmdSetParameters, parameters, d.opts.ResponseTimeout); err != nil {
		return "", err
	}
	return fw, nil
}

// firmware asks GetFirmwareVersion and checks the IC is a PN532.
func (d *Dev) firmware(ctx context.Context, l *link) (string, error) {
	r, err := l.command(ctx, cmdGetFirmwareVersion, nil, d.opts.ResponseTimeout)
	if err != nil {
		return "", err
	}
	if len(r) != 4 || r[0] != 0x32 {
		return "", protocol(fmt.Sprintf("GetFirmwareVersion answered % X", r), r, ErrNotPN532)
	}
	return fmt.Sprintf("PN532 %d.%d", r[1], r[2]), nil
}

// targetParams is TgInitAsTarget's input: PICC only, MIFARE parameters
// for an ISO/IEC 14443-4 type A PICC (SENS_RES 0004, NFCID1t, SEL_RES
// 0x20), FeliCa parameters and NFCID3t unused, no general or historical
// bytes.
func (d *Dev) targetParams() []byte {
	p := make([]byte, 0, 37)
	p = append(p, 0x04)       // mode: PICC only
	p = append(p, 0x04, 0x00) // SENS_RES
	p = append(p, d.opts.NFCID1[:]...)
	p = append(p, 0x20)                // SEL_RES: ISO/IEC 14443-4 compliant
	p = append(p, make([]byte, 18)...) // FeliCaParams: NFCID2t, PAD, system code
	p = append(p, make([]byte, 10)...) // NFCID3t
	p = append(p, 0x00, 0x00)          // no general bytes, no historical bytes
	return p
}

// serve keeps the PN532 in target mode and runs reader sessions.
func (d *Dev) serve(ctx context.Context, l *link) error {
	params := d.targetParams()
	for {
		r, err := l.command(ctx, cmdTgInitAsTarget, params, d.opts.Heartbeat)
		switch {
		case errors.Is(err, ErrNoResponse):
			// No phone this time: check the PN532 still answers.
			if err := l.abort(ctx); err != nil {
				return err
			}
			if _, err := d.firmware(ctx, l); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if len(r) < 1 || r[0]&0x08 == 0 {
			d.log.Debug().Hex("mode", r).Msg("activated, but not as an ISO/IEC 14443-4 PICC")
			continue
		}
		if err := d.session(ctx, l); err != nil {
			return err
		}
	}
}

// session serves one reader until it releases the target or goes quiet.
// Only a fault of the PN532 or the line is an error.
func (d *Dev) session(ctx context.Context, l *link) error {
	tag := newT4T(d.opts.MLe, d.opts.MaxNDEF+2, d.snapshot)
	for {
		var capdu []byte
		for {
			r, err := l.command(ctx, cmdTgGetData, nil, d.opts.SessionTimeout)
			if errors.Is(err, ErrNoResponse) {
				d.log.Debug().Msg("reader went quiet; session dropped")
				return l.abort(ctx)
			}
			if err != nil {
				return err
			}
			if len(r) < 1 {
				return protocol("TgGetData answered without a status", nil, ErrFrame)
			}
			if st := r[0] & statusMask; st != 0 {
				d.log.Debug().Hex("status", []byte{st}).Msg("session ended")
				return nil
			}
			capdu = append(capdu, r[1:]...)
			if len(capdu) > maxCAPDU {
				d.log.Debug().Int("bytes", len(capdu)).Msg("C-APDU too long; session dropped")
				return nil
			}
			if r[0]&statusMI == 0 {
				break
			}
		}
		rapdu, done, gen := tag.handle(capdu)
		r, err := l.command(ctx, cmdTgSetData, rapdu, d.opts.ResponseTimeout)
		if errors.Is(err, ErrNoResponse) {
			d.log.Debug().Msg("TgSetData unanswered; session dropped")
			return l.abort(ctx)
		}
		if err != nil {
			return err
		}
		if len(r) < 1 || r[0]&statusMask != 0 {
			d.log.Debug().Hex("status", r).Msg("session ended")
			return nil
		}
		if done {
			d.markRead(gen, len(tag.ndef)-2)
		}
	}
}
