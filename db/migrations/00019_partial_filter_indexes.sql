-- +goose NO TRANSACTION
-- +goose Up
-- The indexes of the list filters on status, privacy, country and region hold only the organizations
-- such a filter can pick out of many: not ACTIVE, private, with a country, with a region. An
-- organization created with the defaults (ACTIVE, public, neither) now writes to none of them. Before,
-- every create wrote to all four, each time on the same last page of the tenant's key ((tenant, ACTIVE),
-- (tenant, false), (tenant, NULL) twice), which concurrent creates took turns on. A filter on a common
-- value (status ACTIVE, isPrivate false) reads the tenant's organizations in the list's order instead,
-- which it would do anyway: most of them match. The lists write the status and privacy asked for into
-- the statement (db/lists.go), so that even a generic plan proves `status = 'INACTIVE'` implies the
-- predicate `status <> 'ACTIVE'`; `country_code = $n` implies `country_code IS NOT NULL` as it is.
-- Built concurrently, outside a transaction, so that writes go on meanwhile. A concurrent build that
-- fails leaves an invalid index behind and goose runs the migration again at the next start: each new
-- index is dropped first, so that it is built again rather than skipped, before the old ones go.
DROP INDEX CONCURRENTLY IF EXISTS organizations_inactive_idx;
CREATE INDEX CONCURRENTLY organizations_inactive_idx
    ON organizations (tenant_id, status) WHERE status <> 'ACTIVE';
DROP INDEX CONCURRENTLY IF EXISTS organizations_private_only_idx;
CREATE INDEX CONCURRENTLY organizations_private_only_idx
    ON organizations (tenant_id) WHERE is_private;
DROP INDEX CONCURRENTLY IF EXISTS organizations_country_set_idx;
CREATE INDEX CONCURRENTLY organizations_country_set_idx
    ON organizations (tenant_id, country_code) WHERE country_code IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS organizations_region_set_idx;
CREATE INDEX CONCURRENTLY organizations_region_set_idx
    ON organizations (tenant_id, region_template) WHERE region_template IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS organizations_status_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_private_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_country_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_region_idx;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS organizations_status_idx ON organizations (tenant_id, status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS organizations_private_idx ON organizations (tenant_id, is_private);
CREATE INDEX CONCURRENTLY IF NOT EXISTS organizations_country_idx ON organizations (tenant_id, country_code);
CREATE INDEX CONCURRENTLY IF NOT EXISTS organizations_region_idx ON organizations (tenant_id, region_template);
DROP INDEX CONCURRENTLY IF EXISTS organizations_inactive_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_private_only_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_country_set_idx;
DROP INDEX CONCURRENTLY IF EXISTS organizations_region_set_idx;
