package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// The webhook relay (migration 00017) makes the deliveries of the events of the log: it reads the log
// from its position as the subscriptions do (EventTail: below the horizon, in order, none missed), and
// makes one delivery for each enabled endpoint of the event's tenant that takes its type and was created
// or turned on before the event committed. The position moves in the transaction that makes the
// deliveries: a relay that stops halfway leaves both as they were, and the next one makes them again.
// The webhook workers run it before each claim; the row of the position, locked FOR UPDATE SKIP LOCKED,
// keeps relays apart, so one replica relays at a time and the others leave the turn to it.

// holdRelay keeps the relay from running until tx ends; tx then takes the snapshot an endpoint starts
// from (its since) in a later statement. Without it, a relay running between that snapshot and tx's
// commit could read an event committed in between (not seen by the snapshot, so the endpoint's) while
// the endpoint is not yet visible to it, and move past the event for good. With it, every relay either
// ended before the snapshot (what it read the snapshot sees) or starts after the commit (it sees the
// endpoint). The relay skips a held position as it skips another relay's.
func holdRelay(ctx context.Context, tx *sqlx.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM webhook_relay FOR SHARE`); err != nil {
		return fmt.Errorf("hold the webhook relay: %w", err)
	}
	return nil
}

// ErrNoRelayPosition is returned by RelayWebhookEvents when the row of the relay's position is missing
// (deleted by hand): no event would ever be relayed. docs/operations.md says how to set it again.
var ErrNoRelayPosition = errors.New("the webhook relay's position (the row of webhook_relay) is missing: set it as docs/operations.md says")

// ErrRelayAhead is returned by RelayWebhookEvents when the relay's position is ahead of the database's
// transaction ids, as after restoring a dump into another cluster: no event would be relayed until the
// ids pass it. docs/operations.md says how to set the position back.
var ErrRelayAhead = errors.New("the webhook relay's position is ahead of the database's transaction ids (a dump restored into another cluster?): set it back as docs/operations.md says")

// Relayed is what a call of RelayWebhookEvents did.
type Relayed struct {
	Events     int  // events read
	Deliveries int  // deliveries made
	More       bool // it read as many events as it was allowed: call it again
	// Endpoints is false when the relay ran and no endpoint of any tenant was enabled: until one is,
	// relays make no deliveries, and need only keep the position from falling far behind.
	Endpoints bool
}

// RelayWebhookEvents makes the deliveries of up to limit events after the relay's position and moves the
// position past them, or, when fewer came, up to the horizon. When another relay holds the position, it
// returns at once with nothing read (and Endpoints true: it could not tell): that relay is doing the
// work.
func (s *Store) RelayWebhookEvents(ctx context.Context, limit int) (Relayed, error) {
	if limit <= 0 {
		return Relayed{}, fmt.Errorf("relay webhook events: limit (%d) must be positive", limit)
	}
	r := Relayed{Endpoints: true}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		// A commit lost in a crash loses the deliveries and the position's move together: the next relay
		// makes them again. So the relay need not wait for its commit to be flushed.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		var row cursorRow
		err := tx.GetContext(ctx, &row, `
SELECT tx::text AS tx, tenant_id, organization_id, sequence FROM webhook_relay FOR UPDATE SKIP LOCKED`)
		if errors.Is(err, sql.ErrNoRows) {
			// Another relay's turn, or an endpoint starting (holdRelay); unless the row is missing.
			var exists bool
			if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT FROM webhook_relay)`); err != nil {
				return fmt.Errorf("read the relay's position: %w", err)
			}
			if !exists {
				return ErrNoRelayPosition
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock the relay's position: %w", err)
		}
		pos, err := row.cursor("the relay's position")
		if err != nil {
			return err
		}

		// ev: the events of the page, read as EventTail reads them; made: their deliveries, within the page
		// in the order of each organization's events (across pages the log's order, transaction ids, rules).
		// An endpoint being turned off meanwhile is waited for (FOR SHARE), then seen off: no delivery is
		// made behind the back of the change, which gives up the endpoint's pending deliveries.
		const q = `
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon),
ev AS (
    SELECT e.tx, e.tenant_id, e.organization_id, e.sequence, e.id, e.type
    FROM h, audit_events e WHERE ` + tailPageSQL + `
), made AS (
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, next_attempt_at, created_at)
    SELECT ev.tenant_id, ep.id, ev.id, ev.type, now(), now()
    FROM ev
    JOIN webhook_endpoints ep ON ep.tenant_id = ev.tenant_id AND ep.enabled
        AND (cardinality(ep.event_types) = 0 OR ev.type = ANY (ep.event_types))
    WHERE NOT pg_visible_in_snapshot(ev.tx, ep.since)
    ORDER BY ev.tenant_id, ev.organization_id, ev.sequence
    FOR SHARE OF ep
    RETURNING 1
), last AS (
    SELECT tx, tenant_id, organization_id, sequence FROM ev
    ORDER BY tx DESC, tenant_id DESC, organization_id DESC, sequence DESC LIMIT 1
)
SELECT h.horizon::text AS horizon, (SELECT count(*) FROM ev) AS events, (SELECT count(*) FROM made) AS made,
       EXISTS (SELECT FROM webhook_endpoints WHERE enabled) AS endpoints,
       coalesce(last.tx::text, '0') AS tx, coalesce(last.tenant_id::text, '') AS tenant_id,
       coalesce(last.organization_id::text, '') AS organization_id, coalesce(last.sequence, 0) AS sequence
FROM h LEFT JOIN last ON true`
		var page struct {
			Horizon   string `db:"horizon"`
			Events    int    `db:"events"`
			Made      int    `db:"made"`
			Endpoints bool   `db:"endpoints"`
			cursorRow        // the page's last event (zero when none)
		}
		if err := tx.GetContext(ctx, &page, q, append(pos.args(), limit)...); err != nil {
			return fmt.Errorf("make the deliveries: %w", err)
		}
		r = Relayed{Events: page.Events, Deliveries: page.Made, More: page.Events == limit, Endpoints: page.Endpoints}
		horizon, err := parseXid8("the log's horizon", page.Horizon)
		if err != nil {
			return err
		}
		last, err := page.cursor("the page's last event")
		if err != nil {
			return err
		}
		next, wentBack := nextCursor(pos, horizon, last, r.More)
		if wentBack {
			// The position lives in the same database as the log, so a failover keeps the two together;
			// a dump restored into another cluster does not, and its transaction ids start again below.
			return ErrRelayAhead
		}
		// Written only when it moved: an idle relay writes nothing.
		const move = `
UPDATE webhook_relay SET tx = $1::text::xid8, tenant_id = $2, organization_id = $3, sequence = $4, relayed_at = now()
WHERE (tx, tenant_id, organization_id, sequence) < ($1::text::xid8, $2::uuid, $3::uuid, $4)`
		if _, err := tx.ExecContext(ctx, move, next.args()...); err != nil {
			return fmt.Errorf("move the relay's position: %w", err)
		}
		return nil
	})
	if err != nil {
		return Relayed{}, fmt.Errorf("relay webhook events: %w", err)
	}
	return r, nil
}
