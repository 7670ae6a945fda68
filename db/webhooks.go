package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// Webhook endpoints and their deliveries. Deliveries are made from the log of audit events by the relay
// (webhookrelay.go), whatever the statement that recorded the event; the webhook worker (package webhook)
// runs the relay, claims the deliveries here, sends them and records each attempt's outcome.
//
// From the log rather than by a call in every path that inserts events: events are recorded by several
// statements (a change, the one-statement create, the demotion of a default, a confirmation, a purge),
// and one that forgot the call would lose its webhooks silently; the log has them all.

// ErrWebhookEndpointNotFound is an endpoint that is not one of the tenant's.
var ErrWebhookEndpointNotFound = errors.New("webhook endpoint not found")

const webhookEndpointColumns = `tenant_id, id, url, description, event_types, enabled, disabled_at, created_at, updated_at`

type webhookEndpointRow struct {
	TenantID    string         `db:"tenant_id"`
	ID          string         `db:"id"`
	URL         string         `db:"url"`
	Description *string        `db:"description"`
	EventTypes  pq.StringArray `db:"event_types"`
	Enabled     bool           `db:"enabled"`
	DisabledAt  *time.Time     `db:"disabled_at"`
	CreatedAt   time.Time      `db:"created_at"`
	UpdatedAt   time.Time      `db:"updated_at"`
}

func (r webhookEndpointRow) endpoint() *domain.WebhookEndpoint {
	types := []string(r.EventTypes)
	if types == nil {
		types = []string{}
	}
	return &domain.WebhookEndpoint{TenantID: r.TenantID, ID: r.ID, URL: r.URL, Description: r.Description,
		EventTypes: types, Enabled: r.Enabled, DisabledAt: utcPtr(r.DisabledAt), CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC()}
}

// endpointEventData is what the tenant's log keeps of an endpoint: never its secret.
func endpointEventData(e *domain.WebhookEndpoint) map[string]any {
	return map[string]any{"endpointId": e.ID, "url": e.URL, "eventTypes": e.EventTypes, "enabled": e.Enabled}
}

// CreateWebhookEndpoint creates an endpoint of the caller's tenant that signs with secret, with its
// webhook_endpoint.created event in the tenant's log.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, caller *domain.Actor, in domain.WebhookEndpointInput, secret string, now time.Time) (*domain.WebhookEndpoint, error) {
	var e *domain.WebhookEndpoint
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		e, err = createWebhookEndpoint(ctx, tx, caller, in, secret, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return e, nil
}

func createWebhookEndpoint(ctx context.Context, tx *sqlx.Tx, caller *domain.Actor, in domain.WebhookEndpointInput, secret string, now time.Time) (*domain.WebhookEndpoint, error) {
	e := &domain.WebhookEndpoint{TenantID: caller.TenantID, ID: domain.NewID(), URL: in.URL, Description: in.Description,
		EventTypes: in.EventTypes, Enabled: true, CreatedAt: now, UpdatedAt: now}
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	if err := holdRelay(ctx, tx); err != nil {
		return nil, err
	}
	const q = `
INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, secret, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`
	if _, err := tx.ExecContext(ctx, q, e.TenantID, e.ID, e.URL, e.Description, pq.Array(e.EventTypes), secret, now); err != nil {
		return nil, fmt.Errorf("insert webhook endpoint: %w", err)
	}
	return e, insertTenantEvent(ctx, tx, e.TenantID, domain.EventWebhookEndpointCreated, caller, endpointEventData(e), now)
}

func getWebhookEndpoint(ctx context.Context, tx *sqlx.Tx, tenantID, id string) (*domain.WebhookEndpoint, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrWebhookEndpointNotFound
	}
	var r webhookEndpointRow
	err := tx.GetContext(ctx, &r, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints
WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrWebhookEndpointNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get webhook endpoint: %w", err)
	}
	return r.endpoint(), nil
}

// UpdateWebhookEndpoint applies p to the endpoint id of the caller's tenant, with a
// webhook_endpoint.updated event when anything changed. Turning it off marks its pending deliveries
// FAILED; turning it on again starts its failure count afresh, and it receives the events committed from
// then on (none of those committed while it was off, however late the relay comes to them). Another tenant's or an unknown endpoint
// is ErrWebhookEndpointNotFound.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, caller *domain.Actor, id string, p domain.WebhookEndpointPatch, now time.Time) (*domain.WebhookEndpoint, error) {
	var e *domain.WebhookEndpoint
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		e, err = updateWebhookEndpoint(ctx, tx, caller, id, p, now)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrWebhookEndpointNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("update webhook endpoint: %w", err)
	}
	return e, nil
}

