-- The fixed gauge of bench/run.sh: the four inserts of a create (organization, default project, owner
-- membership, audit event) as one server-side call, in a schema of their own, so that the gauge does not
-- move when the project's SQL does. pgbench calls gauge.create_organization (bench/gauge/create.sql).
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS gauge CASCADE;
CREATE SCHEMA gauge;

CREATE TABLE gauge.organizations (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text        NOT NULL,
    slug           text        NOT NULL UNIQUE,
    description    text        NOT NULL DEFAULT '',
    resource_owner uuid        NOT NULL,
    sequence       bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gauge.projects (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid        NOT NULL REFERENCES gauge.organizations (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    slug            text        NOT NULL,
    is_default      boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, slug)
);

CREATE TABLE gauge.memberships (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid        NOT NULL REFERENCES gauge.organizations (id) ON DELETE CASCADE,
    user_id         uuid        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON gauge.memberships (user_id);

CREATE TABLE gauge.events (
    position          bigserial   PRIMARY KEY,
    aggregate_type    text        NOT NULL,
    aggregate_id      uuid        NOT NULL,
    aggregate_version bigint      NOT NULL,
    event_type        text        NOT NULL,
    resource_owner    uuid        NOT NULL,
    creator           uuid        NOT NULL,
    payload           jsonb       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (aggregate_id, aggregate_version)
);

CREATE FUNCTION gauge.create_organization(name text, slug text, description text, owner_id uuid)
RETURNS gauge.organizations
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    org gauge.organizations;
    org_id uuid := gen_random_uuid();
BEGIN
    INSERT INTO gauge.organizations (id, name, slug, description, resource_owner)
    VALUES (org_id, create_organization.name, create_organization.slug, coalesce(create_organization.description, ''), org_id)
    RETURNING * INTO org;
    INSERT INTO gauge.projects (organization_id, name, slug, is_default) VALUES (org_id, 'Default', 'default', true);
    INSERT INTO gauge.memberships (organization_id, user_id, role) VALUES (org_id, create_organization.owner_id, 'owner');
    INSERT INTO gauge.events (aggregate_type, aggregate_id, aggregate_version, event_type, resource_owner, creator, payload)
    VALUES ('organization', org_id, 1, 'organization.created', org_id, create_organization.owner_id,
            jsonb_build_object('name', org.name, 'slug', org.slug, 'description', org.description));
    RETURN org;
END;
$$;
