-- +goose Up
-- Everything the five seed APIs accept: the remaining organization fields, templates with typed custom
-- attributes, the primary administrator with the confirmation of their email, and idempotency keys.

CREATE TABLE organization_templates (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    name            text        NOT NULL,
    description     text,
    country_code    text,
    language_code   text,
    locale          text,
    timezone        text,
    is_private      boolean,
    region_template text,
    default_project jsonb,
    created_at      timestamptz NOT NULL,
    CONSTRAINT organization_templates_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT organization_templates_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT organization_templates_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE template_attribute_definitions (
    tenant_id     uuid    NOT NULL,
    template_id   uuid    NOT NULL,
    key           text    NOT NULL,
    position      int     NOT NULL,
    type          text    NOT NULL,
    required      boolean NOT NULL DEFAULT false,
    default_value jsonb,
    CONSTRAINT template_attribute_definitions_pkey PRIMARY KEY (tenant_id, template_id, key),
    CONSTRAINT template_attribute_definitions_template_fkey FOREIGN KEY (tenant_id, template_id)
        REFERENCES organization_templates (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT template_attribute_definitions_type_check CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'DATE'))
);

ALTER TABLE organizations
    ADD COLUMN locale                     text,
    ADD COLUMN timezone                   text,
    ADD COLUMN phone                      text,
    ADD COLUMN headquarters               jsonb,
    ADD COLUMN contact_emails             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN billing_emails             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN privacy_policy_url         text,
    ADD COLUMN terms_of_service_url       text,
    ADD COLUMN coupons                    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN region_template            text,
    ADD COLUMN subscription_plan          text,
    ADD COLUMN subscription_billing_cycle text,
    ADD COLUMN template_id                uuid,
    ADD COLUMN primary_administrator_id   uuid,
    ADD CONSTRAINT organizations_template_fkey FOREIGN KEY (tenant_id, template_id)
        REFERENCES organization_templates (tenant_id, id),
    ADD CONSTRAINT organizations_primary_administrator_fkey FOREIGN KEY (tenant_id, primary_administrator_id)
        REFERENCES users (tenant_id, id),
    ADD CONSTRAINT organizations_subscription_check CHECK (
        (subscription_plan IS NULL) = (subscription_billing_cycle IS NULL)
        AND subscription_billing_cycle IN ('MONTHLY', 'YEARLY'));

CREATE TABLE organization_attributes (
    tenant_id       uuid  NOT NULL,
    organization_id uuid  NOT NULL,
    key             text  NOT NULL,
    type            text  NOT NULL,
    value           jsonb NOT NULL,
    CONSTRAINT organization_attributes_pkey PRIMARY KEY (tenant_id, organization_id, key),
    CONSTRAINT organization_attributes_organization_fkey FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT organization_attributes_type_check CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'DATE'))
);

-- position keeps the projects in the order they were given (the default one is 0).
ALTER TABLE projects
    ADD COLUMN send_from_email text,
    ADD COLUMN send_from_name  text,
    ADD COLUMN position        int NOT NULL DEFAULT 0;

ALTER TABLE users
    ADD COLUMN first_name             text,
    ADD COLUMN last_name              text,
    ADD COLUMN description            text,
    ADD COLUMN phone                  text,
    ADD COLUMN locale                 text,
    ADD COLUMN gender                 text,
    ADD COLUMN date_of_birth          date,
    ADD COLUMN address                jsonb,
    ADD COLUMN mfa_enabled            boolean NOT NULL DEFAULT false,
    ADD COLUMN mfa_expiration_minutes int,
    ADD COLUMN email_verified_at      timestamptz,
    ADD CONSTRAINT users_gender_check CHECK (gender IN ('MALE', 'FEMALE', 'UNDISCLOSED')),
    ADD CONSTRAINT users_mfa_expiration_check CHECK (mfa_expiration_minutes BETWEEN 1 AND 1440);

-- One-time tokens of confirmation emails; only their SHA-256 is kept.
CREATE TABLE email_confirmations (
    tenant_id       uuid        NOT NULL,
    token_hash      bytea       NOT NULL,
    organization_id uuid        NOT NULL,
    membership_id   uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    email           text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT email_confirmations_pkey PRIMARY KEY (tenant_id, token_hash),
    CONSTRAINT email_confirmations_membership_fkey FOREIGN KEY (tenant_id, membership_id)
        REFERENCES memberships (tenant_id, id) ON DELETE CASCADE
);

-- Idempotency keys of createOrganization, per tenant. A row is 'running' while its first request runs
-- (locked_until bounds how long a crashed request blocks its retries), then 'done' with what to replay.
CREATE TABLE idempotency_keys (
    tenant_id       uuid        NOT NULL,
    key             text        NOT NULL,
    request_hash    bytea       NOT NULL,
    state           text        NOT NULL,
    organization_id uuid,
    user_errors     jsonb,
    locked_until    timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, key),
    CONSTRAINT idempotency_keys_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT idempotency_keys_state_check CHECK (state IN ('running', 'done'))
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE email_confirmations;
ALTER TABLE users
    DROP COLUMN first_name, DROP COLUMN last_name, DROP COLUMN description, DROP COLUMN phone,
    DROP COLUMN locale, DROP COLUMN gender, DROP COLUMN date_of_birth, DROP COLUMN address,
    DROP COLUMN mfa_enabled, DROP COLUMN mfa_expiration_minutes, DROP COLUMN email_verified_at;
ALTER TABLE projects DROP COLUMN send_from_email, DROP COLUMN send_from_name, DROP COLUMN position;
DROP TABLE organization_attributes;
ALTER TABLE organizations
    DROP COLUMN locale, DROP COLUMN timezone, DROP COLUMN phone, DROP COLUMN headquarters,
    DROP COLUMN contact_emails, DROP COLUMN billing_emails, DROP COLUMN privacy_policy_url,
    DROP COLUMN terms_of_service_url, DROP COLUMN coupons, DROP COLUMN region_template,
    DROP COLUMN subscription_plan, DROP COLUMN subscription_billing_cycle, DROP COLUMN template_id,
    DROP COLUMN primary_administrator_id;
DROP TABLE template_attribute_definitions;
DROP TABLE organization_templates;
