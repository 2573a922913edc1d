package hostlink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrNoCACerts is a CA file that holds no PEM certificate.
var ErrNoCACerts = errors.New("hostlink: tls: no CA certificate in the file")

// LoadClientTLS returns the ATM's TLS configuration for mutual TLS: the
// host's certificate must chain to a CA in caFile and name serverName;
// the ATM presents the certificate in certFile with the private key in
// keyFile (PEM files). TLS 1.2 is the minimum; TLS 1.3 is negotiated
// whenever the host offers it. Use it as Config.TLS.
func LoadClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	if serverName == "" {
		return nil, errors.New("hostlink: tls: no server name")
	}
	pool, err := loadCAs(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		ServerName:   serverName,
	}, nil
}

// LoadServerTLS returns the host's TLS configuration for mutual TLS: it
// presents the certificate in certFile with the private key in keyFile,
// and requires every terminal to present a certificate that chains to a
// CA in caFile (tls.RequireAndVerifyClientCert). TLS 1.2 is the minimum;
// TLS 1.3 is negotiated whenever the terminal offers it. Use it as
// Server.TLS.
func LoadServerTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pool, err := loadCAs(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		Certificates: []tls.Certificate{cert},
	}, nil
}

func loadCAs(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("hostlink: tls: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: %s", ErrNoCACerts, caFile)
	}
	return pool, nil
}

// loadKeyPair loads a certificate and its key. The errors of
// tls.LoadX509KeyPair name the problem, never the key's bytes.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("hostlink: tls: load %s and its key: %w", certFile, err)
	}
	return cert, nil
}