func updateWebhookEndpoint(ctx context.Context, tx *sqlx.Tx, caller *domain.Actor, id string, p domain.WebhookEndpointPatch, now time.Time) (*domain.WebhookEndpoint, error) {
	e, err := getWebhookEndpoint(ctx, tx, caller.TenantID, id)
	if err != nil {
		return nil, err
	}
	var changes domain.Changes
	if p.URL != nil && changes.Add("url", e.URL, *p.URL) {
		e.URL = *p.URL
	}
	if p.EventTypes != nil && changes.Add("eventTypes", e.EventTypes, *p.EventTypes) {
		e.EventTypes = *p.EventTypes
	}
	if p.Description != nil && changes.Add("description", e.Description, *p.Description) {
		e.Description = *p.Description
	}
	wasEnabled := e.Enabled
	if p.Enabled != nil && changes.Add("enabled", e.Enabled, *p.Enabled) {
		e.Enabled = *p.Enabled
		if e.Enabled {
			e.DisabledAt = nil
		} else {
			e.DisabledAt = &now
		}
	}
	if len(changes) == 0 {
		return e, nil
	}
	e.UpdatedAt = now
	if !wasEnabled && e.Enabled {
		if err := holdRelay(ctx, tx); err != nil {
			return nil, err
		}
	}
	const q = `
UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6, disabled_at = $7,
    updated_at = $8, failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
    since = CASE WHEN $6 AND NOT enabled THEN pg_current_snapshot() ELSE since END
WHERE tenant_id = $1 AND id = $2`
	if _, err := tx.ExecContext(ctx, q, e.TenantID, e.ID, e.URL, e.Description, pq.Array(e.EventTypes), e.Enabled,
		e.DisabledAt, now); err != nil {
		return nil, fmt.Errorf("update webhook endpoint: %w", err)
	}
	if wasEnabled && !e.Enabled {
		if err := failPendingDeliveries(ctx, tx, e.TenantID, e.ID, "the endpoint was turned off"); err != nil {
			return nil, err
		}
	}
	data := endpointEventData(e)
	data["changes"] = changes
	return e, insertTenantEvent(ctx, tx, e.TenantID, domain.EventWebhookEndpointUpdated, caller, data, now)
}

// failPendingDeliveries gives up the pending deliveries of an endpoint.
func failPendingDeliveries(ctx context.Context, tx *sqlx.Tx, tenantID, endpointID, cause string) error {
	const q = `
UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL, last_error = coalesce(last_error || '; ', '') || $3
WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'PENDING'`
	if _, err := tx.ExecContext(ctx, q, tenantID, endpointID, cause); err != nil {
		return fmt.Errorf("fail pending webhook deliveries: %w", err)
	}
	return nil
}

// DeleteWebhookEndpoint deletes the endpoint id of the caller's tenant with its deliveries (the pending
// ones are never sent), with a webhook_endpoint.deleted event. Another tenant's or an unknown endpoint
// is ErrWebhookEndpointNotFound.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, caller *domain.Actor, id string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		e, err := getWebhookEndpoint(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, e.TenantID, e.ID); err != nil {
			return fmt.Errorf("delete webhook endpoint: %w", err)
		}
		return insertTenantEvent(ctx, tx, e.TenantID, domain.EventWebhookEndpointDeleted, caller, endpointEventData(e), now)
	})
	if err != nil {
		if errors.Is(err, ErrWebhookEndpointNotFound) {
			return err
		}
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	return nil
}

// WebhookEndpointPage is a page of a tenant's endpoints, newest first.
type WebhookEndpointPage struct {
	Endpoints       []*domain.WebhookEndpoint
	Cursors         []domain.Cursor
	HasNextPage     bool
	HasPreviousPage bool
}

