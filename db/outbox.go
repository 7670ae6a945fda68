package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// The email outbox: emails are written in the transaction of the change that causes them and
// delivered afterwards by the mail worker (package mail), at least once.
//
// A row is pending until it is sent (sent_at) or given up (failed_at). ClaimEmails leases due pending
// rows to one worker by pushing their next_attempt_at past the send; the worker then reports the
// outcome with MarkEmailSent or MarkEmailFailed. Neither ever changes a row that is already sent, so a
// late report of a slow worker cannot undo a delivery, and a sent row is never claimed again.

// messageIDDomain is the right-hand side of the generated Message-IDs. It only has to make them
// unique, which the email's id does; a domain reserved by RFC 2606 cannot collide with the ids
// of any other system.
const messageIDDomain = "orgs.invalid"

// maxErrorLen bounds the last_error kept for a failed attempt, in bytes.
const maxErrorLen = 2000

// OutboxEmail is an email claimed from the outbox, with the Message-ID it was given at enqueue: the
// same one on every attempt, so that receivers can drop the duplicates of an at-least-once delivery.
type OutboxEmail struct {
	domain.Email
	MessageID string
}

// outboxColumns lists what a claim returns.
const outboxColumns = `
e.tenant_id, e.id, e.kind, e.to_address, e.subject, e.text_body, e.html_body, e.message_id, e.attempts,
e.created_at`

type outboxRow struct {
	TenantID  string    `db:"tenant_id"`
	ID        string    `db:"id"`
	Kind      string    `db:"kind"`
	To        string    `db:"to_address"`
	Subject   string    `db:"subject"`
	TextBody  string    `db:"text_body"`
	HTMLBody  string    `db:"html_body"`
	MessageID string    `db:"message_id"`
	Attempts  int       `db:"attempts"`
	CreatedAt time.Time `db:"created_at"`
}

func (r outboxRow) email() OutboxEmail {
	return OutboxEmail{
		Email: domain.Email{
			TenantID: r.TenantID, ID: r.ID, Kind: r.Kind, To: r.To, Subject: r.Subject,
			TextBody: r.TextBody, HTMLBody: r.HTMLBody, Attempts: r.Attempts, CreatedAt: r.CreatedAt.UTC(),
		},
		MessageID: r.MessageID,
	}
}

// newMessageID returns the RFC 5322 Message-ID of the email with id.
func newMessageID(id string) string { return "<" + id + "@" + messageIDDomain + ">" }

// insertEmail queues e in tx, due at now: it is sent only if tx commits. An empty e.ID is generated;
// the Message-ID always is. Attempts and CreatedAt of e are ignored (0 and now).
func insertEmail(ctx context.Context, tx *sqlx.Tx, e domain.Email, now time.Time) error {
	if e.ID == "" {
		e.ID = domain.NewID()
	}
	switch {
	case e.TenantID == "":
		return fmt.Errorf("enqueue email: %w", domain.Errorf(domain.EINVALID, "an email needs a tenant"))
	case strings.TrimSpace(e.Kind) == "":
		return fmt.Errorf("enqueue email: %w", domain.Errorf(domain.EINVALID, "an email needs a kind"))
	}
	// A malformed address would only fail at every attempt: refuse it now, in the caller's transaction.
	if _, err := mail.ParseAddress(e.To); err != nil {
		return fmt.Errorf("enqueue email: %w", domain.Errorf(domain.EINVALID, "invalid recipient %q: %v", e.To, err))
	}
	const q = `
INSERT INTO email_outbox (tenant_id, id, kind, to_address, subject, text_body, html_body, message_id,
    attempts, next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)`
	if _, err := tx.ExecContext(ctx, q, e.TenantID, e.ID, e.Kind, e.To, e.Subject, e.TextBody, e.HTMLBody,
		newMessageID(e.ID), now); err != nil {
		return fmt.Errorf("enqueue email: %w", err)
	}
	return nil
}

// EnqueueEmail queues e in a transaction of its own (see insertEmail). Changes that cause an email
// queue it in their own transaction instead, so that it is sent if and only if they commit.
func (s *Store) EnqueueEmail(ctx context.Context, e domain.Email) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		return insertEmail(ctx, tx, e, s.nowUTC())
	})
}

