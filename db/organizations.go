package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// CreateOrganization validates in and creates, in one transaction, the organization with its generated
// primary domain, its default project, the actor's OWNER membership and the organization.created audit
// event; a new default organization demotes the tenant's previous one in the same transaction.
//
// Every violation is returned at once as a *domain.ValidationError at its path below path, a taken slug
// (TAKEN, with suggestions) included, and nothing is written when there is any. With validateOnly every
// statement runs and the transaction is rolled back: the organization returned is then nil.
func (s *Store) CreateOrganization(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, path domain.Path, validateOnly bool) (*domain.Organization, error) {
	o, err := domain.NewOrganizationFrom(in, path)
	if err != nil {
		return nil, s.withTakenSlug(ctx, a.TenantID, in.Slug, path, err)
	}
	var created *domain.Organization
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		c, err := createOrganization(ctx, tx, a, o, path, s.DomainSuffix, s.nowUTC())
		if err != nil {
			return err
		}
		if validateOnly {
			return errRollback
		}
		created = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	return created, nil
}

// withTakenSlug adds the TAKEN violation of a well-formed requested slug to the other violations of an
// input, so that the caller learns of every problem in one answer.
func (s *Store) withTakenSlug(ctx context.Context, tenantID string, slug *string, path domain.Path, err error) error {
	var verr *domain.ValidationError
	if slug == nil || !errors.As(err, &verr) {
		return err
	}
	for _, v := range verr.Violations {
		if slices.Equal(v.Field, path.Field("slug")) {
			return err // malformed: no need to look it up
		}
	}
	free, err2 := freeSlugs(ctx, s.db, tenantID, *slug, 4)
	if err2 != nil {
		return err2
	}
	if free[0] == *slug {
		return err
	}
	suggestions := free[:3]
	verr.Violations = append(verr.Violations, takenSlug(path, *slug, suggestions))
	return verr
}

func takenSlug(path domain.Path, slug string, suggestions []string) domain.Violation {
	return domain.Violation{
		Field: path.Field("slug"), Code: domain.VTaken, Suggestions: suggestions,
		Message: fmt.Sprintf("slug %q is already taken in this tenant", slug),
	}
}

func createOrganization(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, in *domain.NewOrganization, path domain.Path, domainSuffix string, now time.Time) (*domain.Organization, error) {
	o := &domain.Organization{
		TenantID: a.TenantID, ID: uuid.NewString(), Name: in.Name, Slug: in.Slug,
		Description: in.Description, AvatarURL: in.AvatarURL, CountryCode: in.CountryCode,
		LanguageCode: in.LanguageCode, IsPrivate: in.IsPrivate, IsDefault: in.IsDefault,
		Status: in.Status, StatusChangedAt: now, CreatedBy: a.UserID, CreatedAt: now, UpdatedAt: now,
		Sequence: 1, ResourceOwner: a.TenantID, TotalMembers: 1,
	}
	if o.IsDefault {
		if err := demoteDefault(ctx, tx, a, now); err != nil {
			return nil, err
		}
	}
	if err := insertOrganization(ctx, tx, o, path); err != nil {
		return nil, err
	}
	o.PrimaryDomain = domain.GeneratedDomain(o.Slug, domainSuffix)
	if err := insertRelations(ctx, tx, a, o, now); err != nil {
		return nil, err
	}
	return o, nil
}

// demoteDefault clears the tenant's current default organization, recording the change in its audit
// log. The tenant row lock serialises concurrent default creates of one tenant, so that each sees the
// default the previous one made (FOR NO KEY UPDATE does not block the foreign-key checks of other creates).
func demoteDefault(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, a.TenantID); err != nil {
		return fmt.Errorf("lock tenant: %w", err)
	}
	const q = `
WITH demoted AS (
    UPDATE organizations SET is_default = false, updated_at = $2, sequence = sequence + 1
    WHERE tenant_id = $1 AND is_default
    RETURNING tenant_id, id, sequence
)
INSERT INTO audit_events (tenant_id, organization_id, sequence, type, actor_user_id, actor_key_id, payload, created_at)
SELECT tenant_id, id, sequence, $3, $4, $5, '{"isDefault": false}', $2 FROM demoted`
	if _, err := tx.ExecContext(ctx, q, a.TenantID, now, domain.EventOrganizationDefaultRevoked, a.UserID, a.KeyID); err != nil {
		return fmt.Errorf("demote default organization: %w", err)
	}
	return nil
}

