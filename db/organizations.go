package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// organizationColumns lists what a read of an organization selects, with the primary domain and the
// member count alongside.
const organizationColumns = `
o.tenant_id, o.id, o.name, o.slug, o.description, o.avatar_url, o.country_code, o.language_code,
o.is_private, o.is_default, o.is_system, o.status, o.status_changed_at, o.resource_owner, o.created_by,
o.created_at, o.updated_at, o.sequence, o.locale, o.timezone, o.phone, o.headquarters, o.contact_emails,
o.billing_emails, o.privacy_policy_url, o.terms_of_service_url, o.coupons, o.region_template,
o.subscription_plan, o.subscription_billing_cycle, o.template_id, o.primary_administrator_id,
` + primaryDomainSQL + ` AS primary_domain,
o.member_count AS total_members, o.removed_at`

type organizationRow struct {
	TenantID        string     `db:"tenant_id"`
	ID              string     `db:"id"`
	Name            string     `db:"name"`
	Slug            string     `db:"slug"`
	Description     *string    `db:"description"`
	AvatarURL       *string    `db:"avatar_url"`
	CountryCode     *string    `db:"country_code"`
	LanguageCode    *string    `db:"language_code"`
	IsPrivate       bool       `db:"is_private"`
	IsDefault       bool       `db:"is_default"`
	IsSystem        bool       `db:"is_system"`
	Status          string     `db:"status"`
	StatusChangedAt time.Time  `db:"status_changed_at"`
	ResourceOwner   string     `db:"resource_owner"`
	CreatedBy       string     `db:"created_by"`
	CreatedAt       time.Time  `db:"created_at"`
	UpdatedAt       time.Time  `db:"updated_at"`
	Sequence        int64      `db:"sequence"`
	PrimaryDomain   string     `db:"primary_domain"`
	TotalMembers    int        `db:"total_members"`
	RemovedAt       *time.Time `db:"removed_at"`

	Locale            *string        `db:"locale"`
	Timezone          *string        `db:"timezone"`
	Phone             *string        `db:"phone"`
	Headquarters      []byte         `db:"headquarters"`
	ContactEmails     pq.StringArray `db:"contact_emails"`
	BillingEmails     pq.StringArray `db:"billing_emails"`
	PrivacyPolicyURL  *string        `db:"privacy_policy_url"`
	TermsOfServiceURL *string        `db:"terms_of_service_url"`
	Coupons           pq.StringArray `db:"coupons"`
	RegionTemplate    *string        `db:"region_template"`
	Plan              *string        `db:"subscription_plan"`
	BillingCycle      *string        `db:"subscription_billing_cycle"`
	TemplateID        *string        `db:"template_id"`
	AdministratorID   *string        `db:"primary_administrator_id"`
}

func toOrganization(r organizationRow) (*domain.Organization, error) {
	o := &domain.Organization{
		TenantID: r.TenantID, ID: r.ID, Name: r.Name, Slug: r.Slug, Description: r.Description,
		AvatarURL: r.AvatarURL, CountryCode: r.CountryCode, LanguageCode: r.LanguageCode,
		PrimaryDomain: r.PrimaryDomain, IsPrivate: r.IsPrivate, IsDefault: r.IsDefault, IsSystem: r.IsSystem,
		Status: domain.OrganizationStatus(r.Status), StatusChangedAt: r.StatusChangedAt.UTC(),
		TotalMembers: r.TotalMembers, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), Sequence: r.Sequence, ResourceOwner: r.ResourceOwner,
		Locale: r.Locale, Timezone: r.Timezone, Phone: r.Phone, ContactEmails: r.ContactEmails,
		BillingEmails: r.BillingEmails, PrivacyPolicyURL: r.PrivacyPolicyURL, TermsOfServiceURL: r.TermsOfServiceURL,
		Coupons: r.Coupons, RegionTemplate: r.RegionTemplate, TemplateID: r.TemplateID,
		PrimaryAdministratorUserID: r.AdministratorID,
	}
	if r.RemovedAt != nil {
		t := r.RemovedAt.UTC()
		o.RemovedAt = &t
	}
	if r.Plan != nil && r.BillingCycle != nil {
		o.Subscription = &domain.Subscription{Plan: *r.Plan, BillingCycle: *r.BillingCycle}
	}
	if len(r.Headquarters) > 0 {
		if err := json.Unmarshal(r.Headquarters, &o.Headquarters); err != nil {
			return nil, fmt.Errorf("decode headquarters: %w", err)
		}
	}
	return o, nil
}

