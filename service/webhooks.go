package service

import (
	"context"
	"errors"

	"orgs/db"
	"orgs/domain"
	"orgs/outbound"
)

// refuseAddress is the check of an endpoint URL's literal address: the outbound dialer's, unless
// outbound requests may reach private addresses.
func (s *Service) refuseAddress() domain.RefuseAddress {
	if s.cfg.Outbound.AllowPrivate {
		return nil
	}
	return outbound.Classify
}

// CreateWebhookEndpoint registers an endpoint of the actor's tenant and returns it with its signing
// secret (whsec_...), shown this once. Unless outbound requests may reach private addresses, a URL whose
// host is a literal loopback or private address is refused (names are checked when a delivery is sent).
func (s *Service) CreateWebhookEndpoint(ctx context.Context, a *domain.Actor, in domain.WebhookEndpointInput) (*domain.WebhookEndpoint, string, error) {
	if err := requireActor(a); err != nil {
		return nil, "", err
	}
	in, err := domain.NewWebhookEndpointFrom(in, s.refuseAddress())
	if err != nil {
		return nil, "", err
	}
	secret := domain.NewWebhookSecret()
	e, err := s.store.CreateWebhookEndpoint(ctx, a, in, secret, s.clock())
	if err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// UpdateWebhookEndpoint changes an endpoint of the actor's tenant; enabled true turns a disabled one
// back on. Another tenant's or an unknown endpoint is NOT_FOUND at ["id"].
func (s *Service) UpdateWebhookEndpoint(ctx context.Context, a *domain.Actor, id string, in domain.WebhookEndpointPatchInput) (*domain.WebhookEndpoint, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	p, err := domain.NewWebhookEndpointPatch(in, s.refuseAddress())
	if err != nil {
		return nil, err
	}
	e, err := s.store.UpdateWebhookEndpoint(ctx, a, id, p, s.clock())
	if errors.Is(err, db.ErrWebhookEndpointNotFound) {
		return nil, violation(domain.Path{"id"}, domain.VNotFound, "webhook endpoint not found")
	}
	return e, err
}

// DeleteWebhookEndpoint deletes an endpoint of the actor's tenant and its deliveries; those not sent yet
// never are. Another tenant's or an unknown endpoint is NOT_FOUND at ["id"].
func (s *Service) DeleteWebhookEndpoint(ctx context.Context, a *domain.Actor, id string) error {
	if err := requireActor(a); err != nil {
		return err
	}
	err := s.store.DeleteWebhookEndpoint(ctx, a, id, s.clock())
	if errors.Is(err, db.ErrWebhookEndpointNotFound) {
		return violation(domain.Path{"id"}, domain.VNotFound, "webhook endpoint not found")
	}
	return err
}
