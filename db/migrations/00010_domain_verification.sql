-- +goose Up
-- Domains are verified: each has an id of its own, a status (PENDING until proved by a DNS TXT record or
-- an HTTP challenge, VERIFIED, or FAILED after a failed attempt), and a verification token that expires.
-- The token is not a secret: the organization's admins are shown it to publish it in DNS or over HTTP,
-- so it is stored as it is. The generated domain is VERIFIED from the start; is_verified stays as the
-- API's isVerified, kept equal to status = 'VERIFIED'.

-- A volatile default is computed for each existing row: every domain gets its own id and token.
ALTER TABLE organization_domains
    ADD COLUMN id                 uuid        NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN status             text        NOT NULL DEFAULT 'PENDING',
    ADD COLUMN verified_at        timestamptz,
    ADD COLUMN verification_token text        NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    ADD COLUMN token_expires_at   timestamptz,
    ADD COLUMN last_failure       text;

UPDATE organization_domains SET status = 'VERIFIED', verified_at = created_at WHERE is_verified;
-- Domains given at creation before verification existed get a token that works for 72 hours (the
-- default DOMAIN_VERIFICATION_TTL); addDomain with the same domain issues a new one.
UPDATE organization_domains SET token_expires_at = now() + interval '72 hours' WHERE NOT is_verified;

ALTER TABLE organization_domains ADD CONSTRAINT organization_domains_id_key UNIQUE (tenant_id, id);
ALTER TABLE organization_domains ADD CONSTRAINT organization_domains_status_check
    CHECK (status IN ('PENDING', 'VERIFIED', 'FAILED'));
ALTER TABLE organization_domains ADD CONSTRAINT organization_domains_verified_check
    CHECK (is_verified = (status = 'VERIFIED') AND (status = 'VERIFIED') = (verified_at IS NOT NULL));

-- +goose Down
ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_verified_check;
ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_status_check;
ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_id_key;
ALTER TABLE organization_domains
    DROP COLUMN last_failure,
    DROP COLUMN token_expires_at,
    DROP COLUMN verification_token,
    DROP COLUMN verified_at,
    DROP COLUMN status,
    DROP COLUMN id;
