-- +goose Up
-- API keys managed over the API: each key keeps the first characters of its secret (to recognise it;
-- keys made before this migration never had theirs kept and show none), an optional expiry and when
-- it was last used (written in batches). Keys are listed newest first.
ALTER TABLE api_keys ADD COLUMN prefix text;
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at DESC, id DESC);

-- The tenant's own log, for what belongs to no organization: apikey.created, apikey.revoked. The actor
-- is the key and its principal that made the change (none for the apikey create command).
CREATE TABLE tenant_events (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    type          text        NOT NULL,
    actor_key_id  uuid,
    actor_user_id uuid,
    data          jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    CONSTRAINT tenant_events_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT tenant_events_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX tenant_events_created_idx ON tenant_events (tenant_id, created_at);

-- +goose Down
DROP TABLE tenant_events;
DROP INDEX api_keys_tenant_created_idx;
ALTER TABLE api_keys DROP COLUMN last_used_at;
ALTER TABLE api_keys DROP COLUMN expires_at;
ALTER TABLE api_keys DROP COLUMN prefix;
