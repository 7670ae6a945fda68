package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// CreateOptions tune CreateOrganization.
type CreateOptions struct {
	// Path is where the input sits in the request, e.g. ["input"]; violations are reported below it.
	Path domain.Path
	// ValidateOnly runs every check and every statement, then rolls back.
	ValidateOnly bool
	// IdempotencyKey, when set, makes a retry with the same RequestHash replay the first outcome.
	IdempotencyKey string
	RequestHash    []byte
}

// CreateOrganization validates in and creates, in one transaction, the organization with its domains,
// its projects (the default one first), the actor's OWNER membership, the primary administrator with
// their ADMIN membership, confirmation token and queued confirmation email, its custom attributes and
// the organization.created audit event; a new default organization demotes the tenant's previous one.
//
// Every violation is returned at once as a *domain.ValidationError at its path, a taken slug (TAKEN,
// with suggestions) included, and nothing is written when there is any. With ValidateOnly the
// organization returned is nil.
func (s *Store) CreateOrganization(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, opt CreateOptions) (*domain.Organization, error) {
	if opt.IdempotencyKey != "" && !opt.ValidateOnly {
		replay, err := s.claimIdempotencyKey(ctx, a.TenantID, opt.IdempotencyKey, opt.RequestHash, opt.Path)
		if err != nil || replay != nil {
			return s.replay(ctx, a.TenantID, replay, err)
		}
		o, err := s.createOrganization(ctx, a, in, opt)
		if err != nil {
			if serr := s.settleIdempotencyKey(ctx, a.TenantID, opt.IdempotencyKey, err); serr != nil {
				return nil, serr
			}
		}
		return o, err
	}
	return s.createOrganization(ctx, a, in, opt)
}

func (s *Store) createOrganization(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, opt CreateOptions) (*domain.Organization, error) {
	now := s.nowUTC()
	var pre domain.Violations
	template, err := s.templateOfInput(ctx, a.TenantID, in.TemplateID, opt.Path, &pre)
	if err != nil {
		return nil, err
	}
	o, err := domain.NewOrganizationFrom(in, domain.Rules{Regions: s.Regions, Template: template, Now: now, DomainSuffix: s.DomainSuffix}, opt.Path)
	if err == nil && o.Administrator != nil && strings.EqualFold(o.Administrator.Email, a.Email) {
		pre.Add(opt.Path.Field("primaryAdministrator").Field("email"), domain.VInvalidValue,
			"the primary administrator must be someone other than the caller, who becomes the owner")
	}
	if err != nil || len(pre) > 0 {
		return nil, s.withTakenSlug(ctx, a.TenantID, in.Slug, opt.Path, mergeViolations(pre, err))
	}
	created, err := s.createWithFreeSlug(ctx, a, o, opt, now)
	if err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	if created != nil && o.Administrator != nil && s.EmailQueued != nil {
		s.EmailQueued()
	}
	return created, nil
}

// maxSlugAttempts bounds the retries of a generated slug taken meanwhile by concurrent creates.
const maxSlugAttempts = 30

// createWithFreeSlug creates o under its requested slug, or under the slug generated from its name:
// first the plain one, then, when the unique constraint says it is taken (by a committed organization or
// one whose transaction just committed), the first free suffix. A requested slug that is taken is TAKEN
// with free suggestions.
func (s *Store) createWithFreeSlug(ctx context.Context, a *domain.Actor, o *domain.NewOrganization, opt CreateOptions, now time.Time) (*domain.Organization, error) {
	requested := o.Slug != ""
	base := o.Slug
	if !requested {
		base = domain.SlugBase(o.Name)
	}
	slug := base
	for attempt := 1; ; attempt++ {
		created, err := s.createAttempt(ctx, a, o, slug, opt, now)
		constraint := uniqueViolation(err)
		switch {
		case constraint == "organization_domains_domain_key" && o.PrimaryDomain != nil:
			return nil, violation(opt.Path.Field("primaryDomain"), domain.VTaken,
				fmt.Sprintf("domain %q already belongs to another organization of this tenant", *o.PrimaryDomain))
		case constraint != "organizations_slug_key" && constraint != "organization_domains_domain_key":
			return created, err
		case requested:
			free, err := freeSlugs(ctx, s.db, a.TenantID, slug, 3)
			if err != nil {
				return nil, err
			}
			return nil, &domain.ValidationError{Violations: domain.Violations{takenSlug(opt.Path, slug, free)}}
		case attempt == maxSlugAttempts:
			return nil, fmt.Errorf("no free slug for %q after %d attempts", base, attempt)
		}
		free, err := freeSlugs(ctx, s.db, a.TenantID, base, 1)
		if err != nil {
			return nil, err
		}
		slug = free[0]
	}
}

