package service

import (
	"context"
	"errors"
	"fmt"

	"orgs/db"
	"orgs/domain"
)

// UpdateOptions tune UpdateOrganization.
type UpdateOptions struct {
	// ExpectedSequence, when set, must be the organization's details.sequence, else STALE_OBJECT.
	ExpectedSequence *int
	// ValidateOnly runs every check and every statement (uniqueness included), then rolls back: nothing
	// is written and no organization is returned.
	ValidateOnly bool
}

// UpdateOrganization changes the descriptive fields of the tenant's organization id under the rules of
// the create: a field left out is unchanged, one set to nil is cleared (the name cannot be). A new slug
// must be free in the tenant (TAKEN with suggestions) and renames the generated domain, which stays
// primary if it was; isDefault demotes the tenant's other default organization in the same
// transaction. The change records one organization.updated event listing each changed field; a change
// that changes nothing writes nothing and keeps the sequence. Every violation is returned at once, and
// nothing is written when there is any.
func (s *Service) UpdateOrganization(ctx context.Context, a *domain.Actor, id string, in domain.UpdateOrganizationInput, opt UpdateOptions) (*domain.Organization, error) {
	makesDefault := in.IsDefault.Set && in.IsDefault.Value != nil && *in.IsDefault.Value
	change := db.ChangeOptions{ExpectedSequence: sequence(opt.ExpectedSequence), LockTenant: makesDefault, ValidateOnly: opt.ValidateOnly}
	o, err := s.changeOrganization(ctx, a, id, "id", change, func(ctx context.Context, t *db.OrganizationTx) error {
		return s.updateOrganization(ctx, t, in)
	})
	if (errors.Is(err, db.ErrSlugTaken) || errors.Is(err, db.ErrDomainTaken)) && in.Slug.Value != nil { // a new slug, or its domain
		slug := *in.Slug.Value
		free, err := s.store.FreeSlugs(ctx, a.TenantID, slug, 3)
		if err != nil {
			return nil, err
		}
		return nil, &domain.ValidationError{Violations: domain.Violations{takenSlug(slug, free)}}
	}
	if err != nil {
		return nil, fmt.Errorf("update organization: %w", err)
	}
	if opt.ValidateOnly {
		return nil, nil
	}
	return o, nil
}

// updateOrganization validates the update against the organization as locked and writes it, with its
// event, when it changes anything.
func (s *Service) updateOrganization(ctx context.Context, t *db.OrganizationTx, in domain.UpdateOrganizationInput) error {
	cur := t.Organization
	next, changes, err := domain.UpdatedOrganization(cur, in, domain.Rules{Regions: s.cfg.Regions})
	if err != nil {
		var newSlug *string
		if in.Slug.Set && in.Slug.Value != nil && *in.Slug.Value != cur.Slug {
			newSlug = in.Slug.Value
		}
		return s.withTakenSlug(ctx, cur.TenantID, newSlug, err)
	}
	if len(changes) == 0 {
		return nil
	}
	if next.IsDefault && !cur.IsDefault { // before: the tenant has one default at most at every moment
		if err := t.DemoteOtherDefault(ctx); err != nil {
			return err
		}
	}
	if err := t.UpdateOrganization(ctx, next); err != nil {
		return err
	}
	if next.Slug != cur.Slug {
		generated := domain.GeneratedDomain(next.Slug, s.cfg.DomainSuffix)
		primary, err := t.RenameGeneratedDomain(ctx, generated)
		if err != nil {
			return err
		}
		if primary {
			changes.Add("primaryDomain", cur.PrimaryDomain, generated)
		}
	}
	t.Record(domain.Change{Type: domain.EventOrganizationUpdated, Changes: changes})
	return nil
}
