package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// Idempotency keys: the rows behind the Idempotency-Key protocol, which the service runs. A key is
// claimed by inserting it ("running", held until a lease ends): the primary key decides between
// concurrent requests, not a check-then-insert. A create marks its key "done" in its own transaction
// (NewOrganization.IdempotencyKey); a request refused with violations records them (FinishIdempotencyKey);
// a request that failed otherwise releases its key (ReleaseIdempotencyKey), and one that died keeps it
// until its lease ends and another request takes it over (TakeOverIdempotencyKey).

// IdempotencyTTL is how long a key is kept: at least 24 hours, as the contract promises.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyKey is the state of a claimed key.
type IdempotencyKey struct {
	RequestHash []byte
	// Done is true once the request finished; OrganizationID or Violations then say how.
	Done           bool
	OrganizationID *string
	Violations     domain.Violations
	LockedUntil    time.Time
	ExpiresAt      time.Time
}

// ClaimIdempotencyKey records that a request with key and hash is running, held for lease from now. It
// reports false when the key exists and has not expired: an expired key is claimed afresh, as if new.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, tenantID, key string, hash []byte, now time.Time, lease time.Duration) (bool, error) {
	const q = `
INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, locked_until, created_at, expires_at)
VALUES ($1, $2, $3, 'running', $5, $4, $6)
ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO UPDATE SET
    request_hash = EXCLUDED.request_hash, state = 'running', organization_id = NULL, user_errors = NULL,
    locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at < $4`
	res, err := s.db.ExecContext(ctx, q, tenantID, key, hash, now, now.Add(lease), now.Add(IdempotencyTTL))
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return n == 1, nil
}

// GetIdempotencyKey returns the state of key, or nil when there is none.
func (s *Store) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*IdempotencyKey, error) {
	var row struct {
		Hash        []byte    `db:"request_hash"`
		State       string    `db:"state"`
		OrgID       *string   `db:"organization_id"`
		UserErrors  []byte    `db:"user_errors"`
		LockedUntil time.Time `db:"locked_until"`
		ExpiresAt   time.Time `db:"expires_at"`
	}
	const q = `
SELECT request_hash, state, organization_id, user_errors, locked_until, expires_at
FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`
	err := s.db.GetContext(ctx, &row, q, tenantID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	k := &IdempotencyKey{RequestHash: row.Hash, Done: row.State == "done", OrganizationID: row.OrgID,
		LockedUntil: row.LockedUntil.UTC(), ExpiresAt: row.ExpiresAt.UTC()}
	if len(row.UserErrors) > 0 {
		if err := json.Unmarshal(row.UserErrors, &k.Violations); err != nil {
			return nil, fmt.Errorf("decode recorded violations: %w", err)
		}
	}
	return k, nil
}

// TakeOverIdempotencyKey claims a running key whose lease has ended (its request died), for lease from
// now. Of concurrent takeovers exactly one reports true.
func (s *Store) TakeOverIdempotencyKey(ctx context.Context, tenantID, key string, now time.Time, lease time.Duration) (bool, error) {
	const q = `
UPDATE idempotency_keys SET locked_until = $4
WHERE tenant_id = $1 AND key = $2 AND state = 'running' AND locked_until <= $3`
	res, err := s.db.ExecContext(ctx, q, tenantID, key, now, now.Add(lease))
	if err != nil {
		return false, fmt.Errorf("take over idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take over idempotency key: %w", err)
	}
	return n == 1, nil
}

// ReleaseIdempotencyKey forgets a running key, so that a retry runs afresh (after an internal error).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tenantID, key string) error {
	const q = `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND state = 'running'`
	if _, err := s.db.ExecContext(ctx, q, tenantID, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// FinishIdempotencyKey marks key done with the violations its request was refused with, so that
// retries replay them.
func (s *Store) FinishIdempotencyKey(ctx context.Context, tenantID, key string, vs domain.Violations) error {
	return finishIdempotencyKey(ctx, s.db, tenantID, key, nil, vs)
}

// finishIdempotencyKey marks key done with its outcome: the organization created, or the violations.
func finishIdempotencyKey(ctx context.Context, q sqlx.ExecerContext, tenantID, key string, orgID *string, vs domain.Violations) error {
	var userErrors *string // JSON as text, see jsonOrNil
	if vs != nil {
		var err error
		if userErrors, err = jsonOrNil(&vs); err != nil {
			return err
		}
	}
	const qDone = `UPDATE idempotency_keys SET state = 'done', organization_id = $3, user_errors = $4 WHERE tenant_id = $1 AND key = $2`
	if _, err := q.ExecContext(ctx, qDone, tenantID, key, orgID, userErrors); err != nil {
		return fmt.Errorf("finish idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys deletes the keys expired before now.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < $1`, now)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
