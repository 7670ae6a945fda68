package db

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// The statements of a create, each taking the transaction.

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
    is_private, is_default, status, status_changed_at, resource_owner, created_by, created_at, updated_at, sequence,
    locale, timezone, phone, headquarters, contact_emails, billing_emails, privacy_policy_url, terms_of_service_url,
    coupons, region_template, subscription_plan, subscription_billing_cycle, template_id, primary_administrator_id,
    member_count)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $12, $12, 1,
    $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
ON CONFLICT ON CONSTRAINT organizations_slug_key DO NOTHING`

// insertOrganization inserts o under its requested slug, or under the first free slug generated from
// its name. A conflicting insert waits for the transaction that holds the slug, so concurrent creates
// with one slug end with exactly one winner.
func insertOrganization(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, path domain.Path) error {
	headquarters, err := jsonOrNil(o.Headquarters)
	if err != nil {
		return err
	}
	var plan, cycle *string
	if o.Subscription != nil {
		plan, cycle = &o.Subscription.Plan, &o.Subscription.BillingCycle
	}
	insert := func(slug string) (bool, error) {
		return execInserted(ctx, tx, qInsertOrganization, o.TenantID, o.ID, o.Name, slug, o.Description,
			o.AvatarURL, o.CountryCode, o.LanguageCode, o.IsPrivate, o.IsDefault, o.Status, o.CreatedAt,
			o.ResourceOwner, o.CreatedBy, o.Locale, o.Timezone, o.Phone, headquarters, pq.Array(o.ContactEmails),
			pq.Array(o.BillingEmails), o.PrivacyPolicyURL, o.TermsOfServiceURL, pq.Array(o.Coupons),
			o.RegionTemplate, plan, cycle, o.TemplateID, o.PrimaryAdministratorUserID, o.TotalMembers)
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

// jsonOrNil encodes v as JSON, or returns nil for a nil pointer.
func jsonOrNil[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// insertDomains writes the generated domain and, when the input gave one, the primary domain. A domain
// another organization of the tenant has is TAKEN at path.primaryDomain.
func insertDomains(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, generated string, path domain.Path, now time.Time) error {
	const q = `
INSERT INTO organization_domains (tenant_id, organization_id, domain, is_primary, is_verified, is_generated, created_at)
SELECT $1, $2, d.domain, d.is_primary, d.is_generated, d.is_generated, $3
FROM unnest($4::text[], $5::boolean[], $6::boolean[]) AS d(domain, is_primary, is_generated)
ON CONFLICT ON CONSTRAINT organization_domains_domain_key DO NOTHING`
	domains, primary, gen := []string{generated}, []bool{o.PrimaryDomain == generated}, []bool{true}
	if o.PrimaryDomain != generated {
		domains, primary, gen = append(domains, o.PrimaryDomain), append(primary, true), append(gen, false)
	}
	res, err := tx.ExecContext(ctx, q, o.TenantID, o.ID, now, pq.Array(domains), pq.Array(primary), pq.Array(gen))
	if err != nil {
		return fmt.Errorf("insert domains: %w", err)
	}
	if n, _ := res.RowsAffected(); int(n) != len(domains) {
		field, taken := path.Field("slug"), generated
		if o.PrimaryDomain != generated {
			field, taken = path.Field("primaryDomain"), o.PrimaryDomain
		}
		return &domain.ValidationError{Violations: domain.Violations{{Field: field, Code: domain.VTaken,
			Message: fmt.Sprintf("domain %q already belongs to another organization of this tenant", taken)}}}
	}
	return nil
}

// insertProjects writes the organization's projects in one statement.
func insertProjects(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, projects []domain.NewProject, now time.Time) error {
	const q = `
INSERT INTO projects (tenant_id, id, organization_id, name, slug, type, mode, status, is_default, contact_emails,
    send_from_email, send_from_name, deep_scan, real_time_scan, position, created_at, updated_at)
SELECT $1, p.id, $2, p.name, p.slug, p.type, p.mode, 'ACTIVE', p.is_default,
    coalesce((SELECT array_agg(e) FROM jsonb_array_elements_text(p.emails) AS e), '{}'),
    p.send_from_email, p.send_from_name, p.deep_scan, p.real_time_scan, p.position, $3, $3
