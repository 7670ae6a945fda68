package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"orgs/domain"
)

// Members of an organization: roles change and members leave inside the organization's change
// transaction (ChangeOrganization), which holds the organization's row lock. Whatever reduces the
// active owners of an organization (a demotion, a removal) runs under that lock, so a count of the
// active owners taken after it is the count every other such change will see: see ActiveOwners.

// MemberOrganization returns the id of the organization of the tenant's membership memberID, or an
// ENOTFOUND error (also for an id that is not a UUID and for another tenant's membership).
func (s *Store) MemberOrganization(ctx context.Context, tenantID, memberID string) (string, error) {
	notFound := domain.Errorf(domain.ENOTFOUND, "member not found")
	if _, err := uuid.Parse(memberID); err != nil {
		return "", notFound
	}
	var orgID string
	err := s.db.GetContext(ctx, &orgID, `SELECT organization_id FROM memberships WHERE tenant_id = $1 AND id = $2`, tenantID, memberID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound
	}
	if err != nil {
		return "", fmt.Errorf("find member: %w", err)
	}
	return orgID, nil
}

// Member reads the organization's membership id with its user, or returns an ENOTFOUND error.
func (t *OrganizationTx) Member(ctx context.Context, id string) (*domain.Member, error) {
	ms, err := membersWhere(ctx, t.tx, `m.tenant_id = $1 AND m.organization_id = $2 AND m.id = $3`,
		t.Organization.TenantID, t.Organization.ID, id)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, domain.Errorf(domain.ENOTFOUND, "member not found")
	}
	return &ms[0], nil
}

// LockMember locks the organization's membership id for the rest of the transaction and reads it, or
// returns an ENOTFOUND error (a membership of another organization, or one removed meanwhile).
func (t *OrganizationTx) LockMember(ctx context.Context, id string) (*domain.Member, error) {
	var found bool
	const q = `SELECT true FROM memberships WHERE tenant_id = $1 AND organization_id = $2 AND id = $3 FOR UPDATE`
	err := t.tx.GetContext(ctx, &found, q, t.Organization.TenantID, t.Organization.ID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "member not found")
	}
	if err != nil {
		return nil, fmt.Errorf("lock member: %w", err)
	}
	return t.Member(ctx, id)
}

// ActiveOwners counts the organization's ACTIVE OWNERs as of now. The caller holds the organization's
// row lock (every OrganizationTx does), taken before this statement: under READ COMMITTED the count's
// snapshot is taken after the lock was granted, so it includes every demotion and removal committed
// by the changes that held the lock before, and none can commit until this transaction ends. A count
// of 2 stays 2 until this change commits: two changes that each remove one of the last two owners
// cannot both see 2.
func (t *OrganizationTx) ActiveOwners(ctx context.Context) (int, error) {
	const q = `
SELECT count(*) FROM memberships
WHERE tenant_id = $1 AND organization_id = $2 AND role = 'OWNER' AND status = 'ACTIVE'`
	var n int
	if err := t.tx.GetContext(ctx, &n, q, t.Organization.TenantID, t.Organization.ID); err != nil {
		return 0, fmt.Errorf("count owners: %w", err)
	}
	return n, nil
}

// SetMemberRole gives the organization's membership id the role.
func (t *OrganizationTx) SetMemberRole(ctx context.Context, id string, role domain.MemberRole) error {
	const q = `UPDATE memberships SET role = $4 WHERE tenant_id = $1 AND organization_id = $2 AND id = $3`
	return t.execMemberChange(ctx, "change member role", q, t.Organization.TenantID, t.Organization.ID, id, role)
}

// RemoveMember deletes the organization's membership m (its pending email confirmations go with it)
// and counts it out of the organization's members. When m's user is the organization's primary
// administrator, the organization has none any more (primary_administrator_id is cleared): it reports
// whether that happened, for the caller to record.
func (t *OrganizationTx) RemoveMember(ctx context.Context, m *domain.Member) (clearedAdministrator bool, err error) {
	const q = `DELETE FROM memberships WHERE tenant_id = $1 AND organization_id = $2 AND id = $3`
	if err := t.execMemberChange(ctx, "remove member", q, t.Organization.TenantID, t.Organization.ID, m.ID); err != nil {
		return false, err
	}
	admin := t.Organization.PrimaryAdministratorUserID
	clearedAdministrator = admin != nil && *admin == m.UserID
	const qOrg = `
UPDATE organizations SET member_count = member_count - 1,
    primary_administrator_id = CASE WHEN $3 THEN NULL ELSE primary_administrator_id END
WHERE tenant_id = $1 AND id = $2`
	if _, err := t.tx.ExecContext(ctx, qOrg, t.Organization.TenantID, t.Organization.ID, clearedAdministrator); err != nil {
		return false, fmt.Errorf("count member out: %w", err)
	}
	return clearedAdministrator, nil
}
