package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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

// authCache remembers authenticated keys for a few seconds, sparing every request a round trip.
type authCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]authEntry
}

type authEntry struct {
	actor   domain.Actor
	expires time.Time
}

// authCacheMax bounds the cache; when full it starts afresh.
const authCacheMax = 10000

func (c *authCache) get(hash string, now time.Time) (*domain.Actor, bool) {
	if c == nil || c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || now.After(e.expires) {
		return nil, false
	}
	a := e.actor
	return &a, true
}

func (c *authCache) put(hash string, a *domain.Actor, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= authCacheMax {
		c.m = make(map[string]authEntry)
	}
	c.m[hash] = authEntry{actor: *a, expires: now.Add(c.ttl)}
}

// Authenticate returns the actor of an API key, or an EUNAUTHENTICATED error for an unknown or revoked key.
// With Options.AuthCacheTTL, a key's actor is remembered that long: a revoked key then works for at
// most that much longer.
func (s *Store) Authenticate(ctx context.Context, key string) (*domain.Actor, error) {
	hash := domain.HashAPIKey(key)
	now := time.Now()
	if a, ok := s.auth.get(string(hash), now); ok {
		return a, nil
	}
	a, err := s.authenticate(ctx, hash)
	if err == nil {
		s.auth.put(string(hash), a, now)
	}
	return a, err
}

func (s *Store) authenticate(ctx context.Context, hash []byte) (*domain.Actor, error) {
	const q = `
SELECT k.id, k.name, k.tenant_id, t.name, k.user_id, u.email, coalesce(u.name, ''), k.permissions
FROM api_keys k
JOIN tenants t ON t.id = k.tenant_id
JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL`
	var a domain.Actor
	var perms []string
	err := s.db.QueryRowxContext(ctx, q, hash).Scan(
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
