package db

import (
	"context"

	"github.com/jmoiron/sqlx"

	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"orgs/domain"
)

// idempotencyLease bounds how long a request that died mid-way keeps its key from being retried: a
// minute, or twice the request deadline when that is longer, so that a request still running is never
// taken over.
func (s *Store) idempotencyLease() time.Duration {
	return max(time.Minute, 2*s.RequestTimeout)
}

// idempotencyTTL is how long a key is kept: at least 24 hours, as the contract promises.
const idempotencyTTL = 24 * time.Hour

// outcome is what a finished request with an idempotency key answered: an organization, or violations.
type outcome struct {
	OrganizationID *string
	Violations     domain.Violations
}

// claimIdempotencyKey records that a request with key is running, unless one already did: it then
// returns the outcome to replay, or IDEMPOTENCY_KEY_REUSED (other input) or IDEMPOTENCY_KEY_IN_USE
// (still running). The primary key decides between concurrent requests, not a check-then-insert.
func (s *Store) claimIdempotencyKey(ctx context.Context, tenantID, key string, hash []byte, path domain.Path) (*outcome, error) {
	field := path.Field("idempotencyKey")
	for attempt := 0; attempt < 3; attempt++ {
		now := s.nowUTC()
		// A key past its time is claimed afresh, as if it were new.
		const qClaim = `
INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, locked_until, created_at, expires_at)
VALUES ($1, $2, $3, 'running', $5, $4, $6)
ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO UPDATE SET
    request_hash = EXCLUDED.request_hash, state = 'running', organization_id = NULL, user_errors = NULL,
    locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at < $4`
		res, err := s.db.ExecContext(ctx, qClaim, tenantID, key, hash, now, now.Add(s.idempotencyLease()), now.Add(idempotencyTTL))
		if err != nil {
			return nil, fmt.Errorf("claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil, nil
		}
		var row struct {
			Hash       []byte  `db:"request_hash"`
			State      string  `db:"state"`
			OrgID      *string `db:"organization_id"`
			UserErrors []byte  `db:"user_errors"`
			Locked     bool    `db:"locked"`
			Expired    bool    `db:"expired"`
		}
		const qGet = `
SELECT request_hash, state, organization_id, user_errors, locked_until > $3 AS locked, expires_at < $3 AS expired
FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`
		err = s.db.GetContext(ctx, &row, qGet, tenantID, key, now)
		if errors.Is(err, sql.ErrNoRows) || err == nil && row.Expired {
			continue // gone or expired since: claim again
		}
		if err != nil {
			return nil, fmt.Errorf("read idempotency key: %w", err)
		}
		switch {
		case string(row.Hash) != string(hash):
			return nil, violation(field, domain.VIdempotencyReused, "this idempotency key was used with a different input")
		case row.State == "done":
			o := &outcome{OrganizationID: row.OrgID}
			if len(row.UserErrors) > 0 {
				if err := json.Unmarshal(row.UserErrors, &o.Violations); err != nil {
					return nil, fmt.Errorf("decode replayed user errors: %w", err)
				}
			}
			return o, nil
		case row.Locked:
			return nil, violation(field, domain.VIdempotencyInUse, "a request with this idempotency key is still running; retry later")
		}
		// The request that held the key died: take it over.
		const qTakeOver = `
UPDATE idempotency_keys SET locked_until = $4
WHERE tenant_id = $1 AND key = $2 AND state = 'running' AND locked_until <= $3`
		res, err = s.db.ExecContext(ctx, qTakeOver, tenantID, key, now, now.Add(s.idempotencyLease()))
		if err != nil {
			return nil, fmt.Errorf("take over idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil, nil
		}
	}
	return nil, violation(field, domain.VIdempotencyInUse, "a request with this idempotency key is still running; retry later")
}

func violation(path domain.Path, code domain.ViolationCode, msg string) error {
	return &domain.ValidationError{Violations: domain.Violations{{Field: path, Code: code, Message: msg}}}
}

// settleIdempotencyKey ends the claim of a request that did not create an organization: its violations
// are recorded so that retries replay them, and after an internal error the key is released so that a
// retry runs again. A created organization marked its key done in its own transaction.
func (s *Store) settleIdempotencyKey(ctx context.Context, tenantID, key string, err error) error {
	ctx = context.WithoutCancel(ctx)
	var verr *domain.ValidationError
	if err != nil && !errors.As(err, &verr) {
		if _, derr := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND state = 'running'`, tenantID, key); derr != nil {
			return errors.Join(err, fmt.Errorf("release idempotency key: %w", derr))
		}
		return nil
	}
	if verr == nil {
		return nil
	}
	return finishIdempotencyKey(ctx, s.db, tenantID, key, nil, verr.Violations)
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

// replay answers a retry as the first request was answered: the same organization (read afresh, so
// that the same ids come back), or the same violations.
func (s *Store) replay(ctx context.Context, tenantID string, o *outcome, err error) (*domain.Organization, error) {
	if err != nil {
		return nil, err
	}
	if o.OrganizationID == nil {
		return nil, o.Violations.Err()
	}
	return s.Organization(ctx, tenantID, *o.OrganizationID)
}

// PurgeIdempotencyKeys deletes the keys past their 24 hours.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < $1`, s.nowUTC())
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
