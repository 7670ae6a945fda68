-- +goose Up
-- An organization's whole life: deleted organizations (status REMOVED) keep their rows until they are
-- purged, but free their slug and their domains at once; the audit log outlives the purge; events
-- record each changed field; custom attributes may hold any JSON.

ALTER TABLE organizations DROP CONSTRAINT organizations_status_check;
ALTER TABLE organizations ADD CONSTRAINT organizations_status_check CHECK (status IN ('ACTIVE', 'INACTIVE', 'REMOVED'));
ALTER TABLE organizations ADD COLUMN removed_at timestamptz;
ALTER TABLE organizations ADD CONSTRAINT organizations_removed_check CHECK ((status = 'REMOVED') = (removed_at IS NOT NULL));
-- A removed organization's slug is free: unique among the others only.
ALTER TABLE organizations DROP CONSTRAINT organizations_slug_key;
CREATE UNIQUE INDEX organizations_slug_key ON organizations (tenant_id, slug) WHERE status <> 'REMOVED';
-- The purge finds what is due by this index.
CREATE INDEX organizations_removed_at_idx ON organizations (removed_at) WHERE status = 'REMOVED';

-- A removed organization's domains are released: unique among the unreleased only.
ALTER TABLE organization_domains ADD COLUMN released boolean NOT NULL DEFAULT false;
ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_domain_key;
CREATE UNIQUE INDEX organization_domains_domain_key ON organization_domains (tenant_id, domain) WHERE NOT released;

-- The audit log is kept after its organization is purged; each event has an id of its own and the
-- list of the fields it changed, [{"field", "from", "to"}].
ALTER TABLE audit_events DROP CONSTRAINT audit_events_organization_fkey;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
ALTER TABLE audit_events ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE audit_events ADD CONSTRAINT audit_events_id_key UNIQUE (tenant_id, id);
ALTER TABLE audit_events ADD COLUMN changes jsonb NOT NULL DEFAULT '[]';
UPDATE audit_events SET type = 'member.joined' WHERE type = 'member.confirmed';

-- Objects and arrays are attributes of type JSON.
ALTER TABLE organization_attributes DROP CONSTRAINT organization_attributes_type_check;
ALTER TABLE organization_attributes ADD CONSTRAINT organization_attributes_type_check
    CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'DATE', 'JSON'));
ALTER TABLE template_attribute_definitions DROP CONSTRAINT template_attribute_definitions_type_check;
ALTER TABLE template_attribute_definitions ADD CONSTRAINT template_attribute_definitions_type_check
    CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'DATE', 'JSON'));

-- +goose Down
ALTER TABLE template_attribute_definitions DROP CONSTRAINT template_attribute_definitions_type_check;
ALTER TABLE template_attribute_definitions ADD CONSTRAINT template_attribute_definitions_type_check
    CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'DATE'));
ALTER TABLE organization_attributes DROP CONSTRAINT organization_attributes_type_check;
ALTER TABLE organization_attributes ADD CONSTRAINT organization_attributes_type_check
    CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'DATE'));
UPDATE audit_events SET type = 'member.confirmed' WHERE type = 'member.joined';
ALTER TABLE audit_events DROP COLUMN changes;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_id_key;
ALTER TABLE audit_events DROP COLUMN id;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_tenant_fkey;
DELETE FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.tenant_id = e.tenant_id AND o.id = e.organization_id);
ALTER TABLE audit_events ADD CONSTRAINT audit_events_organization_fkey FOREIGN KEY (tenant_id, organization_id)
    REFERENCES organizations (tenant_id, id) ON DELETE CASCADE;
DROP INDEX organization_domains_domain_key;
DELETE FROM organization_domains WHERE released;
ALTER TABLE organization_domains ADD CONSTRAINT organization_domains_domain_key UNIQUE (tenant_id, domain);
ALTER TABLE organization_domains DROP COLUMN released;
DROP INDEX organizations_removed_at_idx;
DROP INDEX organizations_slug_key;
DELETE FROM organizations WHERE status = 'REMOVED';
ALTER TABLE organizations ADD CONSTRAINT organizations_slug_key UNIQUE (tenant_id, slug);
ALTER TABLE organizations DROP CONSTRAINT organizations_removed_check;
ALTER TABLE organizations DROP COLUMN removed_at;
ALTER TABLE organizations DROP CONSTRAINT organizations_status_check;
ALTER TABLE organizations ADD CONSTRAINT organizations_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'));
