package epp

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Line timing (docs/devices/framing.md and epp.md).
const (
	ackWait     = 300 * time.Millisecond // for the ACK/NAK of a frame sent
	byteGap     = 100 * time.Millisecond // longest pause inside a frame
	sends       = 3                      // transmissions of a frame in all
	badFrames   = 3                      // bad frames in a row that break the link
	readTimeout = 100 * time.Millisecond // tarm/serial's read timeout
	// A read that times out takes readTimeout; one that returns nothing
	// at once, again and again, means the line hung up.
	hangupRead  = 20 * time.Millisecond
	hangupReads = 5
)

// link is one opened port: a reading goroutine that ACKs the device's
// frames and routes them, and the transmission of the host's frames with
// ACK/NAK and retransmission. A link that fails is closed for good; Dev
// opens a new one.
type link struct {
	port   io.ReadWriteCloser
	log    zerolog.Logger
	onDown func(*link, error) // called once, when the link fails
	onStat func([]byte)       // STATUS events

	wmu  sync.Mutex // one write at a time: frames and ACK/NAK bytes
	txMu sync.Mutex // one frame transmission, with its ACK wait, at a time
	ackc chan byte  // ACK and NAK bytes from the reader

	once sync.Once
	down chan struct{} // closed when the link fails or closes
	err  error         // why, set before down closes

	mu      sync.Mutex
	seq     byte
	waiters map[byte]*waiter // by SEQ of the command in flight
	entry   *waiter          // the entry that receives KEY events
	lastRx  time.Time        // when the last good frame arrived
}

// waiter collects what arrives for one command: its response, and for an
// entry the KEY events before it, in order.
type waiter struct {
	cmd byte
	sig chan struct{} // signalled after every push

	mu sync.Mutex
	q  []pkt
}

func (w *waiter) push(p pkt) {
	w.mu.Lock()
	w.q = append(w.q, p)
	w.mu.Unlock()
	select {
	case w.sig <- struct{}{}:
	default:
	}
}

func (w *waiter) pop() (pkt, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q) == 0 {
		return pkt{}, false
	}
	p := w.q[0]
	w.q = w.q[1:]
	return p, true
}

func newLink(port io.ReadWriteCloser, log zerolog.Logger, onDown func(*link, error), onStat func([]byte)) *link {
	return &link{
		port: port, log: log, onDown: onDown, onStat: onStat,
		ackc:    make(chan byte, 8),
		down:    make(chan struct{}),
		waiters: map[byte]*waiter{},
		lastRx:  time.Now(),
	}
}

// fail closes the link because of err (once) and returns the error the
// link failed with. The Dev hears of it before anyone waiting on the
// link does, so that Status already shows the fault when a call fails.
func (l *link) fail(err error) error {
	l.once.Do(func() {
		l.err = err
		if l.onDown != nil {
			l.onDown(l, err)
		}
		close(l.down)
		l.port.Close()
	})
	return l.err
}

func (l *link) write(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := l.port.Write(b)
	return err
}

// register reserves the next free SEQ (1..255, never 0, never one in
// use) for a command and returns it with its waiter. An entry's waiter
// also receives KEY events.
func (l *link) register(cmd byte, entry bool) (byte, *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		l.seq++
		if l.seq != 0 && l.waiters[l.seq] == nil {
			break
		}
	}
	w := &waiter{cmd: cmd, sig: make(chan struct{}, 1)}
	l.waiters[l.seq] = w
	if entry {
		l.entry = w
	}
	return l.seq, w
}

func (l *link) unregister(seq byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.waiters[seq]; w != nil && w == l.entry {
		l.entry = nil
	}
	delete(l.waiters, seq)
}

// sinceRx is how long ago the last good frame arrived.
func (l *link) sinceRx() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.lastRx)
}