const qInsertOrganization = `
INSERT INTO organizations (tenant_id, id, name, slug, description, avatar_url, country_code, language_code,
    is_private, is_default, status, status_changed_at, resource_owner, created_by, created_at, updated_at, sequence)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $12, $12, 1)
ON CONFLICT ON CONSTRAINT organizations_slug_key DO NOTHING`

// insertOrganization inserts o under its requested slug, or under the first free slug generated from
// its name. A conflicting insert waits for the transaction that holds the slug, so concurrent creates
// with one slug end with exactly one winner.
func insertOrganization(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, path domain.Path) error {
	insert := func(slug string) (bool, error) {
		return execInserted(ctx, tx, qInsertOrganization, o.TenantID, o.ID, o.Name, slug, o.Description,
			o.AvatarURL, o.CountryCode, o.LanguageCode, o.IsPrivate, o.IsDefault, o.Status, o.CreatedAt,
			o.ResourceOwner, o.CreatedBy)
	}
	if o.Slug != "" {
		inserted, err := insert(o.Slug)
		if err != nil || inserted {
			return err
		}
		suggestions, err := freeSlugs(ctx, tx, o.TenantID, o.Slug, 3)
		if err != nil {
			return err
		}
		return &domain.ValidationError{Violations: domain.Violations{takenSlug(path, o.Slug, suggestions)}}
	}
	base := domain.SlugBase(o.Name)
	for attempt := 0; attempt < 20; attempt++ {
		free, err := freeSlugs(ctx, tx, o.TenantID, base, 1)
		if err != nil {
			return err
		}
		inserted, err := insert(free[0])
		if err != nil {
			return err
		}
		if inserted {
			o.Slug = free[0]
			return nil
		}
	}
	return fmt.Errorf("no free slug for %q after 20 attempts", base)
}

func execInserted(ctx context.Context, tx *sqlx.Tx, q string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("insert organization: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert organization: %w", err)
	}
	return n == 1, nil
}

// freeSlugs returns up to n free slugs: base itself when free, then base-2, base-3, ...
func freeSlugs(ctx context.Context, q sqlx.QueryerContext, tenantID, base string, n int) ([]string, error) {
	var taken []string
	pattern := "^" + regexp.QuoteMeta(base) + "(-[0-9]+)?$"
	const qTaken = `SELECT slug FROM organizations WHERE tenant_id = $1 AND slug ~ $2`
	if err := sqlx.SelectContext(ctx, q, &taken, qTaken, tenantID, pattern); err != nil {
		return nil, fmt.Errorf("find taken slugs: %w", err)
	}
	used := make(map[string]bool, len(taken))
	for _, s := range taken {
		used[s] = true
	}
	var free []string
	if !used[base] {
		free = append(free, base)
	}
	for i := 2; len(free) < n; i++ {
		if s := domain.SlugWithSuffix(base, i); !used[s] {
			free = append(free, s)
		}
	}
	return free, nil
}

