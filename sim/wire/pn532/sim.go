package pn532

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal"
)

// Options configure the simulator.
type Options struct {
	// Firmware is what GetFirmwareVersion answers: IC, Ver, Rev, Support.
	Firmware [4]byte
	// Log receives what the chip does: commands by name (never their
	// data), faults, taps. The zero value discards.
	Log zerolog.Logger
}

// DefaultOptions answer as a PN532 with firmware 1.6 supporting ISO/IEC
// 14443 type A and B and ISO 18092 (Support 0x07).
var DefaultOptions = Options{Firmware: [4]byte{0x32, 0x01, 0x06, 0x07}}

// Misbehaviour is a one-shot line fault the simulator commits on request
// (see Sim.Misbehave).
type Misbehaviour int

// Misbehaviours.
const (
	// BadDCS corrupts the data checksum of the next information frame sent.
	BadDCS Misbehaviour = iota + 1
	// BadLCS corrupts the length checksum of the next information frame sent.
	BadLCS
	// Truncate sends only the first half of the next information frame.
	Truncate
	// Garbage sends noise (including a false start code) before the next
	// information frame.
	Garbage
	// DropACK leaves the next command unacknowledged; it still runs.
	DropACK
	// DropCommand ignores the next command frame, as if it was lost on
	// the line: no ACK, nothing runs.
	DropCommand
)

// Fault catalogue codes Inject understands.
const (
	// FaultOffline: the PN532 loses power. It hears and says nothing;
	// Clear powers it up again in its power-on state (LowVbat: a host
	// must wake it and send SAMConfiguration).
	FaultOffline = "NFC-OFFLINE"
	// FaultTimeout: the PN532 hangs. It hears and says nothing; Clear
	// lets it carry on where it stopped.
	FaultTimeout = "NFC-TIMEOUT"
	// FaultProtocol: every information frame the PN532 sends has a bad
	// data checksum, resends included.
	FaultProtocol = "NFC-PROTOCOL"
)

// Errors.
var (
	// ErrServing: Serve was called while another Serve runs.
	ErrServing = errors.New("pn532sim: already serving")
	// ErrTapBusy: another phone is already tapping.
	ErrTapBusy = errors.New("pn532sim: another tap is in progress")
)

// Stats count what the simulator saw and did since New.
type Stats struct {
	Bytes     int // bytes received from the host, heard or not
	Commands  int // command frames executed
	Extended  int // extended information frames received
	BadFrames int // frames dropped: bad LCS, DCS or length, wrong TFI
	ACKs      int // ACK frames received from the host
	Aborts    int // pending TgInitAsTarget aborted by an ACK or a new command
	NACKs     int // NACK frames received from the host
	Resends   int // frames sent again after a NACK
	Wakeups   int // wake-ups from power-down or LowVbat by a 0x55 byte
	Taps      int // activations of the emulated target by the phone
}

// SetParameters flags.
const (
	paramPICC          = 0x20 // fISO14443-4_PICC: ISO/IEC 14443-4 PICC emulation enabled
	defaultParameters  = 0x34 // power-on value: automatic ATR_RES and RATS, PICC emulation
	tgModePICCOnly     = 0x04
	tgModeDEPOnly      = 0x02
	selResISO14443Four = 0x20
)

// Target status byte codes (bits 0-5 of a TgGetData/TgSetData status).
const (
	stOK        = 0x00
	stOverflow  = 0x0E // internal buffer overflow
	stBadState  = 0x27 // command not acceptable in the current context
	stReleased  = 0x29 // released by the initiator
	activatedMd = 0x08 // TgInitAsTarget mode: 106 kbit/s, ISO/IEC 14443-4 PICC, MIFARE framing
)

// rats is the reader's first command that TgInitAsTarget returns for an
// ISO-DEP activation: RATS with FSDI 8 (256 bytes), CID 0.
var rats = []byte{0xE0, 0x80}

