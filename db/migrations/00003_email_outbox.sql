-- +goose Up
-- The transactional outbox: an email is written in the transaction of the change that causes it, so
-- that it exists if and only if the change committed, and the mail worker delivers it afterwards.
-- A row is pending until it is sent (sent_at) or given up (failed_at). Workers claim due pending rows
-- with FOR UPDATE SKIP LOCKED and lease them by pushing next_attempt_at past the send.
CREATE TABLE email_outbox (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    kind            text        NOT NULL,
    to_address      text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text        NOT NULL,
    html_body       text        NOT NULL DEFAULT '',
    -- Generated at enqueue and sent with every attempt, so that receivers can drop duplicates.
    message_id      text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    sent_at         timestamptz,
    -- Set when the worker gives up: after its last attempt, or at once on a permanent refusal.
    failed_at       timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    CONSTRAINT email_outbox_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT email_outbox_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT email_outbox_message_id_key UNIQUE (tenant_id, message_id),
    CONSTRAINT email_outbox_kind_check CHECK (kind <> ''),
    CONSTRAINT email_outbox_to_address_check CHECK (to_address <> ''),
    CONSTRAINT email_outbox_attempts_check CHECK (attempts >= 0),
    CONSTRAINT email_outbox_settled_check CHECK (sent_at IS NULL OR failed_at IS NULL)
);
-- What the workers poll: the pending rows, by when they are due.
CREATE INDEX email_outbox_pending_idx ON email_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE email_outbox;
