// Package mail delivers the emails of the outbox: a Sender speaks SMTP (or only logs, when no server is
// configured) and the Worker moves emails from the outbox (db.Store) to the Sender, retrying failures.
package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is one email to send.
type Message struct {
	// From and To are RFC 5322 addresses, with or without a display name: "Acme <no-reply@acme.test>".
	From string
	To   string
	// Subject may hold any Unicode text.
	Subject string
	// Text is the plain-text body and HTML the optional HTML alternative; at least one is expected.
	Text string
	HTML string
	// MessageID is the RFC 5322 Message-ID, angle brackets included: "<id@domain>". The outbox gives each
	// email one that stays the same across attempts. Empty, a random one is generated.
	MessageID string
}

// envelope returns the bare addresses of the SMTP envelope.
func (m Message) envelope() (from, to string, err error) {
	f, err := netmail.ParseAddress(m.From)
	if err != nil {
		return "", "", fmt.Errorf("invalid From %q: %w", m.From, err)
	}
	t, err := netmail.ParseAddress(m.To)
	if err != nil {
		return "", "", fmt.Errorf("invalid To %q: %w", m.To, err)
	}
	return f.Address, t.Address, nil
}

// maxHeaderLine is where headers are folded (RFC 5322 recommends 78 characters a line).
const maxHeaderLine = 78

// render returns the message in RFC 5322 / MIME form, with CRLF line ends: UTF-8 throughout, bodies
// quoted-printable, a multipart/alternative of the text and the HTML when both are present, the Subject
// and display names encoded (RFC 2047) when they are not plain ASCII.
func (m Message) render(date time.Time) ([]byte, error) {
	from, err := netmail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("invalid From %q: %w", m.From, err)
	}
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("invalid To %q: %w", m.To, err)
	}
	msgID := m.MessageID
	if msgID == "" {
		msgID = randomMessageID(from.Address)
	} else if !validMessageID(msgID) {
		return nil, fmt.Errorf("invalid Message-ID %q", msgID)
	}

	var h bytes.Buffer
	writeHeader(&h, "From", from.String())
	writeHeader(&h, "To", to.String())
	writeHeader(&h, "Subject", encodeText(m.Subject))
	writeHeader(&h, "Date", date.Format(time.RFC1123Z))
	writeHeader(&h, "Message-ID", msgID)
	writeHeader(&h, "MIME-Version", "1.0")

	var body bytes.Buffer
	switch {
	case m.HTML == "":
		writeHeader(&h, "Content-Type", "text/plain; charset=utf-8")
		writeHeader(&h, "Content-Transfer-Encoding", "quoted-printable")
		err = writeQP(&body, m.Text)
	case m.Text == "":
		writeHeader(&h, "Content-Type", "text/html; charset=utf-8")
		writeHeader(&h, "Content-Transfer-Encoding", "quoted-printable")
		err = writeQP(&body, m.HTML)
	default:
		mw := multipart.NewWriter(&body)
		writeHeader(&h, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
		// The last alternative is the preferred one (RFC 2046): plain text first, then HTML.
		for _, p := range []struct{ typ, content string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
			w, perr := mw.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {p.typ + "; charset=utf-8"},
				"Content-Transfer-Encoding": {"quoted-printable"},
			})
			if perr != nil {
				return nil, perr
			}
			if err = writeQP(w, p.content); err != nil {
				break
			}
		}
		if err == nil {
			err = mw.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if !bytes.HasSuffix(body.Bytes(), []byte("\r\n")) {
		// SMTP ends a message with CRLF: end on a soft line break, which decodes to nothing, so that the
		// body reads back exactly as given.
		body.WriteString("=\r\n")
	}
	h.WriteString("\r\n")
	h.Write(body.Bytes())
	return h.Bytes(), nil
}

// encodeText returns s as a header value: unchanged when it is printable ASCII, else RFC 2047 encoded
// words of at most 75 characters each (which also keeps CR and LF from ending the header).
func encodeText(s string) string { return mime.QEncoding.Encode("utf-8", s) }

// writeHeader writes "name: value" folded at spaces, so that lines stay within maxHeaderLine
// characters where the value allows it.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteByte(':')
	lineLen := len(name) + 1
	first := true
	for _, word := range strings.Split(value, " ") {
		// Fold before a word that would overflow, never before the first one nor before an empty word
		// (a folded line must not be made of whitespace alone).
		if !first && word != "" && lineLen+1+len(word) > maxHeaderLine {
			b.WriteString("\r\n")
			lineLen = 0
		}
		b.WriteByte(' ')
		b.WriteString(word)
		lineLen += 1 + len(word)
		first = false
	}
	b.WriteString("\r\n")
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

// validMessageID accepts "<left@right>" made of printable ASCII without spaces.
func validMessageID(id string) bool {
	if len(id) < 5 || len(id) > 900 || id[0] != '<' || id[len(id)-1] != '>' {
		return false
	}
	inner := id[1 : len(id)-1]
	at := strings.IndexByte(inner, '@')
	if at <= 0 || at == len(inner)-1 {
		return false
	}
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c <= ' ' || c > '~' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// randomMessageID returns a fresh Message-ID on the domain of addr.
func randomMessageID(addr string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		domain = addr[i+1:]
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := "<" + hex.EncodeToString(b) + "@" + domain + ">"
	if !validMessageID(id) { // a quoted or otherwise unusual domain
		id = "<" + hex.EncodeToString(b) + "@localhost>"
	}
	return id
}