// createAttempt writes the organization with slug. The common create (no default to demote, no
// administrator, no acting organization, no idempotency key, not validateOnly) is one statement, and so
// its own transaction and one round trip; the others wrap that statement in a transaction with what
// they add (an idempotency key is marked done in that transaction).
func (s *Store) createAttempt(ctx context.Context, a *domain.Actor, in *domain.NewOrganization, slug string, opt CreateOptions, now time.Time) (*domain.Organization, error) {
	o := newOrganizationRecord(a, in, slug, s.DomainSuffix, now)
	idempotent := opt.IdempotencyKey != "" && !opt.ValidateOnly
	if !in.IsDefault && in.Administrator == nil && a.ActingOrganizationID == "" && !opt.ValidateOnly && !idempotent {
		return o, insertOrganization(ctx, s.db, a, o, in, s.DomainSuffix, now)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if a.ActingOrganizationID != "" {
			if err := checkActingOrganization(ctx, tx, a); err != nil {
				return err
			}
		}
		if o.IsDefault {
			if err := demoteDefault(ctx, tx, a, now); err != nil {
				return err
			}
		}
		if in.Administrator != nil {
			id, err := upsertAdministrator(ctx, tx, a.TenantID, in.Administrator)
			if err != nil {
				return err
			}
			o.PrimaryAdministratorUserID, o.TotalMembers = &id, 2
		}
		if err := insertOrganization(ctx, tx, a, o, in, s.DomainSuffix, now); err != nil {
			return err
		}
		if in.Administrator != nil {
			if err := s.inviteAdministrator(ctx, tx, o, in.Administrator, *in.LandingPage, now); err != nil {
				return err
			}
		}
		if opt.ValidateOnly {
			return errRollback
		}
		if idempotent {
			// In the create's transaction: the organization exists exactly when its key says done.
			return finishIdempotencyKey(ctx, tx, a.TenantID, opt.IdempotencyKey, &o.ID, nil)
		}
		return nil
	})
	if err != nil || opt.ValidateOnly {
		return nil, err
	}
	return o, nil
}

// mergeViolations returns the violations of pre and of err (a *domain.ValidationError or nil) as one error.
func mergeViolations(pre domain.Violations, err error) error {
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		return &domain.ValidationError{Violations: append(verr.Violations, pre...)}
	}
	if err != nil {
		return err
	}
	return pre.Err()
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
	verr.Violations = append(verr.Violations, takenSlug(path, *slug, free[:3]))
	return verr
}

func takenSlug(path domain.Path, slug string, suggestions []string) domain.Violation {
	return domain.Violation{
		Field: path.Field("slug"), Code: domain.VTaken, Suggestions: suggestions,
		Message: fmt.Sprintf("slug %q is already taken in this tenant", slug),
	}
}

// newOrganizationRecord is the organization in as it will be stored.
func newOrganizationRecord(a *domain.Actor, in *domain.NewOrganization, slug, domainSuffix string, now time.Time) *domain.Organization {
	o := &domain.Organization{
		TenantID: a.TenantID, ID: uuid.NewString(), Name: in.Name, Slug: slug,
		Description: in.Description, AvatarURL: in.AvatarURL, CountryCode: in.CountryCode,
		LanguageCode: in.LanguageCode, Locale: in.Locale, Timezone: in.Timezone, Phone: in.Phone,
		Headquarters: in.Headquarters, ContactEmails: in.ContactEmails, BillingEmails: in.BillingEmails,
		PrivacyPolicyURL: in.PrivacyPolicyURL, TermsOfServiceURL: in.TermsOfServiceURL, Coupons: in.Coupons,
		RegionTemplate: in.RegionTemplate, Subscription: in.Subscription, TemplateID: in.TemplateID,
		IsPrivate: in.IsPrivate, IsDefault: in.IsDefault, Status: in.Status, StatusChangedAt: now,
		CreatedBy: a.UserID, CreatedAt: now, UpdatedAt: now, Sequence: 1, ResourceOwner: a.TenantID, TotalMembers: 1,
		PrimaryDomain: domain.GeneratedDomain(slug, domainSuffix),
	}
	if in.PrimaryDomain != nil {
		o.PrimaryDomain = *in.PrimaryDomain
	}
	if a.ActingOrganizationID != "" {
		o.ResourceOwner = a.ActingOrganizationID
	}
	return o
}

