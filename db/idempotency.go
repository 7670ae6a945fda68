package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"orgs/domain"
)

// Idempotency keys: the rows behind the Idempotency-Key protocol, which the service runs. A request
// with a key first takes the key's lock (LockIdempotencyKey): an advisory lock held by a connection
// of the request's own, kept until it has answered. The lock says that a live request works under the key
// (ErrIdempotencyKeyInUse for the others), and nothing else does: PostgreSQL drops it with the
// connection, so a request whose process crashed, or whose connection a restarted server dropped,
// never holds its key, and a retry runs as soon as the database answers. The rows record the outcome.
// A key is claimed by inserting it ("running"): the primary key decides between concurrent claims, not
// a check-then-insert. A create marks its key "done" in its own transaction
// (NewOrganization.IdempotencyKey); a request refused with violations records them
// (FinishIdempotencyKey); a request that failed otherwise releases its key (ReleaseIdempotencyKey).
// Outcomes are recorded only on a key still running (ErrIdempotencyKeySettled otherwise): should two
// requests ever work under one key (one that lost its lock with its connection but not yet its
// transaction), one outcome is recorded, and an organization exists only if its create recorded it.

// IdempotencyTTL is how long a key is kept: at least 24 hours, as the contract promises.
const IdempotencyTTL = 24 * time.Hour

// legacyLease is what locked_until records, for the replicas of the version that held a claim by a
// lease, while a rolling upgrade runs both: they take a claim as held for that long. Nothing reads it.
const legacyLease = 2 * time.Minute

var (
	// ErrIdempotencyKeyInUse says that another request, still running, works under the key.
	ErrIdempotencyKeyInUse = errors.New("idempotency key in use by a running request")
	// ErrIdempotencyKeySettled says that another request settled the key (created, or recorded its
	// violations) meanwhile: nothing was written, the key says what to answer.
	ErrIdempotencyKeySettled = errors.New("idempotency key settled by another request")
)

// IdempotencyKey is the state of a claimed key.
type IdempotencyKey struct {
	RequestHash []byte
	// Done is true once the request finished; OrganizationID or Violations then say how.
	Done           bool
	OrganizationID *string
	Violations     domain.Violations
	ExpiresAt      time.Time
}

// ClaimIdempotencyKey records that a request with key and hash is running. It reports false when the
// key exists and has not expired: an expired key is claimed afresh, as if new.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, tenantID, key string, hash []byte, now time.Time) (bool, error) {
	const q = `
INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, locked_until, created_at, expires_at)
VALUES ($1, $2, $3, 'running', $5, $4, $6)
ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO UPDATE SET
    request_hash = EXCLUDED.request_hash, state = 'running', organization_id = NULL, user_errors = NULL,
    locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at < $4`
	res, err := s.db.ExecContext(ctx, q, tenantID, key, hash, now, now.Add(legacyLease), now.Add(IdempotencyTTL))
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return n == 1, nil
}

// IdempotencyLock is the lock of a key, held by the request that works under it.
type IdempotencyLock struct {
	conn     *sqlx.Conn
	tenantID string
	key      string
	release  func()
}

// idempotencyLockID is the lock of a key: a 64-bit hash of its tenant and itself.
const idempotencyLockID = `hashtextextended($1::text || ' ' || $2::text, 14)`

// LockIdempotencyKey takes the lock of key, which the caller must Unlock once it has answered;
// ErrIdempotencyKeyInUse when another live request holds it. The lock keeps a connection of the pool
// until then: at most half the pool's connections hold locks (callers beyond wait for one, within
// ctx), so that the requests holding them always find the connections they need.
func (s *Store) LockIdempotencyKey(ctx context.Context, tenantID, key string) (*IdempotencyLock, error) {
	release, err := s.keyLocks.take(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock idempotency key: %w", err)
	}
	// A connection that the server dropped (restarted) fails at once: the next one is opened afresh.
	for attempt := 0; attempt < 2; attempt++ {
		var l *IdempotencyLock
		if l, err = s.tryLockIdempotencyKey(ctx, tenantID, key); err == nil {
			l.release = release
			return l, nil
		}
		if !errors.Is(err, driver.ErrBadConn) {
			break
		}
	}
	release()
	return nil, err
}

