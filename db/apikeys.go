package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
// which is not stored and cannot be shown again, with the actor it authenticates. It is the bootstrap of
// the apikey create command: its apikey.created event has no actor.
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
	a := &domain.Actor{KeyID: domain.NewID(), KeyName: in.Name, Email: in.Email, Name: in.UserName, Permissions: in.Permissions}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := upsertTenant(ctx, tx, in.Tenant, a); err != nil {
			return err
		}
		const qUser = `
INSERT INTO users (tenant_id, id, email, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET name = EXCLUDED.name
RETURNING id`
		if err := tx.GetContext(ctx, &a.UserID, qUser, a.TenantID, domain.NewID(), a.Email, a.Name); err != nil {
			return fmt.Errorf("upsert user: %w", err)
		}
		k := &domain.APIKey{TenantID: a.TenantID, ID: a.KeyID, UserID: a.UserID, Name: a.KeyName,
			Prefix: domain.PrefixOf(key), Permissions: in.Permissions, CreatedAt: s.nowUTC()}
		return insertAPIKey(ctx, tx, k, hash, nil)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	return key, a, nil
}

// CreateTenantAPIKey creates a key of the caller's tenant acting as the caller's principal (the same
// person), with its apikey.created event, and returns it with its secret, which is not stored and
// cannot be shown again.
func (s *Store) CreateTenantAPIKey(ctx context.Context, caller *domain.Actor, in domain.NewAPIKeyInput, now time.Time) (*domain.APIKey, string, error) {
	key, hash := domain.NewAPIKey()
	k := &domain.APIKey{TenantID: caller.TenantID, ID: domain.NewID(), UserID: caller.UserID, Name: in.Name,
		Prefix: domain.PrefixOf(key), Permissions: in.Permissions, CreatedAt: now, ExpiresAt: in.ExpiresAt}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error { return insertAPIKey(ctx, tx, k, hash, caller) })
	if err != nil {
		return nil, "", fmt.Errorf("create api key: %w", err)
	}
	return k, key, nil
}

// insertAPIKey inserts k with the hash of its secret and its apikey.created event by actor (nil: the
// command line).
func insertAPIKey(ctx context.Context, tx *sqlx.Tx, k *domain.APIKey, hash []byte, actor *domain.Actor) error {
	const q = `
INSERT INTO api_keys (tenant_id, id, user_id, name, key_hash, permissions, prefix, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	if _, err := tx.ExecContext(ctx, q, k.TenantID, k.ID, k.UserID, k.Name, hash, pq.Array(permissionNames(k.Permissions)),
		k.Prefix, k.CreatedAt, k.ExpiresAt); err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return insertTenantEvent(ctx, tx, k.TenantID, domain.EventAPIKeyCreated, actor, keyEventData(k), k.CreatedAt)
}

func permissionNames(ps []domain.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// keyEventData is what the tenant's log keeps of a key: never its secret.
func keyEventData(k *domain.APIKey) map[string]any {
	return map[string]any{"keyId": k.ID, "name": k.Name, "permissions": permissionNames(k.Permissions)}
}

// insertTenantEvent appends an event to the tenant's log.
func insertTenantEvent(ctx context.Context, tx *sqlx.Tx, tenantID, typ string, actor *domain.Actor, data map[string]any, at time.Time) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("tenant event data: %w", err)
	}
	var keyID, userID *string
	if actor != nil {
		keyID, userID = &actor.KeyID, &actor.UserID
	}
	const q = `
INSERT INTO tenant_events (tenant_id, id, type, actor_key_id, actor_user_id, data, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
	if _, err := tx.ExecContext(ctx, q, tenantID, domain.NewID(), typ, keyID, userID, string(b), at); err != nil {
		return fmt.Errorf("insert tenant event: %w", err)
	}
	return nil
}

// ErrAPIKeyNotFound is a key that is not one of the tenant's.
var ErrAPIKeyNotFound = errors.New("api key not found")

// ErrAPIKeyRevoked is a key revoked already.
var ErrAPIKeyRevoked = errors.New("api key already revoked")

// RevokeAPIKey revokes the key id of the caller's tenant, with its apikey.revoked event, and tells every
// replica to forget it (apiKeysChannel, on commit). A key may revoke itself.
func (s *Store) RevokeAPIKey(ctx context.Context, caller *domain.Actor, id string, now time.Time) (*domain.APIKey, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrAPIKeyNotFound
	}
	var k *domain.APIKey
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		k, err = getAPIKey(ctx, tx, caller.TenantID, id, true)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return ErrAPIKeyRevoked
		}
		k.RevokedAt = &now
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2`,
			caller.TenantID, id, now); err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if err := insertTenantEvent(ctx, tx, caller.TenantID, domain.EventAPIKeyRevoked, caller, keyEventData(k), now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, apiKeysChannel, id); err != nil {
			return fmt.Errorf("notify revocation: %w", err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrAPIKeyNotFound) || errors.Is(err, ErrAPIKeyRevoked) {
			return nil, err
		}
		return nil, fmt.Errorf("revoke api key: %w", err)
	}
	s.auth.forget(id) // this replica at once, before its own notification arrives
	return k, nil
}

const apiKeyColumns = `id, tenant_id, user_id, name, coalesce(prefix, '') AS prefix, permissions, created_at, expires_at, last_used_at, revoked_at`

type apiKeyRow struct {
	ID          string         `db:"id"`
	TenantID    string         `db:"tenant_id"`
	UserID      string         `db:"user_id"`
	Name        string         `db:"name"`
	Prefix      string         `db:"prefix"`
	Permissions pq.StringArray `db:"permissions"`
	CreatedAt   time.Time      `db:"created_at"`
	ExpiresAt   *time.Time     `db:"expires_at"`
	LastUsedAt  *time.Time     `db:"last_used_at"`
	RevokedAt   *time.Time     `db:"revoked_at"`
}

func (r apiKeyRow) key() *domain.APIKey {
	k := &domain.APIKey{ID: r.ID, TenantID: r.TenantID, UserID: r.UserID, Name: r.Name, Prefix: r.Prefix,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: utcPtr(r.ExpiresAt), LastUsedAt: utcPtr(r.LastUsedAt), RevokedAt: utcPtr(r.RevokedAt)}
	if k.Prefix == "" {
		k.Prefix = domain.APIKeyPrefix // made before prefixes were kept: only what every key starts with
	}
	for _, p := range r.Permissions {
		k.Permissions = append(k.Permissions, domain.Permission(p))
	}
	return k
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func getAPIKey(ctx context.Context, tx *sqlx.Tx, tenantID, id string, forUpdate bool) (*domain.APIKey, error) {
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE tenant_id = $1 AND id = $2`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	var r apiKeyRow
	err := tx.GetContext(ctx, &r, q, tenantID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrAPIKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", err)
	}
	return r.key(), nil
}

