package hostlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/internal/clock"
)

// Client errors. ErrTimeout and ErrLinkLost mean the request may have
// reached the host: the outcome is unknown and a financial request must
// be reversed. Any other error from Send means nothing was sent.
var (
	ErrNotConnected = errors.New("hostlink: not connected to the host")
	ErrTimeout      = errors.New("hostlink: no response from the host, outcome unknown")
	ErrLinkLost     = errors.New("hostlink: link lost before the response, outcome unknown")
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultEchoInterval = 60 * time.Second
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 30 * time.Second
)

// signOffTimeout bounds the best-effort sign-off when Run stops.
const signOffTimeout = 5 * time.Second

// Direction says which way a message passed the Observe tap.
type Direction int

// Directions.
const (
	Outbound Direction = iota + 1 // ATM to host
	Inbound                       // host to ATM
)

// String returns "out" or "in".
func (d Direction) String() string {
	switch d {
	case Outbound:
		return "out"
	case Inbound:
		return "in"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// STANSource issues system trace audit numbers: six digits, 000001 to
// 999999, wrapping, never 000000. A journal-backed source keeps them
// unique across restarts.
type STANSource interface{ NextSTAN() string }

// Config configures a Client. Zero fields take the defaults given.
type Config struct {
	Addr       string // host address, "host:port"
	TerminalID string // field 41, up to 8 characters, set on every request
	AcceptorID string // field 42, up to 15 characters, set on every request

	Timeout      time.Duration // response timeout, DefaultTimeout
	EchoInterval time.Duration // echo after this long without traffic, DefaultEchoInterval
	MinBackoff   time.Duration // first reconnect delay, DefaultMinBackoff
	MaxBackoff   time.Duration // reconnect delay doubles up to this, DefaultMaxBackoff

	// Clock times the response timeout, the echo and the backoff;
	// clock.Real{} by default.
	Clock clock.Clock
	// Dial opens the connection; a net.Dialer over TCP with Timeout as
	// its connect timeout by default. When TLS is set, the TLS handshake
	// runs over the connection Dial returns.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// TLS, if set, wraps every connection in TLS with this configuration
	// (see LoadClientTLS for mutual TLS). When its ServerName is empty
	// the host part of Addr is used. The handshake must complete within
	// Timeout.
	TLS *tls.Config
	// MAC, if set, signs every outgoing request of a type NeedsMAC names
	// (PackMAC) and verifies every incoming message of such a type
	// (VerifyMAC). A response with a missing or bad MAC is rejected: it
	// is logged, reported to OnReject, and otherwise treated as no
	// response, so the request waiting for it ends with ErrTimeout. When
	// MAC is nil, nothing is signed or verified.
	MAC MACer
	// Written, when set, is called after a request has been written to
	// the connection (Observe is called just before).
	Written func(m *Message)
	// OnReject, if set, is told of every message from the host that was
	// rejected for its MAC, with the reason (wrapping ErrNoMAC or
	// ErrBadMAC), so the ATM can journal it. It is called from the
	// connection's reader: it must not block for long and must not keep
	// or modify the message. A rejected message does not reach Observe.
	OnReject func(m *Message, reason error)
	// STAN numbers requests that have none; an in-memory counter from
	// 000001 by default.
	STAN STANSource
	// Observe, if set, sees a copy of every message just before it is
	// written and every message read and accepted, including echoes and
	// responses nobody waits for (not those rejected for their MAC).
	// Calls are serialised; Observe must not block for long and must not
	// modify the message.
	Observe func(dir Direction, m *Message)
	// Log receives link events; disabled by default.
	Log zerolog.Logger
}

// Client is the ATM side of the host link: one connection, signed on,
// kept alive by echoes and re-established with backoff when it fails.
// Run drives it; Send may be called from any goroutine, also concurrently.
type Client struct {
	cfg    Config
	events chan bool
	obsMu  sync.Mutex

	mu   sync.Mutex
	sess *session // non-nil while signed on
}

// NewClient returns a client for cfg with defaults applied. Nothing
// happens until Run is called.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.EchoInterval <= 0 {
		cfg.EchoInterval = DefaultEchoInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: cfg.Timeout}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	if cfg.STAN == nil {
		cfg.STAN = &stanCounter{}
	}
	return &Client{cfg: cfg, events: make(chan bool, 1)}
}

