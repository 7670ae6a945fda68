package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"orgs/db"
	"orgs/domain"
)

// ConfirmEmail spends a confirmation token of the actor's tenant: the address becomes verified and the
// membership ACTIVE. The token is the proof: no permission is needed. A used, expired, unknown or
// other-tenant token is INVALID_VALUE at the argument itself (path []).
func (s *Service) ConfirmEmail(ctx context.Context, a *domain.Actor, token string) (*domain.Member, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	m, err := s.store.ConfirmEmail(ctx, a, hashToken(token))
	if errors.Is(err, db.ErrInvalidToken) {
		return nil, violation(nil, domain.VInvalidValue, "this confirmation link is invalid, expired or already used")
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// confirmation makes a new administrator's one-time token and the email that carries it, as a link to
// the landing page.
func (s *Service) confirmation(tenantID, orgName string, a *domain.NewAdministrator, landingPage string, now time.Time) (*db.Confirmation, error) {
	link, err := url.Parse(landingPage)
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	token, hash := newToken()
	query := link.Query()
	query.Set("token", token)
	link.RawQuery = query.Encode()
	subject, text, html := domain.ConfirmationEmail(orgName, a.FirstName, link.String(), s.cfg.ConfirmationTTL)
	return &db.Confirmation{
		TokenHash: hash,
		ExpiresAt: now.Add(s.cfg.ConfirmationTTL),
		Email: domain.Email{TenantID: tenantID, Kind: domain.EmailKindConfirmation, To: a.Email,
			Subject: subject, TextBody: text, HTMLBody: html},
	}, nil
}
