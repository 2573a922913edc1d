package hostlink

import (
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
	"sync"
	"testing"
	"time"
)

// pki is a throwaway CA with a host and a terminal certificate, written
// as PEM files in a test's temporary directory.
type pki struct {
	dir              string
	ca, host, client string // certificate files; keys are *.key beside them
	caCert           *x509.Certificate
	caKey            *ecdsa.PrivateKey
}

const hostName = "host.atmd.test"

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := t.TempDir()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, caCert: caCert, caKey: key}
	p.ca = p.write(t, "ca", der, key)
	p.host = p.issue(t, "host", &x509.Certificate{
		Subject:     pkix.Name{CommonName: hostName},
		DNSNames:    []string{hostName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.client = p.issue(t, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: demoTID},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func (p *pki) issue(t *testing.T, name string, tmpl *x509.Certificate) string {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name, der, key)
}

// write stores a certificate as name.pem and its key as name.key.
func (p *pki) write(t *testing.T, name string, der []byte, key *ecdsa.PrivateKey) string {
	t.Helper()
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(p.dir, name+".pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyOf(cert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert
}

func keyOf(cert string) string { return cert[:len(cert)-len(".pem")] + ".key" }

func (p *pki) serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := LoadServerTLS(p.ca, p.host, keyOf(p.host))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (p *pki) clientTLS(t *testing.T, serverName string) *tls.Config {
	t.Helper()
	cfg, err := LoadClientTLS(p.ca, p.client, keyOf(p.client), serverName)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestMutualTLSEndToEnd: sign-on and a MAC'd 0200/0210 over mutual TLS.
func TestMutualTLSEndToEnd(t *testing.T) {
	p := newPKI(t, "bank")
	host := macHost(t, approve, nil, func(s *Server) { s.TLS = p.serverTLS(t) })
	firstByte := make(chan byte, 1)
	c := startClientWith(t, host.addr, func(cfg *Config) {
		cfg.TLS = p.clientTLS(t, hostName)
		cfg.MAC = demoMACer()
		d := &net.Dialer{}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return &sniffConn{Conn: conn, first: firstByte}, nil
		}
	})
	c.waitLink(t, true)
	// The Dial hook carried the TLS handshake: a TLS handshake record
	// (content type 22), not a frame header, went first.
	select {
	case b := <-firstByte:
		if b != 22 {
			t.Errorf("first byte on the wire %#x, want a TLS handshake record", b)
		}
	default:
		t.Error("the Dial hook was not used")
	}
	if m := host.next(t); m.NetCode != NetSignOn {
		t.Fatalf("host received %s, want the sign-on", Describe(m))
	}
	req := withdrawal(300000)
	resp, err := c.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RespCode != RCApproved || resp.MAC == nil {
		t.Errorf("response %s", Describe(resp))
	}
	if got := host.next(t); got.MAC == nil || got.STAN != req.STAN {
		t.Errorf("host received %s", Describe(got))
	}

	// Both configurations negotiate TLS 1.3 with the host's certificate.
	conn, err := tls.Dial("tcp", host.addr, p.clientTLS(t, hostName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.Version != tls.VersionTLS13 || st.PeerCertificates[0].Subject.CommonName != hostName {
		t.Errorf("negotiated version %x with %q", st.Version, st.PeerCertificates[0].Subject.CommonName)
	}
}

// sniffConn reports the first byte the client writes.
type sniffConn struct {
	net.Conn
	first chan byte
	once  sync.Once
}

func (c *sniffConn) Write(b []byte) (int, error) {
	if len(b) > 0 {
		c.once.Do(func() {
			select {
			case c.first <- b[0]:
			default: // a later connection: the first one was reported
			}
		})
	}
	return c.Conn.Write(b)
}

// TestTLSServerNameFromAddr: with no ServerName in Config.TLS, the host
// part of Addr is verified (here the certificate's IP address).
func TestTLSServerNameFromAddr(t *testing.T) {
	p := newPKI(t, "bank")
	host := startHostWith(t, "127.0.0.1:0", approve, func(s *Server) { s.TLS = p.serverTLS(t) })
	c := startClientWith(t, host.addr, func(cfg *Config) {
		cfg.TLS = p.clientTLS(t, hostName)
		cfg.TLS.ServerName = ""
	})
	c.waitLink(t, true)
}

// TestTLSRefused: the link never comes up, and the host's handler never
// sees a message, for a terminal without a certificate, with a
// certificate from another CA, or that expects another host name; nor
// for a terminal that does not speak TLS.
func TestTLSRefused(t *testing.T) {
	bank := newPKI(t, "bank")
	other := newPKI(t, "other")
	tests := []struct {
		name string
		tls  func(t *testing.T) *tls.Config
	}{
		{"no client certificate", func(t *testing.T) *tls.Config {
			cfg := bank.clientTLS(t, hostName)
			cfg.Certificates = nil
			return cfg
		}},
		{"client certificate from another CA", func(t *testing.T) *tls.Config {
			cfg := bank.clientTLS(t, hostName)
			cfg.Certificates = other.clientTLS(t, hostName).Certificates
			return cfg
		}},
		{"wrong server name", func(t *testing.T) *tls.Config {
			return bank.clientTLS(t, "wrong.atmd.test")
		}},
		{"host certificate from another CA", func(t *testing.T) *tls.Config {
			cfg := bank.clientTLS(t, hostName)
			cfg.RootCAs = other.clientTLS(t, hostName).RootCAs
			return cfg
		}},
		{"plain TCP", func(*testing.T) *tls.Config { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := startHostWith(t, "127.0.0.1:0", approve, func(s *Server) { s.TLS = bank.serverTLS(t) })
			c := startClientWith(t, host.addr, func(cfg *Config) { cfg.TLS = tt.tls(t) })
			// The failed attempt is over when the client arms its backoff.
			c.clk.waitArmed(t, testMinBack, 0)
			if c.Up() {
				t.Fatal("link up")
			}
			select {
			case m := <-host.reqs:
				t.Fatalf("handler received %s", Describe(m))
			default:
			}

			// The host still serves a terminal with the right credentials.
			good := startClientWith(t, host.addr, func(cfg *Config) { cfg.TLS = bank.clientTLS(t, hostName) })
			good.waitLink(t, true)
		})
	}
}

func TestLoadTLSErrors(t *testing.T) {
	p := newPKI(t, "bank")
	notPEM := filepath.Join(p.dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(p.dir, "missing.pem")
	if _, err := LoadClientTLS(notPEM, p.client, keyOf(p.client), hostName); !errors.Is(err, ErrNoCACerts) {
		t.Errorf("CA file without certificates: %v", err)
	}
	if _, err := LoadServerTLS(missing, p.host, keyOf(p.host)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := LoadServerTLS(p.ca, p.host, keyOf(p.client)); err == nil {
		t.Error("a certificate with another's key was accepted")
	}
	if _, err := LoadClientTLS(p.ca, p.client, keyOf(p.client), ""); err == nil {
		t.Error("no server name was accepted")
	}
	srv, err := LoadServerTLS(p.ca, p.host, keyOf(p.host))
	if err != nil {
		t.Fatal(err)
	}
	if srv.ClientAuth != tls.RequireAndVerifyClientCert || srv.MinVersion != tls.VersionTLS12 {
		t.Errorf("server config: client auth %v, min version %x", srv.ClientAuth, srv.MinVersion)
	}
	cl := p.clientTLS(t, hostName)
	if cl.MinVersion != tls.VersionTLS12 || cl.ServerName != hostName || len(cl.Certificates) != 1 {
		t.Errorf("client config: min version %x, server name %q, %d certificates", cl.MinVersion, cl.ServerName, len(cl.Certificates))
	}
}
