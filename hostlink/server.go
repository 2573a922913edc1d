package hostlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/moov-io/iso8583"
	"github.com/rs/zerolog"
)

// Handler answers one request. A nil response sends nothing. Handle is
// called concurrently, also for requests of the same connection; ctx ends
// when the connection closes or the server stops.
type Handler interface {
	Handle(ctx context.Context, req *Message) *Message
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Message) *Message

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req *Message) *Message { return f(ctx, req) }

// Server is the host side of the link, used by the reference host. The
// zero value with a Handler is ready to use.
type Server struct {
	Handler Handler
	// Log receives connection events; disabled by default.
	Log zerolog.Logger
	// MaxFrame limits an incoming message; MaxFrameLen when zero.
	MaxFrame int
	// ReadTimeout closes a connection silent for this long; none when
	// zero. Set it above the clients' echo interval.
	ReadTimeout time.Duration
	// TLS, if set, makes Serve wrap its listener with tls.NewListener:
	// every connection must complete a TLS handshake (within
	// ReadTimeout, or DefaultHandshakeTimeout when that is zero) before
	// a frame is read. Use LoadServerTLS for mutual TLS. Pass a plain
	// listener: do not wrap it yourself as well.
	TLS *tls.Config
	// MAC, if set, turns MAC checks on: it returns the MACer for the
	// terminal named in field 41 of a request. Every request of a type
	// NeedsMAC names must then carry a MAC that verifies under it;
	// otherwise the request is not handed to Handler but answered with
	// response code 63 (security violation), MAC'd when the terminal has
	// a MACer and signing succeeds. A nil MACer for a terminal (no MAC
	// key) fails every such request. Responses of a type NeedsMAC names
	// are signed with the MACer of their request's terminal; one that
	// cannot be signed is not sent (the terminal would reject it). MAC is
	// called only for messages that need a MAC, concurrently. Nil means
	// no MAC checks.
	MAC func(terminalID string) MACer
	// OnReject, if set, is told of every request refused for its MAC,
	// with the reason (wrapping ErrNoMAC or ErrBadMAC), after the rc 63
	// answer was queued. It is called concurrently and must not keep or
	// modify the message.
	OnReject func(req *Message, reason error)
}

// DefaultHandshakeTimeout bounds a server-side TLS handshake when
// Server.ReadTimeout is zero.
const DefaultHandshakeTimeout = 30 * time.Second

// Serve accepts connections on ln until ctx ends, serving each in its own
// goroutine; with TLS set it wraps ln in TLS first. Requests of one
// connection are handled concurrently, so a slow request does not hold
// up an echo; responses are written one at a time. A frame that does not
// unpack is logged without its contents and, when its MTI is a readable
// request, answered with the response MTI, its STAN if readable and
// response code 30 (format error), never MAC'd (with MACs on, the
// terminal rejects it and reverses). A request whose MAC fails is
// answered as Server.MAC describes. When ctx ends Serve closes ln and
// every connection, waits for its goroutines and returns nil; otherwise
// it returns the accept error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("hostlink: server has no handler")
	}
	if s.TLS != nil {
		ln = tls.NewListener(ln, s.TLS)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	for {
		conn, err := ln.Accept()
		if err != nil {
			if parent.Err() != nil {
				return nil
			}
			return fmt.Errorf("hostlink: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	log := s.Log.With().Str("peer", conn.RemoteAddr().String()).Logger()
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg  sync.WaitGroup
		wmu sync.Mutex
	)
	defer func() {
		cancel()
		_ = conn.Close()
		wg.Wait()
	}()
	context.AfterFunc(ctx, func() { _ = conn.Close() })
	if tc, ok := conn.(*tls.Conn); ok {
		if err := s.handshake(ctx, tc); err != nil {
			log.Warn().Err(err).Msg("terminal refused: TLS handshake failed")
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			log = log.With().Str("cert", certs[0].Subject.CommonName).Logger()
		}
	}
	log.Info().Msg("terminal connected")

	send := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		if err := WriteFrame(conn, b); err != nil {
			log.Warn().Err(err).Msg("response not sent")
			_ = conn.Close()
		}
	}
	// reply packs resp, signed when mac is set, and sends it. A response
	// that cannot be signed is not sent: unsigned, the terminal would
	// reject it anyway.
	reply := func(resp *Message, mac MACer) {
		var (
			b   []byte
			err error
		)
		if mac != nil {
			b, err = PackMAC(ctx, resp, mac)
		} else {
			b, err = Pack(resp)
		}
		if err != nil {
			log.Error().Err(err).Str("msg", Describe(resp)).Msg("response not packable, not sent")
			return
		}
		send(b)
	}

	for {
		if s.ReadTimeout > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(s.ReadTimeout))
		}
		b, err := ReadFrame(conn, s.MaxFrame)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				log.Warn().Err(err).Msg("closing connection")
			} else {
				log.Info().Msg("terminal disconnected")
			}
			return
		}
		req, err := Unpack(b)
		if err != nil {
			log.Warn().Err(err).Int("len", len(b)).Msg("unreadable request")
			if resp := formatError(b); resp != nil {
				reply(resp, nil) // not authenticated, so not signed
			}
			continue
		}
		log.Debug().Str("msg", Describe(req)).Msg("request")
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mac MACer
			if s.MAC != nil && NeedsMAC(req.MTI) {
				mac = s.MAC(req.TerminalID)
				if err := VerifyMAC(ctx, b, mac); err != nil {
					s.refuse(ctx, log, req, err, mac, send)
					return
				}
			}
			resp := s.Handler.Handle(ctx, req)
			if resp == nil {
				return
			}
			switch {
			case s.MAC == nil || !NeedsMAC(resp.MTI):
				mac = nil
			case mac == nil:
				if mac = s.MAC(req.TerminalID); mac == nil {
					log.Error().Str("msg", Describe(resp)).Msg("response not sent: no MAC key for the terminal")
					return
				}
			}
			reply(resp, mac)
		}()
	}
}

