package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// The domains of organizations and their verification (see domain/domains.go). Changes run inside
// ChangeOrganization, under the organization's row lock; the unique index organization_domains_domain_key
// keeps a domain to one organization of a tenant (among those not released by a deleted organization).

// domainColumns are the columns of organization_domains read into a domainRow.
const domainColumns = `d.id, d.organization_id, d.domain, d.is_primary, d.is_verified, d.is_generated, d.status,
    d.verified_at, d.verification_token, d.token_expires_at, d.last_failure`

type domainRow struct {
	ID             string     `db:"id"`
	OrganizationID string     `db:"organization_id"`
	Domain         string     `db:"domain"`
	IsPrimary      bool       `db:"is_primary"`
	IsVerified     bool       `db:"is_verified"`
	IsGenerated    bool       `db:"is_generated"`
	Status         string     `db:"status"`
	VerifiedAt     *time.Time `db:"verified_at"`
	Token          string     `db:"verification_token"`
	ExpiresAt      *time.Time `db:"token_expires_at"`
	LastFailure    *string    `db:"last_failure"`
}

// dests are the fields of r in the order of domainColumns, for a scan without sqlx's reflection (lists
// read many domains).
func (r *domainRow) dests() []any {
	return []any{&r.ID, &r.OrganizationID, &r.Domain, &r.IsPrimary, &r.IsVerified, &r.IsGenerated, &r.Status,
		&r.VerifiedAt, &r.Token, &r.ExpiresAt, &r.LastFailure}
}