// insertRelations writes what comes with a new organization: its generated primary domain, default
// project, the actor's OWNER membership and the organization.created event.
func insertRelations(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, o *domain.Organization, now time.Time) error {
	const qDomain = `
INSERT INTO organization_domains (tenant_id, organization_id, domain, is_primary, is_verified, is_generated, created_at)
VALUES ($1, $2, $3, true, true, true, $4)`
	if _, err := tx.ExecContext(ctx, qDomain, o.TenantID, o.ID, o.PrimaryDomain, now); err != nil {
		return fmt.Errorf("insert domain: %w", err)
	}
	const qProject = `
INSERT INTO projects (tenant_id, id, organization_id, name, slug, type, mode, status, is_default, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'default', $5, $6, $7, true, $8, $8)`
	if _, err := tx.ExecContext(ctx, qProject, o.TenantID, uuid.NewString(), o.ID, domain.DefaultProjectName,
		domain.ProjectTypeWebsite, domain.ProjectModeLive, domain.ProjectStatusActive, now); err != nil {
		return fmt.Errorf("insert default project: %w", err)
	}
	const qOwner = `
INSERT INTO memberships (tenant_id, id, organization_id, user_id, role, status, joined_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`
	if _, err := tx.ExecContext(ctx, qOwner, o.TenantID, uuid.NewString(), o.ID, a.UserID,
		domain.RoleOwner, domain.MemberActive, now); err != nil {
		return fmt.Errorf("insert owner: %w", err)
	}
	payload, err := json.Marshal(map[string]any{
		"name": o.Name, "slug": o.Slug, "status": o.Status, "isDefault": o.IsDefault, "isPrivate": o.IsPrivate,
		"primaryDomain": o.PrimaryDomain,
	})
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	const qEvent = `
INSERT INTO audit_events (tenant_id, organization_id, sequence, type, actor_user_id, actor_key_id, payload, created_at)
VALUES ($1, $2, 1, $3, $4, $5, $6, $7)`
	if _, err := tx.ExecContext(ctx, qEvent, o.TenantID, o.ID, domain.EventOrganizationCreated, a.UserID, a.KeyID, payload, now); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// organizationColumns lists what a read of an organization selects, with the primary domain and the
// member count alongside.
const organizationColumns = `
o.tenant_id, o.id, o.name, o.slug, o.description, o.avatar_url, o.country_code, o.language_code,
o.is_private, o.is_default, o.is_system, o.status, o.status_changed_at, o.resource_owner, o.created_by,
o.created_at, o.updated_at, o.sequence,
coalesce((SELECT d.domain FROM organization_domains d
          WHERE d.tenant_id = o.tenant_id AND d.organization_id = o.id AND d.is_primary), '') AS primary_domain,
(SELECT count(*) FROM memberships m WHERE m.tenant_id = o.tenant_id AND m.organization_id = o.id) AS total_members`

type organizationRow struct {
	TenantID        string    `db:"tenant_id"`
	ID              string    `db:"id"`
	Name            string    `db:"name"`
	Slug            string    `db:"slug"`
	Description     *string   `db:"description"`
	AvatarURL       *string   `db:"avatar_url"`
	CountryCode     *string   `db:"country_code"`
	LanguageCode    *string   `db:"language_code"`
	IsPrivate       bool      `db:"is_private"`
	IsDefault       bool      `db:"is_default"`
	IsSystem        bool      `db:"is_system"`
	Status          string    `db:"status"`
	StatusChangedAt time.Time `db:"status_changed_at"`
	ResourceOwner   string    `db:"resource_owner"`
	CreatedBy       string    `db:"created_by"`
	CreatedAt       time.Time `db:"created_at"`
	UpdatedAt       time.Time `db:"updated_at"`
	Sequence        int64     `db:"sequence"`
	PrimaryDomain   string    `db:"primary_domain"`
	TotalMembers    int       `db:"total_members"`
}

func toOrganization(r organizationRow) *domain.Organization {
	return &domain.Organization{
		TenantID: r.TenantID, ID: r.ID, Name: r.Name, Slug: r.Slug, Description: r.Description,
		AvatarURL: r.AvatarURL, CountryCode: r.CountryCode, LanguageCode: r.LanguageCode,
		PrimaryDomain: r.PrimaryDomain, IsPrivate: r.IsPrivate, IsDefault: r.IsDefault, IsSystem: r.IsSystem,
		Status: domain.OrganizationStatus(r.Status), StatusChangedAt: r.StatusChangedAt.UTC(),
		TotalMembers: r.TotalMembers, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), Sequence: r.Sequence, ResourceOwner: r.ResourceOwner,
	}
}

// Organization returns the tenant's organization with the given id, or an ENOTFOUND error (also for an
// id that is not a UUID, and for another tenant's organization).
func (s *Store) Organization(ctx context.Context, tenantID, id string) (*domain.Organization, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "organization not found")
	}
	return s.organizationWhere(ctx, `o.tenant_id = $1 AND o.id = $2`, tenantID, id)
}

