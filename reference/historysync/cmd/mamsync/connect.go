package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/dial"
)

// connectTimeout bounds dialling and negotiating the session.
const connectTimeout = 30 * time.Second

// Causes of a failed login, wrapped by connect's errors (errors.Is).
var (
	errUnreachable = errors.New("cannot reach the server")
	errTLS         = errors.New("TLS failed")
	errAuth        = errors.New("authentication failed")
)

// connect dials the account's server and negotiates a session: StartTLS
// (unless -insecure-plain), SASL SCRAM with the password, and a resource
// chosen by the server. The caller serves the session and closes it.
func connect(ctx context.Context, cfg config, password string) (*xmpp.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	mechanisms := []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha1}
	var features []xmpp.StreamFeature
	var state xmpp.SessionState
	if cfg.insecurePlain {
		// mellium negotiates SASL only on a secure stream: loopback stands in
		// for TLS. Channel binding (-PLUS) needs TLS.
		state = xmpp.Secure
		mechanisms = []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1}
	} else {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		features = append(features, failingWith(errTLS, handshaking(xmpp.StartTLS(tc))))
	}
	features = append(features, failingWith(errAuth, xmpp.SASL("", password, mechanisms...)), xmpp.BindResource())

	conn, err := dialServer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.insecurePlain {
		if err := requireLoopbackPeer(conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	// mellium reads and writes the connection during negotiation without
	// watching ctx: bound them with deadlines, and move the deadline to now
	// when ctx ends early.
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stopWatch := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	// Not ctx itself: mellium ties writes to the session's context from a
	// goroutine that could still see the deferred cancel above after the
	// negotiation returned, and fail a later write (see historysync's
	// package documentation, "Sessions"). The deadlines bound it instead.
	session, err := xmpp.NewSession(context.WithoutCancel(ctx), cfg.account.Domain(), cfg.account, conn, state,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
	if !stopWatch() && err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("the server did not complete the login within %v", connectTimeout)
		}
		return nil, fmt.Errorf("log in to %s as %s: %w", conn.RemoteAddr(), cfg.account, err)
	}
	return session, nil
}

// tlsConfig is the TLS configuration for the account's domain: the system
// roots, or only those in -ca.
func tlsConfig(cfg config) (*tls.Config, error) {
	tc := &tls.Config{ServerName: cfg.account.Domainpart(), MinVersion: tls.VersionTLS12}
	if cfg.caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(cfg.caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca %s: no PEM certificate in the file", cfg.caFile)
	}
	return tc, nil
}

// dialServer opens the TCP connection: to -server, or to the server the
// domain's SRV records name (falling back to the domain on port 5222).
func dialServer(ctx context.Context, cfg config) (net.Conn, error) {
	var (
		conn net.Conn
		err  error
	)
	if cfg.server != "" {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", cfg.server)
	} else {
		// StartTLS only: no direct TLS (XEP-0368) connections.
		d := dial.Dialer{NoTLS: true}
		conn, err = d.Dial(ctx, "tcp", cfg.account.Domain())
	}
	if err != nil {
		return nil, fmt.Errorf("%w for %s: %w", errUnreachable, cfg.account.Domain(), err)
	}
	return conn, nil
}

// requireLoopbackPeer refuses a connection whose peer is not a loopback
// address: -insecure-plain must never send the password over a network.
func requireLoopbackPeer(conn net.Conn) error {
	if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok && addr.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-insecure-plain: refusing to log in without TLS to %s: not a loopback address", conn.RemoteAddr())
}

// handshaking makes the StartTLS feature complete the TLS handshake before
// it returns: mellium's leaves it to the first read of the new stream, where
// a failed handshake could not be told from other errors.
func handshaking(startTLS xmpp.StreamFeature) xmpp.StreamFeature {
	negotiate := startTLS.Negotiate
	startTLS.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiate(ctx, s, data)
		if conn, ok := rw.(*tls.Conn); ok && err == nil {
			err = conn.HandshakeContext(ctx)
		}
		return mask, rw, err
	}
	return startTLS
}

// failingWith wraps the errors of a stream feature's negotiation in cause,
// so that the caller can tell a failed TLS handshake or login from a
// network error by structure.
func failingWith(cause error, f xmpp.StreamFeature) xmpp.StreamFeature {
	negotiate := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiate(ctx, s, data)
		if err != nil {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return mask, rw, err
	}
	return f
}
