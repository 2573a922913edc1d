package hostlink

import (
	"context"
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
}

// Serve accepts connections on ln until ctx ends, serving each in its own
// goroutine. Requests of one connection are handled concurrently, so a
// slow request does not hold up an echo; responses are written one at a
// time. A frame that does not unpack is logged without its contents and,
// when its MTI is a readable request, answered with the response MTI,
// its STAN if readable and response code 30 (format error). When ctx
// ends Serve closes ln and every connection, waits for its goroutines
// and returns nil; otherwise it returns the accept error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("hostlink: server has no handler")
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
	log.Info().Msg("terminal connected")
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

	reply := func(resp *Message) {
		b, err := Pack(resp)
		if err != nil {
			log.Error().Err(err).Str("msg", Describe(resp)).Msg("response not packable, not sent")
			return
		}
		wmu.Lock()
		defer wmu.Unlock()
		if err := WriteFrame(conn, b); err != nil {
			log.Warn().Err(err).Msg("response not sent")
			_ = conn.Close()
		}
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
				reply(resp)
			}
			continue
		}
		log.Debug().Str("msg", Describe(req)).Msg("request")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp := s.Handler.Handle(ctx, req); resp != nil {
				reply(resp)
			}
		}()
	}
}

// formatError builds the rc 30 answer to an unreadable request, or nil
// when its MTI is not a request.
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
