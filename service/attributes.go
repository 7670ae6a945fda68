package service

import (
	"context"

	"orgs/db"
	"orgs/domain"
)

// SetCustomAttributes inserts or replaces the organization's custom attributes by key, under the rules
// of the create and of the organization's template, and records the keys whose value changes in one
// organization.attributes_changed event. Setting the values an organization already has writes nothing.
func (s *Service) SetCustomAttributes(ctx context.Context, a *domain.Actor, orgID string, in []domain.AttributeInput, expected *int) (*domain.Organization, error) {
	return s.changeOrganization(ctx, a, orgID, "organizationId", db.ChangeOptions{ExpectedSequence: sequence(expected)},
		func(ctx context.Context, tx *db.OrganizationTx) error {
			current, t, err := attributesAndTemplate(ctx, tx)
			if err != nil {
				return err
			}
			upsert, changes, err := domain.SetAttributes(current, in, t)
			if err != nil {
				return err
			}
			if len(changes) == 0 {
				return nil
			}
			if err := tx.UpsertAttributes(ctx, upsert); err != nil {
				return err
			}
			tx.Record(domain.Change{Type: domain.EventOrganizationAttributes, Changes: changes})
			return nil
		})
}

// RemoveCustomAttributes removes the organization's custom attributes with the given keys (keys that
// are not set are ignored; those the template requires are refused) and records them in one
// organization.attributes_changed event.
func (s *Service) RemoveCustomAttributes(ctx context.Context, a *domain.Actor, orgID string, keys []string, expected *int) (*domain.Organization, error) {
	return s.changeOrganization(ctx, a, orgID, "organizationId", db.ChangeOptions{ExpectedSequence: sequence(expected)},
		func(ctx context.Context, tx *db.OrganizationTx) error {
			current, t, err := attributesAndTemplate(ctx, tx)
			if err != nil {
				return err
			}
			remove, changes, err := domain.RemoveAttributes(current, keys, t)
			if err != nil {
				return err
			}
			if len(changes) == 0 {
				return nil
			}
			if err := tx.DeleteAttributes(ctx, remove); err != nil {
				return err
			}
			tx.Record(domain.Change{Type: domain.EventOrganizationAttributes, Changes: changes})
			return nil
		})
}

func attributesAndTemplate(ctx context.Context, tx *db.OrganizationTx) ([]domain.Attribute, *domain.Template, error) {
	current, err := tx.Attributes(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, err := tx.Template(ctx)
	if err != nil {
		return nil, nil, err
	}
	return current, t, nil
}