// APIKeyPage is a page of a tenant's keys, newest first.
type APIKeyPage struct {
	Keys            []*domain.APIKey
	Cursors         []domain.Cursor
	HasNextPage     bool
	HasPreviousPage bool
}

// ListAPIKeys returns a page of the tenant's keys, newest first (ties by id), after p.After; only
// forward pages (p.Backward is not supported).
func (s *Store) ListAPIKeys(ctx context.Context, tenantID string, p domain.PageRequest) (*APIKeyPage, error) {
	args := []any{tenantID, p.Size + 1}
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE tenant_id = $1`
	if p.After != nil {
		q += ` AND (created_at, id) < ($3::timestamptz, $4::uuid)`
		args = append(args, p.After.Value, p.After.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $2`
	var rows []apiKeyRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	page := &APIKeyPage{HasPreviousPage: p.After != nil}
	if len(rows) > p.Size {
		rows, page.HasNextPage = rows[:p.Size], true
	}
	for _, r := range rows {
		k := r.key()
		page.Keys = append(page.Keys, k)
		page.Cursors = append(page.Cursors, domain.Cursor{Field: domain.OrderByCreatedAt,
			Value: r.CreatedAt.UTC().Format(time.RFC3339Nano), ID: r.ID})
	}
	return page, nil
}

// CountAPIKeys counts the tenant's keys, revoked and expired ones included.
func (s *Store) CountAPIKeys(ctx context.Context, tenantID string) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM api_keys WHERE tenant_id = $1`, tenantID); err != nil {
		return 0, fmt.Errorf("count api keys: %w", err)
	}
	return n, nil
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
	if err := tx.QueryRowxContext(ctx, q, domain.NewID(), tenant).Scan(&a.TenantID, &a.TenantName); err != nil {
		return fmt.Errorf("upsert tenant: %w", err)
	}
	return nil
}

// authenticate looks a key up by the hash of its secret; it returns the key's expiry, which the caller
// checks at every use.
func (s *Store) authenticate(ctx context.Context, hash []byte) (*domain.Actor, *time.Time, error) {
	const q = `
SELECT k.id, k.name, k.tenant_id, t.name, k.user_id, u.email, coalesce(u.name, ''), k.permissions, k.expires_at
FROM api_keys k
JOIN tenants t ON t.id = k.tenant_id
JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL`
	var a domain.Actor
	var perms []string
	var expires *time.Time
	err := s.db.QueryRowxContext(ctx, q, hash).Scan(
		&a.KeyID, &a.KeyName, &a.TenantID, &a.TenantName, &a.UserID, &a.Email, &a.Name, pq.Array(&perms), &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, domain.Errorf(domain.EUNAUTHENTICATED, "unknown or revoked API key")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("authenticate: %w", err)
	}
	for _, p := range perms {
		a.Permissions = append(a.Permissions, domain.Permission(p))
	}
	return &a, expires, nil
}