// ListWebhookEndpoints returns a page of the tenant's endpoints, newest first (ties by id), after
// p.After; forward pages only.
func (s *Store) ListWebhookEndpoints(ctx context.Context, tenantID string, p domain.PageRequest) (*WebhookEndpointPage, error) {
	args := []any{tenantID, p.Size + 1}
	q := `SELECT ` + webhookEndpointColumns + ` FROM webhook_endpoints WHERE tenant_id = $1`
	if p.After != nil {
		q += ` AND (created_at, id) < ($3::timestamptz, $4::uuid)`
		args = append(args, p.After.Value, p.After.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $2`
	var rows []webhookEndpointRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	page := &WebhookEndpointPage{HasPreviousPage: p.After != nil}
	if len(rows) > p.Size {
		rows, page.HasNextPage = rows[:p.Size], true
	}
	for _, r := range rows {
		page.Endpoints = append(page.Endpoints, r.endpoint())
		page.Cursors = append(page.Cursors, domain.Cursor{Field: domain.OrderByCreatedAt,
			Value: r.CreatedAt.UTC().Format(time.RFC3339Nano), ID: r.ID})
	}
	return page, nil
}

// CountWebhookEndpoints counts the tenant's endpoints.
func (s *Store) CountWebhookEndpoints(ctx context.Context, tenantID string) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1`, tenantID); err != nil {
		return 0, fmt.Errorf("count webhook endpoints: %w", err)
	}
	return n, nil
}

const webhookDeliveryColumns = `tenant_id, id, seq, endpoint_id, event_id, event_type, status, attempts, last_attempt_at,
response_status, last_error, next_attempt_at, created_at`

type webhookDeliveryRow struct {
	TenantID       string     `db:"tenant_id"`
	ID             string     `db:"id"`
	Seq            int64      `db:"seq"`
	EndpointID     string     `db:"endpoint_id"`
	EventID        string     `db:"event_id"`
	EventType      string     `db:"event_type"`
	Status         string     `db:"status"`
	Attempts       int        `db:"attempts"`
	LastAttemptAt  *time.Time `db:"last_attempt_at"`
	ResponseStatus *int       `db:"response_status"`
	LastError      *string    `db:"last_error"`
	NextAttemptAt  *time.Time `db:"next_attempt_at"`
	CreatedAt      time.Time  `db:"created_at"`
}

func (r webhookDeliveryRow) delivery() *domain.WebhookDelivery {
	return &domain.WebhookDelivery{TenantID: r.TenantID, ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID,
		EventType: r.EventType, Status: domain.WebhookDeliveryStatus(r.Status), Attempts: r.Attempts,
		LastAttemptAt: utcPtr(r.LastAttemptAt), ResponseStatus: r.ResponseStatus, LastError: r.LastError,
		NextAttemptAt: utcPtr(r.NextAttemptAt), CreatedAt: r.CreatedAt.UTC()}
}

// WebhookDeliveryPage is a page of an endpoint's deliveries, newest first.
type WebhookDeliveryPage struct {
	Deliveries      []*domain.WebhookDelivery
	Cursors         []domain.Cursor
	HasNextPage     bool
	HasPreviousPage bool
}

// ListWebhookDeliveries returns a page of the deliveries of the tenant's endpoint, newest first, after
// p.After (cursors of OrderBySequence); forward pages only.
func (s *Store) ListWebhookDeliveries(ctx context.Context, tenantID, endpointID string, p domain.PageRequest) (*WebhookDeliveryPage, error) {
	args := []any{tenantID, endpointID, p.Size + 1}
	q := `SELECT ` + webhookDeliveryColumns + ` FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2`
	if p.After != nil {
		q += ` AND seq < $4`
		seq, err := strconv.ParseInt(p.After.Value, 10, 64)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "invalid cursor")
		}
		args = append(args, seq)
	}
	q += ` ORDER BY seq DESC LIMIT $3`
	var rows []webhookDeliveryRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	page := &WebhookDeliveryPage{HasPreviousPage: p.After != nil}
	if len(rows) > p.Size {
		rows, page.HasNextPage = rows[:p.Size], true
	}
	for _, r := range rows {
		page.Deliveries = append(page.Deliveries, r.delivery())
		page.Cursors = append(page.Cursors, domain.Cursor{Field: domain.OrderBySequence,
			Value: strconv.FormatInt(r.Seq, 10), ID: r.ID})
	}
	return page, nil
}

// CountWebhookDeliveries counts the deliveries of the tenant's endpoint.
func (s *Store) CountWebhookDeliveries(ctx context.Context, tenantID, endpointID string) (int, error) {
	var n int
	const q = `SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2`
	if err := s.db.GetContext(ctx, &n, q, tenantID, endpointID); err != nil {
		return 0, fmt.Errorf("count webhook deliveries: %w", err)
	}
	return n, nil
}

// ClaimedDelivery is a delivery claimed for one attempt: where it goes, the secret that signs it and
// the event it carries.
type ClaimedDelivery struct {
	domain.WebhookDelivery
	URL    string
	Secret string
	Event  domain.Event
}

