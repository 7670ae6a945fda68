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

// Invitations to join an organization. Every change of one runs inside the organization's change
// transaction (ChangeOrganization), on the organization's locked row: invitations, memberships and the
// events of one organization change one transaction at a time.
//
// A token is looked up by its SHA-256 alone, through the unique index on (tenant_id, token_hash): the
// token itself is never stored nor compared, so how long a lookup takes tells nothing about any
// stored token (a constant-time comparison by construction).

// invitationColumns lists what a read of an invitation selects; $1 of the statement is the time the
// status is read at (a PENDING invitation past its expiry reads as EXPIRED).
const invitationColumns = `
i.tenant_id, i.id, i.organization_id, i.email, i.role,
CASE WHEN i.status = 'PENDING' AND i.expires_at <= $1 THEN 'EXPIRED' ELSE i.status END AS status,
i.first_name, i.last_name, i.landing_page, i.expires_in_days, i.expires_at, i.invited_by, i.created_at`

type invitationRow struct {
	TenantID       string    `db:"tenant_id"`
	ID             string    `db:"id"`
	OrganizationID string    `db:"organization_id"`
	Email          string    `db:"email"`
	Role           string    `db:"role"`
	Status         string    `db:"status"`
	FirstName      *string   `db:"first_name"`
	LastName       *string   `db:"last_name"`
	LandingPage    string    `db:"landing_page"`
	ExpiresInDays  int       `db:"expires_in_days"`
	ExpiresAt      time.Time `db:"expires_at"`
	InvitedBy      string    `db:"invited_by"`
	CreatedAt      time.Time `db:"created_at"`
}

func (r invitationRow) invitation() domain.Invitation {
	return domain.Invitation{
		TenantID: r.TenantID, ID: r.ID, OrganizationID: r.OrganizationID, Email: r.Email,
		Role: domain.MemberRole(r.Role), Status: domain.InvitationStatus(r.Status), FirstName: r.FirstName,
		LastName: r.LastName, LandingPage: r.LandingPage, ExpiresInDays: r.ExpiresInDays,
		ExpiresAt: r.ExpiresAt.UTC(), InvitedBy: r.InvitedBy, CreatedAt: r.CreatedAt.UTC(),
	}
}