// Organization returns the tenant's organization with the given id, or an ENOTFOUND error (also for an
// id that is not a UUID, for another tenant's organization and for a deleted one).
func (s *Store) Organization(ctx context.Context, tenantID, id string) (*domain.Organization, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "organization not found")
	}
	return organizationWhere(ctx, s.db, `o.tenant_id = $1 AND o.id = $2 AND o.status <> 'REMOVED'`, tenantID, id)
}

// OrganizationBySlug returns the tenant's organization with the given slug, or an ENOTFOUND error
// (also for a deleted one, whose slug is free).
func (s *Store) OrganizationBySlug(ctx context.Context, tenantID, slug string) (*domain.Organization, error) {
	return organizationWhere(ctx, s.db, `o.tenant_id = $1 AND o.slug = $2 AND o.status <> 'REMOVED'`, tenantID, slug)
}

func organizationWhere(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (*domain.Organization, error) {
	var r organizationRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+organizationColumns+` FROM organizations o WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "organization not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	return toOrganization(r)
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
	SendFromEmail    *string        `db:"send_from_email"`
	SendFromName     *string        `db:"send_from_name"`
	DeepScan         bool           `db:"deep_scan"`
	RealTimeScan     bool           `db:"real_time_scan"`
	LastRealTimeScan *time.Time     `db:"last_real_time_scan"`
	CreatedAt        time.Time      `db:"created_at"`
	UpdatedAt        time.Time      `db:"updated_at"`
}

func (s *Store) projectsWhere(ctx context.Context, where string, args ...any) ([]domain.Project, error) {
	return projectsIn(ctx, s.db, where, args...)
}

// projectsIn reads the projects that match where on q (the pool or a transaction), in their order.
func projectsIn(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) ([]domain.Project, error) {
	query := `
SELECT tenant_id, id, organization_id, name, slug, type, mode, status, is_default, contact_emails,
       send_from_email, send_from_name, deep_scan, real_time_scan, last_real_time_scan, created_at, updated_at
FROM projects WHERE ` + where + `
ORDER BY ` + projectOrderSQL
	var rows []projectRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
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
		if r.SendFromEmail != nil {
			out[i].SendFromEmail = &domain.SenderEmail{Email: *r.SendFromEmail, Name: r.SendFromName}
		}
	}
	return out, nil
}

// memberColumnsSQL are the columns of a member m and its user u that scanMember reads.
const memberColumnsSQL = `m.id, m.organization_id, m.user_id, u.email, u.name, m.role, m.status, m.joined_at, ` + emailVerifiedSQL + `,
       u.first_name, u.last_name, u.description, u.phone, u.locale, u.gender, u.date_of_birth, u.address,
       u.mfa_enabled, u.mfa_expiration_minutes`

// scanMember reads the memberColumnsSQL of a row, then the row's further columns into extra.
func scanMember(rows interface{ Scan(...any) error }, extra ...any) (domain.Member, error) {
	var m domain.Member
	var address []byte
	p := &m.Profile
	if err := rows.Scan(append([]any{&m.ID, &m.OrganizationID, &m.UserID, &m.Email, &m.Name, &m.Role, &m.Status, &m.JoinedAt, &m.EmailVerified,
		&p.FirstName, &p.LastName, &p.Description, &p.Phone, &p.Locale, &p.Gender, &p.DateOfBirth, &address,
		&p.MFAEnabled, &p.MFAExpirationMinutes}, extra...)...); err != nil {
		return m, fmt.Errorf("scan member: %w", err)
	}
	if len(address) > 0 {
		if err := json.Unmarshal(address, &p.Address); err != nil {
			return m, fmt.Errorf("decode member address: %w", err)
		}
	}
	if m.JoinedAt != nil {
		t := m.JoinedAt.UTC()
		m.JoinedAt = &t
	}
	return m, nil
}

func membersWhere(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) ([]domain.Member, error) {
	query := `
SELECT ` + memberColumnsSQL + `
FROM ` + membersWithUsersSQL + `
WHERE ` + where + `
ORDER BY ` + memberOrderSQL
	rows, err := q.QueryxContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	out := []domain.Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return out, nil
}

// scanAttributes reads the rows of attributesOfSQL, grouped by organization.
func scanAttributes(rows *sql.Rows) (map[string][]domain.Attribute, error) {
	out := map[string][]domain.Attribute{}
	for rows.Next() {
		var org string
		var a domain.Attribute
		var raw []byte
		if err := rows.Scan(&org, &a.Key, &a.Type, &raw); err != nil {
			return nil, fmt.Errorf("scan attribute: %w", err)
		}
		var err error
		if a.Value, err = decodeAttributeValue(raw); err != nil {
			return nil, fmt.Errorf("decode attribute %s: %w", a.Key, err)
		}
		out[org] = append(out[org], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	return out, nil
}
