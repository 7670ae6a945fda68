-- +goose Up
-- Ids made by PostgreSQL are time-ordered UUIDs (version 7), as those the server makes (domain.NewID):
-- the rows a transaction writes land at the right edge of the indexes keyed by their id, not on random
-- pages, which after each checkpoint cost a whole page in the WAL each (BENCHMARKS.md, "Time-ordered
-- ids"). PostgreSQL 18 has uuidv7(); 15 to 17 do not, hence this function: a random UUID whose first 48
-- bits become the Unix time in milliseconds and whose version nibble becomes 7 (bits 52 and 53 set in
-- set_bit's numbering; the variant bits of gen_random_uuid stay as RFC 9562 wants them).
CREATE FUNCTION orgs_new_id() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    RETURN encode(set_bit(set_bit(
        overlay(uuid_send(gen_random_uuid())
            PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
            FROM 1 FOR 6),
        52, 1), 53, 1), 'hex')::uuid;

ALTER TABLE audit_events ALTER COLUMN id SET DEFAULT orgs_new_id();
ALTER TABLE organization_domains ALTER COLUMN id SET DEFAULT orgs_new_id();
ALTER TABLE webhook_deliveries ALTER COLUMN id SET DEFAULT orgs_new_id();

-- +goose Down
ALTER TABLE webhook_deliveries ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE organization_domains ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE audit_events ALTER COLUMN id SET DEFAULT gen_random_uuid();
DROP FUNCTION orgs_new_id();
