package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// The statements of a create.

// qInsertOrganization writes a new organization and everything that comes with it in one statement:
// the organization, its domains, its projects, the caller's OWNER membership, its custom attributes and
// the organization.created event. One statement is one round trip and, outside a transaction, its own
// transaction: either all of it is written or none. Unique constraints decide slugs and domains
// (organizations_slug_key, organization_domains_domain_key): a conflict fails the whole statement.
const qInsertOrganization = `
WITH org AS (
    INSERT INTO organizations (tenant_id, id, name, slug, description, avatar_url, country_code, language_code,
        is_private, is_default, status, status_changed_at, resource_owner, created_by, created_at, updated_at,
        sequence, locale, timezone, phone, headquarters, contact_emails, billing_emails, privacy_policy_url,
        terms_of_service_url, coupons, region_template, subscription_plan, subscription_billing_cycle,
        template_id, primary_administrator_id, member_count)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $12, $12, 1, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
    RETURNING tenant_id, id
), domains AS (
    INSERT INTO organization_domains (tenant_id, organization_id, domain, is_primary, is_verified, is_generated, created_at,
        status, verified_at, token_expires_at)
    SELECT org.tenant_id, org.id, d.domain, d.is_primary, d.is_generated, d.is_generated, $12,
        CASE WHEN d.is_generated THEN 'VERIFIED' ELSE 'PENDING' END, CASE WHEN d.is_generated THEN $12 END,
        CASE WHEN NOT d.is_generated THEN $38::timestamptz END
    FROM org, unnest($30::text[], $31::boolean[], $32::boolean[]) AS d(domain, is_primary, is_generated)
    RETURNING id, domain, verification_token
), projects AS (
    INSERT INTO projects (tenant_id, id, organization_id, name, slug, type, mode, status, is_default, contact_emails,
        send_from_email, send_from_name, deep_scan, real_time_scan, position, created_at, updated_at)
    SELECT org.tenant_id, p.id, org.id, p.name, p.slug, p.type, p.mode, 'ACTIVE', p.is_default,
        coalesce((SELECT array_agg(e) FROM jsonb_array_elements_text(p.emails) AS e), '{}'),
        p.send_from_email, p.send_from_name, p.deep_scan, p.real_time_scan, p.position, $12, $12
    FROM org, jsonb_to_recordset($33) AS p(id uuid, name text, slug text, type text, mode text, is_default boolean,
        emails jsonb, send_from_email text, send_from_name text, deep_scan boolean, real_time_scan boolean, position int)
), owner AS (
    INSERT INTO memberships (tenant_id, id, organization_id, user_id, role, status, joined_at, created_at)
    SELECT org.tenant_id, $34, org.id, $14, 'OWNER', 'ACTIVE', $12, $12 FROM org
    RETURNING tenant_id, id, organization_id, user_id, role, status, joined_at, created_at
), attributes AS (
    INSERT INTO organization_attributes (tenant_id, organization_id, key, type, value)
    SELECT org.tenant_id, org.id, a.key, a.type, a.value
    FROM org, jsonb_to_recordset($35) AS a(key text, type text, value jsonb)
    RETURNING key, type, value
), event AS (
    INSERT INTO audit_events (tenant_id, organization_id, sequence, type, actor_user_id, actor_key_id, payload, created_at)
    SELECT org.tenant_id, org.id, 1, 'organization.created', $14, $36, $37, $12 FROM org
)
SELECT ` + memberColumnsSQL + `,
    (SELECT jsonb_agg(jsonb_build_array(d.id, d.domain, d.verification_token)) FROM domains d),
    (SELECT jsonb_agg(jsonb_build_array(a.key, a.type, a.value) ORDER BY a.key) FROM attributes a)
FROM owner m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id`

// CreateOrganizationSQL returns the statement that creates an organization with everything that comes
// with it (qInsertOrganization), so that benchmarks can replay exactly what the server sends.
func CreateOrganizationSQL() string { return qInsertOrganization }