// Up reports whether the client is connected and signed on.
func (c *Client) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// Events delivers link transitions: true when signed on, false when the
// link is lost or Run stops. The channel holds one value; when the reader
// is slow an undelivered value is replaced by the newer one, so the
// latest state always wins and the client never blocks.
func (c *Client) Events() <-chan bool { return c.events }

// Run connects, signs on (0800, field 70 "001", which must be answered
// by 0810 with response code 00), sends an echo (0800, "301") whenever
// the link has been idle for EchoInterval, and on any failure marks the
// link down and reconnects after a backoff that doubles from MinBackoff
// to MaxBackoff. When ctx ends it marks the link down, tries a sign-off
// (0800, "002") with a short timeout, closes the connection and returns
// nil. It returns an error only for an unusable Config. Call it once.
func (c *Client) Run(ctx context.Context) error {
	if err := c.validate(); err != nil {
		return err
	}
	log := c.cfg.Log.With().Str("host", c.cfg.Addr).Logger()
	backoff := c.cfg.MinBackoff
	for {
		s, err := c.connect(ctx)
		if err == nil {
			backoff = c.cfg.MinBackoff
			c.setSession(s)
			log.Info().Msg("link up")
			err = c.keepAlive(ctx, s)
			c.setSession(nil)
			if ctx.Err() != nil {
				c.signOff(s)
				s.shutdown(ErrNotConnected)
				log.Info().Msg("link down: stopped")
				return nil
			}
			s.shutdown(err)
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn().Err(err).Dur("retry_in", backoff).Msg("link down")
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Clock.After(backoff):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

func (c *Client) validate() error {
	switch {
	case c.cfg.Addr == "":
		return errors.New("hostlink: config: no host address")
	case c.cfg.TerminalID == "" || len(c.cfg.TerminalID) > 8:
		return errors.New("hostlink: config: terminal id must be 1 to 8 characters")
	case len(c.cfg.AcceptorID) > 15:
		return errors.New("hostlink: config: acceptor id longer than 15 characters")
	}
	return nil
}

// connect dials and signs on.
func (c *Client) connect(ctx context.Context) (*session, error) {
	conn, err := c.cfg.Dial(ctx, c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("hostlink: dial: %w", err)
	}
	if c.cfg.TLS != nil {
		if conn, err = c.handshake(ctx, conn); err != nil {
			return nil, err
		}
	}
	s := c.startSession(conn)
	resp, err := c.exchange(ctx, s, &Message{MTI: MTINetRequest, NetCode: NetSignOn}, c.cfg.Timeout)
	if err != nil {
		err = fmt.Errorf("%w (sign-on)", err)
	} else if resp.RespCode != RCApproved {
		err = fmt.Errorf("hostlink: sign-on refused with response code %q", resp.RespCode)
	}
	if err != nil {
		s.shutdown(err)
		return nil, err
	}
	return s, nil
}

// handshake runs the TLS client handshake over conn, bounded by Timeout.
// It closes conn when the handshake fails.
func (c *Client) handshake(ctx context.Context, conn net.Conn) (net.Conn, error) {
	cfg := c.cfg.TLS.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(c.cfg.Addr)
		if err != nil {
			host = c.cfg.Addr
		}
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("hostlink: tls handshake: %w", err)
	}
	return tc, nil
}

// keepAlive echoes whenever the link has been idle for EchoInterval. It
// returns when ctx ends, the connection fails or an echo goes unanswered.
func (c *Client) keepAlive(ctx context.Context, s *session) error {
	for {
		idle := c.cfg.Clock.Now().Sub(s.lastActive())
		if idle >= c.cfg.EchoInterval {
			echo := &Message{MTI: MTINetRequest, NetCode: NetEcho}
			if _, err := c.exchange(ctx, s, echo, c.cfg.Timeout); err != nil {
				return fmt.Errorf("%w (echo)", err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return s.cause()
		case <-c.cfg.Clock.After(c.cfg.EchoInterval - idle):
		}
	}
}

// signOff tells the host the terminal is leaving, best effort.
func (c *Client) signOff(s *session) {
	bye := &Message{MTI: MTINetRequest, NetCode: NetSignOff}
	if _, err := c.exchange(context.Background(), s, bye, min(c.cfg.Timeout, signOffTimeout)); err != nil {
		c.cfg.Log.Debug().Err(err).Msg("sign-off unanswered")
	}
}

func (c *Client) setSession(s *session) {
	c.mu.Lock()
	changed := (c.sess != nil) != (s != nil)
	c.sess = s
	c.mu.Unlock()
	if !changed {
		return
	}
	for up := s != nil; ; {
		select {
		case c.events <- up:
			return
		default:
		}
		select {
		case <-c.events:
		default:
		}
	}
}

// Send sends request m and returns the host's response: the message
// whose MTI is ResponseMTI(m.MTI) and whose STAN is m's. Before sending
// it sets on m itself the terminal and acceptor ids from Config, the
// STAN and the transmission time when empty (the ATM sets both itself on
// financial requests, to journal them first), and the local time and date
// when both are empty (so a repeat keeps its original local time); the
// caller can build a reversal from m afterwards. With Config.MAC set, a
// request of a type NeedsMAC names is signed (m.MAC is set too), and
// only a response whose MAC verifies is returned.
//
// It waits up to Config.Timeout on the Clock, or until ctx ends. Errors:
// ErrNotConnected when the link is down (nothing sent); ErrTimeout when
// no response came in time or ctx ended after sending (the error also
// wraps ctx.Err()); ErrLinkLost when the connection failed after
// sending. After ErrTimeout or ErrLinkLost the outcome is unknown. Any
// other error (a message that does not pack or could not be signed, a
// STAN already in flight, ctx ended before sending) means nothing was
// sent.
func (c *Client) Send(ctx context.Context, m *Message) (*Message, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return nil, ErrNotConnected
	}
	return c.exchange(ctx, s, m, c.cfg.Timeout)
}

// InFlight returns how many requests on the current connection wait for
// their response (keep-alive echoes included). Test harnesses that drive
// a fake clock wait for it to reach zero before moving time on, so a
// response on its way is not overtaken by its own timeout.
func (c *Client) InFlight() int {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// exchange fills in m, sends it on s and waits for its response.
func (c *Client) exchange(ctx context.Context, s *session, m *Message, timeout time.Duration) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hostlink: %s not sent: %w", m.MTI, err)
	}
	c.fill(m)
	key := ResponseMTI(m.MTI) + m.STAN
	if key == m.STAN {
		return nil, fmt.Errorf("hostlink: %s is not a request", m.MTI)
	}
	var b []byte
	var err error
	if c.cfg.MAC != nil && NeedsMAC(m.MTI) {
		b, err = PackMAC(ctx, m, c.cfg.MAC)
	} else {
		b, err = Pack(m)
	}
	if err != nil {
		return nil, err
	}
	ch := make(chan *Message, 1)
	if err := s.register(key, ch); err != nil {
		return nil, err
	}
	defer s.unregister(key)

	expired := c.cfg.Clock.After(timeout)
	cp := *m
	select {
	case s.out <- outFrame{msg: &cp, b: b}:
	case <-s.done:
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, s.cause())
	case <-ctx.Done():
		return nil, fmt.Errorf("hostlink: %s stan %s not sent: %w", m.MTI, m.STAN, ctx.Err())
	case <-expired:
		return nil, fmt.Errorf("%w: connection stalled, %s stan %s not sent", ErrNotConnected, m.MTI, m.STAN)
	}

	select {
	case r := <-ch:
		return r, nil
	case <-s.done:
	case <-ctx.Done():
	case <-expired:
	}
	select { // a response that raced the failure still counts
	case r := <-ch:
		return r, nil
	default:
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %s stan %s: %w", ErrTimeout, m.MTI, m.STAN, ctx.Err())
	case isClosed(s.done):
		return nil, fmt.Errorf("%w: %s stan %s: %w", ErrLinkLost, m.MTI, m.STAN, s.cause())
	default:
		return nil, fmt.Errorf("%w: %s stan %s after %v", ErrTimeout, m.MTI, m.STAN, timeout)
	}
}

func (c *Client) fill(m *Message) {
	now := c.cfg.Clock.Now()
	m.TerminalID = c.cfg.TerminalID
	if c.cfg.AcceptorID != "" {
		m.AcceptorID = c.cfg.AcceptorID
	}
	if m.STAN == "" {
		m.STAN = c.cfg.STAN.NextSTAN()
	}
	if m.TransmitTime == "" {
		// The ATM sets it itself on financial requests, before it
		// journals them: a reversal after a crash must name it exactly.
		m.TransmitTime = now.UTC().Format("0102150405")
	}
	if m.LocalTime == "" && m.LocalDate == "" {
		m.LocalTime = now.Format("150405")
		m.LocalDate = now.Format("0102")
	}
}

// reject drops a message whose MAC failed: logged, reported to OnReject,
// never delivered, so its waiter keeps waiting.
func (c *Client) reject(m *Message, reason error) {
	c.cfg.Log.Warn().Err(reason).Str("msg", Describe(m)).Msg("message from host rejected: MAC")
	if c.cfg.OnReject != nil {
		c.cfg.OnReject(m, reason)
	}
}

func (c *Client) observe(dir Direction, m *Message) {
	if c.cfg.Observe == nil {
		return
	}
	c.obsMu.Lock()
	defer c.obsMu.Unlock()
	c.cfg.Observe(dir, m)
}

// outFrame is a packed request on its way to the writer.
type outFrame struct {
	msg *Message
	b   []byte
}

// session is one connection: a reader goroutine that hands responses to
// the waiting requests, and a writer goroutine, so a stalled socket never
// blocks a caller past its timeout or context.
type session struct {
	conn   net.Conn
	out    chan outFrame
	done   chan struct{}   // closed when the reader has stopped
	ctx    context.Context // ends when the session fails, for MAC checks
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[string]chan *Message // by response MTI + STAN
	active  time.Time                // last frame read or written
	err     error                    // why the session ended
}

func (c *Client) startSession(conn net.Conn) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		conn:    conn,
		out:     make(chan outFrame),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		pending: make(map[string]chan *Message),
		active:  c.cfg.Clock.Now(),
	}
	s.wg.Add(2)
	go c.readLoop(s)
	go c.writeLoop(s)
	return s
}

