package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// An organization's life, in SQL: suspension (a status), deletion (status REMOVED, slug and domains
// released at once, pending confirmations expired), restore (the reverse, under a slug that must be
// free), and the purge of the organizations deleted longer ago than their retention, which deletes every
// row of theirs but their audit events.

// SetStatus moves the organization to status, now.
func (t *OrganizationTx) SetStatus(ctx context.Context, status domain.OrganizationStatus) error {
	const q = `UPDATE organizations SET status = $3, status_changed_at = $4 WHERE tenant_id = $1 AND id = $2`
	if _, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, t.Organization.ID, status, t.Now); err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	return nil
}

// Removal is what a delete did beside the organization's row.
type Removal struct {
	// ReleasedDomains are the domains released for other organizations of the tenant.
	ReleasedDomains []string
	// RevokedConfirmations counts the pending confirmation links that stopped working.
	RevokedConfirmations int64
}

// Remove deletes the organization: status REMOVED, no longer the tenant's default, its domains released
// (free at once for other organizations of the tenant) and its pending confirmation links expired.
func (t *OrganizationTx) Remove(ctx context.Context) (*Removal, error) {
	o := t.Organization
	const qOrg = `
UPDATE organizations SET status = 'REMOVED', removed_at = $3, status_changed_at = $3, is_default = false
WHERE tenant_id = $1 AND id = $2`
	if _, err := t.tx.ExecContext(ctx, qOrg, o.TenantID, o.ID, t.Now); err != nil {
		return nil, fmt.Errorf("remove organization: %w", err)
	}
	r := &Removal{ReleasedDomains: []string{}}
	const qDomains = `
UPDATE organization_domains SET released = true
WHERE tenant_id = $1 AND organization_id = $2 AND NOT released
RETURNING domain`
	if err := t.tx.SelectContext(ctx, &r.ReleasedDomains, qDomains, o.TenantID, o.ID); err != nil {
		return nil, fmt.Errorf("release domains: %w", err)
	}
	const qConfirmations = `
UPDATE email_confirmations SET expires_at = $3
WHERE tenant_id = $1 AND organization_id = $2 AND used_at IS NULL AND expires_at > $3`
	res, err := t.tx.ExecContext(ctx, qConfirmations, o.TenantID, o.ID, t.Now)
	if err != nil {
		return nil, fmt.Errorf("revoke confirmations: %w", err)
	}
	if r.RevokedConfirmations, err = res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("revoke confirmations: %w", err)
	}
	return r, nil
}

// StatusBeforeRemoval returns the status the deleted organization had before its last delete, as its
// organization.deleted event recorded it ("" when none did).
func (t *OrganizationTx) StatusBeforeRemoval(ctx context.Context) (domain.OrganizationStatus, error) {
	const q = `
SELECT coalesce(payload->>'previousStatus', '') FROM audit_events
WHERE tenant_id = $1 AND organization_id = $2 AND type = $3
ORDER BY sequence DESC LIMIT 1`
	var status string
	err := t.tx.GetContext(ctx, &status, q, t.Organization.TenantID, t.Organization.ID, domain.EventOrganizationDeleted)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("status before removal: %w", err)
	}
	return domain.OrganizationStatus(status), nil
}

// Restoration is what a restore did to the organization's domains.
type Restoration struct {
	// Domains are the organization's domains after the restore, the primary first.
	Domains []string
	// PrimaryDomain is the organization's primary domain after the restore.
	PrimaryDomain string
	// DroppedDomains are the custom domains that another organization of the tenant took while this one
	// was deleted: they are no longer this organization's.
	DroppedDomains []string
}