FROM jsonb_to_recordset($4) AS p(id uuid, name text, slug text, type text, mode text, is_default boolean,
    emails jsonb, send_from_email text, send_from_name text, deep_scan boolean, real_time_scan boolean, position int)`
	type row struct {
		ID            string   `json:"id"`
		Name          string   `json:"name"`
		Slug          string   `json:"slug"`
		Type          string   `json:"type"`
		Mode          string   `json:"mode"`
		IsDefault     bool     `json:"is_default"`
		Emails        []string `json:"emails"`
		SendFromEmail *string  `json:"send_from_email"`
		SendFromName  *string  `json:"send_from_name"`
		DeepScan      bool     `json:"deep_scan"`
		RealTimeScan  bool     `json:"real_time_scan"`
		Position      int      `json:"position"`
	}
	rows := make([]row, len(projects))
	for i, p := range projects {
		rows[i] = row{ID: uuid.NewString(), Name: p.Name, Slug: p.Slug, Type: p.Type, Mode: p.Mode,
			IsDefault: p.IsDefault, Emails: p.ContactEmails, DeepScan: p.DeepScan, RealTimeScan: p.RealTimeScan, Position: i}
		if p.SendFromEmail != nil {
			rows[i].SendFromEmail, rows[i].SendFromName = &p.SendFromEmail.Email, p.SendFromEmail.Name
		}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("encode projects: %w", err)
	}
	if _, err := tx.ExecContext(ctx, q, o.TenantID, o.ID, now, b); err != nil {
		return fmt.Errorf("insert projects: %w", err)
	}
	return nil
}

func insertMembership(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, userID string, role domain.MemberRole, status domain.MemberStatus, now time.Time) error {
	var joined *time.Time
	if status == domain.MemberActive {
		joined = &now
	}
	const q = `
INSERT INTO memberships (tenant_id, id, organization_id, user_id, role, status, joined_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	if _, err := tx.ExecContext(ctx, q, o.TenantID, uuid.NewString(), o.ID, userID, role, status, joined, now); err != nil {
		return fmt.Errorf("insert %s membership: %w", role, err)
	}
	return nil
}

func insertAttributes(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, attrs []domain.Attribute) error {
	if len(attrs) == 0 {
		return nil
	}
	type row struct {
		Key   string          `json:"key"`
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	rows := make([]row, len(attrs))
	for i, a := range attrs {
		v, err := json.Marshal(a.Value)
		if err != nil {
			return fmt.Errorf("encode attribute %s: %w", a.Key, err)
		}
		rows[i] = row{Key: a.Key, Type: string(a.Type), Value: v}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("encode attributes: %w", err)
	}
	const q = `
INSERT INTO organization_attributes (tenant_id, organization_id, key, type, value)
SELECT $1, $2, a.key, a.type, a.value FROM jsonb_to_recordset($3) AS a(key text, type text, value jsonb)`
	if _, err := tx.ExecContext(ctx, q, o.TenantID, o.ID, b); err != nil {
		return fmt.Errorf("insert attributes: %w", err)
	}
	return nil
}

func insertCreatedEvent(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, o *domain.Organization, in *domain.NewOrganization, now time.Time) error {
	payload := map[string]any{
		"name": o.Name, "slug": o.Slug, "status": o.Status, "isDefault": o.IsDefault, "isPrivate": o.IsPrivate,
		"primaryDomain": o.PrimaryDomain, "resourceOwner": o.ResourceOwner, "projects": len(in.Projects),
	}
	if in.Administrator != nil {
		payload["primaryAdministrator"] = in.Administrator.Email
	}
	if o.TemplateID != nil {
		payload["templateId"] = *o.TemplateID
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return insertEvent(ctx, tx, o.TenantID, o.ID, 1, domain.EventOrganizationCreated, a, b, now)
}

func insertEvent(ctx context.Context, tx *sqlx.Tx, tenantID, orgID string, seq int64, typ string, a *domain.Actor, payload []byte, now time.Time) error {
	var userID, keyID *string
	if a != nil {
		userID, keyID = &a.UserID, &a.KeyID
	}
	const q = `
INSERT INTO audit_events (tenant_id, organization_id, sequence, type, actor_user_id, actor_key_id, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	if _, err := tx.ExecContext(ctx, q, tenantID, orgID, seq, typ, userID, keyID, payload, now); err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}
