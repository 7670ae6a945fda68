package db

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"orgs/domain"
)

// EventsChannel is the channel the trigger audit_events_notify announces every committed audit event
// on (migration 00014), as "<tenant id> <organization id> <sequence>".
const EventsChannel = "orgs_events"

// EventRef identifies an audit event, as its announcement names it.
type EventRef struct {
	TenantID       string
	OrganizationID string
	Sequence       int64
}

// parseEventRef reads an announcement of EventsChannel.
func parseEventRef(s string) (EventRef, bool) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return EventRef{}, false
	}
	seq, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return EventRef{}, false
	}
	return EventRef{TenantID: f[0], OrganizationID: f[1], Sequence: seq}, true
}

// EventNotice is what an EventListener hands on: an announced event, or (Ref nil) word that
// announcements may have been lost, those of the events recorded since Since.
type EventNotice struct {
	Ref   *EventRef
	Since time.Time
}

// EventListener listens to EventsChannel on a connection of its own, reconnecting by itself.
type EventListener struct {
	l      *pq.Listener
	notice chan EventNotice
	done   chan struct{}

	mu           sync.Mutex
	disconnected time.Time // when the connection was lost, zero while it is up
}

// resyncMargin goes back before the loss of the connection: an event's created_at is its transaction's
// start, which may precede its commit by that much.
const resyncMargin = 30 * time.Second

// ListenEvents starts listening to EventsChannel on dsn. Its notices arrive in commit order; after a
// reconnection, a notice without Ref says which announcements may have been missed.
func ListenEvents(ctx context.Context, dsn string, logger *slog.Logger) (*EventListener, error) {
	if logger == nil {
		logger = slog.Default()
	}
	e := &EventListener{notice: make(chan EventNotice, 256), done: make(chan struct{})}
	e.l = pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			e.mu.Lock()
			if e.disconnected.IsZero() {
				e.disconnected = time.Now()
			}
			e.mu.Unlock()
			logger.Warn("event listener disconnected; reconnecting", "error", fmt.Sprint(err))
		case pq.ListenerEventReconnected:
			logger.Info("event listener reconnected")
		}
	})
	listening := make(chan error, 1)
	go func() { listening <- e.l.Listen(EventsChannel) }()
	select {
	case err := <-listening:
		if err != nil {
			e.l.Close()
			return nil, fmt.Errorf("listen to %s: %w", EventsChannel, err)
		}
	case <-ctx.Done():
		e.l.Close()
		return nil, fmt.Errorf("listen to %s: %w", EventsChannel, ctx.Err())
	}
	go e.forward(logger)
	return e, nil
}

// forward turns pq's notifications into notices until the listener closes.
func (e *EventListener) forward(logger *slog.Logger) {
	defer close(e.done)
	defer close(e.notice)
	for n := range e.l.Notify {
		if n == nil { // pq reconnected: what was announced meanwhile is lost
			e.mu.Lock()
			since := e.disconnected
			e.disconnected = time.Time{}
			e.mu.Unlock()
			if since.IsZero() {
				since = time.Now()
			}
			e.notice <- EventNotice{Since: since.Add(-resyncMargin)}
			continue
		}
		ref, ok := parseEventRef(n.Extra)
		if !ok {
			logger.Warn("event listener: unreadable announcement", "payload", n.Extra)
			continue
		}
		e.notice <- EventNotice{Ref: &ref}
	}
}

// Notices returns the listener's notices; the channel closes with the listener.
func (e *EventListener) Notices() <-chan EventNotice { return e.notice }

// Close stops listening. The reader of Notices must keep reading until the channel closes.
func (e *EventListener) Close() error {
	err := e.l.Close()
	return err
}

// EventsAt returns the events refs name, by tenant, organization and sequence; those that do not exist
// (any more) are left out.
func (s *Store) EventsAt(ctx context.Context, refs []EventRef) ([]domain.Event, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	tenants, orgs, seqs := make([]string, len(refs)), make([]string, len(refs)), make([]int64, len(refs))
	for i, r := range refs {
		tenants[i], orgs[i], seqs[i] = r.TenantID, r.OrganizationID, r.Sequence
	}
	const q = `
SELECT e.tenant_id, e.id, e.organization_id, e.sequence, e.type, e.actor_user_id, e.actor_key_id, e.changes, e.payload, e.created_at
FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS r(tenant_id, organization_id, sequence)
JOIN audit_events e ON e.tenant_id = r.tenant_id AND e.organization_id = r.organization_id AND e.sequence = r.sequence
ORDER BY e.tenant_id, e.organization_id, e.sequence`
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, q, pq.Array(tenants), pq.Array(orgs), pq.Array(seqs)); err != nil {
		return nil, fmt.Errorf("read announced events: %w", err)
	}
	return eventsOf(rows)
}

// TenantEventsSince returns up to limit of the tenant's events recorded since since, oldest first.
func (s *Store) TenantEventsSince(ctx context.Context, tenantID string, since time.Time, limit int) ([]domain.Event, error) {
	const q = `
SELECT tenant_id, id, organization_id, sequence, type, actor_user_id, actor_key_id, changes, payload, created_at
FROM audit_events
WHERE tenant_id = $1 AND created_at >= $2
ORDER BY created_at, organization_id, sequence
LIMIT $3`
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, q, tenantID, since, limit); err != nil {
		return nil, fmt.Errorf("read recent events: %w", err)
	}
	return eventsOf(rows)
}

// OrganizationSequence returns the sequence of the tenant's organization id (deleted or not), or an
// ENOTFOUND error when the tenant has no such organization.
func (s *Store) OrganizationSequence(ctx context.Context, tenantID, id string) (int64, error) {
	notFound := domain.Errorf(domain.ENOTFOUND, "organization not found")
	if _, err := uuid.Parse(id); err != nil {
		return 0, notFound
	}
	var seq []int64
	if err := s.db.SelectContext(ctx, &seq, `SELECT sequence FROM organizations WHERE tenant_id = $1 AND id = $2`, tenantID, id); err != nil {
		return 0, fmt.Errorf("read organization sequence: %w", err)
	}
	if len(seq) == 0 {
		return 0, notFound
	}
	return seq[0], nil
}

func eventsOf(rows []eventRow) ([]domain.Event, error) {
	out := make([]domain.Event, len(rows))
	for i, r := range rows {
		e, err := r.event()
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}
