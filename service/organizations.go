package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"orgs/db"
	"orgs/domain"
)

// CreateOptions tune CreateOrganization.
type CreateOptions struct {
	// ValidateOnly runs every check and every statement, then rolls back: nothing is written and no
	// organization is returned.
	ValidateOnly bool
	// IdempotencyKey, when not nil, makes a retry with the same key and the same input replay the first
	// outcome (see idempotency.go).
	IdempotencyKey *string
}

// CreateOrganization validates in and creates, in one transaction, the organization with its domains,
// its projects (the default one first), the actor's OWNER membership, the primary administrator with
// their ADMIN membership, confirmation token and queued confirmation email, its custom attributes and
// the organization.created audit event; a new default organization demotes the tenant's previous one.
//
// Every violation is returned at once as a *domain.ValidationError at its path, a taken slug (TAKEN,
// with suggestions) included, and nothing is written when there is any.
func (s *Service) CreateOrganization(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, opt CreateOptions) (*domain.Organization, error) {
	o, _, err := s.CreateOrganizationWritten(ctx, a, in, opt)
	return o, err
}

// CreateOrganizationWritten is CreateOrganization that also returns what the create wrote beside the
// organization's row, as a read would return it, so that its answer needs no read; nil when this call
// did not write the organization (a replay of its idempotency key).
func (s *Service) CreateOrganizationWritten(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, opt CreateOptions) (*domain.Organization, *domain.Written, error) {
	if err := requireActor(a); err != nil {
		return nil, nil, err
	}
	if key := opt.IdempotencyKey; key != nil {
		if vs := domain.ValidateIdempotencyKey(domain.Path{"idempotencyKey"}, *key); len(vs) > 0 {
			return nil, nil, vs.Err()
		}
		if !opt.ValidateOnly {
			return s.createIdempotently(ctx, a, in, *key)
		}
	}
	return s.createOrganization(ctx, a, in, opt.ValidateOnly, idempotency{})
}

// createOrganization validates and creates; key, when its key is not empty, is the claimed idempotency
// key that the create marks done in its transaction.
func (s *Service) createOrganization(ctx context.Context, a *domain.Actor, in domain.CreateOrganizationInput, validateOnly bool, key idempotency) (*domain.Organization, *domain.Written, error) {
	now := s.clock()
	var pre domain.Violations
	template, err := s.templateOf(ctx, a.TenantID, in.TemplateID, &pre)
	if err != nil {
		return nil, nil, err
	}
	o, err := domain.NewOrganizationFrom(in, domain.Rules{Regions: s.cfg.Regions, Template: template, Now: now, DomainSuffix: s.cfg.DomainSuffix}, nil)
	if err == nil && o.Administrator != nil && strings.EqualFold(o.Administrator.Email, a.Email) {
		pre.Add(domain.Path{"primaryAdministrator", "email"}, domain.VInvalidValue,
			"the primary administrator must be someone other than the caller, who becomes the owner")
	}
	if err != nil || len(pre) > 0 {
		return nil, nil, s.withTakenSlug(ctx, a.TenantID, in.Slug, mergeViolations(pre, err))
	}
	created, written, err := s.createWithFreeSlug(ctx, a, o, validateOnly, key, now)
	if err != nil {
		return nil, nil, fmt.Errorf("create organization: %w", err)
	}
	if created != nil && o.Administrator != nil {
		s.emailQueued()
	}
	if written != nil {
		written.Template = template
	}
	return created, written, nil
}

// maxSlugAttempts bounds the retries of a generated slug taken meanwhile by concurrent creates.
const maxSlugAttempts = 30

// createWithFreeSlug creates o under its requested slug, or under the slug generated from its name:
// first the plain one, then, when the store says it is taken (by a committed organization or one whose
// transaction just committed), the first free suffix. A requested slug that is taken is TAKEN with free
// suggestions.
func (s *Service) createWithFreeSlug(ctx context.Context, a *domain.Actor, o *domain.NewOrganization, validateOnly bool, key idempotency, now time.Time) (*domain.Organization, *domain.Written, error) {
	requested := o.Slug != ""
	base := o.Slug
	if !requested {
		base = domain.SlugBase(o.Name)
	}
	slug := base
	for attempt := 1; ; attempt++ {
		created, written, err := s.createAttempt(ctx, a, o, slug, validateOnly, key, now)
		slugTaken, domainTaken := errors.Is(err, db.ErrSlugTaken), errors.Is(err, db.ErrDomainTaken)
		switch {
		case domainTaken && o.PrimaryDomain != nil:
			return nil, nil, violation(domain.Path{"primaryDomain"}, domain.VTaken,
				fmt.Sprintf("domain %q already belongs to another organization of this tenant", *o.PrimaryDomain))
		case !slugTaken && !domainTaken: // a generated domain follows its slug
			return created, written, err
		case requested:
			free, err := s.store.FreeSlugs(ctx, a.TenantID, slug, 3)
			if err != nil {
				return nil, nil, err
			}
			return nil, nil, &domain.ValidationError{Violations: domain.Violations{takenSlug(slug, free)}}
		case attempt == maxSlugAttempts:
			return nil, nil, fmt.Errorf("no free slug for %q after %d attempts", base, attempt)
		}
		free, err := s.store.FreeSlugs(ctx, a.TenantID, base, 1)
		if err != nil {
			return nil, nil, err
		}
		slug = free[0]
	}
}

