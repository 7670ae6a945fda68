package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// upsertAdministrator returns the tenant's user with the administrator's email, creating it, or filling
// in what an existing user's profile lacks (an existing profile is never overwritten).
func upsertAdministrator(ctx context.Context, tx *sqlx.Tx, tenantID string, a *domain.NewAdministrator) (string, error) {
	address, err := jsonOrNil(a.Address)
	if err != nil {
		return "", err
	}
	const q = `
INSERT INTO users (tenant_id, id, email, name, first_name, last_name, description, phone, locale, gender,
    date_of_birth, address, mfa_enabled, mfa_expiration_minutes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET
    name = coalesce(users.name, EXCLUDED.name),
    first_name = coalesce(users.first_name, EXCLUDED.first_name),
    last_name = coalesce(users.last_name, EXCLUDED.last_name),
    description = coalesce(users.description, EXCLUDED.description),
    phone = coalesce(users.phone, EXCLUDED.phone),
    locale = coalesce(users.locale, EXCLUDED.locale),
    gender = coalesce(users.gender, EXCLUDED.gender),
    date_of_birth = coalesce(users.date_of_birth, EXCLUDED.date_of_birth),
    address = coalesce(users.address, EXCLUDED.address),
    mfa_enabled = users.mfa_enabled OR EXCLUDED.mfa_enabled,
    mfa_expiration_minutes = coalesce(users.mfa_expiration_minutes, EXCLUDED.mfa_expiration_minutes)
RETURNING id`
	var id string
	err = tx.GetContext(ctx, &id, q, tenantID, domain.NewID(), a.Email, a.FullName(), a.FirstName, a.LastName,
		a.Description, a.Phone, a.Locale, a.Gender, a.DateOfBirth, address, a.MFAEnabled, a.MFAExpirationMinutes)
	if err != nil {
		return "", fmt.Errorf("upsert administrator: %w", err)
	}
	return id, nil
}

// inviteAdministrator makes the administrator an INVITED ADMIN of o and queues, in the same
// transaction, the confirmation email c (only the hash of its token is stored).
func inviteAdministrator(ctx context.Context, tx *sqlx.Tx, o *domain.Organization, a *domain.NewAdministrator, c *Confirmation, now time.Time) error {
	membershipID := domain.NewID()
	const qMember = `
INSERT INTO memberships (tenant_id, id, organization_id, user_id, role, status, created_at)
VALUES ($1, $2, $3, $4, 'ADMIN', 'INVITED', $5)`
	if _, err := tx.ExecContext(ctx, qMember, o.TenantID, membershipID, o.ID, *o.PrimaryAdministratorUserID, now); err != nil {
		return fmt.Errorf("insert administrator membership: %w", err)
	}
	const qToken = `
INSERT INTO email_confirmations (tenant_id, token_hash, organization_id, membership_id, user_id, email, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	if _, err := tx.ExecContext(ctx, qToken, o.TenantID, c.TokenHash, o.ID, membershipID, *o.PrimaryAdministratorUserID,
		a.Email, c.ExpiresAt, now); err != nil {
		return fmt.Errorf("insert confirmation token: %w", err)
	}
	e := c.Email
	e.TenantID = o.TenantID
	return insertEmail(ctx, tx, e, now)
}

// ErrInvalidToken reports a confirmation token that is unknown in the tenant, used or expired.
var ErrInvalidToken = errors.New("invalid, expired or used token")

// ConfirmEmail spends the confirmation token whose hash is tokenHash, of the actor's tenant: the
// address becomes verified, the membership ACTIVE, and the organization records member.joined. A
// used, expired, unknown or other-tenant token is ErrInvalidToken.
func (s *Store) ConfirmEmail(ctx context.Context, a *domain.Actor, tokenHash []byte) (*domain.Member, error) {
	var member *domain.Member
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		now := s.nowUTC()
		// Lock the token's organization first, as every change of an organization does (a delete
		// expires its tokens): both take the locks in the same order and never wait on each other.
		const qLock = `
SELECT 1 FROM email_confirmations c JOIN organizations o ON o.tenant_id = c.tenant_id AND o.id = c.organization_id
WHERE c.tenant_id = $1 AND c.token_hash = $2 FOR NO KEY UPDATE OF o`
		if _, err := tx.ExecContext(ctx, qLock, a.TenantID, tokenHash); err != nil {
			return fmt.Errorf("lock organization: %w", err)
		}
		var c struct {
			OrgID        string `db:"organization_id"`
			MembershipID string `db:"membership_id"`
			UserID       string `db:"user_id"`
			Email        string `db:"email"`
		}
		const q = `
UPDATE email_confirmations SET used_at = $3
WHERE tenant_id = $1 AND token_hash = $2 AND used_at IS NULL AND expires_at > $3
RETURNING organization_id, membership_id, user_id, email`
		err := tx.GetContext(ctx, &c, q, a.TenantID, tokenHash, now)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return fmt.Errorf("spend token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email_verified_at = coalesce(email_verified_at, $3) WHERE tenant_id = $1 AND id = $2`,
			a.TenantID, c.UserID, now); err != nil {
			return fmt.Errorf("verify email: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET status = 'ACTIVE', joined_at = $3 WHERE tenant_id = $1 AND id = $2`,
			a.TenantID, c.MembershipID, now); err != nil {
			return fmt.Errorf("activate member: %w", err)
		}
		var seq int64
		if err := tx.GetContext(ctx, &seq, `UPDATE organizations SET sequence = sequence + 1, updated_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING sequence`,
			a.TenantID, c.OrgID, now); err != nil {
			return fmt.Errorf("record confirmation: %w", err)
		}
		joined := domain.Change{Type: domain.EventMemberJoined, Data: map[string]any{"memberId": c.MembershipID, "email": c.Email}}
		if err := insertEvent(ctx, tx, a.TenantID, c.OrgID, seq, a, joined, now); err != nil {
			return err
		}
		ms, err := membersWhere(ctx, tx, `m.tenant_id = $1 AND m.id = $2`, a.TenantID, c.MembershipID)
		if err != nil {
			return err
		}
		member = &ms[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("confirm email: %w", err)
	}
	return member, nil
}
