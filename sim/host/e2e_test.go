package host

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
	"github.com/atmd/atmd/internal/mac"
)

// atmMAC is the ATM's MAC key as its PIN pad holds it: empty until a key
// exchange loads a TAK.
type atmMAC struct{ s atomic.Pointer[mac.Signer] }

var errNoTAK = errors.New("test: no TAK loaded")

func (m *atmMAC) load(t *testing.T, tak []byte) {
	s, err := mac.NewRetail(tak)
	if err != nil {
		t.Fatal(err)
	}
	m.s.Store(s)
}

func (m *atmMAC) Sign(ctx context.Context, data []byte) ([]byte, error) {
	s := m.s.Load()
	if s == nil {
		return nil, errNoTAK
	}
	return s.Sign(ctx, data)
}

func (m *atmMAC) Verify(ctx context.Context, data, sum []byte) error {
	s := m.s.Load()
	if s == nil {
		return errNoTAK
	}
	return s.Verify(ctx, data, sum)
}

// serve runs f's host on a fresh loopback listener until the test ends
// and returns its address.
func serve(t *testing.T, f *fixture) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// startClient runs a hostlink client for terminal until stop is called
// and waits until it has signed on.
func startClient(t *testing.T, cfg hostlink.Config) (cl *hostlink.Client, stop func() error) {
	t.Helper()
	cl = hostlink.NewClient(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- cl.Run(ctx) }()
	select {
	case up := <-cl.Events():
		if !up {
			t.Fatal("link went down before it came up")
		}
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("client did not sign on")
	}
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-ran
	}
	t.Cleanup(func() { _ = stop() })
	return cl, stop
}