// createAttempt writes the organization o under slug and returns it with what was written beside it;
// nil for validateOnly.
func (s *Service) createAttempt(ctx context.Context, a *domain.Actor, o *domain.NewOrganization, slug string, validateOnly bool, key idempotency, now time.Time) (*domain.Organization, *domain.Written, error) {
	rec := newOrganizationRecord(a, o, slug, s.cfg.DomainSuffix, now)
	n := db.NewOrganization{Actor: a, Organization: rec, Input: o, GeneratedDomain: domain.GeneratedDomain(slug, s.cfg.DomainSuffix),
		DomainExpiresAt: now.Add(s.cfg.DomainVerificationTTL), IdempotencyKey: key.key, IdempotencyHash: key.hash,
		ValidateOnly: validateOnly, Now: now}
	if o.Administrator != nil {
		c, err := s.confirmation(a.TenantID, rec.Name, o.Administrator, *o.LandingPage, now)
		if err != nil {
			return nil, nil, err
		}
		n.Confirmation = c
	}
	written, err := s.store.CreateOrganizationWritten(ctx, n)
	if err != nil || validateOnly {
		return nil, nil, err
	}
	return rec, written, nil
}

// mergeViolations returns the violations of pre and of err (a *domain.ValidationError or nil) as one error.
func mergeViolations(pre domain.Violations, err error) error {
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		return &domain.ValidationError{Violations: append(verr.Violations, pre...)}
	}
	if err != nil {
		return err
	}
	return pre.Err()
}

// withTakenSlug adds the TAKEN violation of a well-formed requested slug to the other violations of an
// input, so that the caller learns of every problem in one answer.
func (s *Service) withTakenSlug(ctx context.Context, tenantID string, slug *string, err error) error {
	var verr *domain.ValidationError
	if slug == nil || !errors.As(err, &verr) {
		return err
	}
	for _, v := range verr.Violations {
		if slices.Equal(v.Field, []string{"slug"}) {
			return err // malformed: no need to look it up
		}
	}
	free, err2 := s.store.FreeSlugs(ctx, tenantID, *slug, 4)
	if err2 != nil {
		return err2
	}
	if free[0] == *slug {
		return err
	}
	verr.Violations = append(verr.Violations, takenSlug(*slug, free[:3]))
	return verr
}

func takenSlug(slug string, suggestions []string) domain.Violation {
	return domain.Violation{
		Field: domain.Path{"slug"}, Code: domain.VTaken, Suggestions: suggestions,
		Message: fmt.Sprintf("slug %q is already taken in this tenant", slug),
	}
}

// newOrganizationRecord is the organization in as it will be stored.
func newOrganizationRecord(a *domain.Actor, in *domain.NewOrganization, slug, domainSuffix string, now time.Time) *domain.Organization {
	o := &domain.Organization{
		TenantID: a.TenantID, ID: domain.NewID(), Name: in.Name, Slug: slug,
		Description: in.Description, AvatarURL: in.AvatarURL, CountryCode: in.CountryCode,
		LanguageCode: in.LanguageCode, Locale: in.Locale, Timezone: in.Timezone, Phone: in.Phone,
		Headquarters: in.Headquarters, ContactEmails: in.ContactEmails, BillingEmails: in.BillingEmails,
		PrivacyPolicyURL: in.PrivacyPolicyURL, TermsOfServiceURL: in.TermsOfServiceURL, Coupons: in.Coupons,
		RegionTemplate: in.RegionTemplate, Subscription: in.Subscription, TemplateID: in.TemplateID,
		IsPrivate: in.IsPrivate, IsDefault: in.IsDefault, Status: in.Status, StatusChangedAt: now,
		CreatedBy: a.UserID, CreatedAt: now, UpdatedAt: now, Sequence: 1, ResourceOwner: a.TenantID, TotalMembers: 1,
		PrimaryDomain: domain.GeneratedDomain(slug, domainSuffix),
	}
	if in.PrimaryDomain != nil {
		o.PrimaryDomain = *in.PrimaryDomain
	}
	if a.ActingOrganizationID != "" {
		o.ResourceOwner = a.ActingOrganizationID
	}
	return o
}
