package hostlink

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmd/atmd/internal/mac"
)

// demoMACKey is the MAC key of the golden examples and of these tests:
// the ANSI X9.19 example key K1‖K2, public test data.
const demoMACKey = "0123456789ABCDEFFEDCBA9876543210"

func demoMACer() *mac.Signer { return mustSigner(demoMACKey) }

// otherMACer holds another terminal's (or an attacker's) key.
func otherMACer() *mac.Signer { return mustSigner("FEDCBA98765432100123456789ABCDEF") }

func mustSigner(key string) *mac.Signer {
	s, err := mac.NewRetail(mustHex(key))
	if err != nil {
		panic(err)
	}
	return s
}

// funcMACer lets a test choose what Sign and Verify do.
type funcMACer struct {
	sign   func(ctx context.Context, data []byte) ([]byte, error)
	verify func(ctx context.Context, data, mac []byte) error
}

func (f funcMACer) Sign(ctx context.Context, data []byte) ([]byte, error) { return f.sign(ctx, data) }
func (f funcMACer) Verify(ctx context.Context, data, m []byte) error      { return f.verify(ctx, data, m) }

func TestNeedsMAC(t *testing.T) {
	for _, mti := range []string{"0100", "0110", "0200", "0210", "0420", "0421", "0430"} {
		if !NeedsMAC(mti) {
			t.Errorf("NeedsMAC(%s) = false", mti)
		}
	}
	for _, mti := range []string{"0800", "0810", "0220", "0400", "", "02"} {
		if NeedsMAC(mti) {
			t.Errorf("NeedsMAC(%q) = true", mti)
		}
	}
}

// TestPackMACCoversEverythingBeforeField128 checks where the MAC goes and
// what it covers, with the retail MAC computed independently.
func TestPackMACCoversEverythingBeforeField128(t *testing.T) {
	ctx := context.Background()
	m := golden()[6].m // 0200 withdrawal, no field above 64 but 128
	b, err := PackMAC(ctx, m, demoMACer())
	if err != nil {
		t.Fatal(err)
	}
	// Bit 1 announces the secondary bitmap, whose only bit is 128.
	if got := string(b[4:36]); got != "F23C060020C19200"+"0000000000000001" {
		t.Errorf("bitmaps = %s", got)
	}
	n := len(b) - 16
	want, err := mac.RetailMAC(mustHex(demoMACKey), b[:n])
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b[n:]); got != strings.ToUpper(string(hexOf(want))) {
		t.Errorf("field 128 = %s, want %X", got, want)
	}
	if !bytes.Equal(m.MAC, want) {
		t.Errorf("m.MAC = %X, want %X", m.MAC, want)
	}
	back, err := Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.MAC, want) {
		t.Errorf("unpacked MAC = %X, want %X", back.MAC, want)
	}
	// Packing the message with its MAC gives the same bytes.
	if again, err := Pack(m); err != nil || !bytes.Equal(again, b) {
		t.Errorf("Pack of the signed message differs: %v", err)
	}
	if err := VerifyMAC(ctx, b, demoMACer()); err != nil {
		t.Errorf("VerifyMAC = %v", err)
	}
}

func hexOf(b []byte) []byte {
	out := make([]byte, 2*len(b))
	putHex(out, b)
	return out
}

// TestVerifyMACRejectsEveryChange changes each byte of a signed message
// in turn: no change may pass.
func TestVerifyMACRejectsEveryChange(t *testing.T) {
	ctx := context.Background()
	for _, g := range golden() {
		if g.mac == nil {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			b, err := PackMAC(ctx, g.m, g.mac)
			if err != nil {
				t.Fatal(err)
			}
			for i := range b {
				b[i] ^= 0x01
				err := VerifyMAC(ctx, b, demoMACer())
				b[i] ^= 0x01
				if !errors.Is(err, ErrBadMAC) && !errors.Is(err, ErrNoMAC) {
					t.Fatalf("byte %d changed: VerifyMAC = %v", i, err)
				}
			}
			if err := VerifyMAC(ctx, b, otherMACer()); !errors.Is(err, ErrBadMAC) {
				t.Errorf("VerifyMAC with another key = %v, want ErrBadMAC", err)
			}
		})
	}
}

