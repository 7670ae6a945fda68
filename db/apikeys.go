package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"orgs/domain"
)

// NewAPIKey describes a key to create.
type NewAPIKey struct {
	// Name labels the key (and names its principal when UserName is empty).
	Name string
	// Tenant is a tenant's id or name; a name not yet known creates the tenant.
	Tenant string
	// Email and UserName describe the key's principal, who becomes the first owner of what it creates.
	Email    string
	UserName string
	// Permissions carried by the key.
	Permissions []domain.Permission
}

// CreateAPIKey creates a key (and its tenant and principal when they are new) and returns the key,
// which is not stored and cannot be shown again, with the actor it authenticates.
func (s *Store) CreateAPIKey(ctx context.Context, in NewAPIKey) (string, *domain.Actor, error) {
	if strings.TrimSpace(in.Name) == "" {
		return "", nil, domain.Errorf(domain.EINVALID, "a key needs a name")
	}
	if strings.TrimSpace(in.Tenant) == "" {
		return "", nil, domain.Errorf(domain.EINVALID, "a key needs a tenant")
	}
	if in.Email == "" {
		in.Email = domain.Slugify(in.Name) + "@localhost"
	}
	if in.UserName == "" {
		in.UserName = in.Name
	}
	key, hash := domain.NewAPIKey()
	a := &domain.Actor{KeyID: uuid.NewString(), KeyName: in.Name, Email: in.Email, Name: in.UserName, Permissions: in.Permissions}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := upsertTenant(ctx, tx, in.Tenant, a); err != nil {
			return err
		}
		const qUser = `
INSERT INTO users (tenant_id, id, email, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET name = EXCLUDED.name
RETURNING id`
		if err := tx.GetContext(ctx, &a.UserID, qUser, a.TenantID, uuid.NewString(), a.Email, a.Name); err != nil {
			return fmt.Errorf("upsert user: %w", err)
		}
		perms := make([]string, len(in.Permissions))
		for i, p := range in.Permissions {
			perms[i] = string(p)
		}
		const qKey = `
INSERT INTO api_keys (tenant_id, id, user_id, name, key_hash, permissions) VALUES ($1, $2, $3, $4, $5, $6)`
		if _, err := tx.ExecContext(ctx, qKey, a.TenantID, a.KeyID, a.UserID, a.KeyName, hash, pq.Array(perms)); err != nil {
			return fmt.Errorf("insert api key: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	return key, a, nil
}

func upsertTenant(ctx context.Context, tx *sqlx.Tx, tenant string, a *domain.Actor) error {
	if id, err := uuid.Parse(tenant); err == nil {
		err := tx.QueryRowxContext(ctx, `SELECT id, name FROM tenants WHERE id = $1`, id.String()).Scan(&a.TenantID, &a.TenantName)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("find tenant: %w", err)
		}
	}
	const q = `
INSERT INTO tenants (id, name) VALUES ($1, $2)
ON CONFLICT ON CONSTRAINT tenants_name_key DO UPDATE SET name = EXCLUDED.name
RETURNING id, name`
	if err := tx.QueryRowxContext(ctx, q, uuid.NewString(), tenant).Scan(&a.TenantID, &a.TenantName); err != nil {
		return fmt.Errorf("upsert tenant: %w", err)
	}
	return nil
}

// Authenticate returns the actor of an API key, or an EUNAUTHENTICATED error for an unknown or revoked key.
func (s *Store) Authenticate(ctx context.Context, key string) (*domain.Actor, error) {
	const q = `
SELECT k.id, k.name, k.tenant_id, t.name, k.user_id, u.email, coalesce(u.name, ''), k.permissions
FROM api_keys k
JOIN tenants t ON t.id = k.tenant_id
JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL`
	var a domain.Actor
	var perms []string
	err := s.db.QueryRowxContext(ctx, q, domain.HashAPIKey(key)).Scan(
		&a.KeyID, &a.KeyName, &a.TenantID, &a.TenantName, &a.UserID, &a.Email, &a.Name, pq.Array(&perms))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.EUNAUTHENTICATED, "unknown or revoked API key")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	for _, p := range perms {
		a.Permissions = append(a.Permissions, domain.Permission(p))
	}
	return &a, nil
}
