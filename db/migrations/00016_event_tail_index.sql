-- +goose NO TRANSACTION
-- +goose Up
-- The readers of the log (db.EventTail) page through it by (tx, tenant_id, organization_id, sequence):
-- with all four in the index, a page starts where the last one ended, even inside one transaction of
-- many events. Built concurrently, outside a transaction, so that writes to the log go on meanwhile;
-- partial, because rows from before 00015 have no tx and are never read this way.
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_events_tx_idx
    ON audit_events (tx, tenant_id, organization_id, sequence) WHERE tx IS NOT NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS audit_events_tx_idx;
