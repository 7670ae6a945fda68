package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"orgs/domain"
)

// The log of audit events, read as it grows (migration 00015). Every event records the id of the
// transaction that wrote it (tx, a 64-bit xid8). A transaction id below a snapshot's xmin belongs to a
// transaction that has ended, committed or not: below that horizon the log no longer changes, so a
// reader that reads it in (tx, tenant, organization, sequence) order, a page after the other, sees every
// committed event once, with no gap, whatever order the writers committed in. An event waits for the
// horizon to pass it, that is for the transactions older than its own to end: milliseconds, unless a
// transaction that wrote something stays open (a long migration, a session idle in a transaction).

// EventsChannel is the channel of the announcements: hints, with no payload, that events were committed,
// sent after the commit by the replica that wrote them (Store.Announce), on which readers of the log
// look sooner than their next poll. The log, not the announcements, says what happened: a lost
// announcement only delays.
const EventsChannel = "orgs_events"

// Announce tells the listeners of EventsChannel, on every replica, that events were committed. It is its
// own transaction: a NOTIFY in the transaction that writes the events would make every writer wait for
// the others' commits (migration 00015).
func (s *Store) Announce(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `SELECT pg_notify($1, '')`, EventsChannel); err != nil {
		return fmt.Errorf("announce events: %w", err)
	}
	return nil
}

// TailCursor is a position in the log, between two events in (tx, tenant, organization, sequence) order.
type TailCursor struct {
	Tx             uint64
	TenantID       string
	OrganizationID string
	Sequence       int64
}

// args are the cursor as the parameters $1 to $4 of tailPageSQL.
func (c TailCursor) args() []any {
	return []any{strconv.FormatUint(c.Tx, 10), c.TenantID, c.OrganizationID, c.Sequence}
}

// tailPageSQL selects, from audit_events e, the events after the cursor $1 to $4 (TailCursor.args) below
// the horizon h.horizon, in log order, at most $5 of them: a page of the log.
const tailPageSQL = `e.tx < h.horizon AND (e.tx, e.tenant_id, e.organization_id, e.sequence) > ($1::text::xid8, $2::uuid, $3::uuid, $4)
    ORDER BY e.tx, e.tenant_id, e.organization_id, e.sequence
    LIMIT $5`

// parseXid8 reads a transaction id (xid8) that a statement gave as text: lib/pq does not know the type.
func parseXid8(what, text string) (uint64, error) {
	x, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s %q: %w", what, text, err)
	}
	return x, nil
}

// cursorRow is a TailCursor as statements give it: the transaction id as text (lib/pq does not know xid8).
type cursorRow struct {
	Tx             string `db:"tx"`
	TenantID       string `db:"tenant_id"`
	OrganizationID string `db:"organization_id"`
	Sequence       int64  `db:"sequence"`
}

func (r cursorRow) cursor(what string) (TailCursor, error) {
	tx, err := parseXid8(what, r.Tx)
	return TailCursor{Tx: tx, TenantID: r.TenantID, OrganizationID: r.OrganizationID, Sequence: r.Sequence}, err
}