type projectRecord struct {
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

type attributeRecord struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// insertOrganization runs qInsertOrganization for o (made from in) in tx, or on the pool when tx is nil,
// and returns what it wrote beside the organization's row. generated is the organization's generated
// domain, stored beside the primary one when they differ; domainExpires is when the primary one's
// verification token expires, when it is not the generated one.
func (s *Store) insertOrganization(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, o *domain.Organization, in *domain.NewOrganization, generated string, domainExpires, now time.Time) (*domain.Written, error) {
	headquarters, plan, cycle, err := compositeColumns(o)
	if err != nil {
		return nil, err
	}
	domains, primary, gen := []string{generated}, []bool{o.PrimaryDomain == generated}, []bool{true}
	if o.PrimaryDomain != generated {
		domains, primary, gen = append(domains, o.PrimaryDomain), append(primary, true), append(gen, false)
	}
	projects := make([]projectRecord, len(in.Projects))
	for i, p := range in.Projects {
		projects[i] = projectRecord{ID: domain.NewID(), Name: p.Name, Slug: p.Slug, Type: p.Type, Mode: p.Mode,
			IsDefault: p.IsDefault, Emails: p.ContactEmails, DeepScan: p.DeepScan, RealTimeScan: p.RealTimeScan, Position: i}
		if p.SendFromEmail != nil {
			projects[i].SendFromEmail, projects[i].SendFromName = &p.SendFromEmail.Email, p.SendFromEmail.Name
		}
	}
	attributes := make([]attributeRecord, len(in.CustomAttributes))
	for i, at := range in.CustomAttributes {
		v, err := json.Marshal(at.Value)
		if err != nil {
			return nil, fmt.Errorf("encode attribute %s: %w", at.Key, err)
		}
		attributes[i] = attributeRecord{Key: at.Key, Type: string(at.Type), Value: v}
	}
	event := map[string]any{
		"name": o.Name, "slug": o.Slug, "status": o.Status, "isDefault": o.IsDefault, "isPrivate": o.IsPrivate,
		"primaryDomain": o.PrimaryDomain, "resourceOwner": o.ResourceOwner, "projects": len(in.Projects),
	}
	if in.Administrator != nil {
		event["primaryAdministrator"] = in.Administrator.Email
	}
	if o.TemplateID != nil {
		event["templateId"] = *o.TemplateID
	}
	var encoded [3]string // JSON as text, see jsonOrNil
	for i, v := range []any{projects, attributes, event} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode organization: %w", err)
		}
		encoded[i] = string(b)
	}
	var w *domain.Written
	err = s.readPrepared(ctx, tx, func(rows *sqlx.Rows) error {
		var err error
		w, err = readWritten(rows, o, projects, domains, primary, gen, domainExpires, now)
		return err
	}, qInsertOrganization, o.TenantID, o.ID, o.Name, o.Slug, o.Description,
		o.AvatarURL, o.CountryCode, o.LanguageCode, o.IsPrivate, o.IsDefault, o.Status, now,
		o.ResourceOwner, o.CreatedBy, o.Locale, o.Timezone, o.Phone, headquarters, pq.Array(o.ContactEmails),
		pq.Array(o.BillingEmails), o.PrivacyPolicyURL, o.TermsOfServiceURL, pq.Array(o.Coupons),
		o.RegionTemplate, plan, cycle, o.TemplateID, o.PrimaryAdministratorUserID, o.TotalMembers,
		pq.Array(domains), pq.Array(primary), pq.Array(gen), encoded[0], domain.NewID(), encoded[1], a.KeyID, encoded[2], domainExpires)
	if err != nil {
		return nil, fmt.Errorf("insert organization: %w", err)
	}
	return w, nil
}

// uniqueViolation returns the name of the unique constraint err violates, or "".
func uniqueViolation(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		return pqErr.Constraint
	}
	return ""
}

// demoteDefault clears the tenant's current default organization, recording the change in its audit
// log. The tenant row lock serialises concurrent default creates of one tenant, so that each sees the
// default the previous one made (FOR NO KEY UPDATE does not block the foreign-key checks of other creates).
func demoteDefault(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, now time.Time) error {
	if err := lockTenant(ctx, tx, a.TenantID); err != nil {
		return err
	}
	return demoteOtherDefault(ctx, tx, a, "", now)
}

