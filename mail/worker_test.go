package mail

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"orgs/domain"
	"orgs/mail/mailtest"
)

// These tests run workers, which claim the due emails of every tenant: they do not run in parallel
// (see store).

const testFrom = "Orgs <no-reply@orgs.test>"

// runWorker runs w until the test ends, and checks that Run then returns nil promptly.
func runWorker(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("Run did not return after its context was cancelled")
		}
	})
}

func enqueue(t *testing.T, e domain.Email) {
	t.Helper()
	if err := store.EnqueueEmail(context.Background(), e); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func testEmail(tenantID string) domain.Email {
	return domain.Email{
		TenantID: tenantID, ID: uuid.NewString(), Kind: domain.EmailKindConfirmation,
		To: "Ada Lovelace <ada@example.com>", Subject: "Confirm your address",
		TextBody: "Hello Ada,\r\nplease confirm.", HTMLBody: "<p>Hello Ada,</p><p>please confirm.</p>",
	}
}

// decoded is a received message, decoded with net/mail and mime.
type decoded struct {
	Header  netmail.Header
	Subject string
	Text    string
	HTML    string
}

func decode(t *testing.T, data []byte) decoded {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	d := decoded{Header: m.Header}
	if d.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("decode Subject %q: %v", m.Header.Get("Subject"), err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	if m.Header.Get("MIME-Version") != "1.0" {
		t.Errorf("MIME-Version = %q", m.Header.Get("MIME-Version"))
	}
	setBody := func(mediaType, charset string, body []byte) {
		if !strings.EqualFold(charset, "utf-8") {
			t.Errorf("%s charset = %q, want utf-8", mediaType, charset)
		}
		switch mediaType {
		case "text/plain":
			d.Text = string(body)
		case "text/html":
			d.HTML = string(body)
		default:
			t.Errorf("unexpected part %s", mediaType)
		}
	}
	if mediaType == "multipart/alternative" {
		mr := multipart.NewReader(m.Body, params["boundary"])
		for {
			p, err := mr.NextPart() // decodes quoted-printable
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("next part: %v", err)
			}
			body, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("read part: %v", err)
			}
			pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			setBody(pt, pp["charset"], body)
		}
		return d
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding = %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	setBody(mediaType, params["charset"], body)
	return d
}

// (a) An email queued is delivered once, as queued, and marked sent.
func TestWorkerDeliversQueuedEmail(t *testing.T) {
	tenant := newTenant(t)
	srv := mailtest.Start(t, nil)
	logger, logs := newLogger()
	// A poll interval of an hour: only Wake can get the email out in time.
	w := &Worker{Store: store, Sender: newSMTPSender(t, srv.URL(), nil), Logger: logger, From: testFrom,
		PollInterval: time.Hour}
	runWorker(t, w)

	e := testEmail(tenant)
	enqueue(t, e)
	w.Wake()
	waitFor(t, "the email marked sent", func() bool { return outboxState(t, tenant, e.ID).SentAt != nil })

	st := outboxState(t, tenant, e.ID)
	if st.Attempts != 1 || st.FailedAt != nil || st.LastError != nil {
		t.Errorf("outbox row = %+v, want 1 attempt, not failed", st)
	}
	if want := "<" + e.ID + "@orgs.invalid>"; st.MessageID != want {
		t.Errorf("message_id = %q, want %q", st.MessageID, want)
	}
	// Nudge the worker again: a sent email is never claimed again.
	w.Wake()
	time.Sleep(30 * time.Millisecond)
	msgs := srv.Messages()
	if len(msgs) != 1 || srv.DataAttempts() != 1 {
		t.Fatalf("server got %d messages in %d attempts, want 1 in 1", len(msgs), srv.DataAttempts())
	}
	got := msgs[0]
	if got.From != "no-reply@orgs.test" || !slices.Equal(got.To, []string{"ada@example.com"}) {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	d := decode(t, got.Data)
	if d.Header.Get("Message-ID") != st.MessageID {
		t.Errorf("Message-ID = %q, want %q", d.Header.Get("Message-ID"), st.MessageID)
	}
	to, err := d.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "ada@example.com" || to[0].Name != "Ada Lovelace" {
		t.Errorf("To = %v (%v)", to, err)
	}
	from, err := d.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "no-reply@orgs.test" || from[0].Name != "Orgs" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if _, err := d.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if d.Subject != e.Subject || d.Text != e.TextBody || d.HTML != e.HTMLBody {
		t.Errorf("got subject %q, text %q, html %q; want %q, %q, %q", d.Subject, d.Text, d.HTML, e.Subject, e.TextBody, e.HTMLBody)
	}
	waitFor(t, "the 'email sent' log line", func() bool { return strings.Contains(logs.String(), `"msg":"email sent"`) })
}

// (b) A server failing twice: the email goes out at the third attempt, each retry after the backoff.
func TestWorkerRetriesWithBackoff(t *testing.T) {
	tenant := newTenant(t)
	srv := mailtest.Start(t, nil)
	srv.Set(func(s *mailtest.Server) { s.FailNext = 2 })
	var (
		mu       sync.Mutex
		backoffs []int
		tries    []time.Time
	)
	const delay = 25 * time.Millisecond
	logger, _ := newLogger()
	smtpSender := newSMTPSender(t, srv.URL(), nil)
	sender := senderFunc(func(ctx context.Context, m Message) error {
		mu.Lock()
		tries = append(tries, time.Now())
		mu.Unlock()
		return smtpSender.Send(ctx, m)
	})
	w := &Worker{Store: store, Sender: sender, Logger: logger, From: testFrom, PollInterval: time.Hour,
		Backoff: func(attempt int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			backoffs = append(backoffs, attempt)
			return delay
		}}
	runWorker(t, w)

	e := testEmail(tenant)
	enqueue(t, e)
	w.Wake()
	// The poll interval is an hour: the worker wakes up for the retries by itself.
	waitFor(t, "the email marked sent", func() bool { return outboxState(t, tenant, e.ID).SentAt != nil })

	st := outboxState(t, tenant, e.ID)
	if st.Attempts != 3 || st.FailedAt != nil {
		t.Errorf("outbox row = %+v, want 3 attempts, not failed", st)
	}
	if st.LastError == nil || !strings.Contains(*st.LastError, "451") {
		t.Errorf("last_error = %v, want the 451 of the last failure", st.LastError)
	}
	if n := len(srv.Messages()); n != 1 || srv.DataAttempts() != 3 {
		t.Errorf("server got %d messages in %d attempts, want 1 in 3", n, srv.DataAttempts())
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(backoffs, []int{1, 2}) {
		t.Errorf("Backoff called for attempts %v, want [1 2]", backoffs)
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap < delay-time.Millisecond {
			t.Errorf("attempt %d came %s after the previous one, before the backoff of %s", i+1, gap, delay)
		}
	}
}

// An email that comes due after a batch found nothing due is sent then, not at the next poll: the
// worker waits for the outbox's soonest due time, whichever worker or clock scheduled it.
func TestWorkerWakesWhenAnEmailComesDue(t *testing.T) {
	tenant := newTenant(t)
	srv := mailtest.Start(t, nil)
	e := testEmail(tenant)
	enqueue(t, e)
	// Due in 300 ms, as a retry that another worker scheduled would be.
	if _, err := store.DB().Exec(`UPDATE email_outbox SET next_attempt_at = now() + interval '300 milliseconds'
		WHERE tenant_id = $1 AND id = $2`, tenant, e.ID); err != nil {
		t.Fatal(err)
	}
	logger, _ := newLogger()
	w := &Worker{Store: store, Sender: newSMTPSender(t, srv.URL(), nil), Logger: logger, From: testFrom,
		PollInterval: time.Hour}
	runWorker(t, w) // its first batch finds nothing due; the poll is an hour
	waitFor(t, "the email marked sent", func() bool { return outboxState(t, tenant, e.ID).SentAt != nil })
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server got %d messages, want 1", n)
	}
}

// senderFunc adapts a function to Sender.
type senderFunc func(ctx context.Context, m Message) error

func (f senderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// (c) Two workers on one outbox: every email is delivered exactly once.
func TestTwoWorkersDeliverEachEmailOnce(t *testing.T) {
	tenant := newTenant(t)
	srv := mailtest.Start(t, nil)
	const n = 20
	want := map[string]bool{}
	for range n {
		e := testEmail(tenant)
		e.To = "user-" + e.ID + "@example.com"
		enqueue(t, e)
		want["<"+e.ID+"@orgs.invalid>"] = true
	}
	var sentBy [2]atomic.Int32
	for i := range 2 {
		logger, _ := newLogger()
		smtpSender := newSMTPSender(t, srv.URL(), nil)
		w := &Worker{Store: store, Logger: logger, From: testFrom, Batch: 3, PollInterval: 5 * time.Millisecond,
			Sender: senderFunc(func(ctx context.Context, m Message) error {
				sentBy[i].Add(1)
				return smtpSender.Send(ctx, m)
			})}
		runWorker(t, w)
	}
	waitFor(t, "every email marked sent", func() bool {
		var pending int
		store.DB().Get(&pending, `SELECT count(*) FROM email_outbox WHERE tenant_id = $1 AND sent_at IS NULL`, tenant)
		return pending == 0
	})
	time.Sleep(20 * time.Millisecond) // a few more polls: nothing is sent again

	msgs := srv.Messages()
	got := map[string]int{}
	for _, m := range msgs {
		got[decode(t, m.Data).Header.Get("Message-ID")]++
	}
	if len(msgs) != n || srv.DataAttempts() != n {
		t.Errorf("server got %d messages in %d attempts, want %d", len(msgs), srv.DataAttempts(), n)
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("email %s delivered %d times", id, got[id])
		}
	}
	var maxAttempts int
	store.DB().Get(&maxAttempts, `SELECT max(attempts) FROM email_outbox WHERE tenant_id = $1`, tenant)
	if maxAttempts != 1 {
		t.Errorf("an email took %d attempts, want 1", maxAttempts)
	}
	t.Logf("worker 1 sent %d, worker 2 sent %d", sentBy[0].Load(), sentBy[1].Load())
}

// (d) A server that always fails: the worker gives up after MaxAttempts and never sends the email.
func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	tenant := newTenant(t)
	srv := mailtest.Start(t, nil)
	srv.Set(func(s *mailtest.Server) { s.FailAll = true })
	logger, logs := newLogger()
	w := &Worker{Store: store, Sender: newSMTPSender(t, srv.URL(), nil), Logger: logger, From: testFrom,
		PollInterval: time.Hour, MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Millisecond }}
	runWorker(t, w)

	e := testEmail(tenant)
	enqueue(t, e)
	w.Wake()
	waitFor(t, "the email given up", func() bool { return outboxState(t, tenant, e.ID).FailedAt != nil })
	w.Wake()
	time.Sleep(20 * time.Millisecond) // a given-up email is not tried again

	st := outboxState(t, tenant, e.ID)
	if st.Attempts != 3 || st.SentAt != nil {
		t.Errorf("outbox row = %+v, want 3 attempts, never sent", st)
	}
	if st.LastError == nil || !strings.Contains(*st.LastError, "451") {
		t.Errorf("last_error = %v, want the 451", st.LastError)
	}
	if n := len(srv.Messages()); n != 0 || srv.DataAttempts() != 3 {
		t.Errorf("server got %d messages in %d attempts, want 0 in 3", n, srv.DataAttempts())
	}
	waitFor(t, "the ERROR log of the given-up email", func() bool {
		return strings.Contains(logs.String(), `"level":"ERROR","msg":"email delivery failed; given up after the last attempt"`)
	})
}