// garbage is what Garbage sends: noise and a false start code whose
// length checksum fails.
var garbage = []byte{0x13, 0x37, 0x00, 0xFF, 0x05, 0x00, 0xC0, 0xFF, 0xEE}

// Sim is a PN532 NFC controller on the far end of a serial line, with a
// phone that taps it. Create it with New, connect it with Serve, play
// the phone with Tap, break it with Inject and Misbehave.
type Sim struct {
	opts Options
	kick chan struct{} // wakes Serve to act on a control call

	mu      sync.Mutex
	serving bool
	fault   string
	once    map[Misbehaviour]int
	stats   Stats
	changed chan struct{} // closed and replaced whenever stats change
	c       chip
	tap     *tapReq // the phone near the antenna, if any
	out     []byte  // bytes to write, collected under mu
}

// chip is the PN532's state.
type chip struct {
	rx       deframer
	asleep   bool
	params   byte
	regs     map[uint16]byte
	last     []byte  // last information frame sent, for NACK
	pending  *target // TgInitAsTarget waiting for a reader
	sess     *session
	released bool // the last session ended by a release
}

// target is a pending TgInitAsTarget.
type target struct {
	mode   byte
	selRes byte
}

// session is an activated target talking to the phone.
type session struct {
	tap      *tapReq
	ph       *phone
	capdu    []byte // last C-APDU handed out by TgGetData
	awaiting bool   // capdu awaits its R-APDU
}

type tapReq struct {
	done chan tapResult // buffered, receives once
}

type tapResult struct {
	ndef []byte
	err  error
}

// New returns a powered-off simulator; Serve powers it on.
func New(opts Options) *Sim {
	if opts.Firmware == ([4]byte{}) {
		opts.Firmware = DefaultOptions.Firmware
	}
	return &Sim{opts: opts, kick: make(chan struct{}, 1), once: map[Misbehaviour]int{}, changed: make(chan struct{})}
}

// powerOn resets the chip to its power-on state; s.mu must be held.
func (s *Sim) powerOn() {
	s.c = chip{asleep: true, params: defaultParameters, regs: map[uint16]byte{}}
	s.c.rx.prev = 0xFF
}

// Serve powers the PN532 on and runs it on rw (the master side of a
// pseudo-terminal, or any serial line) until ctx ends or rw fails. It
// returns ctx's error or the I/O error, wrapped. When rw has working
// deadlines (an *os.File the runtime polls, such as a pseudo-terminal
// master, or a net.Conn) Serve uses them to stop at once when ctx ends,
// and switches the file descriptor back to non-blocking mode (os.File.Fd
// leaves it blocking) so that closing rw also interrupts a read;
// otherwise close rw to stop the read Serve leaves pending. Serve may be
// called again after it returned: the chip powers up afresh, as when a
// cable is plugged back in.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.powerOn()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.serving = false
		s.endSession(false)
		s.c.pending = nil
		s.out = nil
		s.mu.Unlock()
	}()

	if dl, ok := rw.(interface{ SetDeadline(time.Time) error }); ok && dl.SetDeadline(time.Time{}) == nil {
		// The runtime polls rw: a deadline, or Close, stops a read.
		setNonblock(rw)
		stop := context.AfterFunc(ctx, func() { _ = dl.SetDeadline(time.Now()) })
		defer stop()
	}
	quit := make(chan struct{})
	defer close(quit)
	in := make(chan []byte)
	rerr := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := rw.Read(buf)
			if n > 0 {
				select {
				case in <- append([]byte(nil), buf[:n]...):
				case <-quit:
					return
				}
			}
			if err != nil {
				rerr <- err
				return
			}
		}
	}()
	s.opts.Log.Info().Msg("PN532 powered on")
	for {
		var out []byte
		select {
		case <-ctx.Done():
			return fmt.Errorf("pn532sim: serve: %w", ctx.Err())
		case err := <-rerr:
			if ctx.Err() != nil {
				return fmt.Errorf("pn532sim: serve: %w", ctx.Err())
			}
			return fmt.Errorf("pn532sim: read: %w", err)
		case b := <-in:
			out = s.receive(b)
		case <-s.kick:
			out = s.control()
		}
		if len(out) > 0 {
			if _, err := rw.Write(out); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("pn532sim: serve: %w", ctx.Err())
				}
				return fmt.Errorf("pn532sim: write: %w", err)
			}
		}
	}
}