// demoteOtherDefault clears the tenant's default organization unless it is keep, recording the change
// in its audit log. The caller holds the tenant's row lock.
func demoteOtherDefault(ctx context.Context, tx *sqlx.Tx, a *domain.Actor, keep string, now time.Time) error {
	const q = `
WITH demoted AS (
    UPDATE organizations SET is_default = false, updated_at = $2, sequence = sequence + 1
    WHERE tenant_id = $1 AND is_default AND id::text <> $6
    RETURNING tenant_id, id, sequence
)
INSERT INTO audit_events (tenant_id, organization_id, sequence, type, actor_user_id, actor_key_id, changes, payload, created_at)
SELECT tenant_id, id, sequence, $3, $4, $5, '[{"field": "isDefault", "from": true, "to": false}]', '{"isDefault": false}', $2
FROM demoted`
	if _, err := tx.ExecContext(ctx, q, a.TenantID, now, domain.EventOrganizationDefaultRevoked, a.UserID, a.KeyID, keep); err != nil {
		return fmt.Errorf("demote default organization: %w", err)
	}
	return nil
}

// FreeSlugs returns up to n slugs free in the tenant: base itself when free, then base-2, base-3, ...
func (s *Store) FreeSlugs(ctx context.Context, tenantID, base string, n int) ([]string, error) {
	var taken []string
	pattern := "^" + regexp.QuoteMeta(base) + "(-[0-9]+)?$"
	const qTaken = `SELECT slug FROM organizations WHERE tenant_id = $1 AND slug ~ $2 AND status <> 'REMOVED'`
	if err := s.db.SelectContext(ctx, &taken, qTaken, tenantID, pattern); err != nil {
		return nil, fmt.Errorf("find taken slugs: %w", err)
	}
	used := make(map[string]bool, len(taken))
	for _, s := range taken {
		used[s] = true
	}
	var free []string
	if n <= 0 {
		return free, nil
	}
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

// jsonOrNil encodes v as JSON, or returns nil for a nil pointer. JSON goes to PostgreSQL as text: with
// binary_parameters a []byte would be sent as binary jsonb, which has another format.
func jsonOrNil[T any](v *T) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	s := string(b)
	return &s, nil
}

// execInserted runs an INSERT ... ON CONFLICT DO NOTHING and reports whether it inserted the row.
func execInserted(ctx context.Context, tx *sqlx.Tx, q string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("insert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert: %w", err)
	}
	return n == 1, nil
}

// ErrSlugTaken and ErrDomainTaken report that a create lost its slug or one of its domains to another
// organization of the tenant (the unique constraints decide, also between concurrent creates).
var (
	ErrSlugTaken   = errors.New("slug taken")
	ErrDomainTaken = errors.New("domain taken")
)

// NewOrganization is everything one create writes, as the service decided it.
type NewOrganization struct {
	Actor *domain.Actor
	// Organization is the row to store: its id, slug, primary domain and resource owner are final.
	Organization *domain.Organization
	// Input holds its projects (the default one first), custom attributes and administrator.
	Input *domain.NewOrganization
	// GeneratedDomain is <slug>.<suffix>, stored as a generated domain beside the primary one.
	GeneratedDomain string
	// DomainExpiresAt is when the verification token of a primary domain given at creation expires.
	DomainExpiresAt time.Time
	// Confirmation is the administrator's one-time token and email; set exactly when Input has an
	// administrator.
	Confirmation *Confirmation
	// IdempotencyKey, when set, is marked done in the create's own transaction, so that the
	// organization exists exactly when its key says so (ErrIdempotencyKeySettled, and nothing written,
	// when another request settled it meanwhile). IdempotencyHash is the request's hash, recorded with
	// the key should a failed request have released it meanwhile.
	IdempotencyKey  string
	IdempotencyHash []byte
	// ValidateOnly runs every statement (constraints included), then rolls back.
	ValidateOnly bool
	// Now is the create's one timestamp.
	Now time.Time
}

// Confirmation is a primary administrator's confirmation: only the hash of its token is stored, and
// its email is queued in the create's transaction.
type Confirmation struct {
	TokenHash []byte
	ExpiresAt time.Time
	Email     domain.Email
}