func TestVerifyMACWithoutMAC(t *testing.T) {
	ctx := context.Background()
	plain, err := Pack(golden()[6].m)
	if err != nil {
		t.Fatal(err)
	}
	echo, err := Pack(&Message{MTI: MTINetRequest, STAN: "000001", NetCode: NetEcho})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"no secondary bitmap":      plain,
		"secondary without 128":    echo,
		"empty":                    nil,
		"short":                    []byte("0200F0"),
		"bitmap not hex":           []byte("0200ZZ000000000000000000000000000000000000000000000000"),
		"secondary bitmap not hex": []byte("0200800000000000000000000000000000ZZ0102030405060708"),
	} {
		if err := VerifyMAC(ctx, b, demoMACer()); !errors.Is(err, ErrNoMAC) {
			t.Errorf("%s: VerifyMAC = %v, want ErrNoMAC", name, err)
		}
	}
	signed, err := PackMAC(ctx, golden()[6].m, demoMACer())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyMAC(ctx, signed, nil); !errors.Is(err, ErrBadMAC) {
		t.Errorf("VerifyMAC without a MACer = %v, want ErrBadMAC", err)
	}
	failing := funcMACer{verify: func(context.Context, []byte, []byte) error { return errors.New("epp: offline") }}
	if err := VerifyMAC(ctx, signed, failing); !errors.Is(err, ErrBadMAC) {
		t.Errorf("VerifyMAC with a failing MACer = %v, want ErrBadMAC", err)
	}
}

func TestPackMACErrors(t *testing.T) {
	ctx := context.Background()
	sentinel := errors.New("epp: no MAC key loaded")
	tests := []struct {
		name string
		s    MACer
		m    *Message
	}{
		{"no MACer", nil, withdrawal(100)},
		{"MACer fails", funcMACer{sign: func(context.Context, []byte) ([]byte, error) { return nil, sentinel }}, withdrawal(100)},
		{"short MAC", funcMACer{sign: func(context.Context, []byte) ([]byte, error) { return make([]byte, 7), nil }}, withdrawal(100)},
		{"long MAC", funcMACer{sign: func(context.Context, []byte) ([]byte, error) { return make([]byte, 16), nil }}, withdrawal(100)},
		{"does not pack", demoMACer(), &Message{MTI: "02x0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.STAN = "000001"
			b, err := PackMAC(ctx, tt.m, tt.s)
			if err == nil {
				t.Fatalf("PackMAC = %q", b)
			}
			if !strings.HasPrefix(err.Error(), "hostlink: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if tt.m.MAC != nil {
				t.Error("a failed PackMAC set m.MAC")
			}
		})
	}
	_, err := PackMAC(ctx, withdrawal(100), tests[1].s)
	if !errors.Is(err, sentinel) {
		t.Errorf("PackMAC = %v, want the MACer's error wrapped", err)
	}
}

func FuzzVerifyMAC(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden frames: %v", err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mustHex(strings.TrimSpace(string(b)))[2:])
	}
	v := demoMACer()
	f.Fuzz(func(t *testing.T, b []byte) {
		err := VerifyMAC(context.Background(), b, v)
		if err != nil && !errors.Is(err, ErrNoMAC) && !errors.Is(err, ErrBadMAC) {
			t.Fatalf("VerifyMAC = %v, want nil, ErrNoMAC or ErrBadMAC", err)
		}
		if err == nil {
			n := len(b) - 16
			want, _ := mac.RetailMAC(mustHex(demoMACKey), b[:n])
			if !strings.EqualFold(string(b[n:]), string(hexOf(want))) {
				t.Fatal("VerifyMAC accepted a wrong MAC")
			}
		}
	})
}

// rawHost is a fake host on 127.0.0.1 that answers 0800s itself and
// writes back, byte for byte, whatever respond returns for any other
// request: tampered, unsigned or wrongly signed responses that a real
// Server never sends.
type rawHost struct {
	addr string
	reqs chan *Message
}