// TailStart returns the cursor before every event that is not yet below the horizon: where a reader
// starting now begins.
func (s *Store) TailStart(ctx context.Context) (TailCursor, error) {
	var h string
	if err := s.db.GetContext(ctx, &h, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`); err != nil {
		return TailCursor{}, fmt.Errorf("read the log's horizon: %w", err)
	}
	x, err := parseXid8("the log's horizon", h)
	if err != nil {
		return TailCursor{}, err
	}
	return cursorBefore(x), nil
}

// cursorBefore is the cursor before the first event of transaction tx.
func cursorBefore(tx uint64) TailCursor {
	return TailCursor{Tx: tx, TenantID: uuid.Nil.String(), OrganizationID: uuid.Nil.String(), Sequence: -1}
}

// nextCursor is where a reader of a page that started at c goes on: after the page's last event when the
// page was full, else before the horizon the page was read below. wentBack reports a horizon behind c:
// the database's transaction ids went back, and are being given again from the horizon on.
func nextCursor(c TailCursor, horizon uint64, last TailCursor, full bool) (next TailCursor, wentBack bool) {
	if full {
		return last, false
	}
	return cursorBefore(horizon), horizon < c.Tx
}

// Snapshot tells which transactions had committed when it was taken (pg_current_snapshot).
type Snapshot struct {
	Xmin, Xmax uint64
	Running    map[uint64]bool
}

// Committed reports whether transaction tx, which committed at some time, had committed when the
// snapshot was taken.
func (s Snapshot) Committed(tx uint64) bool {
	return tx < s.Xmin || (tx < s.Xmax && !s.Running[tx])
}

// CurrentSnapshot returns a snapshot taken now.
func (s *Store) CurrentSnapshot(ctx context.Context) (Snapshot, error) {
	var text string
	if err := s.db.GetContext(ctx, &text, `SELECT pg_current_snapshot()::text`); err != nil {
		return Snapshot{}, fmt.Errorf("take a snapshot: %w", err)
	}
	return parseSnapshot(text)
}

// parseSnapshot reads pg_snapshot's text form, xmin:xmax:xip,xip,...
func parseSnapshot(text string) (Snapshot, error) {
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return Snapshot{}, fmt.Errorf("read snapshot %q: want xmin:xmax:xip_list", text)
	}
	var snap Snapshot
	var err error
	if snap.Xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot %q: %w", text, err)
	}
	if snap.Xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot %q: %w", text, err)
	}
	if parts[2] != "" {
		snap.Running = map[uint64]bool{}
		for _, x := range strings.Split(parts[2], ",") {
			tx, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return Snapshot{}, fmt.Errorf("read snapshot %q: %w", text, err)
			}
			snap.Running[tx] = true
		}
	}
	return snap, nil
}

// TailedEvent is an event read from the log with the transaction that wrote it.
type TailedEvent struct {
	domain.Event
	Tx uint64
}

// EventTail returns up to limit events after c that are below the horizon of the statement's snapshot,
// in log order, and the cursor to read on from: after the last one returned, or, when fewer than limit
// came back (more is false), before the horizon.
func (s *Store) EventTail(ctx context.Context, c TailCursor, limit int) (events []TailedEvent, next TailCursor, more bool, err error) {
	const q = `
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon)
SELECT h.horizon::text AS horizon, e.tx::text AS tx, e.tenant_id, e.id, e.organization_id, e.sequence, e.type,
       e.actor_user_id, e.actor_key_id, e.changes, e.payload, e.created_at
FROM h LEFT JOIN LATERAL (
    SELECT * FROM audit_events e WHERE ` + tailPageSQL + `
) e ON true`
	rows, err := s.db.QueryxContext(ctx, q, append(c.args(), limit)...)
	if err != nil {
		return nil, c, false, fmt.Errorf("read the log: %w", err)
	}
	defer rows.Close()
	horizon := c.Tx
	for rows.Next() {
		var r tailedRow
		if err := rows.StructScan(&r); err != nil {
			return nil, c, false, fmt.Errorf("read the log: %w", err)
		}
		if horizon, err = parseXid8("the log's horizon", r.Horizon); err != nil {
			return nil, c, false, err
		}
		if r.Tx == nil { // no event below the horizon after c
			continue
		}
		e, err := r.event()
		if err != nil {
			return nil, c, false, err
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, c, false, fmt.Errorf("read the log: %w", err)
	}
	full := len(events) == limit
	var last TailCursor
	if full {
		e := events[len(events)-1]
		last = TailCursor{Tx: e.Tx, TenantID: e.TenantID, OrganizationID: e.OrganizationID, Sequence: e.Sequence}
	}
	next, wentBack := nextCursor(c, horizon, last, full)
	if wentBack {
		// A failover to a standby that had not received the last transactions, a restore.
		return events, next, false, ErrHorizonWentBack
	}
	return events, next, full, nil
}

// ErrHorizonWentBack is returned, with the events and the cursor to read on from, when the database's
// transaction ids went back behind the reader's cursor: the reader's snapshots no longer say which
// events came before what.
var ErrHorizonWentBack = errors.New("the database's transaction ids went back (failover or restore)")

// tailedRow is an event of the log as the tail's statements read it.
type tailedRow struct {
	Horizon        string     `db:"horizon"`
	Tx             *string    `db:"tx"`
	TenantID       *string    `db:"tenant_id"`
	ID             *string    `db:"id"`
	OrganizationID *string    `db:"organization_id"`
	Sequence       *int64     `db:"sequence"`
	Type           *string    `db:"type"`
	ActorUserID    *string    `db:"actor_user_id"`
	ActorKeyID     *string    `db:"actor_key_id"`
	Changes        []byte     `db:"changes"`
	Payload        []byte     `db:"payload"`
	CreatedAt      *time.Time `db:"created_at"`
}

func (r tailedRow) event() (TailedEvent, error) {
	tx, err := parseXid8("an event's transaction", *r.Tx)
	if err != nil {
		return TailedEvent{}, err
	}
	e, err := eventRow{TenantID: *r.TenantID, ID: *r.ID, OrganizationID: *r.OrganizationID, Sequence: *r.Sequence,
		Type: *r.Type, ActorUserID: r.ActorUserID, ActorKeyID: r.ActorKeyID, Changes: r.Changes, Payload: r.Payload,
		CreatedAt: *r.CreatedAt}.event()
	return TailedEvent{Event: e, Tx: tx}, err
}

// EventsWrittenSince returns the organization's events before sequence before that transactions from
// xmin on wrote, in sequence order. The log gives one organization's events in the order of their
// transactions' ids, which is not always their order: a transaction that took an id before locking the
// organization (to lock the tenant first, say) commits a later sequence than a younger one. A reader
// that meets an organization for the first time reads here what it may meet later.
func (s *Store) EventsWrittenSince(ctx context.Context, tenantID, orgID string, xmin uint64, before int64) ([]TailedEvent, error) {
	const q = `
SELECT '' AS horizon, tx::text AS tx, tenant_id, id, organization_id, sequence, type, actor_user_id, actor_key_id,
       changes, payload, created_at
FROM audit_events
WHERE tenant_id = $1 AND organization_id = $2 AND sequence < $3 AND tx >= $4::text::xid8
ORDER BY sequence`
	var rows []tailedRow
	if err := s.db.SelectContext(ctx, &rows, q, tenantID, orgID, before, strconv.FormatUint(xmin, 10)); err != nil {
		return nil, fmt.Errorf("read the organization's recent events: %w", err)
	}
	out := make([]TailedEvent, len(rows))
	for i, r := range rows {
		e, err := r.event()
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
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

// EventListener listens to EventsChannel on a connection of its own, reconnecting by itself.
type EventListener struct {
	l    *pq.Listener
	wake chan struct{}
	done chan struct{}
}

// ListenEvents starts listening to EventsChannel on dsn.
func ListenEvents(ctx context.Context, dsn string, logger *slog.Logger) (*EventListener, error) {
	if logger == nil {
		logger = slog.Default()
	}
	e := &EventListener{wake: make(chan struct{}, 1), done: make(chan struct{})}
	e.l = pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			logger.Warn("event listener disconnected; reconnecting, polling meanwhile", "error", fmt.Sprint(err))
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
	go e.forward()
	return e, nil
}

// forward turns pq's notifications, and its reconnections, into wakes until the listener closes.
func (e *EventListener) forward() {
	defer close(e.done)
	for range e.l.Notify {
		select {
		case e.wake <- struct{}{}:
		default: // a wake is pending already
		}
	}
}

// Wakes receives a value after announcements arrived (several announcements may make one wake).
func (e *EventListener) Wakes() <-chan struct{} { return e.wake }

// Close stops listening.
func (e *EventListener) Close() error {
	err := e.l.Close()
	<-e.done
	return err
}