// handshake completes the server side of the TLS handshake, bounded by
// ReadTimeout or DefaultHandshakeTimeout.
func (s *Server) handshake(ctx context.Context, tc *tls.Conn) error {
	d := s.ReadTimeout
	if d <= 0 {
		d = DefaultHandshakeTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("hostlink: tls handshake: %w", err)
	}
	return nil
}

// refuse answers a request whose MAC failed with response code 63,
// MAC'd when mac can sign it and plain otherwise, without calling the
// handler. The answer repeats the request's fields 2, 3, 4, 7, 11, 41,
// 42, 49 and 90.
func (s *Server) refuse(ctx context.Context, log zerolog.Logger, req *Message, reason error, mac MACer, send func([]byte)) {
	log.Warn().Err(reason).Str("msg", Describe(req)).Msg("request refused: MAC")
	if mti := ResponseMTI(req.MTI); mti != "" {
		resp := &Message{
			MTI: mti, STAN: req.STAN, TransmitTime: req.TransmitTime, TerminalID: req.TerminalID,
			AcceptorID: req.AcceptorID, PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
			Currency: req.Currency, Original: req.Original, RespCode: RCSecurityViolation,
		}
		var (
			b   []byte
			err error
		)
		if mac != nil && NeedsMAC(mti) {
			if b, err = PackMAC(ctx, resp, mac); err != nil {
				log.Warn().Err(err).Msg("rc 63 answer sent without a MAC: signing failed")
			}
		}
		if b == nil {
			if b, err = Pack(resp); err != nil {
				log.Error().Err(err).Str("msg", Describe(resp)).Msg("rc 63 answer not packable, not sent")
				return
			}
		}
		send(b)
	}
	if s.OnReject != nil {
		s.OnReject(req, reason)
	}
}

// formatError builds the rc 30 answer to an unreadable request, or nil
// when its MTI is not a request. It keeps the STAN when it can be read.
// It is never signed: the request could not be authenticated.
func formatError(b []byte) *Message {
	if len(b) < 4 {
		return nil
	}
	mti := ResponseMTI(string(b[:4]))
	if mti == "" {
		return nil
	}
	resp := &Message{MTI: mti, RespCode: RCFormatError}
	sc := iso8583.NewMessageScanner(Spec, b)
	if f, err := sc.ScanField(11); err == nil {
		if stan, err := f.String(); err == nil && len(stan) == 6 && isDigits(stan) {
			resp.STAN = stan
		}
	}
	return resp
}
