package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"sync"
	"time"

	"orgs/db"
	"orgs/outbox"
)

// Worker delivers the emails of the outbox through a Sender, retrying failures with a backoff.
//
// Delivery is at least once. The worker only sends emails it has claimed (db.Store.ClaimEmails), a
// claim never returns an email already sent, and the worker marks an email sent right after the
// server accepted it, so an email is never sent again once it is marked sent. What remains is the
// window between the server's acceptance (its reply to the end of DATA) and MarkEmailSent: if the
// process dies, or the database cannot be reached, in between, the email is claimed again when its
// lease ends and sent a second time. The same goes for an attempt cut off while the server was
// accepting the message (a shutdown, a timeout). Every attempt carries the same Message-ID, fixed when
// the email was queued, so that receivers can drop such duplicates.
//
// Leases keep concurrent workers (several in one process or one per replica) apart: a claimed email is
// not due again before its lease ends. The worker therefore cuts every send off at three quarters of
// the lease and must record its outcome before the lease ends; only a process frozen for longer than
// that (a paused VM, say) could let a second worker send the same email.
//
// The zero values of the tuning fields select their defaults. Set the fields before Run; one Run per
// Worker.
type Worker struct {
	Store  *db.Store
	Sender Sender
	Logger *slog.Logger
	// From is the sender of every email: "Acme <no-reply@acme.test>".
	From string
	// PollInterval is how often the outbox is checked when nothing wakes the worker (default 1s).
	PollInterval time.Duration
	// Batch is how many emails one claim takes, and so how many are sent in parallel (default 10).
	Batch int
	// Lease is how long a claim keeps an email from other workers (default 1m).
	Lease time.Duration
	// MaxAttempts is the number of attempts after which the worker gives up on an email (default 8).
	MaxAttempts int
	// Backoff returns the delay before the next attempt after the failure of attempt number attempt
	// (1 for the first). Default: DefaultBackoff.
	Backoff func(attempt int) time.Duration

	loop outbox.Loop
}

// DefaultBackoff waits 2s after the first failed attempt and doubles the delay with each further
// failure, up to 10 minutes, each delay varied at random by up to ±25% so that emails that failed
// together are not retried together.
func DefaultBackoff(attempt int) time.Duration {
	const base, ceiling = 2 * time.Second, 10 * time.Minute
	d := ceiling
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 {
		d = min(base<<(attempt-1), ceiling)
	}
	jitter := time.Duration(rand.Int64N(int64(d/2)+1)) - d/4
	return min(d+jitter, ceiling)
}

// Wake makes the worker check the outbox now rather than at its next poll, e.g. right after a
// transaction that queued an email committed. It never blocks; wakes that come while the worker is busy
// fold into one more check.
func (w *Worker) Wake() { w.loop.Wake() }

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

func (w *Worker) pollInterval() time.Duration { return outbox.Or(w.PollInterval, time.Second) }

func (w *Worker) batch() int { return outbox.Or(w.Batch, 10) }

func (w *Worker) lease() time.Duration { return outbox.Or(w.Lease, time.Minute) }

func (w *Worker) maxAttempts() int {
	if w.MaxAttempts > 0 {
		return w.MaxAttempts
	}
	return 8
}

func (w *Worker) backoff(attempt int) time.Duration {
	if w.Backoff != nil {
		return w.Backoff(attempt)
	}
	return DefaultBackoff(attempt)
}

// Run delivers emails until ctx is done, then returns nil; it returns an error at once only when the
// Worker is misconfigured. Sends in progress when ctx is done are cut off and their emails made due
// again at once, for the next worker.
func (w *Worker) Run(ctx context.Context) error {
	if w.Store == nil || w.Sender == nil {
		return errors.New("mail worker: Store and Sender are required")
	}
	if _, err := netmail.ParseAddress(w.From); err != nil {
		return fmt.Errorf("mail worker: invalid From %q: %w", w.From, err)
	}
	w.loop.Run(ctx, w.pollInterval(), time.Now, w.deliverBatch, w.nextDue)
	return nil
}