func (s *Store) tryLockIdempotencyKey(ctx context.Context, tenantID, key string) (*IdempotencyLock, error) {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock idempotency key: %w", err)
	}
	var locked bool
	if err := conn.GetContext(ctx, &locked, `SELECT pg_try_advisory_lock(`+idempotencyLockID+`)`, tenantID, key); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock idempotency key: %w", err)
	}
	if !locked {
		conn.Close()
		return nil, ErrIdempotencyKeyInUse
	}
	return &IdempotencyLock{conn: conn, tenantID: tenantID, key: key}, nil
}

// Unlock releases the lock and its connection. A connection whose lock could not be released (the
// connection broke, the request's deadline passed) is closed rather than returned to the pool.
func (l *IdempotencyLock) Unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var unlocked bool
	err := l.conn.GetContext(ctx, &unlocked, `SELECT pg_advisory_unlock(`+idempotencyLockID+`)`, l.tenantID, l.key)
	if err != nil || !unlocked {
		discard(l.conn)
	} else {
		l.conn.Close()
	}
	l.release()
}

// discard closes conn instead of returning it to the pool.
func discard(conn *sqlx.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// GetIdempotencyKey returns the state of key, or nil when there is none.
func (s *Store) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*IdempotencyKey, error) {
	var row struct {
		Hash       []byte    `db:"request_hash"`
		State      string    `db:"state"`
		OrgID      *string   `db:"organization_id"`
		UserErrors []byte    `db:"user_errors"`
		ExpiresAt  time.Time `db:"expires_at"`
	}
	const q = `
SELECT request_hash, state, organization_id, user_errors, expires_at
FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`
	err := s.db.GetContext(ctx, &row, q, tenantID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	k := &IdempotencyKey{RequestHash: row.Hash, Done: row.State == "done", OrganizationID: row.OrgID,
		ExpiresAt: row.ExpiresAt.UTC()}
	if len(row.UserErrors) > 0 {
		if err := json.Unmarshal(row.UserErrors, &k.Violations); err != nil {
			return nil, fmt.Errorf("decode recorded violations: %w", err)
		}
	}
	return k, nil
}

// ReleaseIdempotencyKey forgets a running key, so that a retry runs afresh (after an internal error).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tenantID, key string) error {
	const q = `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND state = 'running'`
	if _, err := s.db.ExecContext(ctx, q, tenantID, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// FinishIdempotencyKey marks key done with the violations its request (with hash, at now) was refused
// with, so that retries replay them; ErrIdempotencyKeySettled when another request settled it first.
func (s *Store) FinishIdempotencyKey(ctx context.Context, tenantID, key string, hash []byte, now time.Time, vs domain.Violations) error {
	return finishIdempotencyKey(ctx, s.db, tenantID, key, hash, now, nil, vs)
}

// finishIdempotencyKey marks key done with its outcome: the organization created, or the violations.
// It settles the key only while it is running, or when it is gone (released by a request that failed:
// it is then recorded anew with hash); ErrIdempotencyKeySettled otherwise, and nothing is written. In
// one statement: the common case is the update.
func finishIdempotencyKey(ctx context.Context, q sqlx.QueryerContext, tenantID, key string, hash []byte, now time.Time, orgID *string, vs domain.Violations) error {
	var userErrors *string // JSON as text, see jsonOrNil
	if vs != nil {
		var err error
		if userErrors, err = jsonOrNil(&vs); err != nil {
			return err
		}
	}
	const qDone = `
WITH done AS (
    UPDATE idempotency_keys SET state = 'done', organization_id = $4, user_errors = $5
    WHERE tenant_id = $1 AND key = $2 AND state = 'running'
    RETURNING 1
), recorded AS (
    INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, organization_id, user_errors, locked_until, created_at, expires_at)
    SELECT $1, $2, $3, 'done', $4, $5, $6, $6, $7
    WHERE NOT EXISTS (SELECT FROM done) AND $3::bytea IS NOT NULL
    ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT FROM done) OR EXISTS (SELECT FROM recorded)`
	var settled bool
	if err := sqlx.GetContext(ctx, q, &settled, qDone, tenantID, key, hash, orgID, userErrors, now, now.Add(IdempotencyTTL)); err != nil {
		return fmt.Errorf("finish idempotency key: %w", err)
	}
	if !settled {
		return ErrIdempotencyKeySettled
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
