-- +goose Up
-- Webhook endpoints: URLs of a tenant that receive its audit events, signed as the Standard Webhooks
-- specification says. The secret (whsec_<base64>) is a signing key: the worker needs it as it is to
-- sign every delivery, so it is stored as it is (not hashed); it is shown to the caller only once.
-- failing_since is when the endpoint's current run of failed attempts began (NULL after a success):
-- an endpoint failing for long enough is disabled (enabled false, disabled_at).
CREATE TABLE webhook_endpoints (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    url           text        NOT NULL,
    description   text,
    -- Empty: every event type.
    event_types   text[]      NOT NULL DEFAULT '{}',
    secret        text        NOT NULL,
    enabled       boolean     NOT NULL DEFAULT true,
    disabled_at   timestamptz,
    failing_since timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_endpoints_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX webhook_endpoints_tenant_created_idx ON webhook_endpoints (tenant_id, created_at DESC, id DESC);
-- What the trigger below reads for every audit event: the tenant's enabled endpoints.
CREATE INDEX webhook_endpoints_enabled_idx ON webhook_endpoints (tenant_id) WHERE enabled;

-- One audit event to send to one endpoint (the outbox of webhooks). Its id is the webhook-id header of
-- every attempt. A delivery is PENDING until it SUCCEEDED or FAILED (retries exhausted, or its endpoint
-- disabled). Workers claim due pending rows with FOR UPDATE SKIP LOCKED and lease them by pushing
-- next_attempt_at past the attempt; attempts counts the attempts made, the last one's outcome is kept.
-- seq orders an endpoint's deliveries (newest first in the API).
CREATE TABLE webhook_deliveries (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    endpoint_id     uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    status          text        NOT NULL DEFAULT 'PENDING',
    attempts        integer     NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    response_status integer,
    last_error      text,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_event_fkey FOREIGN KEY (tenant_id, event_id)
        REFERENCES audit_events (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    CONSTRAINT webhook_deliveries_pending_check CHECK ((status = 'PENDING') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0)
);
-- What the workers poll: the pending rows, by when they are due.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (tenant_id, endpoint_id, seq DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (tenant_id, event_id);

-- Every audit event, whatever the statement that records it (a change, the create statement, a demotion,
-- a confirmation, a purge), becomes a delivery for each of the tenant's enabled endpoints that takes its
-- type, in the statement's transaction: a rolled-back change leaves none. A trigger rather than a call in
-- each of those paths, so that a path added later cannot forget it. The notification, sent only
-- when deliveries were made and only at commit, wakes the workers of every replica.
-- +goose StatementBegin
CREATE FUNCTION webhook_deliveries_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, next_attempt_at, created_at)
    SELECT ev.tenant_id, ep.id, ev.id, ev.type, now(), now()
    FROM new_events ev
    JOIN webhook_endpoints ep ON ep.tenant_id = ev.tenant_id AND ep.enabled
        AND (cardinality(ep.event_types) = 0 OR ev.type = ANY (ep.event_types))
    ORDER BY ev.tenant_id, ev.organization_id, ev.sequence
    -- An endpoint being disabled meanwhile is waited for, then seen disabled: no delivery is made
    -- behind the back of the disabling, which gives up the endpoint's pending deliveries.
    FOR SHARE OF ep;
    IF FOUND THEN
        PERFORM pg_notify('webhook_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_webhook_deliveries AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_enqueue();

-- +goose Down
DROP TRIGGER audit_events_webhook_deliveries ON audit_events;
DROP FUNCTION webhook_deliveries_enqueue();
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
