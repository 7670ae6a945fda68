package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"orgs/db"
	"orgs/domain"
)

// An organization's life: ACTIVE ⇄ INACTIVE (deactivate, reactivate), either → REMOVED (delete), REMOVED
// → the status it had (restore, within the retention), and, once the retention is over, the purge. A
// transition from the wrong state is INVALID_STATE at ["id"].

// DefaultOrgRetention is how long a deleted organization can be restored before it is purged.
const DefaultOrgRetention = 720 * time.Hour

// DeactivateInput is deactivateOrganization's input.
type DeactivateInput struct {
	ID               string
	ExpectedSequence *int
	// Reason, recorded in the event's data, is at most domain.ReasonMaxLen characters.
	Reason *string
}

// DeactivateOrganization suspends an ACTIVE organization: status INACTIVE. It stays readable but can no
// longer be the acting organization of a request.
func (s *Service) DeactivateOrganization(ctx context.Context, a *domain.Actor, in DeactivateInput) (*domain.Organization, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if err := domain.ValidateReason(domain.Path{"reason"}, in.Reason); err != nil {
		return nil, err
	}
	data := map[string]any{}
	if in.Reason != nil {
		data["reason"] = *in.Reason
	}
	return s.changeStatus(ctx, a, in.ID, in.ExpectedSequence, domain.StatusActive, domain.StatusInactive,
		domain.EventOrganizationDeactivated, data)
}

// ReactivateOrganization brings an INACTIVE organization back to ACTIVE.
func (s *Service) ReactivateOrganization(ctx context.Context, a *domain.Actor, id string, expectedSequence *int) (*domain.Organization, error) {
	return s.changeStatus(ctx, a, id, expectedSequence, domain.StatusInactive, domain.StatusActive,
		domain.EventOrganizationReactivated, nil)
}

// changeStatus moves the organization id from status from to status to, recording event.
func (s *Service) changeStatus(ctx context.Context, a *domain.Actor, id string, expected *int, from, to domain.OrganizationStatus, event string, data map[string]any) (*domain.Organization, error) {
	opt := db.ChangeOptions{ExpectedSequence: sequence(expected)}
	return s.changeOrganization(ctx, a, id, "id", opt, func(ctx context.Context, t *db.OrganizationTx) error {
		if st := t.Organization.Status; st != from {
			return invalidState(fmt.Sprintf("the organization is %s; only an %s organization can become %s", st, from, to))
		}
		if err := t.SetStatus(ctx, to); err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("status", from, to)
		t.Record(domain.Change{Type: event, Changes: changes, Data: data})
		return nil
	})
}

// invalidState is the violation of a transition the organization's status forbids.
func invalidState(msg string) error {
	return violation(domain.Path{"id"}, domain.VInvalidState, msg)
}

// DeleteOrganization deletes an ACTIVE or INACTIVE organization: status REMOVED, hidden from reads
// (unless asked for by status), no longer the tenant's default, its slug and domains free at once for
// other organizations of the tenant, its pending confirmation links and invitations revoked. The event
// records the status it had, which a restore brings back. It returns the deleted organization.
func (s *Service) DeleteOrganization(ctx context.Context, a *domain.Actor, id string, expectedSequence *int) (*domain.Organization, error) {
	opt := db.ChangeOptions{ExpectedSequence: sequence(expectedSequence)}
	return s.changeOrganization(ctx, a, id, "id", opt, func(ctx context.Context, t *db.OrganizationTx) error {
		o := t.Organization
		removal, err := t.Remove(ctx)
		if err != nil {
			return err
		}
		invitations, err := t.RevokePendingInvitations(ctx)
		if err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("status", o.Status, domain.StatusRemoved)
		changes.Add("isDefault", o.IsDefault, false)
		t.Record(domain.Change{Type: domain.EventOrganizationDeleted, Changes: changes, Data: map[string]any{
			"previousStatus":       o.Status,
			"releasedDomains":      removal.ReleasedDomains,
			"revokedConfirmations": removal.RevokedConfirmations,
			"revokedInvitations":   invitations,
		}})
		return nil
	})
}

