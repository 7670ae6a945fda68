package service

import (
	"context"
	"errors"
	"fmt"

	"orgs/db"
	"orgs/domain"
)

// CreateTemplate validates and stores an organization template of the actor's tenant. A name the
// tenant already uses is TAKEN at ["name"].
func (s *Service) CreateTemplate(ctx context.Context, a *domain.Actor, in domain.TemplateInput) (*domain.Template, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	t, err := domain.NewTemplateFrom(in, s.cfg.Regions, nil)
	if err != nil {
		return nil, err
	}
	t.TenantID, t.ID, t.CreatedAt = a.TenantID, domain.NewID(), s.clock()
	err = s.store.InsertTemplate(ctx, t)
	if errors.Is(err, db.ErrTemplateNameTaken) {
		return nil, violation(domain.Path{"name"}, domain.VTaken, fmt.Sprintf("a template named %q already exists", t.Name))
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// templateOf loads the template an input names; one that does not exist in the tenant is recorded in v
// as NOT_FOUND at ["templateId"].
func (s *Service) templateOf(ctx context.Context, tenantID string, id *string, v *domain.Violations) (*domain.Template, error) {
	if id == nil {
		return nil, nil
	}
	t, err := s.store.Template(ctx, tenantID, *id)
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		v.Add(domain.Path{"templateId"}, domain.VNotFound, "no template %q in this tenant", *id)
		return nil, nil
	}
	return t, err
}