// A recipient the server refuses for good (550) is given up at once.
func TestWorkerGivesUpOnPermanentRefusal(t *testing.T) {
	tenant := newTenant(t)
	srv := mailtest.Start(t, nil)
	srv.Set(func(s *mailtest.Server) { s.RejectRcpt = true })
	logger, logs := newLogger()
	w := &Worker{Store: store, Sender: newSMTPSender(t, srv.URL(), nil), Logger: logger, From: testFrom,
		PollInterval: time.Hour, Backoff: func(int) time.Duration { return time.Millisecond }}
	runWorker(t, w)

	e := testEmail(tenant)
	enqueue(t, e)
	w.Wake()
	waitFor(t, "the email given up", func() bool { return outboxState(t, tenant, e.ID).FailedAt != nil })
	st := outboxState(t, tenant, e.ID)
	if st.Attempts != 1 || st.SentAt != nil || st.LastError == nil || !strings.Contains(*st.LastError, "550") {
		t.Errorf("outbox row = %+v, want given up after 1 attempt with the 550", st)
	}
	if srv.DataAttempts() != 0 {
		t.Errorf("server got %d DATA commands, want 0", srv.DataAttempts())
	}
	// The worker logs right after it records the outcome: wait for the line rather than race it.
	waitFor(t, "an ERROR log", func() bool { return strings.Contains(logs.String(), `"level":"ERROR"`) })
}