// ClaimWebhookDeliveries claims up to limit due pending deliveries of enabled endpoints, oldest due
// first, for one attempt each: in one statement it counts the attempt (attempts, last_attempt_at = now)
// and leases the delivery by pushing its next attempt to now + lease. Rows that another claim has
// locked are skipped (FOR UPDATE SKIP LOCKED), and a claimed row is not due again before its lease ends,
// so concurrent workers (in one process or in several replicas) never hold the same delivery at once.
// The claimer records the outcome (RecordWebhookSuccess, RecordWebhookFailure) before the lease ends;
// if it does not (it crashed), the delivery is claimed again then, with the same id.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, limit int, lease time.Duration, now time.Time) ([]ClaimedDelivery, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim webhook deliveries: limit (%d) and lease (%s) must be positive", limit, lease)
	}
	now = now.UTC().Truncate(time.Microsecond)
	const q = `
WITH due AS (
    SELECT d.tenant_id, d.id FROM webhook_deliveries d
    JOIN webhook_endpoints ep ON ep.tenant_id = d.tenant_id AND ep.id = d.endpoint_id
    WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 AND ep.enabled
    ORDER BY d.next_attempt_at
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = $1, next_attempt_at = $3
    FROM due
    WHERE d.tenant_id = due.tenant_id AND d.id = due.id
    RETURNING d.tenant_id, d.id, d.seq, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts,
        d.last_attempt_at, d.response_status, d.last_error, d.next_attempt_at, d.created_at
)
SELECT c.*, ep.url, ep.secret,
    ev.organization_id AS "ev.organization_id", ev.sequence AS "ev.sequence", ev.type AS "ev.type",
    ev.actor_user_id AS "ev.actor_user_id", ev.actor_key_id AS "ev.actor_key_id", ev.changes AS "ev.changes",
    ev.payload AS "ev.payload", ev.created_at AS "ev.created_at", ev.id AS "ev.id", ev.tenant_id AS "ev.tenant_id"
FROM claimed c
JOIN webhook_endpoints ep ON ep.tenant_id = c.tenant_id AND ep.id = c.endpoint_id
JOIN audit_events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id
ORDER BY c.next_attempt_at`
	var rows []struct {
		webhookDeliveryRow
		URL    string   `db:"url"`
		Secret string   `db:"secret"`
		Event  eventRow `db:"ev"`
	}
	if err := s.db.SelectContext(ctx, &rows, q, now, limit, now.Add(lease)); err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	out := make([]ClaimedDelivery, len(rows))
	for i, r := range rows {
		ev, err := r.Event.event()
		if err != nil {
			return nil, fmt.Errorf("claim webhook deliveries: %w", err)
		}
		out[i] = ClaimedDelivery{WebhookDelivery: *r.delivery(), URL: r.URL, Secret: r.Secret, Event: ev}
	}
	return out, nil
}

// RecordWebhookSuccess records the success of an attempt (the HTTP status it got): the delivery
// SUCCEEDED, and its endpoint's run of failures ends. A success is recorded whatever was recorded of the
// delivery meanwhile (a slow attempt outliving its lease), unless it already succeeded.
func (s *Store) RecordWebhookSuccess(ctx context.Context, d *ClaimedDelivery, status int, now time.Time) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		const q = `
UPDATE webhook_deliveries SET status = 'SUCCEEDED', response_status = $3, last_error = NULL, next_attempt_at = NULL
WHERE tenant_id = $1 AND id = $2 AND status <> 'SUCCEEDED'`
		if _, err := tx.ExecContext(ctx, q, d.TenantID, d.ID, status); err != nil {
			return err
		}
		const qEndpoint = `
UPDATE webhook_endpoints SET failing_since = NULL
WHERE tenant_id = $1 AND id = $2 AND failing_since IS NOT NULL`
		_, err := tx.ExecContext(ctx, qEndpoint, d.TenantID, d.EndpointID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record webhook success: %w", err)
	}
	return nil
}

// WebhookFailure is the outcome of a failed attempt.
type WebhookFailure struct {
	// Status is the HTTP status received; nil when none (refused, timed out).
	Status *int
	Cause  string
	// RetryAt is when the delivery is due again; nil gives it up (FAILED).
	RetryAt *time.Time
	// DisableAfter disables the endpoint when its run of failures began that long before now or more
	// (0: never).
	DisableAfter time.Duration
}

