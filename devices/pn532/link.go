package pn532

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
)

// readSlice is the serial read timeout: tarm/serial's resolution (one
// tenth of a second). A read that times out returns 0, io.EOF.
const readSlice = 100 * time.Millisecond

// quickEOFs is how many reads in a row may return end of file well
// before readSlice before the line counts as hung up: a tty whose other
// end is gone returns 0 at once instead of waiting.
const quickEOFs = 3

// link speaks the PN532 frame protocol over a serial port: command,
// ACK, response, NACK on a bad response, ACK to abort. It is used by one
// goroutine at a time.
type link struct {
	port     io.ReadWriter
	opts     *Options
	log      zerolog.Logger
	rx       []byte
	buf      []byte
	asleep   bool // the PN532 needs the wake-up sequence before a frame
	quickEOF int
}

func newLink(port io.ReadWriter, opts *Options, log zerolog.Logger) *link {
	return &link{port: port, opts: opts, log: log, buf: make([]byte, 512), asleep: true}
}

// write sends bytes, preceded by the wake-up sequence when the PN532
// sleeps.
func (l *link) write(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.asleep {
		b = append(append([]byte(nil), wakeUp...), b...)
		l.asleep = false
	}
	if _, err := l.port.Write(b); err != nil {
		return offline("serial write failed", err)
	}
	return nil
}

// readFrame returns the next frame, or an error: ctx's, a transport
// fault, a frame error (wrapping ErrChecksum or ErrFrame, carrying the
// bad bytes) or, at the deadline, errDeadline.
func (l *link) readFrame(ctx context.Context, deadline time.Time) (frame, error) {
	for {
		if len(l.rx) > 0 {
			f, n, err := parseFrame(l.rx)
			bad := l.rx[:n]
			l.rx = l.rx[n:]
			switch {
			case err == nil:
				l.asleep = false // it talks, so it is awake
				return f, nil
			case !errors.Is(err, errIncomplete):
				l.asleep = false
				return frame{}, &frameError{err: err, raw: append([]byte(nil), bad...)}
			}
		}
		if err := ctx.Err(); err != nil {
			return frame{}, err
		}
		if !time.Now().Before(deadline) {
			return frame{}, errDeadline
		}
		start := time.Now()
		n, err := l.port.Read(l.buf)
		if n > 0 {
			l.rx = append(l.rx, l.buf[:n]...)
			l.quickEOF = 0
			continue
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			// tarm/serial: no data within the read timeout. A tty whose
			// other end is gone says the same, but at once.
			if time.Since(start) < readSlice/4 {
				l.quickEOF++
				if l.quickEOF >= quickEOFs {
					return frame{}, offline("serial line hung up", ErrHangup)
				}
			} else {
				l.quickEOF = 0
			}
		default:
			return frame{}, offline("serial read failed", err)
		}
	}
}

// partial reports whether the receive buffer holds the start of a frame.
func (l *link) partial() bool { return len(l.rx) >= 2 }

// errDeadline: readFrame reached its deadline.
var errDeadline = errors.New("pn532: deadline")

// frameError is a malformed frame and its bytes.
type frameError struct {
	err error
	raw []byte
}

func (e *frameError) Error() string { return e.err.Error() }
func (e *frameError) Unwrap() error { return e.err }

// command sends a command frame and returns the response's data after
// the response code. It resends the frame when no ACK comes within
// AckTimeout, and answers a bad response with NACK so that the PN532
// sends it again, Retries times each. When the PN532 acknowledged the
// command but sent no response within wait, the error wraps
// ErrNoResponse and the command is still running in the PN532: abort it
// before sending another.
func (l *link) command(ctx context.Context, code byte, params []byte, wait time.Duration) ([]byte, error) {
	req, err := encodeFrame(tfiHost, append([]byte{code}, params...))
	if err != nil {
		return nil, err
	}
	var early *frame
	acked := false
	for try := 0; try < l.opts.Retries && !acked; try++ {
		if try > 0 {
			// The PN532 may have gone to sleep (a TgInitAsTarget whose
			// ACK was lost): wake it first; an awake one skips the bytes.
			l.asleep = true
			l.log.Debug().Str("cmd", cmdName(code)).Int("try", try+1).Msg("no ACK, sending the command again")
		}
		if err := l.write(ctx, req); err != nil {
			return nil, err
		}
		if acked, early, err = l.waitACK(ctx, code); err != nil {
			return nil, err
		}
	}
	if !acked {
		return nil, timeout(fmt.Sprintf("no ACK to %s after %d tries", cmdName(code), l.opts.Retries), ErrNoACK)
	}
	if early != nil {
		return l.result(code, *early)
	}
	if code == cmdTgInitAsTarget {
		l.asleep = true // it waits for a reader in power-down
	}
	return l.response(ctx, code, wait)
}