// A send in progress when the worker stops is cut off and its email made due again at once.
func TestWorkerStopInterruptsSend(t *testing.T) {
	tenant := newTenant(t)
	started := make(chan struct{})
	sender := senderFunc(func(ctx context.Context, m Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	logger, _ := newLogger()
	w := &Worker{Store: store, Sender: sender, Logger: logger, From: testFrom, PollInterval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	e := testEmail(tenant)
	enqueue(t, e)
	w.Wake()
	select {
	case <-started:
	case <-time.After(3 * time.Second):
		t.Fatal("the email was not claimed")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return")
	}
	var due bool
	store.DB().Get(&due, `SELECT sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now() AND last_error LIKE '%canceled%'
		FROM email_outbox WHERE tenant_id = $1 AND id = $2`, tenant, e.ID)
	if !due {
		t.Errorf("interrupted email not due again at once: %+v", outboxState(t, tenant, e.ID))
	}
	// Leave nothing pending for the other tests.
	if err := store.MarkEmailSent(context.Background(), tenant, e.ID); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerNeedsStoreSenderAndFrom(t *testing.T) {
	t.Parallel()
	sender := senderFunc(func(context.Context, Message) error { return nil })
	for _, w := range []*Worker{{Sender: sender, From: testFrom}, {Store: store, From: testFrom}, {Store: store, Sender: sender, From: "nobody"}} {
		if err := w.Run(context.Background()); err == nil {
			t.Errorf("Run of %+v = nil, want an error", w)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for attempt, base := range map[int]time.Duration{
		0: 2 * time.Second, 1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 6: 64 * time.Second,
		9: 512 * time.Second, 10: 10 * time.Minute, 100: 10 * time.Minute,
	} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := DefaultBackoff(attempt)
			seen[d] = true
			if d < base*3/4 || d > base*5/4 || d > 10*time.Minute {
				t.Errorf("DefaultBackoff(%d) = %s, want %s ±25%%, at most 10m", attempt, d, base)
			}
		}
		if len(seen) < 2 {
			t.Errorf("DefaultBackoff(%d) has no jitter", attempt)
		}
	}
}