// RecordWebhookFailure records the failure of attempt d (as claimed: a delivery claimed again since, by
// a worker that took over after the lease, is left to that worker). The endpoint's run of failures
// starts now if it had none; when it began f.DisableAfter ago or more, the endpoint is disabled
// (enabled false, disabled_at) and its pending deliveries FAILED. It reports whether it disabled the
// endpoint.
func (s *Store) RecordWebhookFailure(ctx context.Context, d *ClaimedDelivery, f WebhookFailure, now time.Time) (disabled bool, err error) {
	now = now.UTC().Truncate(time.Microsecond)
	cause := cleanError(f.Cause)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var res sql.Result
		var err error
		if f.RetryAt != nil {
			const q = `
UPDATE webhook_deliveries SET response_status = $4, last_error = $5, next_attempt_at = $6
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING' AND attempts = $3`
			res, err = tx.ExecContext(ctx, q, d.TenantID, d.ID, d.Attempts, f.Status, cause, f.RetryAt.UTC())
		} else {
			const q = `
UPDATE webhook_deliveries SET status = 'FAILED', response_status = $4, last_error = $5, next_attempt_at = NULL
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING' AND attempts = $3`
			res, err = tx.ExecContext(ctx, q, d.TenantID, d.ID, d.Attempts, f.Status, cause)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // settled or claimed again meanwhile: not this attempt's to record
		}
		const qEndpoint = `
WITH started AS (
    UPDATE webhook_endpoints SET failing_since = $3
    WHERE tenant_id = $1 AND id = $2 AND failing_since IS NULL
    RETURNING enabled, failing_since
)
SELECT enabled, failing_since FROM started
UNION ALL
SELECT enabled, failing_since FROM webhook_endpoints
WHERE tenant_id = $1 AND id = $2 AND failing_since IS NOT NULL`
		var enabled bool
		var since time.Time
		if err := tx.QueryRowxContext(ctx, qEndpoint, d.TenantID, d.EndpointID, now).Scan(&enabled, &since); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		if !enabled || f.DisableAfter <= 0 || now.Sub(since) < f.DisableAfter {
			return nil
		}
		const qDisable = `
UPDATE webhook_endpoints SET enabled = false, disabled_at = $3, updated_at = $3
WHERE tenant_id = $1 AND id = $2`
		if _, err := tx.ExecContext(ctx, qDisable, d.TenantID, d.EndpointID, now); err != nil {
			return err
		}
		disabled = true
		return failPendingDeliveries(ctx, tx, d.TenantID, d.EndpointID,
			fmt.Sprintf("the endpoint was disabled after failing since %s", since.UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return false, fmt.Errorf("record webhook failure: %w", err)
	}
	return disabled, nil
}

// webhookWakeEvery spaces the wakes of a webhook worker: every replica announces up to 50 times a second
// under load, and each wake is a claim.
const webhookWakeEvery = 20 * time.Millisecond

// throttleWakes calls wake for the values of notes, at most once every `every`: values that come sooner
// make one wake when that time is up. It returns when notes is closed.
func throttleWakes[T any](notes <-chan T, wake func(), every time.Duration) {
	var last time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	waiting := false
	for {
		select {
		case _, ok := <-notes:
			if !ok {
				timer.Stop()
				return
			}
			if waiting { // the timer wakes for it
				continue
			}
			if since := time.Since(last); since < every {
				waiting = true
				timer.Reset(every - since)
				continue
			}
			wake()
			last = time.Now()
		case <-timer.C:
			waiting = false
			wake()
			last = time.Now()
		}
	}
}

// ListenForWebhookDeliveries calls wake when replicas announce committed events (EventsChannel: after
// mutations, at most one announcement every 20 ms per replica), for the relay to make their deliveries, at most
// once every webhookWakeEvery, until the returned stop is called. While the listener is disconnected
// nothing wakes: the caller polls as well.
func ListenForWebhookDeliveries(dsn string, logger *slog.Logger, wake func()) (stop func()) {
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			logger.Warn("webhook deliveries: listener disconnected; the worker polls until it is back", "error", fmt.Sprint(err))
		case pq.ListenerEventReconnected:
			logger.Info("webhook deliveries: listener reconnected")
			wake() // what was notified meanwhile is lost
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		throttleWakes(l.Notify, wake, webhookWakeEvery)
	}()
	go func() {
		if err := l.Listen(EventsChannel); err != nil && !errors.Is(err, net.ErrClosed) {
			logger.Warn("webhook deliveries: cannot listen; the worker polls", "error", err.Error())
		}
	}()
	return func() {
		l.Close()
		<-done
	}
}