func (r domainRow) domain() domain.Domain {
	d := domain.Domain{ID: r.ID, OrganizationID: r.OrganizationID, Domain: r.Domain, IsPrimary: r.IsPrimary,
		IsVerified: r.IsVerified, IsGenerated: r.IsGenerated, Status: domain.DomainStatus(r.Status),
		VerifiedAt: utcOrNil(r.VerifiedAt), Token: r.Token, ExpiresAt: utcOrNil(r.ExpiresAt), LastFailure: r.LastFailure}
	return d
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// domainWhere reads one domain d; nil when none matches.
func domainWhere(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (*domain.Domain, error) {
	var r domainRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+domainColumns+` FROM organization_domains d WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get domain: %w", err)
	}
	d := r.domain()
	return &d, nil
}

// DomainByID returns the tenant's domain id, or an ENOTFOUND error when there is none, or when its
// organization is deleted.
func (s *Store) DomainByID(ctx context.Context, tenantID, id string) (*domain.Domain, error) {
	notFound := domain.Errorf(domain.ENOTFOUND, "domain not found")
	if _, err := uuid.Parse(id); err != nil {
		return nil, notFound
	}
	d, err := domainWhere(ctx, s.db, `d.tenant_id = $1 AND d.id = $2 AND NOT d.released
    AND EXISTS (SELECT 1 FROM organizations o WHERE o.tenant_id = d.tenant_id AND o.id = d.organization_id AND o.status <> 'REMOVED')`,
		tenantID, id)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, notFound
	}
	return d, nil
}

// LockDomain locks and returns the organization's domain id; nil when the organization has none such.
func (t *OrganizationTx) LockDomain(ctx context.Context, id string) (*domain.Domain, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, nil
	}
	return domainWhere(ctx, t.tx, `d.tenant_id = $1 AND d.organization_id = $2 AND d.id = $3 AND NOT d.released FOR UPDATE`,
		t.actor.TenantID, t.Organization.ID, id)
}

// DomainNamed locks and returns the organization's domain name; nil when it has none such.
func (t *OrganizationTx) DomainNamed(ctx context.Context, name string) (*domain.Domain, error) {
	return domainWhere(ctx, t.tx, `d.tenant_id = $1 AND d.organization_id = $2 AND d.domain = $3 AND NOT d.released FOR UPDATE`,
		t.actor.TenantID, t.Organization.ID, name)
}

// AddDomain adds name to the organization, PENDING with a new token that expires at expiresAt. A domain
// that another organization of the tenant holds is ErrDomainTaken (the unique index decides, also
// between concurrent adds).
func (t *OrganizationTx) AddDomain(ctx context.Context, name string, expiresAt time.Time) (*domain.Domain, error) {
	var r domainRow
	err := t.tx.GetContext(ctx, &r, `
INSERT INTO organization_domains AS d (tenant_id, organization_id, domain, status, token_expires_at, created_at)
VALUES ($1, $2, $3, 'PENDING', $4, $5)
ON CONFLICT DO NOTHING
RETURNING `+domainColumns, t.actor.TenantID, t.Organization.ID, name, expiresAt, t.Now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("add domain: %w", ErrDomainTaken)
	}
	if err != nil {
		return nil, fmt.Errorf("add domain: %w", err)
	}
	d := r.domain()
	return &d, nil
}

// updateDomain runs set on the organization's domain id and returns it as changed.
func (t *OrganizationTx) updateDomain(ctx context.Context, op, id, set string, args ...any) (*domain.Domain, error) {
	var r domainRow
	args = append([]any{t.actor.TenantID, t.Organization.ID, id}, args...)
	err := t.tx.GetContext(ctx, &r, `UPDATE organization_domains AS d SET `+set+`
WHERE d.tenant_id = $1 AND d.organization_id = $2 AND d.id = $3 RETURNING `+domainColumns, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	d := r.domain()
	return &d, nil
}

// RenewDomainToken gives the organization's domain id a new token that expires at expiresAt, and makes
// it PENDING again.
func (t *OrganizationTx) RenewDomainToken(ctx context.Context, id string, expiresAt time.Time) (*domain.Domain, error) {
	return t.updateDomain(ctx, "renew domain token", id,
		`status = 'PENDING', verification_token = DEFAULT, token_expires_at = $4, last_failure = NULL`, expiresAt)
}

// MarkDomainVerified makes the organization's domain id VERIFIED now; its token no longer matters.
func (t *OrganizationTx) MarkDomainVerified(ctx context.Context, id string) (*domain.Domain, error) {
	return t.updateDomain(ctx, "verify domain", id,
		`status = 'VERIFIED', is_verified = true, verified_at = $4, token_expires_at = NULL, last_failure = NULL`, t.Now)
}

// MarkDomainFailed makes the organization's domain id FAILED, keeping why.
func (t *OrganizationTx) MarkDomainFailed(ctx context.Context, id, reason string) (*domain.Domain, error) {
	return t.updateDomain(ctx, "record failed verification", id, `status = 'FAILED', last_failure = $4`, reason)
}

// SetPrimaryDomain makes the organization's domain id its primary one. The previous primary domain is
// cleared first, so that organization_domains_one_primary_key holds after each statement.
func (t *OrganizationTx) SetPrimaryDomain(ctx context.Context, id string) error {
	const clear = `UPDATE organization_domains SET is_primary = false
WHERE tenant_id = $1 AND organization_id = $2 AND is_primary AND id <> $3`
	if _, err := t.tx.ExecContext(ctx, clear, t.actor.TenantID, t.Organization.ID, id); err != nil {
		return fmt.Errorf("clear primary domain: %w", err)
	}
	if _, err := t.updateDomain(ctx, "set primary domain", id, `is_primary = true`); err != nil {
		return err
	}
	return nil
}

// RemoveDomain deletes the organization's domain id.
func (t *OrganizationTx) RemoveDomain(ctx context.Context, id string) error {
	const q = `DELETE FROM organization_domains WHERE tenant_id = $1 AND organization_id = $2 AND id = $3`
	if _, err := t.tx.ExecContext(ctx, q, t.actor.TenantID, t.Organization.ID, id); err != nil {
		return fmt.Errorf("remove domain: %w", err)
	}
	return nil
}