// deliverBatch claims a batch and sends its emails in parallel. It returns when the soonest retry it
// scheduled is due (zero if none) and whether the batch was full.
func (w *Worker) deliverBatch(ctx context.Context) (next time.Time, full bool) {
	start := time.Now() // the leases end no sooner than start + lease
	emails, err := w.Store.ClaimEmails(ctx, w.batch(), w.lease())
	if err != nil {
		if ctx.Err() == nil && !db.Unavailable(err) { // the store logs an outage once
			w.logger().ErrorContext(ctx, "claim emails", "error", err.Error())
		}
		return time.Time{}, false
	}
	leaseEnd := start.Add(w.lease())
	sendBy := start.Add(w.lease() * 3 / 4)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, e := range emails {
		wg.Go(func() {
			retryAt := w.deliver(ctx, e, sendBy, leaseEnd)
			if retryAt.IsZero() {
				return
			}
			mu.Lock()
			if next.IsZero() || retryAt.Before(next) {
				next = retryAt
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return next, len(emails) == w.batch()
}

// nextDue returns when the soonest pending email is due by the outbox's own times, or zero (the loop's
// due).
func (w *Worker) nextDue(ctx context.Context) time.Time {
	at, err := w.Store.NextEmailDue(ctx)
	if err != nil && ctx.Err() == nil && !db.Unavailable(err) { // the store logs an outage once
		w.logger().ErrorContext(ctx, "look for the next email due", "error", err.Error())
	}
	return at
}

// deliver makes one attempt at e and records its outcome. It returns when e is due again after a
// failure, or zero.
func (w *Worker) deliver(ctx context.Context, e db.OutboxEmail, sendBy, leaseEnd time.Time) (retryAt time.Time) {
	log := w.logger().With("tenant_id", e.TenantID, "email_id", e.ID, "kind", e.Kind, "to", e.To,
		"attempt", e.Attempts, "message_id", e.MessageID)
	sendCtx, cancel := context.WithDeadline(ctx, sendBy)
	err := w.Sender.Send(sendCtx, Message{
		From: w.From, To: e.To, Subject: e.Subject, Text: e.TextBody, HTML: e.HTMLBody, MessageID: e.MessageID,
	})
	cancel()

	// The outcome is recorded even when ctx is done (a shutdown), and before the lease ends, when another
	// worker could claim the email.
	markCtx, cancelMark := context.WithDeadline(context.WithoutCancel(ctx), leaseEnd)
	defer cancelMark()
	if err == nil {
		if err := w.Store.MarkEmailSent(markCtx, e.TenantID, e.ID); err != nil {
			log.ErrorContext(ctx, "email sent but not marked sent: it will be sent again when its lease ends",
				"error", err.Error())
			return time.Time{}
		}
		log.InfoContext(ctx, "email sent")
		return time.Time{}
	}

	var (
		at    *time.Time
		level = slog.LevelWarn
		msg   string
	)
	switch {
	case ctx.Err() != nil:
		now := time.Now()
		at, msg = &now, "email delivery interrupted; due again at once"
	case IsPermanent(err):
		level, msg = slog.LevelError, "email refused for good by the server; given up"
	case e.Attempts >= w.maxAttempts():
		level, msg = slog.LevelError, "email delivery failed; given up after the last attempt"
	default:
		next := time.Now().Add(w.backoff(e.Attempts))
		at, msg = &next, "email delivery failed; will retry"
	}
	if merr := w.Store.MarkEmailFailed(markCtx, e.TenantID, e.ID, err.Error(), at); merr != nil {
		log.ErrorContext(ctx, "record failed email delivery: it will be retried when its lease ends",
			"error", merr.Error(), "delivery_error", err.Error())
		return time.Time{}
	}
	attrs := []any{"error", err.Error(), "max_attempts", w.maxAttempts()}
	if at != nil {
		attrs = append(attrs, "retry_at", at.UTC())
	}
	log.Log(ctx, level, msg, attrs...)
	if at == nil || ctx.Err() != nil {
		return time.Time{}
	}
	return *at
}
