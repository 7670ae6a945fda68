package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"orgs/domain"
)

// The Idempotency-Key protocol of createOrganization. A request with a key claims it before it
// creates; a retry of a finished request replays its outcome (the same organization, read afresh, or
// the same violations); the same key with another input is IDEMPOTENCY_KEY_REUSED; a retry while the
// first request still runs is IDEMPOTENCY_KEY_IN_USE. A created organization marks its key done in its
// own transaction, so a crash can never leave an organization behind a key that a retry would create
// again. A request that died holds its key until its lease ends; the next retry then takes it over.

// idempotencyLease bounds how long a request that died keeps its key from being retried: a minute, or
// twice the request deadline when that is longer, so that a request still running is never taken over.
func (s *Service) idempotencyLease() time.Duration {
	return max(time.Minute, 2*s.cfg.RequestTimeout)
}

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
func (s *Service) createIdempotently(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, key string) (*domain.Organization, *domain.Written, error) {
	hash, err := requestHash(in, a.ActingOrganizationID)
	if err != nil {
		return nil, nil, err
	}
	field := domain.Path{"idempotencyKey"}
	inUse := violation(field, domain.VIdempotencyInUse, "a request with this idempotency key is still running; retry later")
	for attempt := 0; attempt < 3; attempt++ {
		now := s.clock()
		claimed, err := s.store.ClaimIdempotencyKey(ctx, a.TenantID, key, hash, now, s.idempotencyLease())
		if err != nil {
			return nil, nil, err
		}
		if claimed {
			return s.createClaimed(ctx, a, in, key)
		}
		k, err := s.store.GetIdempotencyKey(ctx, a.TenantID, key)
		if err != nil {
			return nil, nil, err
		}
		if k == nil || k.ExpiresAt.Before(now) {
			continue // gone or expired since: claim again
		}
		switch {
		case !bytes.Equal(k.RequestHash, hash):
			return nil, nil, violation(field, domain.VIdempotencyReused, "this idempotency key was used with a different input")
		case k.Done && k.OrganizationID != nil:
			o, err := s.store.Organization(ctx, a.TenantID, *k.OrganizationID)
			return o, nil, err
		case k.Done:
			return nil, nil, k.Violations.Err()
		case k.LockedUntil.After(now):
			return nil, nil, inUse
		}
		// The request that held the key died: take it over.
		took, err := s.store.TakeOverIdempotencyKey(ctx, a.TenantID, key, now, s.idempotencyLease())
		if err != nil {
			return nil, nil, err
		}
		if took {
			return s.createClaimed(ctx, a, in, key)
		}
	}
	return nil, nil, inUse
}

// createClaimed creates under the claimed key, then settles the key of a request that created nothing:
// its violations are recorded so that retries replay them, and after any other error the key is
// released so that a retry runs again.
func (s *Service) createClaimed(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, key string) (*domain.Organization, *domain.Written, error) {
	o, w, err := s.createOrganization(ctx, a, in, false, key)
	if err == nil {
		return o, w, nil
	}
	ctx = context.WithoutCancel(ctx) // settle even when the request was cancelled
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		if serr := s.store.FinishIdempotencyKey(ctx, a.TenantID, key, verr.Violations); serr != nil {
			return nil, nil, serr
		}
		return nil, nil, err
	}
	if serr := s.store.ReleaseIdempotencyKey(ctx, a.TenantID, key); serr != nil {
		return nil, nil, errors.Join(err, serr)
	}
	return nil, nil, err
}