// setNonblock puts a file descriptor back into non-blocking mode:
// os.File.Fd (which wire.OpenPTY and tarm/serial call) leaves it
// blocking, and then neither deadlines nor Close interrupt a read.
func setNonblock(rw io.ReadWriter) {
	sc, ok := rw.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), true) })
}

// receive runs the chip on bytes from the host and returns what to send.
func (s *Sim) receive(b []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Bytes += len(b)
	for _, x := range b {
		if s.fault == FaultOffline || s.fault == FaultTimeout {
			continue
		}
		if s.c.asleep {
			if x == 0x55 {
				s.c.asleep = false
				s.stats.Wakeups++
			}
			continue
		}
		f, ok, err := s.c.rx.feed(x)
		if !ok {
			continue
		}
		if err != nil {
			s.stats.BadFrames++
			s.opts.Log.Debug().Err(err).Msg("frame dropped")
			continue
		}
		s.frame(f)
	}
	s.poll()
	s.notify()
	return s.take()
}

// control acts on a control call (Tap, Clear); it returns what to send.
func (s *Sim) control() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poll()
	s.notify()
	return s.take()
}

func (s *Sim) take() []byte {
	out := s.out
	s.out = nil
	return out
}

// notify wakes WaitStats; s.mu must be held.
func (s *Sim) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// frame handles one well-formed frame from the host; s.mu must be held.
func (s *Sim) frame(f rxFrame) {
	switch f.kind {
	case frameACK:
		s.stats.ACKs++
		if s.c.pending != nil {
			s.c.pending = nil
			s.stats.Aborts++
			s.opts.Log.Debug().Msg("TgInitAsTarget aborted by ACK")
		}
		return
	case frameNACK:
		s.stats.NACKs++
		if s.c.last != nil {
			s.stats.Resends++
			s.emit(s.c.last)
		}
		return
	}
	if f.tfi != tfiHost {
		s.stats.BadFrames++
		return
	}
	if f.ext {
		s.stats.Extended++
	}
	if s.once[DropCommand] > 0 {
		s.once[DropCommand]--
		return
	}
	s.stats.Commands++
	if s.once[DropACK] > 0 {
		s.once[DropACK]--
	} else {
		s.out = append(s.out, ackFrame...)
	}
	if len(f.body) == 0 {
		s.sendError()
		return
	}
	s.execute(f.body[0], f.body[1:])
}

// sendInfo sends a response information frame; s.mu must be held.
func (s *Sim) sendInfo(body ...byte) {
	s.c.last = encodeInfo(tfiChip, body)
	s.emit(s.c.last)
}

// sendError sends the application-level error frame (syntax error).
func (s *Sim) sendError() {
	s.c.last = errorFrame
	s.emit(errorFrame)
}

// emit queues a frame, committing the misbehaviours asked for.
func (s *Sim) emit(f []byte) {
	g := append([]byte(nil), f...)
	if s.fault == FaultProtocol {
		g[len(g)-2] ^= 0xFF
	}
	if s.once[Garbage] > 0 {
		s.once[Garbage]--
		s.out = append(s.out, garbage...)
	}
	if s.once[BadDCS] > 0 {
		s.once[BadDCS]--
		g[len(g)-2] ^= 0x5A
	}
	if s.once[BadLCS] > 0 {
		s.once[BadLCS]--
		if g[3] == 0xFF && g[4] == 0xFF {
			g[7] ^= 0x5A
		} else {
			g[4] ^= 0x5A
		}
	}
	if s.once[Truncate] > 0 {
		s.once[Truncate]--
		g = g[:len(g)/2]
	}
	s.out = append(s.out, g...)
}

