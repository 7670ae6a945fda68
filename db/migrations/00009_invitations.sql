-- +goose Up
-- Invitations to join an organization. The one-time token of the email's link is kept only as its
-- SHA-256 and looked up by it. A resend replaces the hash (the old token is dead at once) and the
-- expiry. An invitation past expires_at reads as EXPIRED; status is stored as EXPIRED only when a new
-- invitation of the same address replaces it, so that the pending-address index below can take the new
-- one.
CREATE TABLE invitations (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    email           text        NOT NULL,
    role            text        NOT NULL,
    first_name      text,
    last_name       text,
    landing_page    text        NOT NULL,
    expires_in_days int         NOT NULL,
    token_hash      bytea       NOT NULL,
    status          text        NOT NULL DEFAULT 'PENDING',
    expires_at      timestamptz NOT NULL,
    invited_by      uuid        NOT NULL,
    -- The membership an accepted invitation made.
    membership_id   uuid,
    accepted_at     timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT invitations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT invitations_organization_fkey FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT invitations_invited_by_fkey FOREIGN KEY (tenant_id, invited_by) REFERENCES users (tenant_id, id),
    CONSTRAINT invitations_token_hash_key UNIQUE (tenant_id, token_hash),
    CONSTRAINT invitations_role_check CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    CONSTRAINT invitations_status_check CHECK (status IN ('PENDING', 'ACCEPTED', 'REVOKED', 'EXPIRED')),
    CONSTRAINT invitations_expires_in_days_check CHECK (expires_in_days BETWEEN 1 AND 30),
    CONSTRAINT invitations_token_hash_check CHECK (length(token_hash) = 32)
);
-- At most one pending invitation per address and organization (case-insensitive).
CREATE UNIQUE INDEX invitations_pending_email_key ON invitations (tenant_id, organization_id, lower(email))
    WHERE status = 'PENDING';
-- Organization.invitations: newest first.
CREATE INDEX invitations_organization_idx ON invitations (tenant_id, organization_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE invitations;