// CreateOrganization writes n: the organization with its domains, projects, the actor's OWNER
// membership, custom attributes and organization.created event; with an administrator, their user, ADMIN
// membership, confirmation token and queued email; a new default organization demotes the tenant's
// previous one. A slug or domain already used in the tenant is ErrSlugTaken or ErrDomainTaken, and
// nothing is written.
//
// The common create (no default to demote, no administrator, no acting organization, no idempotency
// key, not validateOnly) is one statement, and so its own transaction and one round trip; the others
// wrap that statement in a transaction with what they add.
func (s *Store) CreateOrganization(ctx context.Context, n NewOrganization) error {
	_, err := s.CreateOrganizationWritten(ctx, n)
	return err
}

// CreateOrganizationWritten is CreateOrganization returning what it wrote beside the organization's
// row, as a read would return it (nil for ValidateOnly). The statement that writes is prepared once per
// connection.
func (s *Store) CreateOrganizationWritten(ctx context.Context, n NewOrganization) (*domain.Written, error) {
	a, o, in := n.Actor, n.Organization, n.Input
	if (in.Administrator == nil) != (n.Confirmation == nil) {
		return nil, errors.New("create organization: an administrator needs a confirmation, and only one")
	}
	release, err := s.creates.take(ctx) // its turn, holding no lock meanwhile (Options.MaxCreates)
	if err != nil {
		return nil, fmt.Errorf("create organization: wait for a turn: %w", err)
	}
	defer release()
	if !o.IsDefault && in.Administrator == nil && a.ActingOrganizationID == "" && !n.ValidateOnly && n.IdempotencyKey == "" {
		w, err := s.insertOrganization(ctx, nil, a, o, in, n.GeneratedDomain, n.DomainExpiresAt, n.Now)
		return w, createError(err)
	}
	var w *domain.Written
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if a.ActingOrganizationID != "" {
			if err := checkActingOrganization(ctx, tx, a); err != nil {
				return err
			}
		}
		if o.IsDefault {
			if err := demoteDefault(ctx, tx, a, n.Now); err != nil {
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
		var err error
		if w, err = s.insertOrganization(ctx, tx, a, o, in, n.GeneratedDomain, n.DomainExpiresAt, n.Now); err != nil {
			return err
		}
		if in.Administrator != nil {
			w.Members = nil // the administrator's membership and user are not read back
			if err := inviteAdministrator(ctx, tx, o, in.Administrator, n.Confirmation, n.Now); err != nil {
				return err
			}
		}
		if n.ValidateOnly {
			return errRollback
		}
		if n.IdempotencyKey != "" {
			return finishIdempotencyKey(ctx, tx, a.TenantID, n.IdempotencyKey, n.IdempotencyHash, n.Now, &o.ID, nil)
		}
		return nil
	})
	if err != nil || n.ValidateOnly {
		return nil, createError(err)
	}
	return w, nil
}

// createError names the unique constraint a create broke, if any.
func createError(err error) error {
	if taken := takenError(err); taken != err {
		return fmt.Errorf("create organization: %w", taken)
	}
	return err
}

// checkActingOrganization makes sure the actor is an active OWNER or ADMIN of the ACTIVE organization it acts
// for (X-Organization-ID).
func checkActingOrganization(ctx context.Context, tx *sqlx.Tx, a *domain.Actor) error {
	forbidden := &domain.Error{Code: domain.EFORBIDDEN, Message: "you must be an OWNER or ADMIN of the acting organization (X-Organization-ID), which must be ACTIVE"}
	if _, err := uuid.Parse(a.ActingOrganizationID); err != nil {
		return forbidden
	}
	var ok bool
	const q = `
SELECT EXISTS (SELECT 1 FROM memberships m JOIN organizations o ON o.tenant_id = m.tenant_id AND o.id = m.organization_id
               WHERE m.tenant_id = $1 AND m.organization_id = $2 AND m.user_id = $3
                 AND m.role IN ('OWNER', 'ADMIN') AND m.status = 'ACTIVE' AND o.status = 'ACTIVE')`
	if err := tx.GetContext(ctx, &ok, q, a.TenantID, a.ActingOrganizationID, a.UserID); err != nil {
		return fmt.Errorf("check acting organization: %w", err)
	}
	if !ok {
		return forbidden
	}
	return nil
}
