// Package mailtest runs a real SMTP server for tests: it records what it accepts and can be told to fail.
package mailtest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is a message the server accepted.
type Received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string // authenticated user, if any
}

// Server is a real SMTP server (go-smtp) on 127.0.0.1 that records what it accepts and can be told
// to fail.
//
// The failure knobs are read under the server's lock: change them with Set once the server runs.
type Server struct {
	Addr string // host:port the server listens on

	mu       sync.Mutex
	msgs     []Received
	attempts int // DATA commands received

	// FailNext answers the next FailNext messages with 451; FailAll every message.
	FailNext int
	FailAll  bool
	// RejectRcpt answers every RCPT TO with 550.
	RejectRcpt bool

	// user and pass, when set, are the only credentials accepted, and required.
	user, pass string
}

// Option configures a server before it starts.
type Option func(*smtp.Server, *Server)

// WithTLS makes the server offer STARTTLS with cert.
func WithTLS(cert tls.Certificate) Option {
	return func(s *smtp.Server, _ *Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
}

// WithAuth requires AUTH PLAIN with user and pass; insecure allows it without TLS.
func WithAuth(user, pass string, insecure bool) Option {
	return func(s *smtp.Server, ts *Server) {
		ts.user, ts.pass = user, pass
		s.AllowInsecureAuth = insecure
	}
}

// Start serves SMTP on 127.0.0.1:0 until the test ends. With implicitTLS set, the listener speaks
// TLS from the start (smtps).
func Start(t testing.TB, implicitTLS *tls.Certificate, opts ...Option) *Server {
	t.Helper()
	ts := &Server{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: ts, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 5 * time.Second
	s.WriteTimeout = 5 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	for _, o := range opts {
		o(s, ts)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS != nil {
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{*implicitTLS}})
	}
	ts.Addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ts
}

// URL returns the smtp:// URL of the server, without credentials.
func (ts *Server) URL() string { return "smtp://" + ts.Addr }

// Messages returns the messages accepted so far, in order.
func (ts *Server) Messages() []Received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Received(nil), ts.msgs...)
}

// DataAttempts returns how many DATA commands the server received, accepted or not.
func (ts *Server) DataAttempts() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.attempts
}

// Set calls fn under the server's lock, to change the failure knobs.
func (ts *Server) Set(fn func(*Server)) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	fn(ts)
}

// WaitForMessages polls until the server has accepted at least n messages and returns them, failing
// the test after timeout. Call it only from the test's goroutine.
func (ts *Server) WaitForMessages(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := ts.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %d messages, got %d", timeout, n, len(msgs))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	from string
	to   []string
	user string
}

var errTryLater = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if s.srv.user == "" || username != s.srv.user || password != s.srv.pass {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	reject := s.srv.RejectRcpt
	s.srv.mu.Unlock()
	if reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.attempts++
	if s.srv.FailAll {
		return errTryLater
	}
	if s.srv.FailNext > 0 {
		s.srv.FailNext--
		return errTryLater
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.msgs = append(s.srv.msgs, Received{From: s.from, To: s.to, Data: data, TLS: isTLS, User: s.user})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