// waitACK waits AckTimeout for the ACK. A response to the command also
// proves it arrived (its ACK was lost): it is returned.
func (l *link) waitACK(ctx context.Context, code byte) (bool, *frame, error) {
	deadline := time.Now().Add(l.opts.AckTimeout)
	for {
		f, err := l.readFrame(ctx, deadline)
		var fe *frameError
		switch {
		case errors.Is(err, errDeadline):
			return false, nil, nil
		case errors.As(err, &fe):
			l.log.Debug().Err(err).Msg("bad frame while waiting for ACK")
			continue
		case err != nil:
			return false, nil, err
		}
		switch {
		case f.kind == kindACK:
			return true, nil, nil
		case f.kind == kindInfo && f.tfi == tfiPN532 && len(f.data) > 0 && f.data[0] == code+1:
			return true, &f, nil
		default:
			l.log.Debug().Int("kind", int(f.kind)).Msg("stale frame while waiting for ACK")
		}
	}
}

// response waits for the response to code, sending NACK for a bad or
// truncated one.
func (l *link) response(ctx context.Context, code byte, wait time.Duration) ([]byte, error) {
	deadline := time.Now().Add(wait)
	nacks := 0
	nack := func() error {
		nacks++
		l.rx = l.rx[:0]
		deadline = time.Now().Add(wait)
		l.log.Debug().Str("cmd", cmdName(code)).Int("nack", nacks).Msg("bad response, sending NACK")
		return l.write(ctx, nackBytes)
	}
	for {
		f, err := l.readFrame(ctx, deadline)
		var fe *frameError
		switch {
		case errors.Is(err, errDeadline):
			if !l.partial() {
				return nil, timeout(fmt.Sprintf("no response to %s", cmdName(code)), ErrNoResponse)
			}
			raw := append([]byte(nil), l.rx...)
			if nacks >= l.opts.Retries {
				return nil, protocol(fmt.Sprintf("truncated response to %s after %d NACKs", cmdName(code), nacks), raw, ErrFrame)
			}
			if err := nack(); err != nil {
				return nil, err
			}
			continue
		case errors.As(err, &fe):
			if nacks >= l.opts.Retries {
				return nil, protocol(fmt.Sprintf("bad response to %s after %d NACKs", cmdName(code), nacks), fe.raw, fe.err)
			}
			if err := nack(); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		if f.kind == kindACK || f.kind == kindNACK {
			continue
		}
		if f.kind == kindInfo && (f.tfi != tfiPN532 || len(f.data) == 0 || f.data[0] != code+1) {
			l.log.Debug().Msg("stale response dropped")
			continue
		}
		return l.result(code, f)
	}
}

// result turns the response frame into the command's result.
func (l *link) result(code byte, f frame) ([]byte, error) {
	if f.kind == kindError {
		return nil, protocol(fmt.Sprintf("PN532 rejected %s", cmdName(code)), nil, ErrSyntax)
	}
	return f.data[1:], nil
}

// abort stops the command the PN532 is running (a TgInitAsTarget
// waiting for a reader) with an ACK frame. It always wakes the PN532
// first: it may sleep although its ACK to TgInitAsTarget was not seen.
func (l *link) abort(ctx context.Context) error {
	l.asleep = true
	return l.write(ctx, ackBytes)
}