// NextEmailDue returns when the soonest pending email is due: a retry, an email queued since the last
// claim, or the end of a lease (a worker that stopped before reporting); zero when none is pending. It
// reads the times the claims compare (email_outbox_pending_idx).
func (s *Store) NextEmailDue(ctx context.Context) (time.Time, error) {
	var at sql.NullTime
	const q = `SELECT min(next_attempt_at) FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL`
	if err := s.db.GetContext(ctx, &at, q); err != nil {
		return time.Time{}, fmt.Errorf("next email due: %w", err)
	}
	return at.Time, nil
}

// ClaimEmails claims up to limit due pending emails, oldest due first, for one delivery attempt each:
// in one statement it counts the attempt and leases each email by pushing its next attempt to now +
// lease. Rows that another claim has locked are skipped (FOR UPDATE SKIP LOCKED), and a claimed row is
// not due again before its lease ends, so concurrent workers (in one process or in several replicas)
// never hold the same email at once. The claimer reports the outcome with MarkEmailSent or
// MarkEmailFailed before the lease ends; if it does not (it crashed), the email is claimed again then.
//
// Attempts of the emails returned include this one.
func (s *Store) ClaimEmails(ctx context.Context, limit int, lease time.Duration) ([]OutboxEmail, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim emails: limit (%d) and lease (%s) must be positive", limit, lease)
	}
	now := s.nowUTC()
	const q = `
WITH due AS (
    SELECT tenant_id, id FROM email_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE email_outbox e SET attempts = e.attempts + 1, next_attempt_at = $3
FROM due
WHERE e.tenant_id = due.tenant_id AND e.id = due.id
RETURNING` + outboxColumns
	var rows []outboxRow
	if err := s.db.SelectContext(ctx, &rows, q, now, limit, now.Add(lease)); err != nil {
		return nil, fmt.Errorf("claim emails: %w", err)
	}
	out := make([]OutboxEmail, len(rows))
	for i, r := range rows {
		out[i] = r.email()
	}
	return out, nil
}

// MarkEmailSent records the delivery of an email. Marking an email already sent again does nothing; a
// given-up email that turns out to be sent after all (a slow attempt outliving its lease) is recorded
// as sent.
func (s *Store) MarkEmailSent(ctx context.Context, tenantID, id string) error {
	const q = `
UPDATE email_outbox SET sent_at = $3, failed_at = NULL
WHERE tenant_id = $1 AND id = $2 AND sent_at IS NULL`
	if err := s.settle(ctx, q, tenantID, id, s.nowUTC()); err != nil {
		return fmt.Errorf("mark email sent: %w", err)
	}
	return nil
}

// MarkEmailFailed records a failed attempt with its cause: the email is due again at retryAt, or, when
// retryAt is nil, given up for good (failed_at). A pending email only: a failure reported for an email
// already sent or given up changes nothing.
func (s *Store) MarkEmailFailed(ctx context.Context, tenantID, id string, cause string, retryAt *time.Time) error {
	cause = cleanError(cause)
	var err error
	if retryAt != nil {
		const q = `
UPDATE email_outbox SET last_error = $4, next_attempt_at = $3
WHERE tenant_id = $1 AND id = $2 AND sent_at IS NULL AND failed_at IS NULL`
		err = s.settle(ctx, q, tenantID, id, retryAt.UTC(), cause)
	} else {
		const q = `
UPDATE email_outbox SET last_error = $4, failed_at = $3
WHERE tenant_id = $1 AND id = $2 AND sent_at IS NULL AND failed_at IS NULL`
		err = s.settle(ctx, q, tenantID, id, s.nowUTC(), cause)
	}
	if err != nil {
		return fmt.Errorf("mark email failed: %w", err)
	}
	return nil
}

// settle runs an update of one email keyed by $1 (tenant) and $2 (id). Updating nothing is fine when
// the email exists (it was already settled) and an ENOTFOUND error otherwise.
func (s *Store) settle(ctx context.Context, q, tenantID, id string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, append([]any{tenantID, id}, args...)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 1 {
		return err
	}
	var exists bool
	const qExists = `SELECT EXISTS (SELECT 1 FROM email_outbox WHERE tenant_id = $1 AND id = $2)`
	if err := s.db.GetContext(ctx, &exists, qExists, tenantID, id); err != nil {
		return err
	}
	if !exists {
		return domain.Errorf(domain.ENOTFOUND, "no email %s in tenant %s", id, tenantID)
	}
	return nil
}

// cleanError makes an error message storable: valid UTF-8 without NUL (PostgreSQL refuses both in
// text) and at most maxErrorLen bytes.
func cleanError(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= maxErrorLen {
		return s
	}
	cut := maxErrorLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
