package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"orgs/mail/mailtest"
)

// (e) Without an SMTP URL, messages are logged whole at INFO, and nothing is sent.
func TestLogSender(t *testing.T) {
	t.Parallel()
	logger, logs := newLogger()
	s, err := NewSender("", logger)
	if err != nil {
		t.Fatal(err)
	}
	m := Message{From: testFrom, To: "Ada <ada@example.com>", Subject: "Confirm your address", Text: "Open https://example.com/c?token=abc", MessageID: "<1@orgs.invalid>"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("log %q: %v", logs, err)
	}
	for k, want := range map[string]string{"level": "INFO", "to": m.To, "subject": m.Subject, "text": m.Text, "message_id": m.MessageID, "from": m.From} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %q", k, line[k], want)
		}
	}
	if err := s.Send(context.Background(), Message{From: testFrom, To: "not an address"}); err == nil {
		t.Error("a bad recipient was logged as sent")
	}
}

// (f) A non-ASCII subject and bodies survive the trip through a real SMTP server.
func TestMIMERoundTrip(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, nil)
	s := newSMTPSender(t, srv.URL(), nil)
	long := strings.Repeat("Crème brûlée, 日本語, ✓ = ok. ", 12) // lines far beyond 76 characters
	cases := []Message{
		{
			Subject: "Bienvenue chez Crème Brûlée — 日本語のテスト ✓ " + strings.Repeat("très long sujet ", 10),
			Text:    "Bonjour Zoë,\n\n" + long + "\n.\n.a line that starts with a dot\ntrailing spaces   \n=3D is not an escape\nFrom the start\n",
			HTML:    "<p>Bonjour Zoë, <b>ça va</b> ? " + long + "</p>",
		},
		{Subject: "Plain ASCII only", Text: "Just text.\r\nTwo lines."},
		{Subject: "HTML only: ü", HTML: "<p>ü</p>"},
	}
	for i, m := range cases {
		m.From = "Zoë Équipe <no-reply@orgs.test>"
		m.To = "Jürgen Müller <jurgen@example.com>"
		m.MessageID = "<case" + string(rune('0'+i)) + "@orgs.invalid>"
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		msgs := srv.Messages()
		if len(msgs) != i+1 {
			t.Fatalf("server has %d messages, want %d", len(msgs), i+1)
		}
		raw := msgs[i].Data
		for _, line := range bytes.Split(raw, []byte("\r\n")) {
			if len(line) > 998 {
				t.Errorf("case %d: line of %d bytes", i, len(line))
			}
			for _, c := range line {
				if c >= 0x80 {
					t.Fatalf("case %d: 8-bit byte in %q", i, line)
				}
			}
		}
		d := decode(t, raw)
		wantText := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
		if d.Subject != m.Subject || d.Text != wantText || d.HTML != m.HTML {
			t.Errorf("case %d: got\nsubject %q\ntext %q\nhtml %q\nwant\nsubject %q\ntext %q\nhtml %q",
				i, d.Subject, d.Text, d.HTML, m.Subject, wantText, m.HTML)
		}
		to, err := d.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != "Jürgen Müller" || to[0].Address != "jurgen@example.com" {
			t.Errorf("case %d: To %v (%v)", i, to, err)
		}
		from, err := d.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != "Zoë Équipe" {
			t.Errorf("case %d: From %v (%v)", i, from, err)
		}
		if d.Header.Get("Message-ID") != m.MessageID {
			t.Errorf("case %d: Message-ID %q", i, d.Header.Get("Message-ID"))
		}
	}
}

func TestRenderRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	ok := Message{From: testFrom, To: "ada@example.com", Subject: "Hi", Text: "x"}
	for name, m := range map[string]Message{
		"to":         {From: ok.From, To: "ada@example.com\r\nBcc: eve@example.com", Text: "x"},
		"from":       {From: "a@b.test\nBcc: eve@example.com", To: ok.To, Text: "x"},
		"message id": {From: ok.From, To: ok.To, MessageID: "<a@b>\r\nBcc: eve@example.com", Text: "x"},
		"bare id":    {From: ok.From, To: ok.To, MessageID: "no-brackets@b", Text: "x"},
	} {
		if _, err := m.render(time.Now()); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
	m := ok
	m.Subject = "Hi\r\nBcc: eve@example.com"
	raw, err := m.render(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("\r\nBcc:")) {
		t.Errorf("subject injected a header:\n%s", raw)
	}
	if d := decode(t, raw); d.Subject != m.Subject {
		t.Errorf("subject %q, want %q", d.Subject, m.Subject)
	}
	// Without a Message-ID, one is made on the sender's domain.
	if d := decode(t, mustRender(t, ok)); !strings.HasSuffix(d.Header.Get("Message-ID"), "@orgs.test>") {
		t.Errorf("generated Message-ID %q", d.Header.Get("Message-ID"))
	}
}

