-- +goose Up
-- Every tenant-owned table carries tenant_id, and its primary key, unique constraints and foreign keys
-- include it, so that the schema can be distributed by tenant without a rewrite.

CREATE TABLE tenants (
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_name_key UNIQUE (name)
);

-- The principals that act through API keys and the people who become members.
CREATE TABLE users (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    email      text        NOT NULL,
    name       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX users_email_key ON users (tenant_id, lower(email));

CREATE TABLE api_keys (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    name         text        NOT NULL,
    key_hash     bytea       NOT NULL,
    permissions  text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT api_keys_permissions_check CHECK (permissions <@ ARRAY['ORGANIZATION_CREATE', 'ORGANIZATION_READ',
        'ORGANIZATION_UPDATE', 'ORGANIZATION_DELETE', 'TEMPLATE_MANAGE', 'APIKEY_MANAGE']::text[])
);
-- Authentication looks keys up by hash alone (the tenant is not known yet); a reference table on a
-- distributed cluster.
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);

CREATE TABLE organizations (
    tenant_id         uuid        NOT NULL,
    id                uuid        NOT NULL,
    name              text        NOT NULL,
    slug              text        NOT NULL,
    description       text,
    avatar_url        text,
    country_code      text,
    language_code     text,
    is_private        boolean     NOT NULL DEFAULT false,
    is_default        boolean     NOT NULL DEFAULT false,
    is_system         boolean     NOT NULL DEFAULT false,
    status            text        NOT NULL DEFAULT 'ACTIVE',
    status_changed_at timestamptz NOT NULL,
    resource_owner    text        NOT NULL,
    created_by        uuid        NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    sequence          bigint      NOT NULL DEFAULT 0,
    CONSTRAINT organizations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT organizations_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT organizations_created_by_fkey FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    CONSTRAINT organizations_slug_key UNIQUE (tenant_id, slug),
    CONSTRAINT organizations_slug_check CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' AND length(slug) >= 2),
    CONSTRAINT organizations_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT organizations_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'))
);
-- At most one default organization per tenant.
CREATE UNIQUE INDEX organizations_one_default_key ON organizations (tenant_id) WHERE is_default;

CREATE TABLE organization_domains (
    tenant_id       uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    domain          text        NOT NULL,
    is_primary      boolean     NOT NULL DEFAULT false,
    is_verified     boolean     NOT NULL DEFAULT false,
    is_generated    boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    CONSTRAINT organization_domains_pkey PRIMARY KEY (tenant_id, organization_id, domain),
    CONSTRAINT organization_domains_organization_fkey FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT organization_domains_domain_key UNIQUE (tenant_id, domain)
);
CREATE UNIQUE INDEX organization_domains_one_primary_key ON organization_domains (tenant_id, organization_id) WHERE is_primary;

CREATE TABLE projects (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL,
    organization_id    uuid        NOT NULL,
    name               text        NOT NULL,
    slug               text        NOT NULL,
    type               text        NOT NULL DEFAULT 'WEBSITE',
    mode               text        NOT NULL DEFAULT 'LIVE',
    status             text        NOT NULL DEFAULT 'ACTIVE',
    is_default         boolean     NOT NULL DEFAULT false,
    contact_emails     text[]      NOT NULL DEFAULT '{}',
    deep_scan          boolean     NOT NULL DEFAULT false,
    real_time_scan     boolean     NOT NULL DEFAULT false,
    last_real_time_scan timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT projects_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_organization_fkey FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT projects_slug_key UNIQUE (tenant_id, organization_id, slug),
    CONSTRAINT projects_type_check CHECK (type IN ('WEBSITE', 'MOBILE_APP', 'BACKEND', 'OTHER')),
    CONSTRAINT projects_mode_check CHECK (mode IN ('LIVE', 'TEST')),
    CONSTRAINT projects_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'))
);
CREATE UNIQUE INDEX projects_one_default_key ON projects (tenant_id, organization_id) WHERE is_default;

CREATE TABLE memberships (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    role            text        NOT NULL,
    status          text        NOT NULL,
    joined_at       timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT memberships_organization_fkey FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT memberships_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    CONSTRAINT memberships_user_key UNIQUE (tenant_id, organization_id, user_id),
    CONSTRAINT memberships_role_check CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    CONSTRAINT memberships_status_check CHECK (status IN ('ACTIVE', 'INVITED'))
);

-- The audit log: one row per change of an organization, numbered from 1 per organization.
CREATE TABLE audit_events (
    tenant_id       uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    sequence        bigint      NOT NULL,
    type            text        NOT NULL,
    actor_user_id   uuid,
    actor_key_id    uuid,
    payload         jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, organization_id, sequence),
    CONSTRAINT audit_events_organization_fkey FOREIGN KEY (tenant_id, organization_id)
        REFERENCES organizations (tenant_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE memberships;
DROP TABLE projects;
DROP TABLE organization_domains;
DROP TABLE organizations;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE tenants;
