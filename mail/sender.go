package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Sender delivers one message. An error means the message may not have been accepted; a
// *PermanentError means the server refused it for good.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// PermanentError is a refusal no retry can change: the server answered a permanent (5xx) code to the
// recipient or to the message itself.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err carries a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

const (
	// dialTimeout bounds the TCP connection.
	dialTimeout = 30 * time.Second
	// sendTimeout bounds a whole SMTP conversation whose context has no deadline.
	sendTimeout = 2 * time.Minute
)

// NewSender returns the Sender that smtpURL describes:
//
//	smtp://[user:password@]host[:port]    SMTP, upgraded with STARTTLS when the server offers it
//	                                      (port 587 by default)
//	smtps://[user:password@]host[:port]   SMTP over implicit TLS (port 465 by default)
//
// With a user, the sender authenticates with AUTH PLAIN, which net/smtp only does over TLS or to a
// server on localhost. User and password are percent-encoded in the URL.
//
// An empty smtpURL returns a sender that sends nothing and writes every message to logger at INFO
// instead, for development.
func NewSender(smtpURL string, logger *slog.Logger) (Sender, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if strings.TrimSpace(smtpURL) == "" {
		return &logSender{logger: logger}, nil
	}
	u, err := url.Parse(smtpURL)
	if err != nil {
		// url.Error repeats the URL, password included: keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	s := &smtpSender{host: u.Hostname(), logger: logger}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = "587"
		}
	case "smtps":
		s.implicitTLS = true
		if port == "" {
			port = "465"
		}
	default:
		return nil, fmt.Errorf("SMTP URL: scheme must be smtp or smtps, not %q", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("SMTP URL: no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("SMTP URL: only smtp[s]://[user:password@]host[:port] is understood")
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil && u.User.Username() != "" {
		password, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), password, s.host)
	}
	s.helo = heloName()
	return s, nil
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// heloName is the name the sender greets servers with: the machine's, when it is a plausible host name.
func heloName() string {
	if h, err := os.Hostname(); err == nil && len(h) <= 253 && hostnameRE.MatchString(h) {
		return h
	}
	return "localhost"
}

// smtpSender sends each message over a connection of its own.
type smtpSender struct {
	addr        string // host:port
	host        string
	implicitTLS bool
	auth        smtp.Auth // nil: no authentication
	helo        string
	logger      *slog.Logger
	// tlsConfig, when set, is the base of the client TLS configuration (tests trust their own CA).
	tlsConfig *tls.Config
}

func (s *smtpSender) tlsClientConfig() *tls.Config {
	c := &tls.Config{}
	if s.tlsConfig != nil {
		c = s.tlsConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// Send delivers m in one SMTP conversation, bounded by ctx: its deadline (or sendTimeout) applies to
// every read and write, and cancelling ctx aborts the conversation. Once the server has accepted the
// message (its reply to the end of DATA), Send reports success whatever happens next.
func (s *smtpSender) Send(ctx context.Context, m Message) (err error) {
	from, to, err := m.envelope()
	if err != nil {
		return err
	}
	raw, err := m.render(time.Now())
	if err != nil {
		return err
	}
	stage := "connect"
	defer func() {
		if err == nil {
			return
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		err = fmt.Errorf("smtp %s %s: %w", s.addr, stage, err)
	}()

	dialer := net.Dialer{Timeout: dialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(sendTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	// Cancelling ctx unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.implicitTLS {
		stage = "TLS handshake"
		tconn := tls.Client(conn, s.tlsClientConfig())
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tconn
	}

	stage = "greeting"
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	stage = "EHLO"
	if err := c.Hello(s.helo); err != nil {
		return err
	}
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			stage = "STARTTLS"
			if err := c.StartTLS(s.tlsClientConfig()); err != nil {
				return err
			}
		}
	}
	if s.auth != nil {
		stage = "AUTH"
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server offers no authentication (on this connection)")
		}
		if err := c.Auth(s.auth); err != nil {
			return err
		}
	}
	stage = "MAIL FROM"
	if err := c.Mail(from); err != nil {
		return err
	}
	stage = "RCPT TO"
	if err := c.Rcpt(to); err != nil {
		// RFC 5321 (4.5.3.1.10): a 552 to RCPT is to be taken as temporary.
		if code := replyCode(err); code >= 500 && code != 552 {
			return &PermanentError{Err: err}
		}
		return err
	}
	stage = "DATA"
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		if replyCode(err) >= 500 {
			return &PermanentError{Err: err}
		}
		return err
	}
	// Accepted: from here on nothing may turn the delivery into a failure, or it would be sent again.
	if err := c.Quit(); err != nil {
		s.logger.DebugContext(ctx, "smtp QUIT after an accepted message failed", "addr", s.addr, "error", err.Error())
	}
	return nil
}

// replyCode returns the SMTP reply code of err, or 0.
func replyCode(err error) int {
	var terr *textproto.Error
	if errors.As(err, &terr) {
		return terr.Code
	}
	return 0
}

// logSender writes messages to the log instead of sending them.
type logSender struct{ logger *slog.Logger }

func (l *logSender) Send(ctx context.Context, m Message) error {
	if _, _, err := m.envelope(); err != nil {
		return err
	}
	l.logger.InfoContext(ctx, "email not sent (no SMTP server configured), logged instead",
		"from", m.From, "to", m.To, "subject", m.Subject, "message_id", m.MessageID, "text", m.Text, "html", m.HTML)
	return nil
}
