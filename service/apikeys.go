package service

import (
	"context"
	"errors"

	"orgs/db"
	"orgs/domain"
)

// CreateAPIKey creates a key of the actor's tenant that acts as the actor's principal, with at most the
// actor's permissions, and returns it with its secret (shown this once; only its hash is kept).
func (s *Service) CreateAPIKey(ctx context.Context, a *domain.Actor, in domain.NewAPIKeyInput) (*domain.APIKey, string, error) {
	if err := requireActor(a); err != nil {
		return nil, "", err
	}
	now := s.clock()
	in, err := domain.NewAPIKeyFrom(in, a, now)
	if err != nil {
		return nil, "", err
	}
	return s.store.CreateTenantAPIKey(ctx, a, in, now)
}

// RevokeAPIKey revokes a key of the actor's tenant (the actor's own key too): every replica refuses it
// within a second. Another tenant's or an unknown key is NOT_FOUND at ["id"]; a revoked one is
// INVALID_STATE.
func (s *Service) RevokeAPIKey(ctx context.Context, a *domain.Actor, id string) (*domain.APIKey, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	k, err := s.store.RevokeAPIKey(ctx, a, id, s.clock())
	switch {
	case errors.Is(err, db.ErrAPIKeyNotFound):
		return nil, violation(domain.Path{"id"}, domain.VNotFound, "API key not found")
	case errors.Is(err, db.ErrAPIKeyRevoked):
		return nil, violation(domain.Path{"id"}, domain.VInvalidState, "this API key is revoked already")
	case err != nil:
		return nil, err
	}
	return k, nil
}