// OrganizationBySlug returns the tenant's organization with the given slug, or an ENOTFOUND error.
func (s *Store) OrganizationBySlug(ctx context.Context, tenantID, slug string) (*domain.Organization, error) {
	return s.organizationWhere(ctx, `o.tenant_id = $1 AND o.slug = $2`, tenantID, slug)
}

func (s *Store) organizationWhere(ctx context.Context, where string, args ...any) (*domain.Organization, error) {
	var r organizationRow
	err := s.db.GetContext(ctx, &r, `SELECT `+organizationColumns+` FROM organizations o WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "organization not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	return toOrganization(r), nil
}

// Domains returns an organization's domains, the primary first.
func (s *Store) Domains(ctx context.Context, tenantID, orgID string) ([]domain.Domain, error) {
	const q = `
SELECT domain, is_primary, is_verified, is_generated FROM organization_domains
WHERE tenant_id = $1 AND organization_id = $2
ORDER BY is_primary DESC, domain`
	rows, err := s.db.QueryContext(ctx, q, tenantID, orgID)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	out := []domain.Domain{}
	for rows.Next() {
		var d domain.Domain
		if err := rows.Scan(&d.Domain, &d.IsPrimary, &d.IsVerified, &d.IsGenerated); err != nil {
			return nil, fmt.Errorf("scan domain: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

type projectRow struct {
	TenantID         string         `db:"tenant_id"`
	ID               string         `db:"id"`
	OrganizationID   string         `db:"organization_id"`
	Name             string         `db:"name"`
	Slug             string         `db:"slug"`
	Type             string         `db:"type"`
	Mode             string         `db:"mode"`
	Status           string         `db:"status"`
	IsDefault        bool           `db:"is_default"`
	ContactEmails    pq.StringArray `db:"contact_emails"`
	DeepScan         bool           `db:"deep_scan"`
	RealTimeScan     bool           `db:"real_time_scan"`
	LastRealTimeScan *time.Time     `db:"last_real_time_scan"`
	CreatedAt        time.Time      `db:"created_at"`
	UpdatedAt        time.Time      `db:"updated_at"`
}

// Projects returns an organization's projects, the default first, then by creation.
func (s *Store) Projects(ctx context.Context, tenantID, orgID string) ([]domain.Project, error) {
	const q = `
SELECT tenant_id, id, organization_id, name, slug, type, mode, status, is_default, contact_emails,
       deep_scan, real_time_scan, last_real_time_scan, created_at, updated_at
FROM projects WHERE tenant_id = $1 AND organization_id = $2
ORDER BY is_default DESC, created_at, id`
	var rows []projectRow
	if err := s.db.SelectContext(ctx, &rows, q, tenantID, orgID); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	out := make([]domain.Project, len(rows))
	for i, r := range rows {
		out[i] = domain.Project{
			TenantID: r.TenantID, ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Slug: r.Slug,
			Type: r.Type, Mode: r.Mode, Status: r.Status, IsDefault: r.IsDefault, ContactEmails: r.ContactEmails,
			DeepScan: r.DeepScan, RealTimeScan: r.RealTimeScan, LastRealTimeScan: r.LastRealTimeScan,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		}
	}
	return out, nil
}

// Members returns an organization's members with their users, owners first, then by joining; role
// narrows them to one role when not empty.
func (s *Store) Members(ctx context.Context, tenantID, orgID string, role domain.MemberRole) ([]domain.Member, error) {
	const q = `
SELECT m.id, m.user_id, u.email, u.name, m.role, m.status, m.joined_at
FROM memberships m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
WHERE m.tenant_id = $1 AND m.organization_id = $2 AND ($3 = '' OR m.role = $3)
ORDER BY array_position(ARRAY['OWNER', 'ADMIN', 'MEMBER'], m.role), m.created_at, m.id`
	rows, err := s.db.QueryContext(ctx, q, tenantID, orgID, string(role))
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	out := []domain.Member{}
	for rows.Next() {
		var m domain.Member
		if err := rows.Scan(&m.ID, &m.UserID, &m.Email, &m.Name, &m.Role, &m.Status, &m.JoinedAt); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		if m.JoinedAt != nil {
			t := m.JoinedAt.UTC()
			m.JoinedAt = &t
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return out, nil
}
