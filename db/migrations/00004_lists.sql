-- +goose Up
-- Indexes for listing organizations: every filter and every order of organizations(...) is served by an
-- index that starts with tenant_id. Text search is case- and accent-insensitive through trigram indexes
-- on an immutable unaccent wrapper.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE (its dictionary could change); indexes need an IMMUTABLE function, and a
-- fixed dictionary makes this one so.
CREATE FUNCTION orgs_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(unaccent('unaccent'::regdictionary, $1));

-- The member count, kept by the transactions that add members, so that lists can be ordered by it.
ALTER TABLE organizations ADD COLUMN member_count int NOT NULL DEFAULT 0;
UPDATE organizations o SET member_count = (SELECT count(*) FROM memberships m
    WHERE m.tenant_id = o.tenant_id AND m.organization_id = o.id);

CREATE INDEX organizations_name_idx ON organizations (tenant_id, orgs_fold(name), id);
CREATE INDEX organizations_created_at_idx ON organizations (tenant_id, created_at, id);
CREATE INDEX organizations_member_count_idx ON organizations (tenant_id, member_count, id);
CREATE INDEX organizations_status_idx ON organizations (tenant_id, status);
CREATE INDEX organizations_private_idx ON organizations (tenant_id, is_private);
CREATE INDEX organizations_country_idx ON organizations (tenant_id, country_code);
CREATE INDEX organizations_region_idx ON organizations (tenant_id, region_template);
CREATE INDEX organizations_name_trgm_idx ON organizations USING gin (orgs_fold(name) gin_trgm_ops);
CREATE INDEX organizations_slug_trgm_idx ON organizations USING gin (slug gin_trgm_ops);
CREATE INDEX organization_domains_trgm_idx ON organization_domains USING gin (domain gin_trgm_ops);

-- Custom attributes by key, type and value. jsonb orders numbers as numbers and strings as text, and
-- dates are ISO strings whose text order is their time order, so one index serves =, < and > of every
-- type without a cast that could fail on another type's value.
CREATE INDEX organization_attributes_value_idx ON organization_attributes (tenant_id, key, type, value);

-- Members and projects are read per organization, in their order.
CREATE INDEX memberships_organization_idx ON memberships (tenant_id, organization_id, created_at, id);
CREATE INDEX projects_organization_idx ON projects (tenant_id, organization_id, is_default DESC, created_at, position, id);

-- +goose Down
DROP INDEX projects_organization_idx;
DROP INDEX memberships_organization_idx;
DROP INDEX organization_attributes_value_idx;
DROP INDEX organization_domains_trgm_idx;
DROP INDEX organizations_slug_trgm_idx;
DROP INDEX organizations_name_trgm_idx;
DROP INDEX organizations_region_idx;
DROP INDEX organizations_country_idx;
DROP INDEX organizations_private_idx;
DROP INDEX organizations_status_idx;
DROP INDEX organizations_member_count_idx;
DROP INDEX organizations_created_at_idx;
DROP INDEX organizations_name_idx;
ALTER TABLE organizations DROP COLUMN member_count;
DROP FUNCTION orgs_fold(text);
