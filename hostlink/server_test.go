package hostlink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialHost opens a raw connection to host.
func dialHost(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func sendRaw(t *testing.T, conn net.Conn, msg []byte) {
	t.Helper()
	if err := WriteFrame(conn, msg); err != nil {
		t.Fatal(err)
	}
}

func sendMsg(t *testing.T, conn net.Conn, m *Message) {
	t.Helper()
	b, err := Pack(m)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, conn, b)
}

func readMsg(t *testing.T, conn net.Conn) *Message {
	t.Helper()
	b, err := ReadFrame(conn, 0)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	m, err := Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func echoReq(stan string) *Message {
	return &Message{MTI: MTINetRequest, STAN: stan, NetCode: NetEcho}
}

func TestServerAnswersFormatErrors(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	conn := dialHost(t, host.addr)

	// A 0200 whose field 49 is not numeric: the STAN is still readable.
	good, err := Pack(&Message{MTI: MTIFinRequest, STAN: "000042", Currency: "901"})
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(good, []byte("901"), []byte("9A1"), 1)
	sendRaw(t, conn, bad)
	resp := readMsg(t, conn)
	if resp.MTI != MTIFinResponse || resp.STAN != "000042" || resp.RespCode != RCFormatError {
		t.Errorf("answer to a bad 0200 = %s, want 0210 stan 000042 rc 30", Describe(resp))
	}

	// Garbage that is not a readable request gets no answer, and the
	// connection goes on: the next frame read answers the echo.
	for _, junk := range []string{"hello", "0210zz", "\x00\x01\x02", "08"} {
		sendRaw(t, conn, []byte(junk))
	}
	sendMsg(t, conn, echoReq("000043"))
	if resp := readMsg(t, conn); resp.STAN != "000043" || resp.RespCode != RCApproved {
		t.Errorf("after garbage the host answered %s, want the echo response", Describe(resp))
	}
}

func TestServerOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Handler: HandlerFunc(approve), MaxFrame: 64}
	go func() { done <- srv.Serve(ctx, ln) }()

	bad, good := dialHost(t, ln.Addr().String()), dialHost(t, ln.Addr().String())
	sendRaw(t, bad, bytes.Repeat([]byte("0"), 65))
	// The server closes with our bytes unread, so the close may arrive as
	// a reset.
	if _, err := ReadFrame(bad, 0); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("oversize frame: read = %v, want the connection closed", err)
	}
	sendMsg(t, good, echoReq("000001"))
	if resp := readMsg(t, good); resp.RespCode != RCApproved {
		t.Errorf("other connection answered %s", Describe(resp))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return")
	}
	if _, err := ReadFrame(good, 0); !errors.Is(err, io.EOF) {
		t.Errorf("after Serve returned: read = %v, want the connection closed", err)
	}
}

func TestServerSlowRequestDoesNotBlockEcho(t *testing.T) {
	gate := make(chan struct{})
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		if req.MTI == MTIFinRequest {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil
			}
		}
		return approve(ctx, req)
	})
	conn := dialHost(t, host.addr)
	sendMsg(t, conn, &Message{MTI: MTIFinRequest, STAN: "000001", Amount: 5})
	host.next(t)
	sendMsg(t, conn, echoReq("000002"))
	if resp := readMsg(t, conn); resp.MTI != MTINetResponse || resp.STAN != "000002" {
		t.Fatalf("first response %s, want the echo's", Describe(resp))
	}
	close(gate)
	if resp := readMsg(t, conn); resp.MTI != MTIFinResponse || resp.STAN != "000001" {
		t.Fatalf("second response %s, want the 0210", Describe(resp))
	}
}

func TestServerNilResponseSendsNothing(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", func(ctx context.Context, req *Message) *Message {
		if req.STAN == "000001" {
			return nil
		}
		return approve(ctx, req)
	})
	conn := dialHost(t, host.addr)
	sendMsg(t, conn, echoReq("000001"))
	sendMsg(t, conn, echoReq("000002"))
	if resp := readMsg(t, conn); resp.STAN != "000002" {
		t.Errorf("got the response for %s, want only 000002's", resp.STAN)
	}
}

func TestServerReadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := &Server{Handler: HandlerFunc(approve), ReadTimeout: 50 * time.Millisecond}
	go srv.Serve(ctx, ln)
	conn := dialHost(t, ln.Addr().String())
	start := time.Now()
	if _, err := ReadFrame(conn, 0); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read = %v, want closed by the server", err)
	}
	if time.Since(start) >= wait {
		t.Error("closed by the test deadline, not the server")
	}
}

func TestServerNeedsHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := new(Server).Serve(context.Background(), ln); err == nil || !strings.HasPrefix(err.Error(), "hostlink: ") {
		t.Errorf("Serve without a handler = %v", err)
	}
}
