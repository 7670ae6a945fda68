package graph_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"orgs/db"
	"orgs/db/dbtest"
	"orgs/domain"
	"orgs/graph"
	"orgs/httpapi"
	orgsmail "orgs/mail"
	"orgs/mail/mailtest"
	"orgs/service"
)

// newAPIWithMail serves the API over a database of its own whose mail worker delivers over SMTP to a
// test server.
func newAPIWithMail(t *testing.T) (*api, *mailtest.Server) {
	t.Helper()
	s := dbtest.Open(t, dbtest.New(t), db.Options{})
	smtpServer := mailtest.Start(t, nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender, err := orgsmail.NewSender(smtpServer.URL(), logger)
	if err != nil {
		t.Fatal(err)
	}
	worker := &orgsmail.Worker{Store: s, Sender: sender, Logger: logger, From: "orgs <no-reply@orgs.test>", PollInterval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { worker.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg := testServiceConfig
	cfg.EmailQueued = worker.Wake
	return newAPIServing(t, s, service.New(s, cfg), "mail "+t.Name(), httpapi.DefaultOptions, graph.DefaultHandlerOptions), smtpServer
}

// textBody returns the text/plain part of a received message.
func textBody(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if !strings.HasPrefix(mediaType, "multipart/") {
		b, _ := io.ReadAll(msg.Body)
		return msg, string(b)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(p)
			return msg, string(b)
		}
	}
}

var tokenInLink = regexp.MustCompile(`https://app\.example\.com/welcome\?\S+`)

func TestPrimaryAdministrator(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	payload := a.createFull(a.key, map[string]any{
		"name": "Initech", "emailConfirmationLandingPage": "https://app.example.com/welcome?ref=signup",
		"primaryAdministrator": map[string]any{
			"firstName": "Ada", "lastName": "Lovelace", "email": "ada@initech.test", "description": "CTO",
			"phone": "+442071838750", "locale": "en-GB", "gender": "FEMALE", "dateOfBirth": "1815-12-10",
			"address": map[string]any{"countryCode": "GB", "city": "London"},
			"mfa":     map[string]any{"enabled": true, "expirationInMinutes": 30},
		},
	})
	if errs := userErrors(payload); len(errs) != 0 {
		t.Fatalf("userErrors: %+v", errs)
	}
	o := payload["organization"].(map[string]any)
	admin := o["primaryAdministrator"].(map[string]any)
	if admin["email"] != "ada@initech.test" || admin["name"] != "Ada Lovelace" || admin["role"] != "ADMIN" ||
		admin["status"] != "INVITED" || admin["joinedAt"] != nil || admin["emailVerified"] != false {
		t.Errorf("primaryAdministrator = %v", admin)
	}
	if o["totalMembers"] != float64(2) || len(o["members"].([]any)) != 2 || len(o["owners"].([]any)) != 1 {
		t.Errorf("members: total %v, %v, owners %v", o["totalMembers"], o["members"], o["owners"])
	}
	// The profile reads back, as a migrating user of seed 002 expects.
	want := "map[address:map[city:London countryCode:GB] dateOfBirth:1815-12-10 description:CTO emailVerified:false " +
		"firstName:Ada gender:FEMALE lastName:Lovelace locale:en-GB mfa:map[enabled:true expirationInMinutes:30] phone:+442071838750]"
	if got := fmt.Sprint(admin["user"]); got != want {
		t.Errorf("administrator's user =\n%s\nwant\n%s", got, want)
	}

	// The confirmation email arrives over SMTP, once, with a link to the landing page.
	msgs := smtpServer.WaitForMessages(t, 1, 10*time.Second)
	msg, body := textBody(t, msgs[0].Data)
	to, _ := mail.ParseAddress(msg.Header.Get("To"))
	if msgs[0].To[0] != "ada@initech.test" || to == nil || to.Address != "ada@initech.test" ||
		!strings.Contains(msg.Header.Get("Subject"), "Initech") {
		t.Errorf("email to %v, headers %v", msgs[0].To, msg.Header)
	}
	link, err := url.Parse(tokenInLink.FindString(body))
	if err != nil || link.Query().Get("ref") != "signup" || len(link.Query().Get("token")) < 40 {
		t.Fatalf("no link with a token in:\n%s", body)
	}
	token := link.Query().Get("token")
	var stored int
	a.store.DB().Get(&stored, `SELECT count(*) FROM email_confirmations WHERE position($1::bytea in token_hash) > 0`, []byte(token))
	if stored != 0 {
		t.Errorf("the token is stored in clear")
	}

	// confirmEmail needs a key of the tenant, no permission: the token is the proof.
	bare, _ := a.newKey("landing-page-backend")
	const confirm = `mutation($token: String!) { confirmEmail(token: $token) { member { id role status joinedAt emailVerified } userErrors { field code message } } }`
	r := a.post(bare, confirm, map[string]any{"token": token})
	m, _ := r.Data["confirmEmail"].(map[string]any)["member"].(map[string]any)
	if m == nil || m["id"] != admin["id"] || m["status"] != "ACTIVE" || m["emailVerified"] != true || m["joinedAt"] == nil {
		t.Fatalf("confirmEmail = %s", r.Raw)
	}
	r = a.post(a.key, `{ organization(slug: "initech") { details { sequence } primaryAdministrator { status } } }`, nil)
	if got := fmt.Sprint(r.Data["organization"]); got != "map[details:map[sequence:2] primaryAdministrator:map[status:ACTIVE]]" {
		t.Errorf("after confirmation: %s", got)
	}

	invalid := func(t *testing.T, key, token string) {
		t.Helper()
		r := a.post(key, confirm, map[string]any{"token": token})
		p := r.Data["confirmEmail"].(map[string]any)
		errs := userErrors(p)
		if p["member"] != nil || len(errs) != 1 || errs[0].Field != "token" || errs[0].Code != "INVALID_VALUE" {
			t.Errorf("confirmEmail(%q): %s", token, r.Raw)
		}
	}
	t.Run("ErrUsedToken", func(t *testing.T) { invalid(t, bare, token) })
	t.Run("ErrUnknownToken", func(t *testing.T) { invalid(t, bare, "not-a-token") })
	t.Run("ErrOtherTenantAndExpired", func(t *testing.T) {
		a.createFull(a.key, map[string]any{"name": "Second", "emailConfirmationLandingPage": "https://app.example.com/welcome",
			"primaryAdministrator": map[string]any{"firstName": "Grace", "lastName": "Hopper", "email": "grace@initech.test"}})
		msgs := smtpServer.WaitForMessages(t, 2, 10*time.Second)
		_, body := textBody(t, msgs[1].Data)
		link, _ := url.Parse(tokenInLink.FindString(body))
		token := link.Query().Get("token")
		otherTenant, _ := a.newKeyIn("elsewhere "+t.Name(), "outsider", domain.AllPermissions...)
		invalid(t, otherTenant, token)
		a.store.DB().MustExec(`UPDATE email_confirmations SET expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND used_at IS NULL`, a.actor.TenantID)
		invalid(t, bare, token)
	})
	t.Run("SentOnce", func(t *testing.T) {
		time.Sleep(100 * time.Millisecond)
		if n := len(smtpServer.Messages()); n != 2 {
			t.Errorf("%d emails delivered, want 2", n)
		}
		var pending int
		a.store.DB().Get(&pending, `SELECT count(*) FROM email_outbox WHERE sent_at IS NULL`)
		if pending != 0 {
			t.Errorf("%d emails still pending", pending)
		}
	})
}
