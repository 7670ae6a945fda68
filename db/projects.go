package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"orgs/domain"
)

// The SQL of createProject, updateProject and deleteProject. Every project change runs inside
// ChangeOrganization, under the lock of the project's organization: the changes of one organization's
// projects are serialised, so that the one-default rule and unique names are checked on what the
// previous change left (the partial unique index projects_one_default_key is the backstop).

// ProjectOrganizationID returns the id of the organization of the tenant's project id, or an ENOTFOUND
// error (also for an id that is not a UUID and for another tenant's project).
func (s *Store) ProjectOrganizationID(ctx context.Context, tenantID, id string) (string, error) {
	notFound := domain.Errorf(domain.ENOTFOUND, "project not found")
	if _, err := uuid.Parse(id); err != nil {
		return "", notFound
	}
	var orgID string
	err := s.db.GetContext(ctx, &orgID, `SELECT organization_id FROM projects WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound
	}
	if err != nil {
		return "", fmt.Errorf("find project: %w", err)
	}
	return orgID, nil
}

// Projects returns the organization's projects, the default one first.
func (t *OrganizationTx) Projects(ctx context.Context) ([]domain.Project, error) {
	return projectsIn(ctx, t.tx, `tenant_id = $1 AND organization_id = $2`, t.Organization.TenantID, t.Organization.ID)
}

// InsertProject adds p (its id, times and status set) to the organization, after its other projects.
func (t *OrganizationTx) InsertProject(ctx context.Context, p domain.Project) error {
	sender, senderName := senderColumns(p.SendFromEmail)
	const q = `
INSERT INTO projects (tenant_id, id, organization_id, name, slug, type, mode, status, is_default, contact_emails,
    send_from_email, send_from_name, deep_scan, real_time_scan, position, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
    coalesce((SELECT max(position) + 1 FROM projects WHERE tenant_id = $1 AND organization_id = $3), 0), $15, $15`
	_, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, p.ID, t.Organization.ID, p.Name, p.Slug, p.Type, p.Mode,
		p.Status, p.IsDefault, pq.Array(nonNilList(p.ContactEmails)), sender, senderName, p.DeepScan, p.RealTimeScan, t.Now)
	if err != nil {
		return fmt.Errorf("insert project: %w", err)
	}
	return nil
}

// UpdateProject writes every changeable field of p, one of the organization's projects.
func (t *OrganizationTx) UpdateProject(ctx context.Context, p domain.Project) error {
	sender, senderName := senderColumns(p.SendFromEmail)
	const q = `
UPDATE projects SET name = $4, slug = $5, type = $6, mode = $7, status = $8, is_default = $9, contact_emails = $10,
    send_from_email = $11, send_from_name = $12, deep_scan = $13, real_time_scan = $14, updated_at = $15
WHERE tenant_id = $1 AND organization_id = $2 AND id = $3`
	_, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, t.Organization.ID, p.ID, p.Name, p.Slug, p.Type, p.Mode,
		p.Status, p.IsDefault, pq.Array(nonNilList(p.ContactEmails)), sender, senderName, p.DeepScan, p.RealTimeScan, t.Now)
	if err != nil {
		return fmt.Errorf("update project: %w", err)
	}
	return nil
}

// DeleteProject deletes one of the organization's projects.
func (t *OrganizationTx) DeleteProject(ctx context.Context, id string) error {
	const q = `DELETE FROM projects WHERE tenant_id = $1 AND organization_id = $2 AND id = $3`
	if _, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, t.Organization.ID, id); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	return nil
}

func senderColumns(s *domain.SenderEmail) (email, name *string) {
	if s == nil {
		return nil, nil
	}
	return &s.Email, s.Name
}

func nonNilList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