// checkActingOrganization makes sure the actor is an active OWNER or ADMIN of the organization it acts
// for (X-Organization-ID).
func checkActingOrganization(ctx context.Context, tx *sqlx.Tx, a *domain.Actor) error {
	forbidden := &domain.Error{Code: domain.EFORBIDDEN, Message: "you must be an OWNER or ADMIN of the acting organization (X-Organization-ID)"}
	if _, err := uuid.Parse(a.ActingOrganizationID); err != nil {
		return forbidden
	}
	var ok bool
	const q = `
SELECT EXISTS (SELECT 1 FROM memberships
               WHERE tenant_id = $1 AND organization_id = $2 AND user_id = $3
                 AND role IN ('OWNER', 'ADMIN') AND status = 'ACTIVE')`
	if err := tx.GetContext(ctx, &ok, q, a.TenantID, a.ActingOrganizationID, a.UserID); err != nil {
		return fmt.Errorf("check acting organization: %w", err)
	}
	if !ok {
		return forbidden
	}
	return nil
}

// organizationColumns lists what a read of an organization selects, with the primary domain and the
// member count alongside.
const organizationColumns = `
o.tenant_id, o.id, o.name, o.slug, o.description, o.avatar_url, o.country_code, o.language_code,
o.is_private, o.is_default, o.is_system, o.status, o.status_changed_at, o.resource_owner, o.created_by,
o.created_at, o.updated_at, o.sequence, o.locale, o.timezone, o.phone, o.headquarters, o.contact_emails,
o.billing_emails, o.privacy_policy_url, o.terms_of_service_url, o.coupons, o.region_template,
o.subscription_plan, o.subscription_billing_cycle, o.template_id, o.primary_administrator_id,
` + primaryDomainSQL + ` AS primary_domain,
o.member_count AS total_members`

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
	q := `
SELECT tenant_id, id, organization_id, name, slug, type, mode, status, is_default, contact_emails,
       send_from_email, send_from_name, deep_scan, real_time_scan, last_real_time_scan, created_at, updated_at
FROM projects WHERE ` + where + `
ORDER BY ` + projectOrderSQL
	var rows []projectRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
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

func membersWhere(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) ([]domain.Member, error) {
	query := `
SELECT m.id, m.organization_id, m.user_id, u.email, u.name, m.role, m.status, m.joined_at, ` + emailVerifiedSQL + `,
       u.first_name, u.last_name, u.description, u.phone, u.locale, u.gender, u.date_of_birth, u.address,
       u.mfa_enabled, u.mfa_expiration_minutes
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
		var m domain.Member
		var address []byte
		p := &m.Profile
		if err := rows.Scan(&m.ID, &m.OrganizationID, &m.UserID, &m.Email, &m.Name, &m.Role, &m.Status, &m.JoinedAt, &m.EmailVerified,
			&p.FirstName, &p.LastName, &p.Description, &p.Phone, &p.Locale, &p.Gender, &p.DateOfBirth, &address,
			&p.MFAEnabled, &p.MFAExpirationMinutes); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		if len(address) > 0 {
			if err := json.Unmarshal(address, &p.Address); err != nil {
				return nil, fmt.Errorf("decode member address: %w", err)
			}
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

func (s *Store) attributesWhere(ctx context.Context, where string, args ...any) (map[string][]domain.Attribute, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT organization_id, key, type, value FROM organization_attributes
WHERE `+where+` ORDER BY organization_id, key`, args...)
	if err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	defer rows.Close()
	out := map[string][]domain.Attribute{}
	for rows.Next() {
		var org string
		var a domain.Attribute
		var raw []byte
		if err := rows.Scan(&org, &a.Key, &a.Type, &raw); err != nil {
			return nil, fmt.Errorf("scan attribute: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&a.Value); err != nil {
			return nil, fmt.Errorf("decode attribute %s: %w", a.Key, err)
		}
		out[org] = append(out[org], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	return out, nil
}
