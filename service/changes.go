package service

import (
	"context"
	"errors"
	"fmt"

	"orgs/db"
	"orgs/domain"
)

// Changes of existing organizations share these rules: the organization is found in the actor's
// tenant (another tenant's, or a deleted one, is NOT_FOUND at the input's id field), an
// expectedSequence that is not current is STALE_OBJECT at ["expectedSequence"] and writes nothing, and
// every change appends its audit event in the same transaction (db.ChangeOrganization).

// changeOrganization runs fn on the organization id of the actor's tenant; idField is the input field
// that names it ("id", "organizationId"), where NOT_FOUND is reported.
func (s *Service) changeOrganization(ctx context.Context, a *domain.Actor, id, idField string, opt db.ChangeOptions, fn func(context.Context, *db.OrganizationTx) error) (*domain.Organization, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	o, err := s.store.ChangeOrganization(ctx, a, id, opt, fn)
	if err != nil {
		return nil, changeError(err, idField)
	}
	return o, nil
}

// changeError reports a stale sequence and an organization not found as violations.
func changeError(err error, idField string) error {
	var stale *db.StaleError
	switch {
	case errors.As(err, &stale):
		return violation(domain.Path{"expectedSequence"}, domain.VStale,
			fmt.Sprintf("the organization has changed since it was read: its sequence is now %d", stale.Current))
	case domain.ErrorCodeOf(err) == domain.ENOTFOUND:
		return violation(domain.Path{idField}, domain.VNotFound, "organization not found")
	}
	return err
}

// sequence converts an input's expectedSequence.
func sequence(expected *int) *int64 {
	if expected == nil {
		return nil
	}
	v := int64(*expected)
	return &v
}
