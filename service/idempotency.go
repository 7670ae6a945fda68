package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"orgs/db"
	"orgs/domain"
)

// The Idempotency-Key protocol of createOrganization. A request with a key takes the key's lock, then
// claims the key before it creates; a retry of a finished request replays its outcome (the same
// organization, read afresh, or the same violations); the same key with another input is
// IDEMPOTENCY_KEY_REUSED; a retry while the first request still runs (holds the lock) is
// IDEMPOTENCY_KEY_IN_USE. A created organization marks its key done in its own transaction, so that a
// crash can never leave an organization behind a key that a retry would create again. The lock dies
// with the request's connection (see db/idempotency.go): after a crash of the process or of the
// database, a retry runs as soon as the database answers, over what the dead request left.

// requestHash identifies a create for idempotency: its input (whatever its idempotency key,
// validateOnly and clientMutationId, which are not part of it) and the organization it acts for.
func requestHash(in domain.CreateOrganizationInput, actingOrganizationID string) ([]byte, error) {
	b, err := json.Marshal(struct {
		Input  domain.CreateOrganizationInput
		Acting string
	}{in, actingOrganizationID}) // struct fields marshal in a fixed order, map keys sorted
	if err != nil {
		return nil, fmt.Errorf("hash request: %w", err)
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// createIdempotently runs the create under key, or answers as the key says.
// The organization's written rows are returned when this request created it (nil for a replay).
func (s *Service) createIdempotently(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, key string) (*domain.Organization, *domain.Written, error) {
	hash, err := requestHash(in, a.ActingOrganizationID)
	if err != nil {
		return nil, nil, err
	}
	field := domain.Path{"idempotencyKey"}
	inUse := violation(field, domain.VIdempotencyInUse, "a request with this idempotency key is still running; retry later")
	// answer answers as k says when it is settled or claimed with another input; ok is false when k
	// is running under this input.
	answer := func(k *db.IdempotencyKey) (o *domain.Organization, err error, ok bool) {
		switch {
		case !bytes.Equal(k.RequestHash, hash):
			return nil, violation(field, domain.VIdempotencyReused, "this idempotency key was used with a different input"), true
		case k.Done && k.OrganizationID != nil:
			o, err := s.store.Organization(ctx, a.TenantID, *k.OrganizationID)
			return o, err, true
		case k.Done:
			return nil, k.Violations.Err(), true
		}
		return nil, nil, false
	}

	lock, err := s.store.LockIdempotencyKey(ctx, a.TenantID, key)
	if errors.Is(err, db.ErrIdempotencyKeyInUse) {
		// Another request works under the key, or has just finished (replayed, then).
		k, err := s.store.GetIdempotencyKey(ctx, a.TenantID, key)
		if err != nil {
			return nil, nil, err
		}
		if k != nil && !k.ExpiresAt.Before(s.clock()) {
			if o, err, ok := answer(k); ok {
				return o, nil, err
			}
		}
		return nil, nil, inUse
	}
	if err != nil {
		return nil, nil, err
	}
	defer lock.Unlock()
	for attempt := 0; attempt < 3; attempt++ {
		now := s.clock()
		claimed, err := s.store.ClaimIdempotencyKey(ctx, a.TenantID, key, hash, now)
		if err != nil {
			return nil, nil, err
		}
		if !claimed {
			k, err := s.store.GetIdempotencyKey(ctx, a.TenantID, key)
			if err != nil {
				return nil, nil, err
			}
			if k == nil || k.ExpiresAt.Before(now) {
				continue // gone or expired since: claim again
			}
			if o, err, ok := answer(k); ok {
				return o, nil, err
			}
			// Running under this input, left by a request that died (this one holds the lock): create
			// in its place.
		}
		o, w, err := s.createClaimed(ctx, a, in, key, hash)
		if errors.Is(err, db.ErrIdempotencyKeySettled) {
			continue // settled meanwhile by a request that had lost its lock: answer as the key says
		}
		return o, w, err
	}
	return nil, nil, inUse
}

// createClaimed creates under the claimed key, then settles the key of a request that created nothing:
// its violations are recorded so that retries replay them, and after any other error the key is
// released so that a retry runs again. A key settled by another request is left as it is.
func (s *Service) createClaimed(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, key string, hash []byte) (*domain.Organization, *domain.Written, error) {
	o, w, err := s.createOrganization(ctx, a, in, false, idempotency{key: key, hash: hash})
	if err == nil || errors.Is(err, db.ErrIdempotencyKeySettled) {
		return o, w, err
	}
	ctx = context.WithoutCancel(ctx) // settle even when the request was cancelled
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		if serr := s.store.FinishIdempotencyKey(ctx, a.TenantID, key, hash, s.clock(), verr.Violations); serr != nil {
			return nil, nil, serr
		}
		return nil, nil, err
	}
	if serr := s.store.ReleaseIdempotencyKey(ctx, a.TenantID, key); serr != nil {
		return nil, nil, errors.Join(err, serr)
	}
	return nil, nil, err
}

// idempotency is the claimed key a create marks done in its transaction, and the request's hash.
type idempotency struct {
	key  string
	hash []byte
}