// clientExchange runs the key exchange over the client and loads the keys
// into the fixture and the ATM's MAC.
func clientExchange(t *testing.T, f *fixture, cl *hostlink.Client, m *atmMAC) {
	t.Helper()
	req := f.keyRequest(terminal, tmk)
	req.STAN, req.TransmitTime = "", ""
	resp, err := cl.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RespCode != hostlink.RCApproved || len(resp.MAC) != 0 {
		t.Fatalf("key exchange answered with %s", hostlink.Describe(resp))
	}
	kx, err := keyexchange.ParseResponse(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	if f.keys, err = keyexchange.Unwrap(tmk, kx); err != nil {
		t.Fatal(err)
	}
	m.load(t, f.keys.TAK)
}

// TestEndToEnd drives the host over 127.0.0.1 TCP with hostlink's client,
// MACs on: sign-on, key exchange, a withdrawal, its reversal, sign-off.
func TestEndToEnd(t *testing.T) {
	f := newFixture(t)
	addr := serve(t, f)
	m := &atmMAC{}
	cl, stop := startClient(t, hostlink.Config{Addr: addr, TerminalID: terminal, Timeout: 10 * time.Second, MAC: m})
	ctx := context.Background()
	if on, err := f.h.SignedOn(ctx, terminal); err != nil || !on {
		t.Fatalf("host does not see the terminal signed on: %v, %v", on, err)
	}
	if _, err := cl.Send(ctx, f.withdraw("bob-debit", 100_000)); !errors.Is(err, errNoTAK) {
		t.Fatalf("a withdrawal without a TAK: err = %v", err)
	}
	clientExchange(t, f, cl, m)

	req := f.withdraw("bob-debit", 300_000)
	req.STAN, req.TransmitTime = "", "" // the client numbers and stamps it
	resp, err := cl.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MTI != hostlink.MTIFinResponse || resp.RespCode != hostlink.RCApproved || resp.STAN != req.STAN || len(resp.MAC) != hostlink.MACLen {
		t.Fatalf("withdrawal answered with %s", hostlink.Describe(resp))
	}
	tlv, err := hostlink.ParseTLV(resp.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tlv.Get(hostlink.TagToken); !ok {
		t.Error("approval carries no dispense token")
	}
	if got := f.balance("bob-twd"); got != 11_700_000 {
		t.Errorf("balance after the withdrawal = %d, want 11700000", got)
	}

	rev := &hostlink.Message{MTI: hostlink.MTIReversal, PAN: req.PAN, ProcCode: req.ProcCode, Amount: req.Amount,
		Currency: req.Currency, Original: hostlink.OriginalData(req), Replacement: hostlink.ReplacementAmounts(100_000)}
	resp, err = cl.Send(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MTI != hostlink.MTIReversalResponse || resp.RespCode != hostlink.RCApproved || len(resp.MAC) != hostlink.MACLen {
		t.Fatalf("reversal answered with %s", hostlink.Describe(resp))
	}
	if got := f.balance("bob-twd"); got != 11_900_000 {
		t.Errorf("balance after the partial reversal = %d, want 11900000", got)
	}
	rep, err := f.h.Reconcile(ctx)
	if err != nil || rep.Err() != nil {
		t.Fatalf("Reconcile: %v, %v", err, rep.Err())
	}
	if d := rep.Terminal(terminal, "TWD").Dispensed; d != 100_000 {
		t.Errorf("dispensed according to the host = %d, want 100000", d)
	}

	if err := stop(); err != nil {
		t.Errorf("client Run: %v", err)
	}
	if on, _ := f.h.SignedOn(ctx, terminal); on {
		t.Error("terminal still signed on after the client stopped")
	}
}

// rawConn is a bare connection to the host for messages the client
// would not send.
type rawConn struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

// exchange writes b and returns the response, raw and unpacked.
func (r *rawConn) exchange(b []byte) ([]byte, *hostlink.Message) {
	r.t.Helper()
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := hostlink.WriteFrame(r.c, b); err != nil {
		r.t.Fatal(err)
	}
	out, err := hostlink.ReadFrame(r.c, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := hostlink.Unpack(out)
	if err != nil {
		r.t.Fatal(err)
	}
	return out, m
}

func signer(t *testing.T, key []byte) *mac.Signer {
	s, err := mac.NewRetail(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMACOnTheWire sends 0200s and 0420s with good, bad and no MACs
// straight to the server: only a good MAC reaches the ledger, and every
// response the host signs verifies under the TAK.
func TestMACOnTheWire(t *testing.T) {
	f := newFixture(t)
	addr := serve(t, f)
	conn := dialRaw(t, addr)
	ctx := context.Background()
	tak := signer(t, f.keys.TAK)

	good := f.withdraw("bob-debit", 100_000)
	goodBytes, err := hostlink.PackMAC(ctx, good, tak)
	if err != nil {
		t.Fatal(err)
	}
	stale := bytes.Clone(f.keys.TAK)
	stale[0] ^= 0x02
	tests := []struct {
		name string
		pack func() []byte
	}{
		{"no MAC", func() []byte { b, _ := hostlink.Pack(f.withdraw("bob-debit", 100_000)); return b }},
		{"MAC under another key", func() []byte {
			b, _ := hostlink.PackMAC(ctx, f.withdraw("bob-debit", 100_000), signer(t, stale))
			return b
		}},
		{"message changed after signing", func() []byte {
			b := bytes.Clone(goodBytes)
			i := bytes.Index(b, []byte("000000100000"))
			b[i+6] = '2' // 100000 → 200000 minor units
			return b
		}},
		{"reversal without MAC", func() []byte {
			b, _ := hostlink.Pack(f.reversal(hostlink.MTIReversal, good, ""))
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp := conn.exchange(tt.pack())
			if resp.RespCode != hostlink.RCSecurityViolation {
				t.Errorf("answered %s, want rc 63", hostlink.Describe(resp))
			}
			if n := len(f.ledger()); n != 0 {
				t.Errorf("ledger has %d entries", n)
			}
			if got := f.balance("bob-twd"); got != 12_000_000 {
				t.Errorf("balance = %d, want 12000000", got)
			}
		})
	}

	raw, resp := conn.exchange(goodBytes)
	if resp.RespCode != hostlink.RCApproved {
		t.Fatalf("signed withdrawal answered %s", hostlink.Describe(resp))
	}
	if err := hostlink.VerifyMAC(ctx, raw, tak); err != nil {
		t.Errorf("0210 MAC: %v", err)
	}
	revBytes, err := hostlink.PackMAC(ctx, f.reversal(hostlink.MTIReversal, good, ""), tak)
	if err != nil {
		t.Fatal(err)
	}
	raw, resp = conn.exchange(revBytes)
	if resp.RespCode != hostlink.RCApproved {
		t.Fatalf("signed reversal answered %s", hostlink.Describe(resp))
	}
	if err := hostlink.VerifyMAC(ctx, raw, tak); err != nil {
		t.Errorf("0430 MAC: %v", err)
	}
	if got := f.balance("bob-twd"); got != 12_000_000 {
		t.Errorf("balance after withdrawal and reversal = %d, want 12000000", got)
	}

	// After a new exchange the old TAK no longer passes.
	old := tak
	f.keys = f.exchange(terminal, tmk)
	b, _ := hostlink.PackMAC(ctx, f.withdraw("bob-debit", 100_000), old)
	if _, resp := conn.exchange(b); resp.RespCode != hostlink.RCSecurityViolation {
		t.Errorf("MAC under the previous TAK answered %s, want rc 63", hostlink.Describe(resp))
	}
	b, _ = hostlink.PackMAC(ctx, f.withdraw("bob-debit", 100_000), signer(t, f.keys.TAK))
	if _, resp := conn.exchange(b); resp.RespCode != hostlink.RCApproved {
		t.Errorf("MAC under the new TAK answered %s, want 00", hostlink.Describe(resp))
	}

	// A terminal that never exchanged keys gets 63 whatever it signs with,
	// and one the host does not know as well.
	for _, tid := range []string{terminal2, "ATM00099"} {
		m := f.withdraw("bob-debit", 100_000)
		m.TerminalID = tid
		b, _ := hostlink.PackMAC(ctx, m, signer(t, f.keys.TAK))
		if _, resp := conn.exchange(b); resp.RespCode != hostlink.RCSecurityViolation {
			t.Errorf("%s answered %s, want rc 63", tid, hostlink.Describe(resp))
		}
	}
	if n := len(f.ledger()); n != 2 {
		t.Errorf("ledger has %d entries, want 2", n)
	}
}

// pkiFiles writes a CA, a host certificate for 127.0.0.1 and a terminal
// certificate (PEM) into dir.
type pkiFiles struct{ ca, hostCert, hostKey, atmCert, atmKey string }

func writePKI(t *testing.T, dir string) pkiFiles {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "atmd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der, kd
	}
	hc, hk := leaf(2, "host", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	ac, ak := leaf(3, terminal, x509.ExtKeyUsageClientAuth, nil)
	return pkiFiles{
		ca:       write("ca.pem", "CERTIFICATE", caDER),
		hostCert: write("host.pem", "CERTIFICATE", hc), hostKey: write("host-key.pem", "PRIVATE KEY", hk),
		atmCert: write("atm.pem", "CERTIFICATE", ac), atmKey: write("atm-key.pem", "PRIVATE KEY", ak),
	}
}

// TestMutualTLS serves with tls configured: a terminal with a certificate
// from the CA signs on, exchanges keys and withdraws; one without a
// certificate gets nothing.
func TestMutualTLS(t *testing.T) {
	pki := writePKI(t, t.TempDir())
	cfg := testConfig(t)
	cfg.TLS = &TLS{CA: pki.ca, Cert: pki.hostCert, Key: pki.hostKey}
	f := newFixtureConfig(t, cfg)
	addr := serve(t, f)

	clientTLS, err := hostlink.LoadClientTLS(pki.ca, pki.atmCert, pki.atmKey, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	m := &atmMAC{}
	cl, _ := startClient(t, hostlink.Config{Addr: addr, TerminalID: terminal, Timeout: 10 * time.Second, MAC: m, TLS: clientTLS})
	clientExchange(t, f, cl, m)
	req := f.withdraw("alice-debit", 200_000)
	req.STAN, req.TransmitTime = "", ""
	resp, err := cl.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RespCode != hostlink.RCApproved {
		t.Fatalf("withdrawal over TLS answered %s", hostlink.Describe(resp))
	}

	// No client certificate: the handshake fails, no frame is answered.
	noCert := &tls.Config{RootCAs: clientTLS.RootCAs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, noCert)
	if err == nil {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := hostlink.Pack(f.keyRequest(terminal, tmk))
		werr := hostlink.WriteFrame(c, b)
		if _, rerr := hostlink.ReadFrame(c, 0); werr == nil && rerr == nil {
			t.Error("a terminal without a client certificate was answered")
		}
	}
	// Plain TCP to a TLS host gets nothing either.
	plain := dialRaw(t, addr)
	_ = plain.c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := hostlink.Pack(f.keyRequest(terminal, tmk))
	_ = hostlink.WriteFrame(plain.c, b)
	if _, err := hostlink.ReadFrame(plain.c, 0); err == nil {
		t.Error("a plain TCP terminal was answered by a TLS host")
	}
	if n := len(f.ledger()); n != 1 {
		t.Errorf("ledger has %d entries, want 1", n)
	}
}

func TestTLSFilesMissing(t *testing.T) {
	cfg := testConfig(t)
	cfg.TLS = &TLS{CA: filepath.Join(t.TempDir(), "none.pem"), Cert: "x", Key: "y"}
	h, err := New(cfg, WithReset())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(context.Background()); err == nil {
		t.Error("Open with missing TLS files succeeded")
	}
	if err := h.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(cfg.DB); err == nil {
		t.Error("the database was created although TLS failed")
	}
}

func TestServeNotOpen(t *testing.T) {
	h, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Serve(context.Background(), ln); err != ErrNotOpen {
		t.Errorf("Serve before Open: err = %v, want ErrNotOpen", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("Serve left the listener open")
	}
}