// Commands the simulator implements (UM0701-02 chapter 7).
const (
	cmdDiagnose          = 0x00
	cmdGetFirmware       = 0x02
	cmdGetGeneralStatus  = 0x04
	cmdReadRegister      = 0x06
	cmdWriteRegister     = 0x08
	cmdSetParameters     = 0x12
	cmdSAMConfiguration  = 0x14
	cmdPowerDown         = 0x16
	cmdRFConfiguration   = 0x32
	cmdInListPassive     = 0x4A
	cmdInRelease         = 0x52
	cmdTgGetData         = 0x86
	cmdTgGetTargetStatus = 0x8A
	cmdTgInitAsTarget    = 0x8C
	cmdTgSetData         = 0x8E
)

// execute runs one command; s.mu must be held.
func (s *Sim) execute(cmd byte, p []byte) {
	s.opts.Log.Debug().Str("cmd", fmt.Sprintf("%02X", cmd)).Int("len", len(p)).Msg("command")
	if s.c.pending != nil {
		// A new command aborts the one in progress.
		s.c.pending = nil
		s.stats.Aborts++
	}
	switch cmd {
	case cmdDiagnose, cmdGetFirmware, cmdGetGeneralStatus, cmdReadRegister,
		cmdTgGetData, cmdTgSetData, cmdTgGetTargetStatus:
	default:
		s.endSession(false)
	}
	r := cmd + 1
	switch cmd {
	case cmdDiagnose:
		if len(p) == 0 || p[0] != 0x00 { // only the communication line test
			s.sendError()
			return
		}
		s.sendInfo(append([]byte{r}, p...)...)
	case cmdGetFirmware:
		fw := s.opts.Firmware
		s.sendInfo(r, fw[0], fw[1], fw[2], fw[3])
	case cmdGetGeneralStatus:
		field := byte(0)
		if s.c.sess != nil {
			field = 1
		}
		s.sendInfo(r, 0x00, field, 0x00, 0x00)
	case cmdReadRegister:
		if len(p) == 0 || len(p)%2 != 0 {
			s.sendError()
			return
		}
		out := []byte{r}
		for i := 0; i < len(p); i += 2 {
			out = append(out, s.c.regs[uint16(p[i])<<8|uint16(p[i+1])])
		}
		s.sendInfo(out...)
	case cmdWriteRegister:
		if len(p) == 0 || len(p)%3 != 0 {
			s.sendError()
			return
		}
		for i := 0; i < len(p); i += 3 {
			s.c.regs[uint16(p[i])<<8|uint16(p[i+1])] = p[i+2]
		}
		s.sendInfo(r)
	case cmdSetParameters:
		if len(p) != 1 {
			s.sendError()
			return
		}
		s.c.params = p[0]
		s.sendInfo(r)
	case cmdSAMConfiguration:
		if len(p) == 0 || p[0] < 1 || p[0] > 4 || (p[0] == 2 && len(p) < 2) || len(p) > 3 {
			s.sendError()
			return
		}
		s.sendInfo(r)
	case cmdPowerDown:
		if len(p) < 1 || len(p) > 2 {
			s.sendError()
			return
		}
		s.sendInfo(r, stOK)
		s.c.asleep = true
	case cmdRFConfiguration:
		if len(p) == 0 {
			s.sendError()
			return
		}
		s.sendInfo(r)
	case cmdInListPassive:
		if len(p) < 2 {
			s.sendError()
			return
		}
		s.sendInfo(r, 0x00) // no card in the field
	case cmdInRelease:
		s.sendInfo(r, stOK)
	case cmdTgInitAsTarget:
		s.tgInitAsTarget(p)
	case cmdTgGetData:
		s.tgGetData()
	case cmdTgSetData:
		s.tgSetData(p)
	case cmdTgGetTargetStatus:
		state := byte(0x00) // free
		if s.c.sess != nil {
			state = 0x01 // activated
		}
		s.sendInfo(r, state, 0x00)
	default:
		s.sendError()
	}
}