func startRawHost(t *testing.T, respond func(t *testing.T, req *Message) [][]byte) *rawHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &rawHost{addr: ln.Addr().String(), reqs: make(chan *Message, 100)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	serve := func(conn net.Conn) {
		for {
			b, err := ReadFrame(conn, 0)
			if err != nil {
				return
			}
			req, err := Unpack(b)
			if err != nil {
				t.Errorf("raw host: %v", err)
				return
			}
			var out [][]byte
			if req.MTI == MTINetRequest {
				resp, err := Pack(approve(context.Background(), req))
				if err != nil {
					t.Error(err)
					return
				}
				out = [][]byte{resp}
			} else {
				h.reqs <- req
				out = respond(t, req)
			}
			for _, b := range out {
				if err := WriteFrame(conn, b); err != nil {
					return
				}
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return h
}

func (h *rawHost) next(t *testing.T) *Message {
	t.Helper()
	select {
	case m := <-h.reqs:
		return m
	case <-time.After(wait):
		t.Fatal("raw host received no request")
		return nil
	}
}

// declined is the host's answer to a withdrawal: do not honour.
func declined(req *Message) *Message {
	return &Message{
		MTI: ResponseMTI(req.MTI), PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
		TransmitTime: req.TransmitTime, STAN: req.STAN, RRN: "607401000009", RespCode: RCDoNotHonour,
		TerminalID: req.TerminalID, AcceptorID: req.AcceptorID, Currency: req.Currency,
	}
}

func mustPackMAC(t *testing.T, m *Message, s MACer) []byte {
	t.Helper()
	b, err := PackMAC(context.Background(), m, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPack(t *testing.T, m *Message) []byte {
	t.Helper()
	b, err := Pack(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Ways to spoil the host's signed 0210 on its way to the ATM.
var spoiled = []struct {
	name  string
	want  error
	frame func(t *testing.T, resp *Message) []byte
}{
	{"decline turned into approval", ErrBadMAC, func(t *testing.T, resp *Message) []byte {
		genuine := mustPackMAC(t, resp, demoMACer())
		forged := *resp
		forged.RespCode = RCApproved // keeps the genuine MAC
		b := mustPack(t, &forged)
		if diff := countDiff(genuine, b); diff != 1 {
			t.Fatalf("forgery differs in %d bytes, want 1", diff)
		}
		return b
	}},
	{"amount digit changed", ErrBadMAC, func(t *testing.T, resp *Message) []byte {
		b := mustPackMAC(t, resp, demoMACer())
		amount := []byte("000000300000")
		if bytes.Count(b, amount) != 1 {
			t.Fatal("amount not found once")
		}
		b[bytes.Index(b, amount)+6] ^= 0x01 // 3 → 2
		return b
	}},
	{"MAC bit flipped", ErrBadMAC, func(t *testing.T, resp *Message) []byte {
		b := mustPackMAC(t, resp, demoMACer())
		b[len(b)-3] ^= 0x01
		return b
	}},
	{"signed with another key", ErrBadMAC, func(t *testing.T, resp *Message) []byte {
		return mustPackMAC(t, resp, otherMACer())
	}},
	{"no MAC", ErrNoMAC, func(t *testing.T, resp *Message) []byte {
		return mustPack(t, resp)
	}},
}

func countDiff(a, b []byte) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestClientRejectsSpoiledResponse: a response whose MAC fails is
// reported to OnReject, never reaches Observe or the caller, and the
// request ends with ErrTimeout: outcome unknown.
func TestClientRejectsSpoiledResponse(t *testing.T) {
	for _, sp := range spoiled {
		t.Run(sp.name, func(t *testing.T) {
			host := startRawHost(t, func(t *testing.T, req *Message) [][]byte {
				resp := declined(req)
				resp.Amount = 300000
				return [][]byte{sp.frame(t, resp)}
			})
			type rejection struct {
				m      *Message
				reason error
			}
			rejected := make(chan rejection, 10)
			observed := make(chan *Message, 10)
			c := startClientWith(t, host.addr, func(cfg *Config) {
				cfg.MAC = demoMACer()
				cfg.OnReject = func(m *Message, reason error) { rejected <- rejection{m, reason} }
				cfg.Observe = func(d Direction, m *Message) {
					if d == Inbound && m.MTI == MTIFinResponse {
						observed <- m
					}
				}
			})
			c.waitLink(t, true)

			at := c.clk.mark()
			type result struct {
				resp *Message
				err  error
			}
			done := make(chan result, 1)
			req := withdrawal(300000)
			go func() {
				resp, err := c.Send(context.Background(), req)
				done <- result{resp, err}
			}()
			if got := host.next(t); got.MAC == nil {
				t.Error("the 0200 reached the host without a MAC")
			}
			select {
			case r := <-rejected:
				if !errors.Is(r.reason, sp.want) {
					t.Errorf("OnReject reason = %v, want %v", r.reason, sp.want)
				}
				if r.m.MTI != MTIFinResponse || r.m.STAN != req.STAN {
					t.Errorf("OnReject got %s", Describe(r.m))
				}
			case <-time.After(wait):
				t.Fatal("OnReject not called")
			}
			select {
			case r := <-done:
				t.Fatalf("Send returned before its timeout: %+v", r)
			default:
			}

			c.clk.waitArmed(t, testTimeout, at)
			c.clk.Advance(testTimeout)
			select {
			case r := <-done:
				if !errors.Is(r.err, ErrTimeout) || r.resp != nil {
					t.Errorf("Send = %v, %v; want ErrTimeout and no response", r.resp, r.err)
				}
			case <-time.After(wait):
				t.Fatal("Send did not time out")
			}
			select {
			case m := <-observed:
				t.Errorf("Observe saw the rejected %s", Describe(m))
			default:
			}
			if !c.Up() {
				t.Error("a rejected response took the link down")
			}
		})
	}
}

// TestClientBadMACThenGenuine: after a forged response the request is
// still waiting, and the genuine response that follows is the answer.
func TestClientBadMACThenGenuine(t *testing.T) {
	host := startRawHost(t, func(t *testing.T, req *Message) [][]byte {
		resp := declined(req)
		genuine := mustPackMAC(t, resp, demoMACer())
		forged := *resp
		forged.RespCode = RCApproved
		return [][]byte{mustPack(t, &forged), genuine}
	})
	var rejects sync.WaitGroup
	rejects.Add(1)
	c := startClientWith(t, host.addr, func(cfg *Config) {
		cfg.MAC = demoMACer()
		cfg.OnReject = func(*Message, error) { rejects.Done() }
	})
	c.waitLink(t, true)
	resp, err := c.Send(context.Background(), withdrawal(100))
	if err != nil {
		t.Fatal(err)
	}
	if resp.RespCode != RCDoNotHonour || resp.MAC == nil {
		t.Errorf("Send returned %s, want the genuine decline", Describe(resp))
	}
	rejects.Wait() // exactly one rejection, or Done panics on the second
}

// TestClientSignFailureSendsNothing: a request the MACer cannot sign is
// not sent, and the error says so (not ErrTimeout).
func TestClientSignFailureSendsNothing(t *testing.T) {
	host := startHost(t, "127.0.0.1:0", approve)
	c := startClientWith(t, host.addr, func(cfg *Config) {
		cfg.MAC = funcMACer{
			sign:   func(context.Context, []byte) ([]byte, error) { return nil, errors.New("epp: MAC key not loaded") },
			verify: func(context.Context, []byte, []byte) error { return nil },
		}
	})
	c.waitLink(t, true)
	host.next(t) // sign-on: not MAC'd, so not affected
	_, err := c.Send(context.Background(), withdrawal(100))
	if err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrLinkLost) {
		t.Fatalf("Send = %v, want a nothing-sent error", err)
	}
	if _, err := c.Send(context.Background(), &Message{MTI: MTINetRequest, NetCode: NetEcho}); err != nil {
		t.Errorf("echo after the failure: %v", err)
	}
	if m := host.next(t); m.MTI != MTINetRequest {
		t.Errorf("host received %s, want only the echo", Describe(m))
	}
}

// macHost is a Server with MAC checks for demoTID; other terminals have
// no MAC key.
func macHost(t *testing.T, h HandlerFunc, rejected chan<- error, configure func(*Server)) *testHost {
	t.Helper()
	return startHostWith(t, "127.0.0.1:0", h, func(s *Server) {
		s.MAC = func(tid string) MACer {
			if tid == demoTID {
				return demoMACer()
			}
			return nil
		}
		if rejected != nil {
			s.OnReject = func(req *Message, reason error) { rejected <- reason }
		}
		if configure != nil {
			configure(s)
		}
	})
}

// TestClientServerMACRoundTrip: both ends MAC'd; financial and reversal
// messages carry MACs, network management does not.
func TestClientServerMACRoundTrip(t *testing.T) {
	rejected := make(chan error, 10)
	host := macHost(t, approve, rejected, nil)
	clientRejects := make(chan error, 10)
	c := startClientWith(t, host.addr, func(cfg *Config) {
		cfg.MAC = demoMACer()
		cfg.OnReject = func(_ *Message, reason error) { clientRejects <- reason }
	})
	c.waitLink(t, true)
	if signOn := host.next(t); signOn.MAC != nil {
		t.Error("the sign-on carries a MAC")
	}

	req := withdrawal(300000)
	resp, err := c.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RespCode != RCApproved || resp.MAC == nil || req.MAC == nil {
		t.Errorf("0200 → %s (request MAC %x)", Describe(resp), req.MAC)
	}
	if got := host.next(t); !bytes.Equal(got.MAC, req.MAC) {
		t.Errorf("host saw MAC %X, Send set %X", got.MAC, req.MAC)
	}

	rev := &Message{MTI: MTIReversal, PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
		Currency: req.Currency, Original: OriginalData(req)}
	for _, mti := range []string{MTIReversal, MTIReversalRepeat} {
		rev.MTI = mti
		resp, err := c.Send(context.Background(), rev)
		if err != nil {
			t.Fatalf("%s: %v", mti, err)
		}
		if resp.MTI != MTIReversalResponse || resp.MAC == nil {
			t.Errorf("%s → %s", mti, Describe(resp))
		}
		host.next(t)
	}

	echo := &Message{MTI: MTINetRequest, NetCode: NetEcho}
	if resp, err := c.Send(context.Background(), echo); err != nil || resp.MAC != nil || echo.MAC != nil {
		t.Errorf("echo → %v, %v: want no MAC either way", resp, err)
	}
	select {
	case err := <-rejected:
		t.Errorf("server rejected a request: %v", err)
	case err := <-clientRejects:
		t.Errorf("client rejected a response: %v", err)
	default:
	}
}

// TestServerRefusesBadMAC: a request whose MAC fails is answered with rc
// 63, signed when the terminal has a key, and never reaches the handler.
func TestServerRefusesBadMAC(t *testing.T) {
	signed := func(t *testing.T, m *Message, s MACer) []byte { return mustPackMAC(t, m, s) }
	tests := []struct {
		name      string
		req       func(t *testing.T) []byte
		wantMTI   string
		reason    error
		signedRC  bool // the rc 63 answer carries a valid MAC
		terminal  string
		expectOut bool
	}{
		{"signed with another key", func(t *testing.T) []byte {
			return signed(t, finReq("000010", demoTID), otherMACer())
		}, MTIFinResponse, ErrBadMAC, true, demoTID, true},
		{"no MAC", func(t *testing.T) []byte {
			return mustPack(t, finReq("000011", demoTID))
		}, MTIFinResponse, ErrNoMAC, true, demoTID, true},
		{"amount changed after signing", func(t *testing.T) []byte {
			b := signed(t, finReq("000012", demoTID), demoMACer())
			i := bytes.Index(b, []byte("000000300000"))
			b[i+6] = '9'
			return b
		}, MTIFinResponse, ErrBadMAC, true, demoTID, true},
		{"reversal with a bad MAC", func(t *testing.T) []byte {
			m := finReq("000013", demoTID)
			m.MTI, m.Original = MTIReversal, OriginalData(&Message{MTI: "0200", STAN: "000012", TransmitTime: "0315013000"})
			return signed(t, m, otherMACer())
		}, MTIReversalResponse, ErrBadMAC, true, demoTID, true},
		{"terminal without a MAC key", func(t *testing.T) []byte {
			return signed(t, finReq("000014", "ATM00099"), demoMACer())
		}, MTIFinResponse, ErrBadMAC, false, "ATM00099", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected := make(chan error, 10)
			host := macHost(t, approve, rejected, nil)
			conn := dialHost(t, host.addr)
			sendRaw(t, conn, tt.req(t))
			b, err := ReadFrame(conn, 0)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := Unpack(b)
			if err != nil {
				t.Fatal(err)
			}
			if resp.MTI != tt.wantMTI || resp.RespCode != RCSecurityViolation || resp.TerminalID != tt.terminal {
				t.Errorf("answer = %s, want %s rc 63", Describe(resp), tt.wantMTI)
			}
			verr := VerifyMAC(context.Background(), b, demoMACer())
			if tt.signedRC && verr != nil {
				t.Errorf("the rc 63 answer does not verify: %v", verr)
			}
			if !tt.signedRC && !errors.Is(verr, ErrNoMAC) {
				t.Errorf("the rc 63 answer to a terminal without key: VerifyMAC = %v, want ErrNoMAC", verr)
			}
			select {
			case reason := <-rejected:
				if !errors.Is(reason, tt.reason) {
					t.Errorf("OnReject reason = %v, want %v", reason, tt.reason)
				}
			case <-time.After(wait):
				t.Fatal("OnReject not called")
			}
			// The handler's first request is the echo sent next: the
			// refused one never reached it. 0800 needs no MAC.
			sendMsg(t, conn, &Message{MTI: MTINetRequest, STAN: "000020", TerminalID: tt.terminal, NetCode: NetEcho})
			b, err = ReadFrame(conn, 0)
			if err != nil {
				t.Fatal(err)
			}
			if echo, err := Unpack(b); err != nil || echo.RespCode != RCApproved || echo.MAC != nil {
				t.Errorf("echo answered %v, %v", echo, err)
			}
			if got := host.next(t); got.MTI != MTINetRequest {
				t.Errorf("the handler received %s first", Describe(got))
			}
		})
	}
}

func finReq(stan, tid string) *Message {
	m := withdrawal(300000)
	m.STAN, m.TerminalID, m.TransmitTime = stan, tid, "0315013000"
	return m
}

// TestServerSignsResponses: a good request reaches the handler with its
// MAC, and the response is signed; one the server cannot sign is not
// sent (unsigned, the terminal would reject it anyway).
func TestServerSignsResponses(t *testing.T) {
	var failSign sync.Once
	host := startHostWith(t, "127.0.0.1:0", approve, func(s *Server) {
		s.MAC = func(tid string) MACer {
			good := demoMACer()
			return funcMACer{
				sign: func(ctx context.Context, data []byte) ([]byte, error) {
					if bytes.Contains(data, []byte("000000000666")) {
						var err error
						failSign.Do(func() { err = errors.New("hsm: busy") })
						if err != nil {
							return nil, err
						}
					}
					return good.Sign(ctx, data)
				},
				verify: good.Verify,
			}
		}
	})
	conn := dialHost(t, host.addr)
	sendRaw(t, conn, mustPackMAC(t, finReq("000001", demoTID), demoMACer()))
	b, err := ReadFrame(conn, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyMAC(context.Background(), b, demoMACer()); err != nil {
		t.Errorf("response: %v", err)
	}
	if req := host.next(t); req.MAC == nil {
		t.Error("the handler got the request without its MAC")
	}

	unsignable := finReq("000002", demoTID)
	unsignable.Amount = 666
	sendRaw(t, conn, mustPackMAC(t, unsignable, demoMACer()))
	host.next(t)
	sendMsg(t, conn, echoReq("000003"))
	if resp := readMsg(t, conn); resp.STAN != "000003" {
		t.Errorf("got %s, want only the echo's answer", Describe(resp))
	}
}