// Restore brings the deleted organization back with status and slug, its generated domain renamed to
// generated and its domains unreleased. A custom domain that another organization of the tenant holds
// now is dropped from this one; when it was the primary domain, the generated domain becomes primary.
// A slug taken, or a generated domain taken (which only a slug decides), is ErrSlugTaken; a custom
// domain taken by a concurrent change after it was checked is ErrDomainTaken (retrying settles it).
func (t *OrganizationTx) Restore(ctx context.Context, status domain.OrganizationStatus, slug, generated string) (*Restoration, error) {
	o := t.Organization
	const qOrg = `
UPDATE organizations SET status = $3, slug = $4, removed_at = NULL, status_changed_at = $5
WHERE tenant_id = $1 AND id = $2`
	if _, err := t.tx.ExecContext(ctx, qOrg, o.TenantID, o.ID, status, slug, t.Now); err != nil {
		return nil, restoreError(err)
	}
	const qGenerated = `
UPDATE organization_domains SET domain = $3, released = false
WHERE tenant_id = $1 AND organization_id = $2 AND is_generated`
	if _, err := t.tx.ExecContext(ctx, qGenerated, o.TenantID, o.ID, generated); err != nil {
		if uniqueViolation(err) == "organization_domains_domain_key" {
			return nil, fmt.Errorf("restore generated domain %s: %w", generated, ErrSlugTaken)
		}
		return nil, fmt.Errorf("restore generated domain: %w", err)
	}
	r := &Restoration{DroppedDomains: []string{}}
	var dropped []struct {
		Domain    string `db:"domain"`
		IsPrimary bool   `db:"is_primary"`
	}
	const qDrop = `
DELETE FROM organization_domains d
WHERE d.tenant_id = $1 AND d.organization_id = $2 AND d.released AND NOT d.is_generated
  AND EXISTS (SELECT 1 FROM organization_domains x WHERE x.tenant_id = d.tenant_id AND x.domain = d.domain AND NOT x.released)
RETURNING d.domain, d.is_primary`
	if err := t.tx.SelectContext(ctx, &dropped, qDrop, o.TenantID, o.ID); err != nil {
		return nil, fmt.Errorf("drop taken domains: %w", err)
	}
	primaryDropped := false
	for _, d := range dropped {
		r.DroppedDomains = append(r.DroppedDomains, d.Domain)
		primaryDropped = primaryDropped || d.IsPrimary
	}
	if primaryDropped {
		const q = `UPDATE organization_domains SET is_primary = true WHERE tenant_id = $1 AND organization_id = $2 AND is_generated`
		if _, err := t.tx.ExecContext(ctx, q, o.TenantID, o.ID); err != nil {
			return nil, fmt.Errorf("restore primary domain: %w", err)
		}
	}
	const qUnrelease = `
UPDATE organization_domains SET released = false
WHERE tenant_id = $1 AND organization_id = $2 AND released`
	if _, err := t.tx.ExecContext(ctx, qUnrelease, o.TenantID, o.ID); err != nil {
		return nil, restoreError(err)
	}
	const qDomains = `
SELECT domain FROM organization_domains WHERE tenant_id = $1 AND organization_id = $2
ORDER BY is_primary DESC, domain`
	if err := t.tx.SelectContext(ctx, &r.Domains, qDomains, o.TenantID, o.ID); err != nil {
		return nil, fmt.Errorf("list restored domains: %w", err)
	}
	if len(r.Domains) > 0 {
		r.PrimaryDomain = r.Domains[0]
	}
	return r, nil
}

// restoreError names the unique constraint a restore broke, if any.
func restoreError(err error) error {
	switch uniqueViolation(err) {
	case "organizations_slug_key":
		return fmt.Errorf("restore organization: %w", ErrSlugTaken)
	case "organization_domains_domain_key":
		return fmt.Errorf("restore organization: %w", ErrDomainTaken)
	}
	return fmt.Errorf("restore organization: %w", err)
}

// DomainsOfOrganization returns the organization's domains, the primary first.
func (t *OrganizationTx) DomainsOfOrganization(ctx context.Context) ([]string, error) {
	var out []string
	const q = `SELECT domain FROM organization_domains WHERE tenant_id = $1 AND organization_id = $2 ORDER BY is_primary DESC, domain`
	if err := t.tx.SelectContext(ctx, &out, q, t.Organization.TenantID, t.Organization.ID); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// PurgeCounts counts what a purge deleted.
type PurgeCounts struct {
	Organizations   int64
	Projects        int64
	Memberships     int64
	Domains         int64
	Attributes      int64
	Confirmations   int64
	IdempotencyKeys int64
}

func (c *PurgeCounts) add(o PurgeCounts) {
	c.Organizations += o.Organizations
	c.Projects += o.Projects
	c.Memberships += o.Memberships
	c.Domains += o.Domains
	c.Attributes += o.Attributes
	c.Confirmations += o.Confirmations
	c.IdempotencyKeys += o.IdempotencyKeys
}

// PurgeBatchSize is how many organizations one transaction of a purge deletes.
const PurgeBatchSize = 100

// PurgeRemovedOrganizations deletes the organizations deleted at or before removedBefore, with every row
// of theirs (projects, memberships, domains, custom attributes, confirmation links, and the idempotency
// keys that name them) but their audit events, which end with an organization.purged event recorded by
// the system. It works in transactions of at most batch organizations, each locking the organizations
// it purges with SKIP LOCKED: several replicas may purge at once, each deletes other organizations, and
// an organization being restored (locked) is left to a later purge. It returns what it deleted.
func (s *Store) PurgeRemovedOrganizations(ctx context.Context, removedBefore time.Time, batch int) (PurgeCounts, error) {
	if batch <= 0 {
		batch = PurgeBatchSize
	}
	var total PurgeCounts
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge organizations: %w", err)
		}
		var n PurgeCounts
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			n, err = purgeBatch(ctx, tx, removedBefore, batch, s.nowUTC())
			return err
		})
		if err != nil {
			return total, err
		}
		total.add(n)
		if n.Organizations < int64(batch) {
			return total, nil
		}
	}
}