// tgInitAsTarget checks the parameters (UM0701-02 §7.3.14) and leaves
// the chip waiting for a reader, in power-down until the RF field wakes
// it.
func (s *Sim) tgInitAsTarget(p []byte) {
	// Mode, MifareParams 6, FeliCaParams 18, NFCID3t 10, LEN Gt, Gt, LEN Tk, Tk.
	const fixed = 1 + 6 + 18 + 10
	if len(p) < fixed+2 {
		s.sendError()
		return
	}
	gt := int(p[fixed])
	if gt > 47 || len(p) < fixed+1+gt+1 {
		s.sendError()
		return
	}
	tk := int(p[fixed+1+gt])
	if tk > 48 || len(p) != fixed+1+gt+1+tk {
		s.sendError()
		return
	}
	s.c.released = false
	s.c.pending = &target{mode: p[0], selRes: p[6]}
	s.c.asleep = true
}

// poll activates the pending target when a phone is near; s.mu must be
// held.
func (s *Sim) poll() {
	t := s.c.pending
	if s.tap == nil || t == nil || s.c.sess != nil || s.fault != "" {
		return
	}
	if t.mode&tgModeDEPOnly != 0 || t.selRes&selResISO14443Four == 0 || s.c.params&paramPICC == 0 {
		// The phone sees a tag without ISO-DEP: no Type 4 Tag to read.
		s.finishTap(nil, fmt.Errorf("%w: target is not ISO-DEP (mode %02X, SEL_RES %02X, parameters %02X)", ErrBadTag, t.mode, t.selRes, s.c.params))
		return
	}
	s.c.pending = nil
	s.c.asleep = false
	s.c.sess = &session{tap: s.tap, ph: &phone{}}
	s.stats.Taps++
	s.opts.Log.Info().Msg("phone activated the target")
	s.sendInfo(append([]byte{cmdTgInitAsTarget + 1, activatedMd}, rats...)...)
}

// tgGetData hands the host the phone's next C-APDU, or releases the
// target when the phone is done or gone.
func (s *Sim) tgGetData() {
	r := byte(cmdTgGetData + 1)
	sess := s.c.sess
	switch {
	case sess == nil && s.c.released:
		s.sendInfo(r, stReleased)
	case sess == nil:
		s.sendInfo(r, stBadState)
	case sess.tap == nil || sess.ph.step == phDone:
		s.endSession(true)
		s.sendInfo(r, stReleased)
	default:
		if !sess.awaiting {
			sess.capdu = sess.ph.command()
			sess.awaiting = true
		}
		s.sendInfo(append([]byte{r, stOK}, sess.capdu...)...)
	}
}

// tgSetData gives the phone the host's R-APDU.
func (s *Sim) tgSetData(p []byte) {
	r := byte(cmdTgSetData + 1)
	sess := s.c.sess
	switch {
	case sess == nil && s.c.released:
		s.sendInfo(r, stReleased)
	case sess == nil:
		s.sendInfo(r, stBadState)
	case sess.tap == nil:
		s.endSession(true)
		s.sendInfo(r, stReleased)
	case len(p) > 262:
		s.sendInfo(r, stOverflow)
	case !sess.awaiting:
		s.sendInfo(r, stBadState)
	default:
		sess.awaiting = false
		sess.ph.response(p)
		s.sendInfo(r, stOK)
	}
}

// endSession ends the active session, if any. A phone that finished
// gets its result; one cut off early stays near the antenna and starts
// again at the next activation, as a phone held to a tag does. s.mu
// must be held.
func (s *Sim) endSession(released bool) {
	sess := s.c.sess
	if sess == nil {
		return
	}
	s.c.sess = nil
	s.c.released = released
	if sess.tap == nil || sess.tap != s.tap {
		return
	}
	if sess.ph.step == phDone {
		s.finishTap(sess.ph.msg, sess.ph.err)
	}
}