// transmit sends one frame and waits for its ACK, sending it again after
// a NAK or silence, three times in all. Failing that, the link fails:
// PIN-PROTOCOL when every transmission was NAKed, PIN-TIMEOUT otherwise.
// The wait is bounded (about a second) and not cut short by a context:
// a frame half acknowledged would leave the device unsure.
func (l *link) transmit(p pkt) error {
	raw, err := p.marshal()
	if err != nil {
		return err
	}
	defer clear(raw) // it may carry a clear key component
	l.txMu.Lock()
	defer l.txMu.Unlock()
	naks := 0
	t := time.NewTimer(ackWait)
	defer t.Stop()
	for try := 1; try <= sends; try++ {
		for len(l.ackc) > 0 { // a late ACK of an earlier frame means nothing now
			<-l.ackc
		}
		if err := l.write(raw); err != nil {
			return l.fail(offlineFault("write failed", err))
		}
		t.Reset(ackWait)
		select {
		case b := <-l.ackc:
			if b == bACK {
				return nil
			}
			naks++
			l.log.Debug().Uint8("seq", p.seq).Int("try", try).Msg("frame NAKed")
		case <-t.C:
			select {
			case b := <-l.ackc: // it came with the timer: still in time
				if b == bACK {
					return nil
				}
				naks++
				continue
			default:
			}
			l.log.Debug().Uint8("seq", p.seq).Int("try", try).Msg("no ACK")
		case <-l.down:
			return l.err
		}
	}
	if naks == sends {
		return l.fail(protocolFault(fmt.Sprintf("device NAKed command %s %d times", cmdName(p.cmd), sends), raw))
	}
	return l.fail(timeoutFault(fmt.Sprintf("no ACK for command %s after %d transmissions", cmdName(p.cmd), sends)))
}

// read is the reading goroutine: it splits the stream, ACKs or NAKs the
// device's frames, hands ACK/NAK bytes to transmit and routes frames.
func (l *link) read() {
	var dec decoder
	buf := make([]byte, 256)
	fast, bad := 0, 0
	for {
		start := time.Now()
		n, err := l.port.Read(buf)
		now := time.Now()
		for _, b := range buf[:n] {
			if !l.handle(dec.feed(b, now), &bad) {
				return
			}
		}
		if t, ok := dec.expire(now, byteGap); ok {
			l.log.Debug().Int("bytes", len(t.raw)).Msg("truncated frame")
			if !l.handle(t, &bad) {
				return
			}
		}
		switch {
		case n > 0 || err == nil:
			fast = 0
		case errors.Is(err, io.EOF): // tarm/serial: the read timed out, no data
			if now.Sub(start) >= hangupRead {
				fast = 0
			} else if fast++; fast >= hangupReads {
				l.fail(offlineFault("the port hung up", nil))
				return
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			l.fail(offlineFault("read failed", err))
			return
		}
		select {
		case <-l.down:
			return
		default:
		}
	}
}

// handle acts on one token; it reports false when the link failed.
func (l *link) handle(t token, bad *int) bool {
	switch t.kind {
	case tokACK, tokNAK:
		b := byte(bACK)
		if t.kind == tokNAK {
			b = bNAK
		}
		select {
		case l.ackc <- b:
		default:
		}
	case tokBad:
		*bad++
		l.log.Debug().Int("run", *bad).Msg("bad frame, NAK")
		if err := l.write([]byte{bNAK}); err != nil {
			l.fail(offlineFault("write failed", err))
			return false
		}
		if *bad >= badFrames {
			raw := t.raw
			if len(raw) > 64 {
				raw = raw[:64]
			}
			l.fail(protocolFault(fmt.Sprintf("%d bad frames in a row", *bad), raw))
			return false
		}
	case tokFrame:
		*bad = 0
		if err := l.write([]byte{bACK}); err != nil {
			l.fail(offlineFault("write failed", err))
			return false
		}
		l.route(t.p)
	}
	return true
}

// route hands a frame to whoever waits for it.
func (l *link) route(p pkt) {
	l.mu.Lock()
	l.lastRx = time.Now()
	var to *waiter
	switch {
	case p.seq != 0 && p.cmd >= 0x81 && p.cmd <= 0xBF:
		if w := l.waiters[p.seq]; w != nil && w.cmd|0x80 == p.cmd {
			to = w
		}
	case p.seq == 0 && p.cmd == evKey:
		to = l.entry
	case p.seq == 0 && p.cmd == evStatus:
		l.mu.Unlock()
		l.onStat(p.data)
		return
	}
	l.mu.Unlock()
	if to == nil {
		l.log.Debug().Uint8("seq", p.seq).Uint8("cmd", p.cmd).Msg("frame nobody waits for, dropped")
		return
	}
	to.push(p)
}