// RestoreInput is restoreOrganization's input.
type RestoreInput struct {
	ID string
	// Slug, when set, replaces the organization's slug (one taken meanwhile, or any other).
	Slug *string
}

// maxRestoreAttempts bounds the retries of a restore whose custom domain a concurrent change took
// between the check and the write.
const maxRestoreAttempts = 3

// RestoreOrganization brings a deleted organization back, within the retention (OrgRetention after its
// delete; later it is NOT_FOUND, as it is purged or about to be), to the status it had. Its slug must be
// free: when another organization took it meanwhile, it is TAKEN at ["slug"] with three free
// suggestions, unless in.Slug gives another (validated as a create's, TAKEN when taken too). A new slug
// renames the generated domain. A custom domain that another organization of the tenant took meanwhile
// is dropped from the restored one (recorded in the event's changes); when it was the primary domain,
// the generated domain becomes primary. An organization that is not deleted is INVALID_STATE.
func (s *Service) RestoreOrganization(ctx context.Context, a *domain.Actor, in RestoreInput) (*domain.Organization, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if err := domain.ValidateRestoreSlug(domain.Path{"slug"}, in.Slug); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		var slug string
		o, err := s.restoreAttempt(ctx, a, in, &slug)
		switch {
		case errors.Is(err, db.ErrSlugTaken):
			free, err := s.store.FreeSlugs(ctx, a.TenantID, slug, 3)
			if err != nil {
				return nil, err
			}
			return nil, &domain.ValidationError{Violations: domain.Violations{takenSlug(slug, free)}}
		case errors.Is(err, db.ErrDomainTaken) && attempt < maxRestoreAttempts:
			continue // a domain was taken after the check: check again
		case err != nil:
			return nil, err
		}
		return o, nil
	}
}

// restoreAttempt runs one restore; it reports the slug it tried through slug.
func (s *Service) restoreAttempt(ctx context.Context, a *domain.Actor, in RestoreInput, slug *string) (*domain.Organization, error) {
	now := s.clock()
	return s.changeOrganization(ctx, a, in.ID, "id", db.ChangeOptions{Removed: true}, func(ctx context.Context, t *db.OrganizationTx) error {
		o := t.Organization
		if o.Status != domain.StatusRemoved {
			return invalidState(fmt.Sprintf("the organization is %s; only a deleted organization can be restored", o.Status))
		}
		if o.RemovedAt == nil || !now.Before(o.RemovedAt.Add(s.cfg.OrgRetention)) {
			return domain.Errorf(domain.ENOTFOUND, "organization not found") // its retention is over
		}
		*slug = o.Slug
		if in.Slug != nil {
			*slug = *in.Slug
		}
		status, err := t.StatusBeforeRemoval(ctx)
		if err != nil {
			return err
		}
		if status != domain.StatusActive && status != domain.StatusInactive {
			status = domain.StatusActive
		}
		before, err := t.DomainsOfOrganization(ctx)
		if err != nil {
			return err
		}
		r, err := t.Restore(ctx, status, *slug, domain.GeneratedDomain(*slug, s.cfg.DomainSuffix))
		if err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("status", domain.StatusRemoved, status)
		changes.Add("slug", o.Slug, *slug)
		changes.Add("primaryDomain", o.PrimaryDomain, r.PrimaryDomain)
		slices.Sort(before)
		after := slices.Clone(r.Domains)
		slices.Sort(after)
		changes.Add("domains", before, after)
		data := map[string]any{"removedAt": o.RemovedAt}
		if len(r.DroppedDomains) > 0 {
			data["droppedDomains"] = r.DroppedDomains
		}
		t.Record(domain.Change{Type: domain.EventOrganizationRestored, Changes: changes, Data: data})
		return nil
	})
}

// PurgeRemovedOrganizations deletes, with all their rows but their audit events, the organizations
// deleted longer than OrgRetention ago. Safe to run on several replicas at once.
func (s *Service) PurgeRemovedOrganizations(ctx context.Context) (db.PurgeCounts, error) {
	return s.store.PurgeRemovedOrganizations(ctx, s.clock().Add(-s.cfg.OrgRetention), db.PurgeBatchSize)
}