// finishTap completes the current tap; s.mu must be held.
func (s *Sim) finishTap(msg []byte, err error) {
	if s.tap == nil {
		return
	}
	if err == nil {
		s.opts.Log.Info().Int("bytes", len(msg)).Msg("phone read the tag")
	} else {
		s.opts.Log.Info().Err(err).Msg("phone read nothing")
	}
	s.tap.done <- tapResult{ndef: msg, err: err}
	s.tap = nil
}

func (s *Sim) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Tap holds a phone to the antenna until it has read the tag. The phone
// waits for the host to put the PN532 in target mode (a pending
// TgInitAsTarget), activates it, then runs the Type 4 Tag NDEF read
// procedure over TgGetData/TgSetData: SELECT the NDEF application,
// SELECT and READ BINARY the capability container, SELECT the NDEF file,
// READ BINARY its NLEN and then the message in chunks of at most MLe
// bytes. Tap returns once the target was released (the host's next
// TgGetData answered 0x29) with the message read, or an error wrapping
// nfctag.ErrNoMessage when the tag has no NDEF application or an empty
// NDEF file, or ErrBadTag when the tag broke the protocol. A session
// the host cuts short is started again at the next activation. While
// the PN532 is off or hung (NFC-OFFLINE, NFC-TIMEOUT) Tap fails at once
// with an error wrapping hal.ErrOffline.
func (s *Sim) Tap(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pn532sim: tap: %w", err)
	}
	req := &tapReq{done: make(chan tapResult, 1)}
	s.mu.Lock()
	switch {
	case s.fault == FaultOffline || s.fault == FaultTimeout:
		s.mu.Unlock()
		return nil, fmt.Errorf("pn532sim: tap: PN532 does not answer (%s): %w", s.fault, hal.ErrOffline)
	case s.tap != nil:
		s.mu.Unlock()
		return nil, ErrTapBusy
	}
	s.tap = req
	s.notify()
	s.mu.Unlock()
	s.wake()
	select {
	case r := <-req.done:
		return r.ndef, r.err
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case r := <-req.done:
		return r.ndef, r.err
	default:
	}
	if s.tap == req {
		s.tap = nil
		if sess := s.c.sess; sess != nil && sess.tap == req {
			sess.tap = nil // the phone left: the next TgGetData releases
		}
	}
	return nil, fmt.Errorf("pn532sim: tap: %w", ctx.Err())
}

// Inject puts the PN532 into a fault (FaultOffline, FaultTimeout,
// FaultProtocol); an unknown code is an error wrapping hal.ErrInvalid.
// A phone tapping when the chip goes off or hangs gets an error.
func (s *Sim) Inject(code string) error {
	switch code {
	case FaultOffline, FaultTimeout, FaultProtocol:
	default:
		return fmt.Errorf("pn532sim: unknown fault %q: %w", code, hal.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = code
	if code != FaultProtocol {
		s.c.sess = nil
		s.finishTap(nil, fmt.Errorf("pn532sim: tap: PN532 does not answer (%s): %w", code, hal.ErrOffline))
	}
	s.opts.Log.Info().Str("fault", code).Msg("fault injected")
	s.notify()
	return nil
}

// Clear removes the injected fault and pending misbehaviours. A PN532
// that was off powers up in its power-on state.
func (s *Sim) Clear() {
	s.mu.Lock()
	if s.fault == FaultOffline {
		s.powerOn()
	}
	s.fault = ""
	clear(s.once)
	s.mu.Unlock()
	s.opts.Log.Info().Msg("faults cleared")
	s.wake()
}

// Misbehave makes the simulator commit m the next n times it has the
// chance (see the Misbehaviour constants).
func (s *Sim) Misbehave(m Misbehaviour, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.once[m] += n
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// WaitStats blocks until cond holds for the counters or ctx ends, and
// returns the counters it saw last. cond is checked again after every
// chunk of bytes the simulator handles and every control call.
func (s *Sim) WaitStats(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	for {
		s.mu.Lock()
		st, ch := s.stats, s.changed
		s.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("pn532sim: wait: %w", ctx.Err())
		}
	}
}