// invitationWhere reads one invitation; args start with the time its status is read at.
func invitationWhere(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (*domain.Invitation, error) {
	var r invitationRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+invitationColumns+` FROM invitations i WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "invitation not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get invitation: %w", err)
	}
	inv := r.invitation()
	return &inv, nil
}

// InvitationOrganization returns the id of the organization of the tenant's invitation id, or an
// ENOTFOUND error (also for an id that is not a UUID and for another tenant's invitation).
func (s *Store) InvitationOrganization(ctx context.Context, tenantID, id string) (string, error) {
	if _, err := uuid.Parse(id); err != nil {
		return "", domain.Errorf(domain.ENOTFOUND, "invitation not found")
	}
	inv, err := invitationWhere(ctx, s.db, `i.tenant_id = $2 AND i.id = $3`, s.nowUTC(), tenantID, id)
	if err != nil {
		return "", err
	}
	return inv.OrganizationID, nil
}

// InvitationOrganizationByToken returns the id of the organization of the tenant's invitation whose
// token hashes to tokenHash (whatever its status), or ErrInvalidToken.
func (s *Store) InvitationOrganizationByToken(ctx context.Context, tenantID string, tokenHash []byte) (string, error) {
	var orgID string
	err := s.db.GetContext(ctx, &orgID, `SELECT organization_id FROM invitations WHERE tenant_id = $1 AND token_hash = $2`, tenantID, tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrInvalidToken
	}
	if err != nil {
		return "", fmt.Errorf("find invitation: %w", err)
	}
	return orgID, nil
}

// InvitationPage asks for a page of an organization's invitations, newest first.
type InvitationPage struct {
	// Status, when set, keeps the invitations of that status (as of now: EXPIRED included).
	Status *domain.InvitationStatus
	// After is the cursor the page starts after (created_at and id of its row).
	After *domain.Cursor
	// Limit is the page's size; one more is read to tell whether there is a next page.
	Limit int
}

// invitationStatusSQL is the status an invitation i reads as at $1.
const invitationStatusSQL = `(CASE WHEN i.status = 'PENDING' AND i.expires_at <= $1 THEN 'EXPIRED' ELSE i.status END)`

// Invitations returns a page of the organization's invitations, newest first (ties by id), and whether
// more follow.
func (s *Store) Invitations(ctx context.Context, tenantID, orgID string, p InvitationPage) ([]domain.Invitation, bool, error) {
	var afterAt *time.Time
	var afterID *string
	if p.After != nil {
		t, err := time.Parse(time.RFC3339Nano, p.After.Value)
		if err != nil {
			return nil, false, domain.Errorf(domain.EINVALID, "invalid cursor")
		}
		afterAt, afterID = &t, &p.After.ID
	}
	q := `SELECT ` + invitationColumns + ` FROM invitations i
WHERE i.tenant_id = $2 AND i.organization_id = $3
  AND ($4::text IS NULL OR ` + invitationStatusSQL + ` = $4)
  AND ($5::timestamptz IS NULL OR (i.created_at, i.id) < ($5, $6::uuid))
ORDER BY i.created_at DESC, i.id DESC
LIMIT $7`
	var status *string
	if p.Status != nil {
		v := string(*p.Status)
		status = &v
	}
	var rows []invitationRow
	if err := s.db.SelectContext(ctx, &rows, q, s.nowUTC(), tenantID, orgID, status, afterAt, afterID, p.Limit+1); err != nil {
		return nil, false, fmt.Errorf("list invitations: %w", err)
	}
	more := len(rows) > p.Limit
	if more {
		rows = rows[:p.Limit]
	}
	out := make([]domain.Invitation, len(rows))
	for i, r := range rows {
		out[i] = r.invitation()
	}
	return out, more, nil
}

// CountInvitations counts the organization's invitations of a status (all when nil), as of now.
func (s *Store) CountInvitations(ctx context.Context, tenantID, orgID string, status *domain.InvitationStatus) (int, error) {
	var st *string
	if status != nil {
		v := string(*status)
		st = &v
	}
	q := `SELECT count(*) FROM invitations i
WHERE i.tenant_id = $2 AND i.organization_id = $3 AND ($4::text IS NULL OR ` + invitationStatusSQL + ` = $4)`
	var n int
	if err := s.db.GetContext(ctx, &n, q, s.nowUTC(), tenantID, orgID, st); err != nil {
		return 0, fmt.Errorf("count invitations: %w", err)
	}
	return n, nil
}

// HasMember reports whether a user with the address email (case-insensitive) is a member of the
// organization, in any status.
func (t *OrganizationTx) HasMember(ctx context.Context, email string) (bool, error) {
	const q = `
SELECT EXISTS (SELECT 1 FROM ` + membersWithUsersSQL + `
               WHERE m.tenant_id = $1 AND m.organization_id = $2 AND lower(u.email) = lower($3))`
	var ok bool
	if err := t.tx.GetContext(ctx, &ok, q, t.Organization.TenantID, t.Organization.ID, email); err != nil {
		return false, fmt.Errorf("find member by email: %w", err)
	}
	return ok, nil
}

// HasPendingInvitation reports whether the address email (case-insensitive) has a pending invitation
// to the organization that has not expired.
func (t *OrganizationTx) HasPendingInvitation(ctx context.Context, email string) (bool, error) {
	const q = `
SELECT EXISTS (SELECT 1 FROM invitations
               WHERE tenant_id = $1 AND organization_id = $2 AND lower(email) = lower($3)
                 AND status = 'PENDING' AND expires_at > $4)`
	var ok bool
	if err := t.tx.GetContext(ctx, &ok, q, t.Organization.TenantID, t.Organization.ID, email, t.Now); err != nil {
		return false, fmt.Errorf("find pending invitation: %w", err)
	}
	return ok, nil
}

// InsertInvitation stores inv (its ID, InvitedBy, ExpiresAt and CreatedAt set by the caller) with the
// hash of its token, and queues its email in the same transaction. A pending invitation of the same
// address that has expired is marked EXPIRED first, so that the new one takes its place.
func (t *OrganizationTx) InsertInvitation(ctx context.Context, inv *domain.Invitation, tokenHash []byte, e domain.Email) error {
	const qExpire = `
UPDATE invitations SET status = 'EXPIRED', updated_at = $4
WHERE tenant_id = $1 AND organization_id = $2 AND lower(email) = lower($3) AND status = 'PENDING' AND expires_at <= $4`
	if _, err := t.tx.ExecContext(ctx, qExpire, t.Organization.TenantID, t.Organization.ID, inv.Email, t.Now); err != nil {
		return fmt.Errorf("expire old invitation: %w", err)
	}
	const q = `
INSERT INTO invitations (tenant_id, id, organization_id, email, role, first_name, last_name, landing_page,
    expires_in_days, token_hash, status, expires_at, invited_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PENDING', $11, $12, $13, $13)`
	if _, err := t.tx.ExecContext(ctx, q, t.Organization.TenantID, inv.ID, t.Organization.ID, inv.Email, inv.Role,
		inv.FirstName, inv.LastName, inv.LandingPage, inv.ExpiresInDays, tokenHash, inv.ExpiresAt, inv.InvitedBy, inv.CreatedAt); err != nil {
		return fmt.Errorf("insert invitation: %w", err)
	}
	e.TenantID = t.Organization.TenantID
	return insertEmail(ctx, t.tx, e, t.Now)
}

// LockInvitation reads the organization's invitation id and locks it for the rest of the transaction,
// or returns an ENOTFOUND error.
func (t *OrganizationTx) LockInvitation(ctx context.Context, id string) (*domain.Invitation, error) {
	return invitationWhere(ctx, t.tx, `i.tenant_id = $2 AND i.organization_id = $3 AND i.id = $4 FOR UPDATE`,
		t.Now, t.Organization.TenantID, t.Organization.ID, id)
}

// LockInvitationByToken reads the organization's invitation whose token hashes to tokenHash, whatever
// its status, and locks it; an unknown hash is ErrInvalidToken.
func (t *OrganizationTx) LockInvitationByToken(ctx context.Context, tokenHash []byte) (*domain.Invitation, error) {
	inv, err := invitationWhere(ctx, t.tx, `i.tenant_id = $2 AND i.organization_id = $3 AND i.token_hash = $4 FOR UPDATE`,
		t.Now, t.Organization.TenantID, t.Organization.ID, tokenHash)
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		return nil, ErrInvalidToken
	}
	return inv, err
}

// RenewInvitation gives the pending invitation id a new token (the old one stops working at once) and
// a new expiry, and queues its new email in the same transaction.
func (t *OrganizationTx) RenewInvitation(ctx context.Context, id string, tokenHash []byte, expiresAt time.Time, e domain.Email) error {
	const q = `
UPDATE invitations SET token_hash = $3, expires_at = $4, updated_at = $5
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING'`
	if err := t.execMemberChange(ctx, "renew invitation", q, t.Organization.TenantID, id, tokenHash, expiresAt, t.Now); err != nil {
		return err
	}
	e.TenantID = t.Organization.TenantID
	return insertEmail(ctx, t.tx, e, t.Now)
}

// RevokeInvitation revokes the pending invitation id: its token stops working.
func (t *OrganizationTx) RevokeInvitation(ctx context.Context, id string) error {
	const q = `
UPDATE invitations SET status = 'REVOKED', revoked_at = $3, updated_at = $3
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING'`
	return t.execMemberChange(ctx, "revoke invitation", q, t.Organization.TenantID, id, t.Now)
}

// RevokePendingInvitations revokes every pending, unexpired invitation of the organization (expired
// ones stay EXPIRED) and returns their ids, oldest first. deleteOrganization calls it in its change
// transaction, so that no invitation of a deleted organization can be accepted.
func (t *OrganizationTx) RevokePendingInvitations(ctx context.Context) ([]string, error) {
	const q = `
WITH revoked AS (
    UPDATE invitations SET status = 'REVOKED', revoked_at = $3, updated_at = $3
    WHERE tenant_id = $1 AND organization_id = $2 AND status = 'PENDING' AND expires_at > $3
    RETURNING id, created_at
)
SELECT id FROM revoked ORDER BY created_at, id`
	ids := []string{}
	if err := t.tx.SelectContext(ctx, &ids, q, t.Organization.TenantID, t.Organization.ID, t.Now); err != nil {
		return nil, fmt.Errorf("revoke pending invitations: %w", err)
	}
	return ids, nil
}

// ErrAlreadyMember reports an invitation accepted by someone who is a member of its organization
// already.
var ErrAlreadyMember = errors.New("already a member")

// AcceptInvitation spends the pending invitation inv (locked by LockInvitationByToken): the tenant's
// user with its address (created, with the invitation's names, when there is none; an existing user's
// profile is left as it is) becomes an ACTIVE member with the invited role, the address counts as
// verified (the token came by email to it), the organization's member count grows by one and the
// invitation is ACCEPTED. Someone who is a member already is ErrAlreadyMember, and nothing is written.
func (t *OrganizationTx) AcceptInvitation(ctx context.Context, inv *domain.Invitation) (*domain.Member, error) {
	tenantID, orgID := t.Organization.TenantID, t.Organization.ID
	var name *string
	if n := inv.FullName(); n != "" {
		name = &n
	}
	const qInsertUser = `
INSERT INTO users (tenant_id, id, email, name, first_name, last_name, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, lower(email)) DO NOTHING`
	if _, err := t.tx.ExecContext(ctx, qInsertUser, tenantID, domain.NewID(), inv.Email, name, inv.FirstName, inv.LastName, t.Now); err != nil {
		return nil, fmt.Errorf("insert invited user: %w", err)
	}
	var userID string
	const qUser = `
UPDATE users SET email_verified_at = coalesce(email_verified_at, $3)
WHERE tenant_id = $1 AND lower(email) = lower($2)
RETURNING id`
	if err := t.tx.GetContext(ctx, &userID, qUser, tenantID, inv.Email, t.Now); err != nil {
		return nil, fmt.Errorf("find invited user: %w", err)
	}
	memberID := domain.NewID()
	const qMember = `
INSERT INTO memberships (tenant_id, id, organization_id, user_id, role, status, joined_at, created_at)
VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $6)
ON CONFLICT (tenant_id, organization_id, user_id) DO NOTHING`
	inserted, err := execInserted(ctx, t.tx, qMember, tenantID, memberID, orgID, userID, inv.Role, t.Now)
	if err != nil {
		return nil, fmt.Errorf("insert member: %w", err)
	}
	if !inserted {
		return nil, ErrAlreadyMember
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE organizations SET member_count = member_count + 1 WHERE tenant_id = $1 AND id = $2`,
		tenantID, orgID); err != nil {
		return nil, fmt.Errorf("count member: %w", err)
	}
	const qAccept = `
UPDATE invitations SET status = 'ACCEPTED', accepted_at = $3, membership_id = $4, updated_at = $3
WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING'`
	if err := t.execMemberChange(ctx, "accept invitation", qAccept, tenantID, inv.ID, t.Now, memberID); err != nil {
		return nil, err
	}
	return t.Member(ctx, memberID)
}

// execMemberChange runs a statement that must change exactly one row.
func (t *OrganizationTx) execMemberChange(ctx context.Context, what, q string, args ...any) error {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: %d rows changed, want 1", what, n)
	}
	return nil
}
