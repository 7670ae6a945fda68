package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"orgs/db"
	"orgs/domain"
)

// The domains of an organization (domain/domains.go): adding one, verifying it, making it primary,
// removing it. Each change runs in the organization's change transaction and records its event. A
// domain of another tenant, or of a deleted organization, is NOT_FOUND at ["domainId"].
//
// A failed verification attempt is a state the API shows (status FAILED): it is written, with its
// event domain.verification_failed, and the violation is returned too. An expired token writes nothing;
// addDomain with the same domain renews it.

// AddDomain adds name to the organization orgID, PENDING with a token that works for
// DomainVerificationTTL. Adding a domain the organization already has and has not verified renews its
// token (the way forward after VERIFICATION_EXPIRED); one it has verified is TAKEN, as is one of another
// organization of the tenant.
func (s *Service) AddDomain(ctx context.Context, a *domain.Actor, orgID, name string) (*domain.Domain, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	d, err := domain.NormalizeNewDomain(name, s.cfg.DomainSuffix, domain.Path{"domain"})
	if err != nil {
		return nil, err
	}
	var out *domain.Domain
	_, err = s.changeOrganization(ctx, a, orgID, "organizationId", db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		expires := t.Now.Add(s.cfg.DomainVerificationTTL)
		existing, err := t.DomainNamed(ctx, d)
		if err != nil {
			return err
		}
		if existing != nil {
			if existing.Status == domain.DomainVerified {
				return violation(domain.Path{"domain"}, domain.VTaken, fmt.Sprintf("%s is already a verified domain of this organization", d))
			}
			if out, err = t.RenewDomainToken(ctx, existing.ID, expires); err != nil {
				return err
			}
			var changes domain.Changes
			changes.Add("domains."+out.ID+".status", existing.Status, out.Status)
			changes.Add("domains."+out.ID+".verification.expiresAt", existing.ExpiresAt, out.ExpiresAt)
			t.Record(domain.Change{Type: domain.EventDomainAdded, Changes: changes,
				Data: map[string]any{"domainId": out.ID, "domain": d, "renewed": true}})
			return nil
		}
		if out, err = t.AddDomain(ctx, d, expires); err != nil {
			if errors.Is(err, db.ErrDomainTaken) {
				return violation(domain.Path{"domain"}, domain.VTaken, fmt.Sprintf("domain %q already belongs to another organization of this tenant", d))
			}
			return err
		}
		t.Record(domain.Change{Type: domain.EventDomainAdded,
			Changes: []domain.FieldChange{{Field: "domains." + out.ID, From: nil, To: d}},
			Data:    map[string]any{"domainId": out.ID, "domain": d}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VerifyDomain runs the challenge of method for the domain id. The challenge runs outside any
// transaction (it may take seconds); its outcome is then written under the organization's lock, unless
// the domain changed meanwhile. A domain already verified (the generated one too) is returned as it is.
// On failure the domain, now FAILED, is returned with the violation.
func (s *Service) VerifyDomain(ctx context.Context, a *domain.Actor, id string, method domain.VerificationMethod) (*domain.Domain, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	d, err := s.domainByID(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if d.Status == domain.DomainVerified {
		return d, nil
	}
	if err := s.checkOpen(d, s.clock()); err != nil {
		return nil, err
	}
	failure, err := s.challenges.check(ctx, method, d.Domain, d.Token)
	if err != nil {
		return nil, err
	}
	var out *domain.Domain
	_, err = s.changeOrganization(ctx, a, d.OrganizationID, "domainId", db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		cur, err := t.LockDomain(ctx, id)
		switch {
		case err != nil:
			return err
		case cur == nil:
			return domainNotFound()
		case cur.Status == domain.DomainVerified:
			out = cur
			return nil
		case cur.Token != d.Token:
			return violation(domain.Path{"domainId"}, domain.VVerificationExpired,
				"a new verification token was issued while this one was checked; publish the new one and verify again")
		}
		if err := s.checkOpen(cur, t.Now); err != nil {
			return err
		}
		data := map[string]any{"domainId": id, "domain": cur.Domain, "method": string(method)}
		if failure == nil {
			if out, err = t.MarkDomainVerified(ctx, id); err != nil {
				return err
			}
			var changes domain.Changes
			changes.Add("domains."+id+".status", cur.Status, out.Status)
			t.Record(domain.Change{Type: domain.EventDomainVerified, Changes: changes, Data: data})
			return nil
		}
		if out, err = t.MarkDomainFailed(ctx, id, failure.message); err != nil {
			return err
		}
		var changes domain.Changes
		changes.Add("domains."+id+".status", cur.Status, out.Status)
		data["code"], data["reason"] = string(failure.code), failure.message
		t.Record(domain.Change{Type: domain.EventDomainVerificationFailed, Changes: changes, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if failure != nil && out.Status != domain.DomainVerified {
		return out, violation(domain.Path{"domainId"}, failure.code, failure.message)
	}
	return out, nil
}

// checkOpen refuses a verification after the token expired.
func (s *Service) checkOpen(d *domain.Domain, now time.Time) error {
	if d.VerificationOpen(now) {
		return nil
	}
	expired := "its verification token has expired"
	if d.ExpiresAt != nil {
		expired = "its verification token expired at " + d.ExpiresAt.Format(time.RFC3339)
	}
	return violation(domain.Path{"domainId"}, domain.VVerificationExpired,
		fmt.Sprintf("%s cannot be verified: %s; call addDomain with the same domain to get a new token", d.Domain, expired))
}

// SetPrimaryDomain makes the domain id its organization's primary domain: only a verified domain, or
// the generated one, may be (INVALID_STATE). It returns the organization as changed.
func (s *Service) SetPrimaryDomain(ctx context.Context, a *domain.Actor, id string) (*domain.Organization, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	d, err := s.domainByID(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.changeOrganization(ctx, a, d.OrganizationID, "domainId", db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		cur, err := t.LockDomain(ctx, id)
		switch {
		case err != nil:
			return err
		case cur == nil:
			return domainNotFound()
		case !cur.CanBePrimary():
			return violation(domain.Path{"domainId"}, domain.VInvalidState,
				fmt.Sprintf("%s is %s: only a verified domain, or the generated one, can be primary; verify it first", cur.Domain, cur.Status))
		case cur.IsPrimary:
			return nil // nothing changes, nothing is written
		}
		if err := t.SetPrimaryDomain(ctx, id); err != nil {
			return err
		}
		from := t.Organization.PrimaryDomain
		t.Record(domain.Change{Type: domain.EventDomainPrimaryChanged,
			Changes: []domain.FieldChange{{Field: "primaryDomain", From: from, To: cur.Domain}},
			Data:    map[string]any{"domainId": id, "from": from, "to": cur.Domain}})
		return nil
	})
}

// RemoveDomain removes the domain id from its organization; neither the primary domain nor the
// generated one can be removed (INVALID_STATE). It returns the removed domain's id.
func (s *Service) RemoveDomain(ctx context.Context, a *domain.Actor, id string) (string, error) {
	if err := requireActor(a); err != nil {
		return "", err
	}
	d, err := s.domainByID(ctx, a, id)
	if err != nil {
		return "", err
	}
	_, err = s.changeOrganization(ctx, a, d.OrganizationID, "domainId", db.ChangeOptions{}, func(ctx context.Context, t *db.OrganizationTx) error {
		cur, err := t.LockDomain(ctx, id)
		switch {
		case err != nil:
			return err
		case cur == nil:
			return domainNotFound()
		case cur.IsGenerated:
			return violation(domain.Path{"domainId"}, domain.VInvalidState,
				fmt.Sprintf("%s is generated from the organization's slug and cannot be removed", cur.Domain))
		case cur.IsPrimary:
			return violation(domain.Path{"domainId"}, domain.VInvalidState,
				fmt.Sprintf("%s is the primary domain; make another one primary first (setPrimaryDomain)", cur.Domain))
		}
		if err := t.RemoveDomain(ctx, id); err != nil {
			return err
		}
		t.Record(domain.Change{Type: domain.EventDomainRemoved,
			Changes: []domain.FieldChange{{Field: "domains." + id, From: cur.Domain, To: nil}},
			Data:    map[string]any{"domainId": id, "domain": cur.Domain, "status": string(cur.Status)}})
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// domainByID finds the domain id in the actor's tenant: NOT_FOUND at ["domainId"] when there is none,
// or when its organization is deleted.
func (s *Service) domainByID(ctx context.Context, a *domain.Actor, id string) (*domain.Domain, error) {
	d, err := s.store.DomainByID(ctx, a.TenantID, id)
	if domain.ErrorCodeOf(err) == domain.ENOTFOUND {
		return nil, domainNotFound()
	}
	return d, err
}

func domainNotFound() error {
	return violation(domain.Path{"domainId"}, domain.VNotFound, "domain not found")
}