// purgeBatch purges up to batch due organizations in tx.
func purgeBatch(ctx context.Context, tx *sqlx.Tx, removedBefore time.Time, batch int, now time.Time) (PurgeCounts, error) {
	var due []struct {
		TenantID  string    `db:"tenant_id"`
		ID        string    `db:"id"`
		Sequence  int64     `db:"sequence"`
		RemovedAt time.Time `db:"removed_at"`
	}
	const qDue = `
SELECT tenant_id, id, sequence, removed_at FROM organizations
WHERE status = 'REMOVED' AND removed_at <= $1
ORDER BY removed_at
LIMIT $2
FOR UPDATE SKIP LOCKED`
	if err := tx.SelectContext(ctx, &due, qDue, removedBefore, batch); err != nil {
		return PurgeCounts{}, fmt.Errorf("find organizations to purge: %w", err)
	}
	var c PurgeCounts
	if len(due) == 0 {
		return c, nil
	}
	tenants, ids := make([]string, len(due)), make([]string, len(due))
	for i, d := range due {
		tenants[i], ids[i] = d.TenantID, d.ID
	}
	// Children first, so that each count is known (the organization's delete would cascade to them).
	perOrg := map[string]map[string]int64{}
	for _, step := range []struct {
		table, what string
		count       *int64
	}{
		{"email_confirmations", "confirmations", &c.Confirmations},
		{"memberships", "members", &c.Memberships},
		{"projects", "projects", &c.Projects},
		{"organization_domains", "domains", &c.Domains},
		{"organization_attributes", "attributes", &c.Attributes},
		{"idempotency_keys", "idempotencyKeys", &c.IdempotencyKeys},
	} {
		q := `
WITH deleted AS (
    DELETE FROM ` + step.table + ` WHERE (tenant_id, organization_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
    RETURNING organization_id
)
SELECT organization_id, count(*) FROM deleted GROUP BY organization_id`
		rows, err := tx.QueryContext(ctx, q, pq.Array(tenants), pq.Array(ids))
		if err != nil {
			return c, fmt.Errorf("purge %s: %w", step.table, err)
		}
		for rows.Next() {
			var org string
			var n int64
			if err := rows.Scan(&org, &n); err != nil {
				rows.Close()
				return c, fmt.Errorf("purge %s: %w", step.table, err)
			}
			if perOrg[org] == nil {
				perOrg[org] = map[string]int64{}
			}
			perOrg[org][step.what] = n
			*step.count += n
		}
		if err := rows.Close(); err != nil {
			return c, fmt.Errorf("purge %s: %w", step.table, err)
		}
		if err := rows.Err(); err != nil {
			return c, fmt.Errorf("purge %s: %w", step.table, err)
		}
	}
	for _, d := range due {
		data := map[string]any{"removedAt": d.RemovedAt.UTC()}
		for what, n := range perOrg[d.ID] {
			data[what] = n
		}
		purged := domain.Change{Type: domain.EventOrganizationPurged, Data: data}
		if err := insertEvent(ctx, tx, d.TenantID, d.ID, d.Sequence+1, nil, purged, now); err != nil {
			return c, err
		}
	}
	const qOrgs = `DELETE FROM organizations WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))`
	res, err := tx.ExecContext(ctx, qOrgs, pq.Array(tenants), pq.Array(ids))
	if err != nil {
		return c, fmt.Errorf("purge organizations: %w", err)
	}
	if c.Organizations, err = res.RowsAffected(); err != nil {
		return c, fmt.Errorf("purge organizations: %w", err)
	}
	return c, nil
}