func (c *Client) readLoop(s *session) {
	defer s.wg.Done()
	defer close(s.done)
	for {
		b, err := ReadFrame(s.conn, 0)
		if err != nil {
			s.fail(err)
			return
		}
		s.touch(c.cfg.Clock.Now())
		m, err := Unpack(b)
		if err != nil {
			c.cfg.Log.Warn().Err(err).Int("len", len(b)).Msg("unreadable message from host dropped")
			continue
		}
		if c.cfg.MAC != nil && NeedsMAC(m.MTI) {
			if err := VerifyMAC(s.ctx, b, c.cfg.MAC); err != nil {
				c.reject(m, err)
				continue
			}
		}
		c.observe(Inbound, m)
		if !s.deliver(m) {
			c.cfg.Log.Warn().Str("msg", Describe(m)).Msg("message nobody waits for dropped")
		}
	}
}

func (c *Client) writeLoop(s *session) {
	defer s.wg.Done()
	for {
		select {
		case f := <-s.out:
			c.observe(Outbound, f.msg)
			if err := WriteFrame(s.conn, f.b); err != nil {
				s.fail(err)
				return
			}
			if c.cfg.Written != nil {
				c.cfg.Written(f.msg)
			}
			s.touch(c.cfg.Clock.Now())
		case <-s.done:
			return
		}
	}
}