func mustRender(t *testing.T, m Message) []byte {
	t.Helper()
	raw, err := m.render(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// STARTTLS when the server offers it, then AUTH PLAIN over TLS.
func TestSMTPStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	cert, pool := newCert(t)
	srv := mailtest.Start(t, nil, mailtest.WithTLS(cert), mailtest.WithAuth("mailer", "p@ss:word", false))
	m := Message{From: testFrom, To: "ada@example.com", Subject: "s", Text: "t"}

	if err := newSMTPSender(t, "smtp://mailer:p%40ss%3Aword@"+srv.Addr, pool).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "mailer" {
		t.Fatalf("got %+v, want one message over TLS from user mailer", msgs)
	}
	// An untrusted certificate fails the delivery rather than falling back to plain text.
	if err := newSMTPSender(t, "smtp://mailer:p%40ss%3Aword@"+srv.Addr, nil).Send(context.Background(), m); err == nil {
		t.Error("sent despite an untrusted certificate")
	}
	// Wrong credentials.
	if err := newSMTPSender(t, "smtp://mailer:nope@"+srv.Addr, pool).Send(context.Background(), m); err == nil {
		t.Error("sent with wrong credentials")
	}
	// No credentials: the server wants them.
	if err := newSMTPSender(t, srv.URL(), pool).Send(context.Background(), m); err == nil {
		t.Error("sent without credentials")
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server has %d messages, want 1", n)
	}
}

// AUTH PLAIN without TLS is only done with a server on localhost.
func TestSMTPAuthWithoutTLSOnLocalhost(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, nil, mailtest.WithAuth("mailer", "secret", true))
	m := Message{From: testFrom, To: "ada@example.com", Subject: "s", Text: "t"}
	if err := newSMTPSender(t, "smtp://mailer:secret@"+srv.Addr, nil).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].TLS || msgs[0].User != "mailer" {
		t.Fatalf("got %+v", msgs)
	}
}

// smtps: TLS from the first byte.
func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	cert, pool := newCert(t)
	srv := mailtest.Start(t, &cert, mailtest.WithAuth("mailer", "secret", false))
	m := Message{From: testFrom, To: "ada@example.com", Subject: "s", Text: "t"}
	if err := newSMTPSender(t, "smtps://mailer:secret@"+srv.Addr, pool).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "mailer" {
		t.Fatalf("got %+v", msgs)
	}
}

// A server that accepts the connection and then says nothing: Send gives up at the context's deadline.
func TestSMTPRespectsDeadline(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { // silent until the client hangs up
				defer c.Close()
				c.Read(make([]byte, 1024))
			}()
		}
	}()
	s := newSMTPSender(t, "smtp://"+l.Addr().String(), nil)
	m := Message{From: testFrom, To: "ada@example.com", Subject: "s", Text: "t"}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, m)
	if err == nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
		t.Errorf("Send = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send took %s", d)
	}

	// Cancelling, too, ends the conversation.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	if err := s.Send(ctx, m); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send took %s after cancel", d)
	}
}

func TestNewSenderURLs(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"smtp://mail.example.com":              "mail.example.com:587",
		"smtp://u:p@mail.example.com:2525":     "mail.example.com:2525",
		"smtps://mail.example.com":             "mail.example.com:465",
		"smtp://[::1]:25":                      "[::1]:25",
		"smtp://user%40example.com:p@host:587": "host:587",
	} {
		s, err := NewSender(url, nil)
		if err != nil {
			t.Errorf("NewSender(%q): %v", url, err)
			continue
		}
		if got := s.(*smtpSender).addr; got != want {
			t.Errorf("NewSender(%q) dials %s, want %s", url, got, want)
		}
	}
	if s, _ := NewSender("smtp://u:p@h", nil); s.(*smtpSender).auth == nil {
		t.Error("no AUTH with a user")
	}
	if s, _ := NewSender("smtp://h", nil); s.(*smtpSender).auth != nil {
		t.Error("AUTH without a user")
	}
	for _, url := range []string{
		"http://mail.example.com", "smtp://", "smtp://host/path", "smtp://host?tls=no", "mail.example.com:25",
		"smtp://user:s3cret@host:port%",
	} {
		_, err := NewSender(url, nil)
		if err == nil {
			t.Errorf("NewSender(%q) accepted", url)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewSender(%q) error shows the password: %v", url, err)
		}
	}
}
