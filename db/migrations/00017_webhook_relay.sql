-- +goose Up
-- The hand-over below needs each statement's own snapshot (READ COMMITTED), whatever the database's
-- default_transaction_isolation: under REPEATABLE READ the snapshot would be taken before DROP TRIGGER
-- waits for the writers, and their events would be delivered twice.
SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
-- Webhook deliveries are made from the log of audit events by a relay (db.Store.RelayWebhookEvents, run
-- by the webhook workers), no longer by a trigger in each event's transaction. The trigger cost every
-- transaction that records an event a statement-level trigger, its transition table and a join, whether
-- or not the tenant had an endpoint: 12 % of a create's time in PostgreSQL (BENCHMARKS.md). The relay
-- reads the log as subscriptions do (migration 00015): the events below the horizon, in order, from its
-- position, which it keeps here and moves in the transaction that makes the deliveries, so that a
-- crash between the two makes them again rather than losing them. One relay at a time: the row is
-- locked FOR UPDATE SKIP LOCKED, and a replica that finds it locked leaves the turn to the other.
CREATE TABLE webhook_relay (
    one             boolean     NOT NULL DEFAULT true,
    tx              xid8        NOT NULL,
    tenant_id       uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    sequence        bigint      NOT NULL,
    relayed_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_relay_pkey PRIMARY KEY (one),
    CONSTRAINT webhook_relay_one_check CHECK (one)
);

DROP TRIGGER audit_events_webhook_deliveries ON audit_events;
DROP FUNCTION webhook_deliveries_enqueue();

-- The position before every event that is not below this snapshot's horizon (db.TailStart): the events
-- of transactions still running may be written without the trigger.
INSERT INTO webhook_relay (tx, tenant_id, organization_id, sequence)
SELECT pg_snapshot_xmin(pg_current_snapshot()), '00000000-0000-0000-0000-000000000000',
       '00000000-0000-0000-0000-000000000000', -1;

-- since is the snapshot of the statement that created the endpoint or turned it on again: it receives
-- the events that snapshot does not see, those committed after (and none of those committed while it was
-- off, however late the relay comes to them). The endpoints from before take this migration's snapshot.
-- The events it sees were committed before the trigger was dropped (dropping it waited for every
-- transaction that had written to the log) and have their deliveries; those it does not see, even of a
-- transaction older than this one that writes its event later, are the relay's.
ALTER TABLE webhook_endpoints ADD COLUMN since pg_snapshot NOT NULL DEFAULT pg_current_snapshot();

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN since;
DROP TABLE webhook_relay;
-- +goose StatementBegin
CREATE FUNCTION webhook_deliveries_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, next_attempt_at, created_at)
    SELECT ev.tenant_id, ep.id, ev.id, ev.type, now(), now()
    FROM new_events ev
    JOIN webhook_endpoints ep ON ep.tenant_id = ev.tenant_id AND ep.enabled
        AND (cardinality(ep.event_types) = 0 OR ev.type = ANY (ep.event_types))
    ORDER BY ev.tenant_id, ev.organization_id, ev.sequence
    FOR SHARE OF ep;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_webhook_deliveries AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_enqueue();