func (s *session) register(key string, ch chan *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fmt.Errorf("%w: %w", ErrNotConnected, s.err)
	}
	if _, dup := s.pending[key]; dup {
		return fmt.Errorf("hostlink: a request awaiting %s is already in flight", key)
	}
	s.pending[key] = ch
	return nil
}

func (s *session) unregister(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, key)
}

// deliver hands m to the request waiting for it.
func (s *session) deliver(m *Message) bool {
	key := m.MTI + m.STAN
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.pending[key]
	if ok {
		delete(s.pending, key)
		ch <- m // buffered, and each key is delivered at most once
	}
	return ok
}

func (s *session) touch(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = t
}

func (s *session) lastActive() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// fail records the first cause and closes the connection, which stops
// the reader and so the writer.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	_ = s.conn.Close()
}

// shutdown fails the session and waits for its goroutines.
func (s *session) shutdown(err error) {
	s.fail(err)
	s.wg.Wait()
}

func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return ErrNotConnected
	}
	return s.err
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stanCounter is the default STANSource.
type stanCounter struct {
	mu sync.Mutex
	n  int
}

// NextSTAN returns the next number, 000001 after 999999.
func (c *stanCounter) NextSTAN() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = c.n%999999 + 1
	return fmt.Sprintf("%06d", c.n)
}
